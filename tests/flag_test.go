package tests

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/resources"
	sandboxcpis "github.com/carerecords/fhir-facade/sandbox/cpis"
	sandboxfgm "github.com/carerecords/fhir-facade/sandbox/fgm"
	sandboxovm "github.com/carerecords/fhir-facade/sandbox/ovm"
	sandboxra "github.com/carerecords/fhir-facade/sandbox/ra"
)

// flagServices counts a searchset's Flags by the service their id names.
func flagServices(t *testing.T, matches []map[string]any) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range matches {
		res := m["resource"].(map[string]any)
		if res["resourceType"] != "Flag" {
			t.Errorf("entry is a %v", res["resourceType"])
			continue
		}
		svc, _, _ := strings.Cut(res["id"].(string), "-")
		out[svc]++
	}
	return out
}

func TestFlagSearchThroughTheFacade(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  map[string]int
		total float64
	}{
		{name: "every flag of a patient", query: "patient=9000000009", want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}, total: 5},
		{name: "by subject reference", query: "subject=Patient/9000000009", want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}, total: 5},
		{name: "by NHS number identifier", query: "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}, total: 5},
		{name: "child protection only", query: "patient=9000000009&category=http://terminology.hl7.org/CodeSystem/flag-category|safety", want: map[string]int{"cpis": 1}, total: 1},
		{name: "reasonable adjustments only", query: "patient=9000000009&category=https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1|NRAF", want: map[string]int{"ra": 2}, total: 2},
		{name: "ended plans", query: "patient=9000000017&category=safety&status=inactive", want: map[string]int{"cpis": 1}, total: 1},
		{name: "overseas visitor chargeable status only", query: "patient=9000000009&category=urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status", want: map[string]int{"ovm": 1}, total: 1},
		{name: "administrative flags", query: "patient=9000000009&category=http://terminology.hl7.org/CodeSystem/flag-category|admin", want: map[string]int{"ovm": 1}, total: 1},
		{name: "an ended chargeable status", query: "patient=9000000017&category=urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status&status=inactive", want: map[string]int{"ovm": 1}, total: 1},
		{name: "no current chargeable status", query: "patient=9000000017&category=urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status", want: map[string]int{}, total: 0},
		{name: "POST _search", query: "", want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}, total: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.query == "" {
				r = call(t, "POST", "/Flag/_search", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "patient=9000000009")
			} else {
				r = get(t, "/Flag?"+tc.query)
			}
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			matches, outcomes := entries(t, r)
			if len(outcomes) != 0 {
				t.Errorf("outcomes with every service up: %v", outcomes)
			}
			got := flagServices(t, matches)
			for svc, n := range tc.want {
				if got[svc] != n {
					t.Errorf("%s: %d flags, want %d", svc, got[svc], n)
				}
			}
			if len(got) != len(tc.want) || r.body["total"] != tc.total {
				t.Errorf("services %v, total %v", got, r.body["total"])
			}
		})
	}
}

// The server pages what the four services answered together.
func TestFlagSearchPaging(t *testing.T) {
	r := get(t, "/Flag?patient=9000000009&_count=3")
	matches, _ := entries(t, r)
	if r.status != 200 || len(matches) != 3 || r.body["total"] != 5.0 {
		t.Fatalf("first page: %d, %d entries, total %v", r.status, len(matches), r.body["total"])
	}
	next := linkURL(r, "next")
	if next == "" {
		t.Fatal("no next link")
	}
	r2 := get(t, next)
	rest, _ := entries(t, r2)
	if len(rest) != 2 {
		t.Fatalf("second page: %d entries", len(rest))
	}
	seen := map[string]bool{}
	for _, m := range append(matches, rest...) {
		seen[m["resource"].(map[string]any)["id"].(string)] = true
	}
	if len(seen) != 5 {
		t.Errorf("%d distinct flags over two pages", len(seen))
	}
}

func TestFlagSearchErrors(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		status int
		code   string
	}{
		{name: "no patient", query: "category=safety", status: 400, code: "invalid"},
		{name: "invalid NHS number", query: "patient=9000000000", status: 400, code: "invalid"},
		{name: "bad status", query: "patient=9000000009&status=open", status: 400, code: "invalid"},
		{name: "unsupported modifier", query: "category:text=safety&patient=9000000009", status: 400, code: "not-supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, "/Flag?"+tc.query)
			if r.status != tc.status || outcomeIssue(t, r)["code"] != tc.code {
				t.Errorf("status %d: %s", r.status, r.raw)
			}
		})
	}
}

func TestFlagRead(t *testing.T) {
	r := get(t, "/Flag?patient=9000000009")
	matches, _ := entries(t, r)
	for _, m := range matches {
		id := m["resource"].(map[string]any)["id"].(string)
		t.Run(id, func(t *testing.T) {
			got := get(t, "/Flag/"+id)
			if got.status != 200 || got.body["id"] != id {
				t.Fatalf("status %d: %s", got.status, got.raw)
			}
			meta, _ := got.body["meta"].(map[string]any)
			if v, ok := meta["versionId"].(string); ok && got.header.Get("ETag") != `W/"`+v+`"` {
				t.Errorf("ETag %q, meta %v", got.header.Get("ETag"), meta)
			}
			if got.header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			subject := got.body["subject"].(map[string]any)
			if subject["reference"] != "Patient/9000000009" {
				t.Errorf("subject %v", subject)
			}
		})
	}
	for _, id := range []string{"9000000009", "ra-9000000009.00000000-0000-4000-8000-000000000000", "cpis-9000000009-lac", "fgm-9000000000-x",
		"ovm-9000000009-5b7e2c1d-3a4f-4e8b-9c6d-900000000017", "ovm-9000000000-x"} {
		t.Run("unknown "+id, func(t *testing.T) {
			r := get(t, "/Flag/"+id)
			if r.status != 404 || outcomeIssue(t, r)["code"] != "not-found" {
				t.Errorf("status %d: %s", r.status, r.raw)
			}
		})
	}
}

// What a clinician needs from each kind of flag reaches them: the local
// authority's numbers on a child protection plan, the consent on a
// reasonable adjustment.
func TestFlagContent(t *testing.T) {
	cp := get(t, "/Flag/cpis-9000000009-cpp")
	if cp.status != 200 {
		t.Fatalf("%d %s", cp.status, cp.raw)
	}
	if !strings.Contains(string(cp.raw), "01632 960999") || !strings.Contains(string(cp.raw), "emergency-duty") {
		t.Errorf("the local authority's emergency number is missing: %s", cp.raw)
	}
	if author := cp.body["author"].(map[string]any); author["display"] == nil {
		t.Errorf("author %v", author)
	}
	ra := get(t, "/Flag/ra-9000000009.1512d9fd-5ed8-4c63-80c5-348885c3f809")
	contained, _ := ra.body["contained"].([]any)
	if ra.status != 200 || len(contained) != 1 || contained[0].(map[string]any)["resourceType"] != "Consent" {
		t.Errorf("RA flag without its consent: %d %s", ra.status, ra.raw)
	}
}

// When a service fails or times out, the searchset still has the others'
// flags, and an OperationOutcome entry names the missing service: severity
// error, code incomplete whatever the cause (issue #16: it was a warning
// with a code per cause, easy to skip), the cause in the diagnostics.
func TestFlagPartialAnswers(t *testing.T) {
	sb := env.app.Sandbox
	clear := func() { sb.RA.SetFault(nil); sb.CPIS.SetFault(nil); sb.FGM.SetFault(nil); sb.OVM.SetFault(nil) }
	tests := []struct {
		name    string
		fault   func()
		want    map[string]int
		missing string
		why     string // in the diagnostics
	}{
		{name: "FGM-IS answers 500", fault: func() {
			sb.FGM.SetFault(&sandboxfgm.Fault{Status: 500, Body: "<html>fgm.internal down</html>", ContentType: "text/html"})
		},
			want: map[string]int{"ra": 2, "cpis": 1, "ovm": 1}, missing: resources.SourceFGM, why: "failed"},
		{name: "CP-IS drops the connection", fault: func() { sb.CPIS.SetFault(&sandboxcpis.Fault{Drop: true}) },
			want: map[string]int{"ra": 2, "fgm": 1, "ovm": 1}, missing: resources.SourceCPIS, why: "could not be reached"},
		{name: "RA times out", fault: func() { sb.RA.SetFault(&sandboxra.Fault{Delay: backendTimeout + 300*time.Millisecond}) },
			want: map[string]int{"cpis": 1, "fgm": 1, "ovm": 1}, missing: resources.SourceRA, why: "did not answer in time"},
		{name: "OVM drops the connection", fault: func() { sb.OVM.SetFault(&sandboxovm.Fault{Drop: true}) },
			want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1}, missing: resources.SourceOVM, why: "could not be reached"},
		{name: "OVM answers 500 with an HTML page", fault: func() {
			sb.OVM.SetFault(&sandboxovm.Fault{Status: 500, Body: "<html>ovm.internal down</html>", ContentType: "text/html"})
		},
			want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1}, missing: resources.SourceOVM, why: "failed"},
		{name: "OVM times out", fault: func() { sb.OVM.SetFault(&sandboxovm.Fault{Delay: backendTimeout + 300*time.Millisecond}) },
			want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1}, missing: resources.SourceOVM, why: "did not answer in time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fault()
			defer clear()
			r := get(t, "/Flag?patient=9000000009")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			matches, outcomes := entries(t, r)
			got := flagServices(t, matches)
			for svc, n := range tc.want {
				if got[svc] != n {
					t.Errorf("%s: %d flags, want %d", svc, got[svc], n)
				}
			}
			if len(got) != len(tc.want) || len(outcomes) != 1 {
				t.Fatalf("services %v, outcomes %v", got, outcomes)
			}
			is := outcomes[0]["resource"].(map[string]any)["issue"].([]any)[0].(map[string]any)
			diag, _ := is["diagnostics"].(string)
			if is["severity"] != "error" || is["code"] != "incomplete" || !strings.Contains(diag, tc.missing) || !strings.Contains(diag, tc.why) {
				t.Errorf("issue %v does not name %s", is, tc.missing)
			}
			for _, leak := range []string{"fgm.internal", "ovm.internal", "<html", "/fgm/FHIR", "/cpis/FHIR", "reasonable-adjustment-flag", "/overseas-visitors/"} {
				if strings.Contains(string(r.raw), leak) {
					t.Errorf("answer leaks %q", leak)
				}
			}
		})
	}
	t.Run("every service fails", func(t *testing.T) {
		sb.RA.SetFault(&sandboxra.Fault{Status: 500})
		sb.CPIS.SetFault(&sandboxcpis.Fault{Status: 502})
		sb.FGM.SetFault(&sandboxfgm.Fault{Drop: true})
		sb.OVM.SetFault(&sandboxovm.Fault{Status: 500, Body: `{"error":"INTERNAL"}`})
		defer clear()
		r := get(t, "/Flag?patient=9000000009")
		if r.status != 502 || outcomeIssue(t, r)["code"] != "exception" {
			t.Errorf("status %d: %s", r.status, r.raw)
		}
	})
	t.Run("every service times out", func(t *testing.T) {
		slow := backendTimeout + 300*time.Millisecond
		sb.RA.SetFault(&sandboxra.Fault{Delay: slow})
		sb.CPIS.SetFault(&sandboxcpis.Fault{Delay: slow})
		sb.FGM.SetFault(&sandboxfgm.Fault{Delay: slow})
		sb.OVM.SetFault(&sandboxovm.Fault{Delay: slow})
		defer clear()
		r := get(t, "/Flag?patient=9000000009")
		if r.status != 504 || outcomeIssue(t, r)["code"] != "timeout" {
			t.Errorf("status %d: %s", r.status, r.raw)
		}
	})
	if r := get(t, "/Flag?patient=9000000009"); r.status != 200 {
		t.Errorf("after the faults: %d", r.status)
	}
}

// raFlag is an RA flag a client creates for patient nhs; extra is spliced
// in before "status".
func raFlag(nhs, extra string) string {
	return `{"resourceType":"Flag",` + extra + `"status":"active",
		"category":[{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1","code":"NRAF"}]},
			{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1","code":"003"}]}],
		"code":{"coding":[{"system":"http://snomed.info/sct","code":"7961610000001018","display":"Requires visual alert"}]},
		"subject":{"reference":"Patient/` + nhs + `"}}`
}

const consentOf9000000017 = `"contained":[{"resourceType":"Consent","id":"consent","status":"active",
	"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
	"category":[{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1","code":"NRAF"}]}],
	"patient":{"reference":"Patient/9000000017"}}],`

var fhirJSON = map[string]string{"Content-Type": "application/fhir+json"}

// An RA flag is created (the record with it, from the client's consent),
// read back, removed under its version; stale and missing versions are
// refused, and the other services' flags are read-only.
func TestFlagWrites(t *testing.T) {
	before := get(t, "/Flag?patient=9000000017&category=NRAF&status=active,inactive")
	if n, _ := entries(t, before); len(n) != 0 {
		t.Fatalf("9000000017 already has RA flags: %s", before.raw)
	}

	t.Run("rejected before anything is written", func(t *testing.T) {
		for _, tc := range []struct{ name, body, expr string }{
			{name: "no consent for a new record", body: raFlag("9000000017", ""), expr: "Flag.contained"},
			{name: "wrong category", body: strings.Replace(raFlag("9000000017", consentOf9000000017), "RARecord-FlagCategory-1\",\"code\":\"NRAF\"}]},", "RARecord-FlagCategory-1\",\"code\":\"NRAF\"}]},{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/flag-category\",\"code\":\"safety\"}]},", 1), expr: "Flag.category[1].coding[0]"},
			{name: "wrong code", body: strings.Replace(raFlag("9000000017", consentOf9000000017), "http://snomed.info/sct", "http://read.info/ctv3", 1), expr: "Flag.code.coding[0]"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := call(t, "POST", "/Flag", fhirJSON, tc.body)
				if r.status != 422 {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				is := outcomeIssue(t, r)
				if is["code"] != "processing" || is["expression"].([]any)[0] != tc.expr {
					t.Errorf("issue %v, want expression %s", is, tc.expr)
				}
			})
		}
		if env.app.Sandbox.RA.HasRecord("9000000017") {
			t.Error("a rejected flag created an RA record")
		}
	})

	created := call(t, "POST", "/Flag", fhirJSON, raFlag("9000000017", consentOf9000000017))
	if created.status != 201 {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	id := created.body["id"].(string)
	etag := created.header.Get("ETag")
	loc := created.header.Get("Location")
	if !strings.HasPrefix(id, "ra-9000000017.") || !strings.HasPrefix(etag, `W/"`) || !strings.Contains(loc, "/Flag/"+id+"/_history/") {
		t.Fatalf("id %s, ETag %s, Location %s", id, etag, loc)
	}
	read := get(t, "/Flag/"+id)
	if read.status != 200 || read.header.Get("ETag") != etag {
		t.Fatalf("read back: %d %s", read.status, read.header.Get("ETag"))
	}
	if c, _ := read.body["contained"].([]any); len(c) != 1 {
		t.Errorf("created flag without the patient's consent: %s", read.raw)
	}

	// The client removes the adjustment: the flag as read, inactive, with
	// RA's removal reason.
	var flag map[string]any
	if err := json.Unmarshal(read.raw, &flag); err != nil {
		t.Fatal(err)
	}
	flag["status"] = "inactive"
	exts, _ := flag["extension"].([]any)
	flag["extension"] = append(exts, map[string]any{
		"url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-RemovalReason-1",
		"extension": []any{
			map[string]any{"url": "removalReason", "valueCodeableConcept": map[string]any{"coding": []any{map[string]any{
				"system": "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-RemovalReason-1", "code": "Error"}}}},
			map[string]any{"url": "supportingComment", "valueString": "Recorded against the wrong adjustment"},
		},
	})
	removal, _ := json.Marshal(flag)

	updates := []struct {
		name    string
		path    string
		ifMatch string
		body    string
		status  int
		code    string
	}{
		{name: "no If-Match", path: "/Flag/" + id, body: string(removal), status: 428, code: "required"},
		{name: "stale version", path: "/Flag/" + id, ifMatch: `W/"00000000-0000-4000-8000-000000000000"`, body: string(removal), status: 412, code: "conflict"},
		{name: "CP-IS flag", path: "/Flag/cpis-9000000009-cpp", ifMatch: `W/"1"`, body: strings.Replace(string(removal), id, "cpis-9000000009-cpp", 1), status: 422, code: "business-rule"},
		{name: "OVM flag", path: "/Flag/" + ovmFlagOf9000000009, ifMatch: `W/"1"`, body: strings.Replace(string(removal), id, ovmFlagOf9000000009, 1), status: 422, code: "business-rule"},
		{name: "removal", path: "/Flag/" + id, ifMatch: etag, body: string(removal), status: 200},
		{name: "a removed flag is final", path: "/Flag/" + id, ifMatch: "", body: string(removal), status: 0},
	}
	for _, tc := range updates {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Content-Type": "application/fhir+json"}
			if tc.ifMatch != "" {
				hdr["If-Match"] = tc.ifMatch
			}
			if tc.status == 0 { // the current version, after the removal
				hdr["If-Match"] = get(t, "/Flag/"+id).header.Get("ETag")
				tc.status, tc.code = 422, "processing"
			}
			r := call(t, "PUT", tc.path, hdr, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.code != "" && outcomeIssue(t, r)["code"] != tc.code {
				t.Errorf("issue %v, want %s", outcomeIssue(t, r), tc.code)
			}
			if tc.status == 200 {
				if r.body["status"] != "inactive" || r.header.Get("ETag") == etag || r.header.Get("ETag") == "" {
					t.Errorf("after removal: %v, ETag %s", r.body["status"], r.header.Get("ETag"))
				}
				if p := r.body["period"].(map[string]any); p["end"] == nil {
					t.Errorf("removed flag without an end: %v", p)
				}
			}
		})
	}
	if r := get(t, "/Flag?patient=9000000017&category=NRAF"); r.body["total"] != 0.0 {
		t.Errorf("the removed flag is still active: %s", r.raw)
	}
	if r := get(t, "/Flag?patient=9000000017&category=NRAF&status=inactive"); r.body["total"] != 1.0 {
		t.Errorf("the removed flag is not found as inactive: %s", r.raw)
	}
}

// The CapabilityStatement says what Flag does, truthfully.
func TestFlagCapability(t *testing.T) {
	for _, res := range capabilityResources(t) {
		if res["type"] != "Flag" {
			continue
		}
		var got []string
		for _, i := range res["interaction"].([]any) {
			got = append(got, i.(map[string]any)["code"].(string))
		}
		if strings.Join(got, ",") != "read,vread,search-type,create,update" {
			t.Errorf("interactions %v", got)
		}
		doc := res["documentation"].(string)
		for _, want := range []string{"Only RA flags are writable", "read-only", "in parallel", "four national services",
			"overseas visitor chargeable statuses from OVM (ids ovm-", "urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status",
			"CP-IS, FGM-IS and OVM flags are read-only"} {
			if !strings.Contains(doc, want) {
				t.Errorf("documentation does not say %q: %s", want, doc)
			}
		}
		return
	}
	t.Error("Flag is not in the CapabilityStatement")
}

// The facade's CP-IS reads are scheduled-care (silent) reads unless
// configured otherwise: no access is recorded for the local authority.
func TestFlagCPISReadsAreSilent(t *testing.T) {
	before := env.app.Sandbox.CPIS.Accesses("9000000017")
	if r := get(t, "/Flag?patient=9000000017&category=safety"); r.status != 200 {
		t.Fatal(r.status)
	}
	if after := env.app.Sandbox.CPIS.Accesses("9000000017"); after != before {
		t.Errorf("%d accesses recorded", after-before)
	}
}

// A service refusing access (RBAC) is a missing source too, named in the
// answer like any other (error, incomplete: issue #16; it was a warning
// with code forbidden); the simulator refuses every FGM-IS query about
// 9000000092.
func TestFlagServiceRefusesAccess(t *testing.T) {
	r := get(t, "/Flag?patient="+sandboxfgm.ForbiddenNHSNumber)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	_, outcomes := entries(t, r)
	if len(outcomes) != 1 {
		t.Fatalf("outcomes %v", outcomes)
	}
	is := outcomes[0]["resource"].(map[string]any)["issue"].([]any)[0].(map[string]any)
	if d := is["diagnostics"].(string); is["code"] != "incomplete" || is["severity"] != "error" || !strings.Contains(d, resources.SourceFGM) || !strings.Contains(d, "refused access") {
		t.Errorf("issue %v", is)
	}
}

// Flag requests, their ids (which carry NHS numbers) and their failures
// leave no NHS number in the logs.
func TestFlagLogsCarryNoNHSNumber(t *testing.T) {
	mark := len(env.logs.String())
	for _, path := range []string{"/Flag?patient=9000000009", "/Flag/ra-9000000009.1512d9fd-5ed8-4c63-80c5-348885c3f809",
		"/Flag/cpis-9000000009-lac", "/Flag?patient=9000000000", "/Flag?patient=" + sandboxfgm.ForbiddenNHSNumber} {
		get(t, path)
	}
	env.app.Sandbox.CPIS.SetFault(&sandboxcpis.Fault{Drop: true})
	get(t, "/Flag?patient=9000000017")
	env.app.Sandbox.CPIS.SetFault(nil)
	call(t, "POST", "/Flag", fhirJSON, raFlag("9000000033", ""))
	logs := env.logs.String()[mark:]
	if !strings.Contains(logs, `"request_id"`) {
		t.Fatal("no request was logged")
	}
	if m := nhsNumberPattern.FindString(logs); m != "" {
		t.Errorf("the logs carry an NHS number (%s)", m)
	}
}

// The patient comes with the flags (_include), and the flags with the
// patient (_revinclude).
func TestFlagIncludes(t *testing.T) {
	for _, path := range []string{"/Flag?patient=9000000009&_include=Flag:patient", "/Patient?identifier=9000000009&_revinclude=Flag:patient"} {
		r := get(t, path)
		matches, _ := entries(t, r)
		types := map[string]int{}
		for _, m := range matches {
			types[m["resource"].(map[string]any)["resourceType"].(string)]++
		}
		if r.status != 200 || types["Flag"] != 5 || types["Patient"] != 1 {
			t.Errorf("%s: %d %v", path, r.status, types)
		}
	}
}

// ovmFlagOf9000000009 is the facade id of 9000000009's current overseas
// visitor chargeable status in the sandbox.
const ovmFlagOf9000000009 = "ovm-9000000009-5b7e2c1d-3a4f-4e8b-9c6d-900000000009"

// The overseas visitor chargeable status reaches the clinician as a Flag:
// the charging category named, the status's period, the recording
// organisation and its number; an ended one is inactive; the service's
// absence is named when it fails.
func TestFlagOverseasVisitorStatus(t *testing.T) {
	r := get(t, "/Flag/"+ovmFlagOf9000000009)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	code := r.body["code"].(map[string]any)
	if r.body["status"] != "active" || code["text"] != "Overseas visitor charging category C: Charge-exempt Overseas Visitor (European Economic Area)" ||
		code["coding"].([]any)[0].(map[string]any)["system"] != "https://fhir.hl7.org.uk/CodeSystem/UKCore-OverseasVisitorChargingCategory" {
		t.Errorf("flag %s", r.raw)
	}
	author := r.body["author"].(map[string]any)
	if author["type"] != "Organization" || author["display"] != "Example Hospitals NHS Trust" ||
		author["identifier"].(map[string]any)["value"] != "ZZ901" || !strings.Contains(string(r.raw), "01632 960101") {
		t.Errorf("author or contact missing: %s", r.raw)
	}
	if p := r.body["period"].(map[string]any); p["start"] != "2025-03-03" || p["end"] != nil {
		t.Errorf("period %v", p)
	}
	if meta := r.body["meta"].(map[string]any); meta["versionId"] != nil || meta["lastUpdated"] == nil || r.header.Get("ETag") == "" {
		t.Errorf("meta %v, ETag %q: no version is invented, the ETag is the content's", meta, r.header.Get("ETag"))
	}
	ended := get(t, "/Flag/ovm-9000000017-5b7e2c1d-3a4f-4e8b-9c6d-900000000017")
	if ended.status != 200 || ended.body["status"] != "inactive" {
		t.Errorf("ended status: %d %s", ended.status, ended.raw)
	}
	// The restricted patient has none, as in the other flag services.
	if r := get(t, "/Flag?patient=9000000025&category=urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status&status=active,inactive"); r.status != 200 || r.body["total"] != 0.0 {
		t.Errorf("restricted patient: %d %s", r.status, r.raw)
	}

	t.Run("read while OVM is down", func(t *testing.T) {
		env.app.Sandbox.OVM.SetFault(&sandboxovm.Fault{Status: 500})
		defer env.app.Sandbox.OVM.SetFault(nil)
		r := get(t, "/Flag/"+ovmFlagOf9000000009)
		if r.status != 502 || outcomeIssue(t, r)["code"] != "exception" {
			t.Errorf("status %d: %s", r.status, r.raw)
		}
	})
	t.Run("only OVM asked, OVM down", func(t *testing.T) {
		env.app.Sandbox.OVM.SetFault(&sandboxovm.Fault{Drop: true})
		defer env.app.Sandbox.OVM.SetFault(nil)
		r := get(t, "/Flag?patient=9000000009&category=urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status")
		if r.status != 502 {
			t.Errorf("status %d: %s", r.status, r.raw)
		}
	})
}

// $summary carries the chargeable status with the other flags, and names
// OVM when it is missing, like any other source.
func TestPatientSummaryOverseasVisitorStatus(t *testing.T) {
	r := get(t, "/Patient/9000000009/$summary")
	if r.status != 200 || !strings.Contains(string(r.raw), `"id":"`+ovmFlagOf9000000009+`"`) {
		t.Fatalf("the chargeable status is not in the summary: %d %.500s", r.status, r.raw)
	}
	env.app.Sandbox.OVM.SetFault(&sandboxovm.Fault{Status: 500, Body: "<html>ovm.internal down</html>", ContentType: "text/html"})
	defer env.app.Sandbox.OVM.SetFault(nil)
	r = get(t, "/Patient/9000000009/$summary")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	matches, outcomes := entries(t, r)
	got := flagServices(t, onlyFlags(matches))
	if got["ovm"] != 0 || got["ra"] != 2 || got["cpis"] != 1 || got["fgm"] != 1 || len(outcomes) != 1 {
		t.Fatalf("flags %v, outcomes %v", got, outcomes)
	}
	is := outcomes[0]["resource"].(map[string]any)["issue"].([]any)[0].(map[string]any)
	diag, _ := is["diagnostics"].(string)
	// An error, code incomplete (issue #16: it was a warning).
	if is["severity"] != "error" || is["code"] != "incomplete" || !strings.Contains(diag, resources.SourceOVM) {
		t.Errorf("issue %v does not name %s", is, resources.SourceOVM)
	}
	if strings.Contains(string(r.raw), "ovm.internal") || strings.Contains(string(r.raw), "/overseas-visitors/") {
		t.Errorf("the summary leaks the backend: %.300s", r.raw)
	}
}

// A child protection plan or FGM flag whose period ended long ago is shown
// inactive even when its service still says active: a status=active search
// (the default, and $summary) leaves it out, status=inactive finds it, a
// read shows it inactive with its end date. Synthetic data, served through
// the simulators' fault injection.
func TestFlagEndedButStillActiveUpstream(t *testing.T) {
	const nhs = "9000000009"
	subject := `"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}}`
	plan := `{"resourceType":"CareTeam","id":"cpis-` + nhs + `-lac","status":"active",` +
		`"category":[{"coding":[{"system":"https://carerecords-facade.invalid/fhir/CodeSystem/cpis-plan-type","code":"LAC"}]}],` +
		subject + `,"period":{"start":"2022-05-10","end":"2024-03-31"}}`
	fgmFlag := `{"resourceType":"Flag","id":"FGM-Ended","status":"active",` +
		`"code":{"coding":[{"system":"http://snomed.info/sct","code":"902961000000107"}]},` + subject + `,"period":{"start":"2019-12-10","end":"2024-03-31"}}`
	bundle := func(res string) string {
		return `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":` + res + `}]}`
	}
	env.app.Sandbox.CPIS.SetFault(&sandboxcpis.Fault{Status: 200, Body: bundle(plan), PathPrefix: "/CareTeam"})
	defer env.app.Sandbox.CPIS.SetFault(nil)
	env.app.Sandbox.FGM.SetFault(&sandboxfgm.Fault{Status: 200, Body: bundle(fgmFlag), PathPrefix: "/Flag"})
	defer env.app.Sandbox.FGM.SetFault(nil)

	for _, tc := range []struct {
		query string
		want  map[string]int
	}{
		{query: "patient=" + nhs + "&category=safety", want: map[string]int{}},
		{query: "patient=" + nhs + "&category=clinical", want: map[string]int{}},
		{query: "patient=" + nhs + "&category=safety&status=active", want: map[string]int{}},
		{query: "patient=" + nhs + "&category=safety&status=inactive", want: map[string]int{"cpis": 1}},
		{query: "patient=" + nhs + "&category=clinical&status=inactive", want: map[string]int{"fgm": 1}},
	} {
		r := get(t, "/Flag?"+tc.query)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", tc.query, r.status, r.raw)
		}
		matches, _ := entries(t, r)
		if got := flagServices(t, matches); len(got) != len(tc.want) || got["cpis"] != tc.want["cpis"] || got["fgm"] != tc.want["fgm"] {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	for _, id := range []string{"cpis-" + nhs + "-lac", "fgm-" + nhs + "-FGM-Ended"} {
		r := get(t, "/Flag/"+id)
		if r.status != 200 || r.body["status"] != "inactive" || r.body["period"].(map[string]any)["end"] != "2024-03-31" {
			t.Errorf("read %s: %d %s", id, r.status, r.raw)
		}
	}
	r := get(t, "/Patient/"+nhs+"/$summary")
	matches, _ := entries(t, r)
	if got := flagServices(t, onlyFlags(matches)); r.status != 200 || got["cpis"] != 0 || got["fgm"] != 0 {
		t.Errorf("$summary shows an ended flag as current: %d %v", r.status, got)
	}
}

func onlyFlags(matches []map[string]any) []map[string]any {
	var out []map[string]any
	for _, m := range matches {
		if m["resource"].(map[string]any)["resourceType"] == "Flag" {
			out = append(out, m)
		}
	}
	return out
}
