package tests

import (
	"html"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/resources"
	sandboxcpis "github.com/carerecords/fhir-facade/sandbox/cpis"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
	sandboxpds "github.com/carerecords/fhir-facade/sandbox/pds"
)

func TestPatientSummary(t *testing.T) {
	for _, op := range []string{"$summary", "$everything"} {
		t.Run(op, func(t *testing.T) {
			r := get(t, "/Patient/9000000009/"+op)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			matches, outcomes := entries(t, r)
			// Information only (the SCR's "No relevant information"
			// categories, issue #16): nothing is missing.
			for _, o := range outcomes {
				for _, is := range resourceOf(o)["issue"].([]any) {
					d, _ := is.(map[string]any)["diagnostics"].(string)
					if sev := is.(map[string]any)["severity"]; sev != "information" && !sandboxHPVDefect(d) {
						t.Errorf("a %v issue with every backend up: %v", sev, is)
					}
				}
			}
			if len(matches) == 0 || matches[0]["resource"].(map[string]any)["resourceType"] != "Patient" {
				t.Fatalf("the Patient is not first: %s", r.raw)
			}
			types := map[string]bool{}
			for _, m := range matches {
				types[m["resource"].(map[string]any)["resourceType"].(string)] = true
			}
			for _, s := range resources.SummarySources(env.app.Resources.Providers()) {
				t.Logf("source %s", s.Type)
			}
			if self := linkURL(r, "self"); !strings.HasSuffix(self, "/Patient/9000000009/"+op) {
				t.Errorf("self %q", self)
			}
			if linkURL(r, "next") != "" {
				t.Error("an operation's answer is not paged")
			}
			// $summary is a document, $everything the same records as a
			// searchset.
			if want := map[string]string{"$summary": "document", "$everything": "searchset"}[op]; r.body["type"] != want {
				t.Errorf("a %v Bundle, want %s", r.body["type"], want)
			}
			if op == "$summary" {
				checkSummaryComposition(t, r, "9000000009")
			}
		})
	}
	// $summary and $everything hold the same records.
	sum, _ := entries(t, get(t, "/Patient/9000000009/$summary"))
	every, _ := entries(t, get(t, "/Patient/9000000009/$everything"))
	if len(sum) != len(every) {
		t.Errorf("$summary holds %d records, $everything %d", len(sum), len(every))
	}
	tests := []struct {
		name   string
		path   string
		status int
		code   string
	}{
		{name: "unknown operation", path: "/Patient/9000000009/$lastn", status: 404, code: "not-supported"},
		{name: "invalid NHS number", path: "/Patient/9000000000/$summary", status: 400, code: "invalid"},
		{name: "unknown patient", path: "/Patient/9111231130/$summary", status: 404, code: "not-found"},
		{name: "invalidated patient", path: "/Patient/" + sandboxpds.InvalidatedNHSNumber + "/$summary", status: 410, code: "deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.path)
			if r.status != tt.status || outcomeIssue(t, r)["code"] != tt.code {
				t.Errorf("status %d: %s", r.status, r.raw)
			}
		})
	}
}

// With PDS down, the summary still answers with what the other backends
// gave, naming PDS as missing (or, with no other backend, fails as a whole).
func TestPatientSummaryWithPDSDown(t *testing.T) {
	env.app.Sandbox.PDS.SetFault(&sandboxpds.Fault{Status: 500, Body: "down", ContentType: "text/plain"})
	defer env.app.Sandbox.PDS.SetFault(nil)
	r := get(t, "/Patient/9000000009/$summary")
	if len(resources.SummarySources(env.app.Resources.Providers())) == 0 {
		if r.status != 502 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		return
	}
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	_, outcomes := entries(t, r)
	if len(outcomes) != 1 || !strings.Contains(string(r.raw), "Patient (PDS) could not be reached") {
		t.Errorf("missing source not named: %s", r.raw)
	}
	// The document names its subject by NHS number, and says why.
	comp := resourceOf(asList(r.body["entry"])[0].(map[string]any))
	if id := mapOf(mapOf(comp["subject"])["identifier"]); id["value"] != "9000000009" || id["system"] != "https://fhir.nhs.uk/Id/nhs-number" {
		t.Errorf("subject %v", comp["subject"])
	}
	if !strings.Contains(string(mustJSON(comp["section"])), "Demographics could not be retrieved from the Personal Demographics Service") {
		t.Errorf("the document does not say PDS did not answer: %v", comp["section"])
	}
}

// summaryLOINC are the $summary document's sections and the type of their
// entries.
var summaryLOINC = map[string]string{
	"48765-2":  "AllergyIntolerance",
	"10160-0":  "MedicationStatement",
	"11369-6":  "Immunization",
	"104605-1": "Flag",
	"55107-7":  "DocumentReference",
}

// checkSummaryComposition checks the Composition of a $summary document
// of patient nhs: IPS type, final, the Patient its subject, the facade (a
// Device) its author; a section per source, each with generated
// narrative, holding entries of its type only or an emptyReason, never
// both; and every record of the document is in its type's section.
func checkSummaryComposition(t *testing.T, r response, nhs string) {
	t.Helper()
	matches, _ := entries(t, r)
	es := asList(r.body["entry"])
	comp := resourceOf(es[0].(map[string]any))
	coding := asList(mapOf(comp["type"])["coding"])
	if len(coding) == 0 || coding[0].(map[string]any)["code"] != "60591-5" || coding[0].(map[string]any)["system"] != "http://loinc.org" {
		t.Errorf("Composition.type %v", comp["type"])
	}
	if comp["status"] != "final" || comp["date"] == nil || comp["title"] == nil {
		t.Errorf("Composition %v", comp)
	}
	if ref := mapOf(comp["subject"])["reference"]; ref != "Patient/"+nhs {
		t.Errorf("subject %v, want Patient/%s", comp["subject"], nhs)
	}
	if es[1].(map[string]any)["resource"].(map[string]any)["resourceType"] != "Patient" {
		t.Error("the Patient is not the second entry")
	}
	authorRef, _ := mapOf(asList(comp["author"])[0])["reference"].(string)
	for _, e := range es {
		if m := e.(map[string]any); m["fullUrl"] == authorRef && resourceOf(m)["resourceType"] != "Device" {
			t.Errorf("the author is a %v", resourceOf(m)["resourceType"])
		}
	}
	inSection := map[string]bool{}
	for code, typ := range summaryLOINC {
		sec := summarySection(t, r, code)
		if sec == nil {
			t.Errorf("no section %s (%s)", code, typ)
			continue
		}
		if mapOf(sec["text"])["status"] != "generated" || !strings.HasPrefix(sectionText(sec), `<div xmlns="http://www.w3.org/1999/xhtml">`) {
			t.Errorf("section %s narrative %v", code, sec["text"])
		}
		refs := sectionRefs(sec)
		if (len(refs) == 0) == (emptyReason(sec) == "") {
			t.Errorf("section %s: %d entries, emptyReason %q: want one or the other", code, len(refs), emptyReason(sec))
		}
		for _, ref := range refs {
			if !strings.HasPrefix(ref, typ+"/") && !strings.HasPrefix(ref, "urn:uuid:") {
				t.Errorf("section %s holds %s", code, ref)
			}
			inSection[ref] = true
		}
	}
	for _, m := range matches {
		res := resourceOf(m)
		if typ := res["resourceType"].(string); typ != "Patient" && typ != "RelatedPerson" && !inSection[typ+"/"+res["id"].(string)] {
			t.Errorf("%s/%s is in no section of its type", typ, res["id"])
		}
	}
}

// TestSummarySectionsSayWhy: each way a source can leave its section
// without records is said in the section (emptyReason and narrative),
// never as "none"; a source read in part keeps its records, says so, and
// points at the OperationOutcome. The sandbox's patients and outages.
func TestSummarySectionsSayWhy(t *testing.T) {
	scopeToken := func(t *testing.T, scopes ...string) string {
		c, err := env.app.Issuer.DevClaims(issuer.DevClientID, "clinician", "", scopes, "")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := env.app.Issuer.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	type want struct {
		code, reason string
		says         []string // in the narrative
		partial      bool     // records kept, the outcome referenced
	}
	tests := []struct {
		name   string
		nhs    string
		outage string // a simulator failed (503)
		scopes []string
		want   []want
	}{
		{name: "every source answered", nhs: "9000000009", want: []want{
			{code: "48765-2", says: []string{"Toxic reaction to wasp sting"}},
			{code: "104605-1", says: []string{"Child Protection Plan"}},
		}},
		{name: "SCR down", nhs: "9000000009", outage: "scr", want: []want{
			{code: "48765-2", reason: "unavailable", says: []string{"Allergies could not be retrieved from the Summary Care Record (SCR)", "may have allergies that are not shown"}},
			{code: "10160-0", reason: "unavailable", says: []string{"Medications could not be retrieved from the Summary Care Record (SCR)"}},
			// The sandbox's HPV history is another patient's: read in part.
			{code: "11369-6", partial: true, says: []string{"HPV history could not be read completely"}},
		}},
		{name: "one alert service down", nhs: "9000000009", outage: "cpis", want: []want{
			{code: "104605-1", partial: true, says: []string{"may be incomplete", resources.SourceCPIS + " could not be reached"}},
		}},
		{name: "NRL down", nhs: "9000000009", outage: "nrl", want: []want{
			{code: "55107-7", reason: "unavailable", says: []string{"Documents could not be retrieved from the National Record Locator (NRL)"}},
		}},
		{name: "consent withheld", nhs: "9000000017", want: []want{
			{code: "48765-2", reason: "withheld", says: []string{"withheld consent", "not a statement that the patient has no allergies"}},
			{code: "10160-0", reason: "withheld"},
		}},
		{name: "nothing recorded", nhs: "9000000025", want: []want{
			{code: "104605-1", reason: "nilknown", says: []string{"No alerts are recorded in the national alert services", "not that the patient has none"}},
		}},
		{name: "scopes do not allow", nhs: "9000000009", scopes: []string{"user/Patient.rs", "user/Flag.rs"}, want: []want{
			{code: "48765-2", reason: "withheld", says: []string{"Allergies are not included: your role or scopes do not allow them"}},
			{code: "11369-6", reason: "withheld"},
			{code: "104605-1", says: []string{"Child Protection Plan"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.outage != "" {
				if err := env.app.Sandbox.SetOutage(tt.outage, "503"); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = env.app.Sandbox.SetOutage(tt.outage, "") }()
			}
			hdr := map[string]string{}
			if tt.scopes != nil {
				hdr["Authorization"] = scopeToken(t, tt.scopes...)
			}
			r := call(t, "GET", "/Patient/"+tt.nhs+"/$summary", hdr, "")
			if r.status != 200 {
				t.Fatalf("status %d: %.300s", r.status, r.raw)
			}
			checkSummaryComposition(t, r, tt.nhs)
			_, outcomes := entries(t, r)
			for _, w := range tt.want {
				sec := summarySection(t, r, w.code)
				if got := emptyReason(sec); got != w.reason {
					t.Errorf("section %s: emptyReason %q, want %q", w.code, got, w.reason)
				}
				text := html.UnescapeString(sectionText(sec))
				for _, phrase := range w.says {
					if !strings.Contains(text, phrase) {
						t.Errorf("section %s says %q, want %q", w.code, text, phrase)
					}
				}
				if w.reason != "nilknown" && strings.Contains(text, " are recorded in ") && strings.Contains(text, "No ") {
					t.Errorf("section %s reads as none: %q", w.code, text)
				}
				pointsAtOutcome := false
				for _, ref := range sectionRefs(sec) {
					for _, o := range outcomes {
						pointsAtOutcome = pointsAtOutcome || o["fullUrl"] == ref
					}
				}
				if pointsAtOutcome != w.partial || w.partial && (len(sectionRefs(sec)) < 2 || !strings.Contains(text, "may be incomplete")) {
					t.Errorf("section %s: entries %v, narrative %q; partial %v", w.code, sectionRefs(sec), text, w.partial)
				}
			}
		})
	}
}

func TestOperationDefinitions(t *testing.T) {
	caps := capabilityResources(t)
	found := 0
	for _, res := range caps {
		ops, _ := res["operation"].([]any)
		for _, o := range ops {
			def := o.(map[string]any)["definition"].(string)
			i := strings.Index(def, "/OperationDefinition/")
			r := get(t, def[i:])
			if r.status != 200 || r.body["resourceType"] != "OperationDefinition" {
				t.Errorf("%s: %d %s", def, r.status, r.raw)
			}
			found++
		}
	}
	if found < 2 {
		t.Errorf("%d operations declared, want $summary and $everything at least", found)
	}
}

// TestPatientSummaryReadsSCROnce: AllergyIntolerance and MedicationStatement
// come from the same Summary Care Record, and $summary asks for both at once;
// the SCR is read once (its two steps), not once per resource type.
func TestPatientSummaryReadsSCROnce(t *testing.T) {
	before := backendCalls(t, "scr")
	if r := get(t, "/Patient/9000000009/$summary"); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if n := backendCalls(t, "scr") - before; n != 2 {
		t.Errorf("$summary made %v SCR calls, want 2 (latest summary, then the summary)", n)
	}
}

// backendCalls is the facade's count of calls made to backend so far.
func backendCalls(t *testing.T, backend string) float64 {
	t.Helper()
	mfs, err := env.app.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "facade_backend_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "backend" && l.GetValue() == backend {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// $everything's _type asks, and returns, only the types named (the Patient
// always); a type it cannot return is refused; parameters it does not
// declare are refused under Prefer: handling=strict and otherwise ignored
// with a warning saying so, never silently.
func TestEverythingParameters(t *testing.T) {
	// CP-IS down: a _type that does not ask for Flags does not ask CP-IS,
	// so nothing is missing from the answer.
	env.app.Sandbox.CPIS.SetFault(&sandboxcpis.Fault{Status: 500, Body: "down", ContentType: "text/plain"})
	defer env.app.Sandbox.CPIS.SetFault(nil)
	strict := map[string]string{"Prefer": "handling=strict"}
	tests := []struct {
		name, path string
		hdr        map[string]string
		status     int
		types      []string // the records' types, sorted and without repeats
		issue      string   // in an issue's diagnostics
		incomplete bool     // an error issue (a source missing)
	}{
		{name: "one type", path: "/Patient/9000000009/$everything?_type=AllergyIntolerance", status: 200, types: []string{"AllergyIntolerance", "Patient"}},
		{name: "lists, repeated", path: "/Patient/9000000009/$everything?_type=Immunization,RelatedPerson&_type=MedicationStatement", status: 200,
			types: []string{"Immunization", "MedicationStatement", "Patient", "RelatedPerson"}},
		{name: "Flags asked: CP-IS is missing, and said to be", path: "/Patient/9000000009/$everything?_type=Flag", status: 200, types: []string{"Flag", "Patient"}, incomplete: true},
		{name: "a type it does not return", path: "/Patient/9000000009/$everything?_type=Observation", status: 400, issue: "_type: Observation is not a type $everything returns"},
		{name: "not a type name", path: "/Patient/9000000009/$everything?_type=%3Cb%3E", status: 400, issue: "_type: this value is not a type"},
		{name: "an undeclared parameter, lenient", path: "/Patient/9000000009/$everything?_type=AllergyIntolerance&start=2020-01-01", status: 200,
			types: []string{"AllergyIntolerance", "Patient"}, issue: "$everything has no parameter 'start': it was ignored"},
		{name: "an undeclared parameter, strict", path: "/Patient/9000000009/$everything?start=2020-01-01", hdr: strict, status: 400, issue: "$everything has no parameter 'start'"},
		{name: "$summary takes no _type, strict", path: "/Patient/9000000009/$summary?_type=Flag", hdr: strict, status: 400, issue: "$summary has no parameter '_type'"},
		{name: "result parameters are always taken", path: "/Patient/9000000009/$everything?_type=AllergyIntolerance&_pretty=true&_format=json", hdr: strict, status: 200,
			types: []string{"AllergyIntolerance", "Patient"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, http.MethodGet, tt.path, tt.hdr, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.issue != "" && !strings.Contains(string(r.raw), tt.issue) {
				t.Errorf("no issue saying %q: %s", tt.issue, r.raw)
			}
			if r.status != 200 {
				if outcomeIssue(t, r)["code"] != "invalid" {
					t.Errorf("issue %v, want invalid", outcomeIssue(t, r))
				}
				return
			}
			matches, outcomes := entries(t, r)
			var types []string
			for _, m := range matches {
				types = append(types, resourceOf(m)["resourceType"].(string))
			}
			if types = slices.Compact(slices.Sorted(slices.Values(types))); !slices.Equal(types, tt.types) {
				t.Errorf("types %v, want %v", types, tt.types)
			}
			if r.body["total"] != float64(len(matches)) {
				t.Errorf("total %v, %d records", r.body["total"], len(matches))
			}
			incomplete := false
			for _, o := range outcomes {
				for _, is := range resourceOf(o)["issue"].([]any) {
					d, _ := is.(map[string]any)["diagnostics"].(string)
					incomplete = incomplete || is.(map[string]any)["severity"] == "error" && !sandboxHPVDefect(d)
				}
			}
			if incomplete != tt.incomplete {
				t.Errorf("a source missing: %v, want %v: %s", incomplete, tt.incomplete, r.raw)
			}
		})
	}
}

// $everything with _count is paged like a search: following next links
// gives every record of the unpaged answer once, each page says the total,
// and the links keep the operation's own parameters.
func TestEverythingPaging(t *testing.T) {
	fullURLs := func(r response) []string {
		var out []string
		matches, _ := entries(t, r)
		for _, m := range matches {
			out = append(out, m["fullUrl"].(string))
		}
		return out
	}
	for _, q := range []string{"", "&_type=Flag,Immunization,AllergyIntolerance"} {
		t.Run(q, func(t *testing.T) {
			whole := get(t, "/Patient/9000000009/$everything?"+strings.TrimPrefix(q, "&"))
			want := fullURLs(whole)
			var got []string
			next, pages := "/Patient/9000000009/$everything?_count=4"+q, 0
			for ; next != "" && pages < 20; pages++ {
				r := get(t, next)
				if r.status != 200 {
					t.Fatalf("%s: %d %s", next, r.status, r.raw)
				}
				if r.body["total"] != float64(len(want)) {
					t.Errorf("page %d: total %v, want %d", pages, r.body["total"], len(want))
				}
				page := fullURLs(r)
				if len(page) > 4 {
					t.Errorf("page %d holds %d records", pages, len(page))
				}
				got = append(got, page...)
				next = linkURL(r, "next")
				if next != "" && q != "" && !strings.Contains(next, "_type=") {
					t.Errorf("next %s lost _type", next)
				}
			}
			if pages != (len(want)+3)/4 || !slices.Equal(got, want) {
				t.Errorf("%d pages gave %v, want %v", pages, got, want)
			}
		})
	}
	def := get(t, "/OperationDefinition/Patient-everything")
	declared := map[string]bool{}
	for _, p := range asList(def.body["parameter"]) {
		declared[p.(map[string]any)["name"].(string)] = true
	}
	for _, n := range []string{"_type", "_count", "_offset", "return"} {
		if !declared[n] {
			t.Errorf("the OperationDefinition does not declare %s: %v", n, declared)
		}
	}
	if r := get(t, "/Patient/9000000009/$everything?_count=-1"); r.status != 400 {
		t.Errorf("_count=-1: %d", r.status)
	}
}
