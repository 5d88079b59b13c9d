package tests

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	sandboximms "github.com/carerecords/fhir-facade/sandbox/immunisation"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// 9000000009's records in the public sandbox's answers, which have no ids:
// the facade names each by a digest of its content (pinned here, as in the
// mapper's goldens, so a change of the scheme is seen).
const (
	imms1   = "9000000009-x82adfd284b783728846afa78fc490f5e" // COVID-19, 2020-12-10, AstraZeneca, given
	imms2   = "9000000009-xcd06429774cedb48a6c497690506dcd9" // COVID-19, 2020-12-31, not given (consent not given)
	immsFlu = "9000000009-xa6631f920601d2788ba4c114e8372c4e" // flu, 2021-08-02
)

// hpvUnread is how the facade names 9000000009's HPV history, whose
// records in the public sandbox are another patient's.
const hpvUnread = "the immunisation record's HPV history could not be read completely"

// outcomeTexts returns the severity, code and diagnostics of every issue of
// the searchset's OperationOutcome entries.
func outcomeTexts(t *testing.T, r response) []string {
	t.Helper()
	_, outcomes := entries(t, r)
	var out []string
	for _, o := range outcomes {
		for _, is := range resourceOf(o)["issue"].([]any) {
			m := is.(map[string]any)
			out = append(out, m["severity"].(string)+" "+m["code"].(string)+" "+m["diagnostics"].(string))
		}
	}
	return out
}

// TestImmunization9000000009 lists and reads the public sandbox patient's
// vaccinations, as a FHIR client would: the COVID-19 dose given and the one
// not given (with its reason), the flu vaccination, and the HPV history
// named as not read (its records in the sandbox are another patient's).
func TestImmunization9000000009(t *testing.T) {
	for _, patient := range []string{"patient=9000000009", "patient=Patient/9000000009", "patient:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9000000009")} {
		r := get(t, "/Immunization?"+patient)
		if r.status != 200 || r.body["total"] != 3.0 {
			t.Fatalf("%s: %d %s", patient, r.status, r.raw)
		}
		matches, _ := entries(t, r)
		if got := strings.Join(matchIDs(t, r), ","); got != imms1+","+imms2+","+immsFlu {
			t.Errorf("%s: %s", patient, got)
		}
		if got := outcomeTexts(t, r); len(got) != 1 || !strings.HasPrefix(got[0], "error incomplete "+hpvUnread+": ") {
			t.Errorf("%s: outcomes %q", patient, got)
		}
		im := resourceOf(matches[0])
		if im["patient"].(map[string]any)["reference"] != "Patient/9000000009" || im["occurrenceDateTime"] != "2020-12-10T13:00:08.476Z" ||
			im["status"] != "completed" || im["lotNumber"] != "R04X" || im["vaccineCode"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] != "39114911000001105" ||
			im["protocolApplied"].([]any)[0].(map[string]any)["doseNumberPositiveInt"] != 1.0 {
			t.Errorf("%s: first vaccination %v", patient, im)
		}
		// The dose not given reads as not given, with its reason.
		nd := resourceOf(matches[1])
		if nd["status"] != "not-done" || nd["statusReason"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] != "310376006" {
			t.Errorf("%s: second vaccination %v", patient, nd)
		}
		if matches[0]["fullUrl"] != env.url+"/Immunization/"+imms1 {
			t.Errorf("fullUrl %v", matches[0]["fullUrl"])
		}
		// The API's included Patient (birth date as recorded at vaccination,
		// 1965-02-28) is never served, nor the other patient's number.
		for _, leak := range []string{"1965-02-28", "urn:uuid:124fcb63", "9912003993"} {
			if strings.Contains(string(r.raw), leak) {
				t.Errorf("%s: %s leaked: %s", patient, leak, r.raw)
			}
		}
	}
	for id, status := range map[string]string{imms1: "completed", imms2: "not-done", immsFlu: "completed"} {
		r := get(t, "/Immunization/"+id)
		if r.status != 200 || r.body["id"] != id || r.body["status"] != status {
			t.Errorf("read %s: %d %s", id, r.status, r.raw)
		}
	}
	if r := get(t, "/Immunization?patient=9000000033"); r.status != 200 || r.body["total"] != 0.0 || len(matchIDs(t, r)) != 0 || len(outcomeTexts(t, r)) != 0 {
		t.Errorf("9000000033: %d %s", r.status, r.raw)
	}
}

// TestImmunizationIncludesThePDSPatient: _include=Immunization:patient adds
// the patient as PDS holds them, not as the API recorded them.
func TestImmunizationIncludesThePDSPatient(t *testing.T) {
	pds := get(t, "/Patient/9000000009")
	for _, path := range []string{"/Immunization?patient=9000000009&_include=Immunization:patient", "/Patient?identifier=9000000009&_revinclude=Immunization:patient"} {
		r := get(t, path)
		matches, _ := entries(t, r)
		types := map[string]int{}
		for _, m := range matches {
			res := resourceOf(m)
			types[res["resourceType"].(string)]++
			if res["resourceType"] == "Patient" && res["birthDate"] != pds.body["birthDate"] {
				t.Errorf("%s: included Patient born %v, PDS says %v", path, res["birthDate"], pds.body["birthDate"])
			}
		}
		if r.status != 200 || types["Immunization"] != 3 || types["Patient"] != 1 {
			t.Errorf("%s: %d %v", path, r.status, types)
		}
		if strings.Contains(string(r.raw), "1965-02-28") {
			t.Errorf("%s: the API's demographics leaked", path)
		}
	}
}

func TestImmunizationSearchParameters(t *testing.T) {
	tests := []struct {
		query string
		want  []string
		hpv   bool // the HPV store is asked, so named as not read
	}{
		// The HPV store's (another patient's) records are of 2020-12-23 to
		// 25: a range without them reads that store as empty, rightly.
		{"date=2020-12-10", []string{imms1}, false},
		{"date=ge2020-12-11", []string{imms2, immsFlu}, true},
		{"date=eq2020-12", []string{imms1, imms2}, true},
		{"date=lt2020-12-10", nil, false},
		{"date=ge2020-12-01&date=le2020-12-30", []string{imms1}, true},
		{"target-disease=COVID19", []string{imms1, imms2}, false},
		{"target-disease=" + url.QueryEscape("http://snomed.info/sct|840539006"), []string{imms1, imms2}, false},
		{"target-disease=FLU", []string{immsFlu}, false},
		{"target-disease=FLU,HPV", []string{immsFlu}, true},
		{"target-disease=COVID19,FLU&date=ge2020-12-31", []string{imms2, immsFlu}, false},
		{"_sort=-date", []string{immsFlu, imms2, imms1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := get(t, "/Immunization?patient=9000000009&"+tt.query)
			if got := strings.Join(matchIDs(t, r), ","); r.status != 200 || got != strings.Join(tt.want, ",") || r.body["total"] != float64(len(tt.want)) {
				t.Errorf("%d: %v, want %v", r.status, got, tt.want)
			}
			if got := outcomeTexts(t, r); (len(got) == 1 && strings.Contains(got[0], hpvUnread)) != tt.hpv || len(got) > 1 {
				t.Errorf("outcomes %q", got)
			}
		})
	}
	// HPV alone: nothing of it can be read, so the search fails (502),
	// never an empty list.
	if r := get(t, "/Immunization?patient=9000000009&target-disease=HPV"); r.status != 502 || !strings.Contains(outcomeIssue(t, r)["diagnostics"].(string), "another patient's") {
		t.Errorf("HPV alone: %d %s", r.status, r.raw)
	}
	// _count pages over the three.
	r := get(t, "/Immunization?patient=9000000009&_count=2")
	next := linkURL(r, "next")
	if got := matchIDs(t, r); len(got) != 2 || got[0] != imms1 || next == "" {
		t.Fatalf("page 1: %v, next %q", got, next)
	}
	if got := matchIDs(t, get(t, next)); len(got) != 1 || got[0] != immsFlu {
		t.Errorf("page 2: %v", got)
	}
}

// TestImmunizationPopulation searches and reads a synthetic patient's
// history of several data stores.
func TestImmunizationPopulation(t *testing.T) {
	sim := env.app.Sandbox.Imms
	var d sandboximms.Description
	for _, p := range population.Default() {
		c := sim.Describe(p.NHSNumber)
		stores := map[string]bool{}
		for _, e := range c.Events {
			stores[e.Target] = true
		}
		if len(stores) >= 2 && len(c.Events) >= 4 {
			d = c
			break
		}
	}
	if d.NHSNumber == "" {
		t.Fatal("no patient with vaccinations of two data stores")
	}
	r := get(t, "/Immunization?patient="+d.NHSNumber)
	ids := matchIDs(t, r)
	if r.status != 200 || len(ids) != len(d.Events) {
		t.Fatalf("%d: %d of %d vaccinations", r.status, len(ids), len(d.Events))
	}
	perStore := map[string]int{}
	for i, e := range d.Events {
		perStore[e.Target]++
		if ids[i] != d.NHSNumber+"-"+e.ID {
			t.Errorf("id %s for %s", ids[i], e.ID)
		}
		read := get(t, "/Immunization/"+ids[i])
		if read.status != 200 || !strings.HasPrefix(read.body["occurrenceDateTime"].(string), e.Date) {
			t.Errorf("read %s: %d %s", ids[i], read.status, read.raw)
		}
	}
	for store, n := range perStore {
		if r := get(t, "/Immunization?patient="+d.NHSNumber+"&target-disease="+store); r.body["total"] != float64(n) {
			t.Errorf("%s: %v, want %d", store, r.body["total"], n)
		}
	}
	last := d.Events[len(d.Events)-1].Date
	if r := get(t, "/Immunization?patient="+d.NHSNumber+"&date=ge"+last); r.body["total"].(float64) < 1 {
		t.Errorf("date=ge%s: %v", last, r.body["total"])
	}
}

func TestImmunizationErrors(t *testing.T) {
	sim := env.app.Sandbox.Imms
	before := sim.Requests()
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/Immunization", 400, "invalid"},
		{"/Immunization?date=ge2020", 400, "invalid"},
		{"/Immunization?patient=9000000000", 400, "invalid"},
		{"/Immunization?patient=Practitioner/9000000009", 400, "invalid"},
		{"/Immunization?patient=9000000009&target-disease=MMR", 400, "invalid"},
		{"/Immunization?patient=9000000009&target-disease=" + url.QueryEscape("http://snomed.info/sct|14189004"), 400, "invalid"},
		{"/Immunization?patient=9000000009&date=10-Dec-2020", 400, "invalid"},
		{"/Immunization?patient=9000000009&vaccine-code=39114911000001105", 400, "invalid"},
		{"/Immunization/90640007.747583-127", 404, "not-found"},
		{"/Immunization/9000000000-90640007.747583-127", 404, "not-found"},
	}
	for _, tt := range tests {
		r := call(t, "GET", tt.path, map[string]string{"Prefer": "handling=strict"}, "")
		if r.status != tt.status || outcomeIssue(t, r)["code"] != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.path, r.status, r.raw, tt.status, tt.code)
		}
	}
	if got := sim.Requests() - before; got != 0 {
		t.Errorf("invalid requests reached the API: %d calls", got)
	}
	// The public sandbox answers every number it does not know with the
	// empty Bundle (the specification says 400; the sandbox never does), and
	// so does the simulator: no vaccinations, no issue.
	if r := get(t, "/Immunization?patient=9111231130"); r.status != 200 || r.body["total"] != 0.0 || len(outcomeTexts(t, r)) != 0 {
		t.Errorf("9111231130: %d %s", r.status, r.raw)
	}
	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/Immunization/9111231130-90640007.747583-127", 404, "not-found"},
		{"/Immunization/9000000033-x00000000000000000000000000000000", 404, "not-found"},
		// 9000000009's HPV history cannot be read: a record not found in
		// the rest may be there, so the read fails rather than say "not found".
		{"/Immunization/9000000009-90640007.747583-129", 502, "exception"},
	} {
		r := get(t, tt.path)
		if r.status != tt.status || outcomeIssue(t, r)["code"] != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.path, r.status, r.raw, tt.status, tt.code)
		}
		if strings.Contains(string(r.raw), "Missing or invalid") || strings.Contains(string(r.raw), "9912003993") {
			t.Errorf("%s: the API's diagnostics or data were passed on: %s", tt.path, r.raw)
		}
	}
}

// TestImmunizationOneStoreFails: one data store that fails, answers
// nothing, answers short or answers what cannot be read is named in the
// searchset (severity error, code incomplete, no patient data) beside the
// other stores' records; one bad entry hides nothing else. The hazards
// "wrong/missing vaccination data shown as none" and "one bad entry hides
// the history".
func TestImmunizationOneStoreFails(t *testing.T) {
	sim := env.app.Sandbox.Imms
	flu, err := os.ReadFile("../mappers/immunisation/testdata/real_sandbox_9000000009_flu.in.json")
	if err != nil {
		t.Fatal(err)
	}
	badEntry := `{"fullUrl":"urn:uuid:0","resource":{"resourceType":"Immunization","status":"given","vaccineCode":{"text":"x"},` +
		`"patient":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}},"occurrenceDateTime":"2021-09-01"},"search":{"mode":"match"}},`
	withBadEntry := strings.Replace(strings.Replace(string(flu), `"total": 1,`, `"total": 2,`, 1), `"entry": [`, `"entry": [`+badEntry, 1)
	short := strings.Replace(string(flu), `"total": 1,`, `"total": 3,`, 1)
	tests := []struct {
		name  string
		fault sandboximms.Fault
		why   string
		flu   bool // the flu record is still shown
	}{
		{name: "empty body", fault: sandboximms.Fault{Status: 200, ContentType: "application/json"}, why: "the answer is empty"},
		{name: "malformed JSON", fault: sandboximms.Fault{Status: 200, Body: `{"resourceType":"Bundle","entry":[`}, why: "cannot read the Bundle"},
		{name: "wrong type", fault: sandboximms.Fault{Status: 200, Body: `{"resourceType":"OperationOutcome","issue":[]}`}, why: "it is not a Bundle"},
		{name: "total but no entries", fault: sandboximms.Fault{Status: 200, Body: `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[]}`},
			why: "the answer counts 1 more record(s) than it holds"},
		{name: "total more than the entries", fault: sandboximms.Fault{Status: 200, Body: short}, why: "the answer counts 2 more record(s) than it holds", flu: true},
		{name: "one unreadable entry", fault: sandboximms.Fault{Status: 200, Body: withBadEntry}, why: "entry[0] Immunization.status could not be read", flu: true},
		{name: "refused", fault: sandboximms.Fault{Status: 400, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing",` +
			`"diagnostics":"Missing or invalid required request parameters: [procedure-code:below] OR [immunization.target]"}]}`}, why: "rejected the request"},
		{name: "not authorised", fault: sandboximms.Fault{Status: 401, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing",` +
			`"diagnostics":"You do not have permission to access this resource"}]}`}, why: "could not authenticate"},
		{name: "server error", fault: sandboximms.Fault{Status: 500, Body: `{"error":"something went wrong"}`}, why: "failed"},
		{name: "slow", fault: sandboximms.Fault{Delay: backendTimeout + 500*time.Millisecond}, why: "did not answer in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fault
			sim.SetStoreFault(sandboximms.FLU, &f)
			defer sim.SetStoreFault(sandboximms.FLU, nil)
			r := get(t, "/Immunization?patient=9000000009")
			want := []string{imms1, imms2}
			if tt.flu {
				want = append(want, immsFlu)
			}
			if got := matchIDs(t, r); r.status != 200 || strings.Join(got, ",") != strings.Join(want, ",") || r.body["total"] != float64(len(want)) {
				t.Fatalf("%d %v, want %v: %s", r.status, got, want, r.raw)
			}
			var fluIssue string
			for _, o := range outcomeTexts(t, r) {
				if strings.Contains(o, "FLU history") {
					fluIssue = o
				}
			}
			if !strings.HasPrefix(fluIssue, "error incomplete the immunisation record's FLU history could not be read completely: ") || !strings.Contains(fluIssue, tt.why) {
				t.Errorf("FLU issue %q, want one with %q", fluIssue, tt.why)
			}
			for _, leak := range []string{"9912003993", "1965-02-28", "XDKOPHGTENHOIOVCTBFI", "given", "Missing or invalid", "permission", "something went wrong"} {
				if strings.Contains(strings.Join(outcomeTexts(t, r), "\n"), leak) {
					t.Errorf("the issues quote %q: %q", leak, outcomeTexts(t, r))
				}
			}
			// A record of the other stores is still read.
			if rr := get(t, "/Immunization/"+imms2); rr.status != 200 {
				t.Errorf("read of a COVID-19 record: %d %s", rr.status, rr.raw)
			}
		})
	}
}

// TestImmunizationFailures makes the simulator misbehave: the facade
// answers 502/504/429 with an OperationOutcome, never leaks the backend,
// and the rest of the server keeps working meanwhile.
func TestImmunizationFailures(t *testing.T) {
	sim := env.app.Sandbox.Imms
	html := "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
	oo := func(d string) string {
		return `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"` + d + `"}]}`
	}
	anotherPatient := strings.ReplaceAll(imms2json, "9000000009", "9000000017")
	tests := []struct {
		name   string
		fault  sandboximms.Fault
		status int
		code   string
	}{
		{name: "server error", fault: sandboximms.Fault{Status: 500, Body: oo("boom 9000000009")}, status: 502, code: "exception"},
		{name: "unavailable html", fault: sandboximms.Fault{Status: 503, Body: html, ContentType: "text/html"}, status: 504, code: "timeout"},
		{name: "slow", fault: sandboximms.Fault{Delay: backendTimeout + 500*time.Millisecond}, status: 504, code: "timeout"},
		{name: "facade credentials refused", fault: sandboximms.Fault{Status: 401, Body: oo("Missing or invalid OAuth 2.0 bearer token")}, status: 502, code: "exception"},
		{name: "throttled", fault: sandboximms.Fault{Status: 429, Header: http.Header{"Retry-After": {"3"}}}, status: 429, code: "throttled"},
		{name: "garbage", fault: sandboximms.Fault{Status: 200, Body: "not json", ContentType: "application/fhir+json"}, status: 502, code: "exception"},
		{name: "another patient's record", fault: sandboximms.Fault{Status: 200, Body: anotherPatient}, status: 502, code: "exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fault
			sim.SetFault(&f)
			defer sim.SetFault(nil)
			for _, path := range []string{"/Immunization?patient=9000000009", "/Immunization/" + imms1} {
				r := get(t, path)
				if r.status != tt.status || outcomeIssue(t, r)["code"] != tt.code {
					t.Fatalf("%s: %d %s, want %d %s", path, r.status, r.raw, tt.status, tt.code)
				}
				if tt.status == 429 && r.header.Get("Retry-After") == "" {
					t.Errorf("%s: no Retry-After", path)
				}
				body := string(r.raw)
				for _, leak := range []string{"127.0.0.1", "<html", "immunisation-history", "boom", "9000000017", "goroutine"} {
					if strings.Contains(body, leak) {
						t.Errorf("%s: body leaks %q: %s", path, leak, body)
					}
				}
			}
			if r := get(t, "/Patient/9000000009"); r.status != 200 {
				t.Errorf("Patient read while the API fails: %d", r.status)
			}
		})
	}
	if r := get(t, "/Immunization?patient=9000000009"); r.status != 200 {
		t.Errorf("after the faults: %d", r.status)
	}
}

// imms2json is a searchset holding 9000000009's second vaccination only,
// for faults that rewrite it.
const imms2json = `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"fullUrl":"urn:uuid:8da02505-db94-40b6-a8ed-d5af5628e28c",` +
	`"resource":{"id":"90640007.747583-128","resourceType":"Immunization","status":"completed",` +
	`"vaccineCode":{"coding":[{"system":"http://snomed.info/sct","code":"39114911000001105"}]},` +
	`"patient":{"reference":"urn:uuid:124fcb63-669c-4a3c-af2b-caf55de167ec","type":"Patient","identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}},` +
	`"occurrenceDateTime":"2020-12-31T13:00:08.476Z","primarySource":true},"search":{"mode":"match"}}]}`

// TestImmunizationInPatientSummary: $summary carries the vaccinations, and
// names the Immunisation History API when it is down.
func TestImmunizationInPatientSummary(t *testing.T) {
	count := func(r response) int {
		matches, _ := entries(t, r)
		n := 0
		for _, m := range matches {
			if resourceOf(m)["resourceType"] == "Immunization" {
				n++
			}
		}
		return n
	}
	if r := get(t, "/Patient/9000000009/$summary"); count(r) != 3 || !strings.Contains(strings.Join(outcomeTexts(t, r), "\n"), "error incomplete "+hpvUnread) {
		t.Errorf("%d Immunizations in 9000000009's summary, want 3, and the HPV history named: %q", count(r), outcomeTexts(t, r))
	}
	env.app.Sandbox.Imms.SetFault(&sandboximms.Fault{Status: 500, Body: "down", ContentType: "text/plain"})
	defer env.app.Sandbox.Imms.SetFault(nil)
	r := get(t, "/Patient/9000000009/$summary")
	_, outcomes := entries(t, r)
	if r.status != 200 || count(r) != 0 || len(outcomes) != 1 || !strings.Contains(string(r.raw), "Immunization could not be reached") {
		t.Errorf("summary with the API down: %d %s", r.status, r.raw)
	}
}

func TestImmunizationCapabilityStatement(t *testing.T) {
	var im map[string]any
	for _, r := range capabilityResources(t) {
		if r["type"] == "Immunization" {
			im = r
		}
	}
	if im == nil {
		t.Fatal("Immunization is not in the CapabilityStatement")
	}
	codes := func(key, field string) string {
		var out []string
		xs, _ := im[key].([]any)
		for _, x := range xs {
			out = append(out, x.(map[string]any)[field].(string))
		}
		return strings.Join(out, ",")
	}
	if got := codes("interaction", "code"); got != "read,search-type" {
		t.Errorf("interactions %s", got)
	}
	if got := codes("searchParam", "name"); got != "patient,date,target-disease" {
		t.Errorf("search parameters %s", got)
	}
	if inc, _ := im["searchInclude"].([]any); len(inc) != 1 || !strings.HasPrefix(inc[0].(string), "Immunization:patient") {
		t.Errorf("searchInclude %v", im["searchInclude"])
	}
}

// TestImmunizationNoPatientDataInLogs: searches, reads and failures leave
// no NHS number in the logs or metrics; the metrics name the backend.
func TestImmunizationNoPatientDataInLogs(t *testing.T) {
	get(t, "/Immunization?patient=9000000009&_include=Immunization:patient")
	get(t, "/Immunization/"+imms1)
	get(t, "/Immunization?patient=9111231130")
	res, err := http.Get(env.root + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	metrics, _ := io.ReadAll(res.Body)
	for name, text := range map[string]string{"logs": env.logs.String(), "metrics": string(metrics)} {
		if m := nhsNumberPattern.FindString(text); m != "" {
			t.Errorf("%s carry an NHS number (%s)", name, m)
		}
		if strings.Contains(text, "1965-02-28") {
			t.Errorf("%s carry the included Patient's birth date", name)
		}
	}
	if !strings.Contains(string(metrics), `backend="immunisation"`) {
		t.Error("metrics do not name the immunisation backend")
	}
}
