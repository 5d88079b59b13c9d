package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/population"
	sandboxscr "github.com/carerecords/fhir-facade/sandbox/scr"
)

const (
	scrAllergy = "9000000009-fa60be641f3411eba2a8000c29a364eb-a1"
	scrAcute   = "9000000009-fa60be641f3411eba2a8000c29a364eb-ma1"
	scrRepeat  = "9000000009-fa60be641f3411eba2a8000c29a364eb-mr1"
)

func resourceOf(e map[string]any) map[string]any { return e["resource"].(map[string]any) }

func matchIDs(t *testing.T, r response) []string {
	t.Helper()
	matches, _ := entries(t, r)
	var out []string
	for _, m := range matches {
		out = append(out, resourceOf(m)["id"].(string))
	}
	return out
}

// TestSCR9000000009 lists and reads the public sandbox patient's allergies
// and medications, as a FHIR client would.
func TestSCR9000000009(t *testing.T) {
	for _, patient := range []string{"patient=9000000009", "patient=Patient/9000000009", "patient:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9000000009")} {
		r := get(t, "/AllergyIntolerance?"+patient)
		if r.status != 200 || r.body["total"] != 1.0 {
			t.Fatalf("%s: %d %s", patient, r.status, r.raw)
		}
		matches, outcomes := entries(t, r)
		a := resourceOf(matches[0])
		if len(outcomes) != 0 || a["id"] != scrAllergy || a["code"].(map[string]any)["text"] != "Toxic reaction to wasp sting" ||
			a["recordedDate"] != "2020-05-12" || a["patient"].(map[string]any)["reference"] != "Patient/9000000009" {
			t.Errorf("%s: %s", patient, r.raw)
		}
		if _, coded := a["code"].(map[string]any)["coding"]; coded {
			t.Error("the facade invented a code")
		}
		if matches[0]["fullUrl"] != env.url+"/AllergyIntolerance/"+scrAllergy {
			t.Errorf("fullUrl %v", matches[0]["fullUrl"])
		}
		m := get(t, "/MedicationStatement?"+patient)
		if got := matchIDs(t, m); m.status != 200 || strings.Join(got, ",") != scrAcute+","+scrRepeat {
			t.Fatalf("%s: %d %v", patient, m.status, got)
		}
	}
	for _, tt := range []struct{ path, field, want string }{
		{"/AllergyIntolerance/" + scrAllergy, "resourceType", "AllergyIntolerance"},
		// Issued on 12 May 2020, long before today: its supply has run out.
		{"/MedicationStatement/" + scrAcute, "status", "completed"},
		{"/MedicationStatement/" + scrRepeat, "effectiveDateTime", "2020-05-12"},
	} {
		r := get(t, tt.path)
		if r.status != 200 || r.body[tt.field] != tt.want {
			t.Errorf("%s: %d %s", tt.path, r.status, r.raw)
		}
		if r.header.Get("Last-Modified") == "" {
			t.Errorf("%s: no Last-Modified", tt.path)
		}
		if src := r.body["meta"].(map[string]any)["source"]; src != "urn:uuid:fa60be64-1f34-11eb-a2a8-000c29a364eb" {
			t.Errorf("%s: meta.source %v", tt.path, src)
		}
	}
	m := get(t, "/MedicationStatement/"+scrAcute)
	if m.body["medicationCodeableConcept"].(map[string]any)["text"] != "Co-codamol 8mg/500mg effervescent tablets" ||
		m.body["dosage"].([]any)[0].(map[string]any)["text"] != "One To Be Taken Four Times A Day" ||
		m.body["category"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] != "community" {
		t.Errorf("acute medication %s", m.raw)
	}
}

// TestSCRNoRecordAndConsentWithheld: the cases a clinician must never
// mistake for "no allergies". A patient without an SCR is a population
// person (the public sandbox answers 9000000033, the specification's "no
// SCR" patient, with 403 PSIS-30418, as it does every number but
// 9000000009: that refusal is an error naming the access control).
func TestSCRNoRecordAndConsentWithheld(t *testing.T) {
	sim := env.app.Sandbox.SCR
	none := findPerson(t, func(d sandboxscr.Description) bool { return !d.HasSCR && !d.Refused })
	for _, tt := range []struct {
		nhs, code, severity, phrase string
	}{
		{nhs: none.NHSNumber, code: "not-found", severity: "information", phrase: "has no Summary Care Record"},
		// A warning since issue #16: as information it was easy to skip.
		{nhs: sandboxscr.OptOutNHSNumber, code: "suppressed", severity: "warning", phrase: "withheld consent"},
	} {
		for _, typ := range []string{"AllergyIntolerance", "MedicationStatement"} {
			bundles := sim.BundleRequests()
			r := get(t, "/"+typ+"?patient="+tt.nhs)
			matches, outcomes := entries(t, r)
			if r.status != 200 || r.body["total"] != 0.0 || len(matches) != 0 || len(outcomes) != 1 {
				t.Fatalf("%s %s: %d %s", typ, tt.nhs, r.status, r.raw)
			}
			is := resourceOf(outcomes[0])["issue"].([]any)[0].(map[string]any)
			if is["code"] != tt.code || is["severity"] != tt.severity || !strings.Contains(is["diagnostics"].(string), tt.phrase) {
				t.Errorf("%s %s: issue %v", typ, tt.nhs, is)
			}
			if got := sim.BundleRequests() - bundles; got != 0 {
				t.Errorf("%s %s: the facade fetched the summary (%d GET /Bundle)", typ, tt.nhs, got)
			}
		}
	}
	for _, nhs := range []string{sandboxscr.RefusedNHSNumber, "9111231130"} {
		bundles := sim.BundleRequests()
		r := get(t, "/AllergyIntolerance?patient="+nhs)
		if is := outcomeIssue(t, r); r.status != 403 || is["code"] != "forbidden" || !strings.Contains(is["diagnostics"].(string), "PSIS-30418") {
			t.Errorf("refused %s: %d %s", nhs, r.status, r.raw)
		}
		if sim.BundleRequests() != bundles {
			t.Errorf("refused %s: the facade asked for the summary", nhs)
		}
	}
	// Reading an id of the opted-out patient's summary is refused, without fetching it.
	d := sim.Describe(sandboxscr.OptOutNHSNumber)
	id := sandboxscr.OptOutNHSNumber + "-" + strings.ToLower(strings.ReplaceAll(d.UUID, "-", "")) + "-a1"
	bundles := sim.BundleRequests()
	if r := get(t, "/AllergyIntolerance/"+id); r.status != 403 || outcomeIssue(t, r)["code"] != "forbidden" || sim.BundleRequests() != bundles {
		t.Errorf("read under withheld consent: %d %s", r.status, r.raw)
	}
}

// findPerson returns the first person of the population whose SCR
// satisfies ok.
func findPerson(t *testing.T, ok func(sandboxscr.Description) bool) sandboxscr.Description {
	t.Helper()
	for _, p := range population.Default() {
		if d := env.app.Sandbox.SCR.Describe(p.NHSNumber); ok(d) {
			return d
		}
	}
	t.Fatal("no such person in the sandbox population")
	return sandboxscr.Description{}
}

func TestSCRPopulation(t *testing.T) {
	d := findPerson(t, func(d sandboxscr.Description) bool {
		return d.Consent == "Ask" && d.Acute+d.Repeat >= 3 && d.Discontinued > 0 && d.Allergies >= 2
	})
	all := get(t, "/MedicationStatement?patient="+d.NHSNumber)
	n := d.Acute + d.Repeat + d.Discontinued
	if all.status != 200 || all.body["total"] != float64(n) {
		t.Fatalf("%+v: %d %s", d, all.status, all.raw)
	}
	// Paging with _count=1 walks every medication once.
	seen := map[string]bool{}
	next := "/MedicationStatement?patient=" + d.NHSNumber + "&_count=1"
	for pages := 0; next != "" && pages < 20; pages++ {
		r := get(t, next)
		for _, id := range matchIDs(t, r) {
			if seen[id] {
				t.Errorf("%s twice", id)
			}
			seen[id] = true
		}
		next = linkURL(r, "next")
	}
	if len(seen) != n {
		t.Errorf("paging found %d of %d", len(seen), n)
	}
	stopped := get(t, "/MedicationStatement?patient="+d.NHSNumber+"&status=stopped")
	if stopped.body["total"] != float64(d.Discontinued) {
		t.Errorf("status=stopped: %v, want %d", stopped.body["total"], d.Discontinued)
	}
	// The population's acute issues are all from before the sandbox's
	// reference date (2025-06-30), so their supply has run out by now; the
	// current repeats stay active.
	active := get(t, "/MedicationStatement?patient="+d.NHSNumber+"&status=active")
	if active.body["total"] != float64(d.Repeat) {
		t.Errorf("status=active: %v, want %d", active.body["total"], d.Repeat)
	}
	if r := get(t, "/MedicationStatement?patient="+d.NHSNumber+"&status=completed"); r.body["total"] != float64(d.Acute) {
		t.Errorf("status=completed: %v, want %d", r.body["total"], d.Acute)
	}
	for _, id := range matchIDs(t, stopped) {
		if r := get(t, "/MedicationStatement/"+id); r.status != 200 || r.body["status"] != "stopped" {
			t.Errorf("read %s: %d", id, r.status)
		}
	}
	// effective: every medication falls in the range ending on the summary's date or before.
	if r := get(t, "/MedicationStatement?patient="+d.NHSNumber+"&effective=ge1900&effective=le2030"); r.body["total"] != float64(n) {
		t.Errorf("effective range: %v", r.body["total"])
	}
	if r := get(t, "/MedicationStatement?patient="+d.NHSNumber+"&effective=gt2030-01-01"); r.body["total"] != 0.0 {
		t.Errorf("effective in the future: %v", r.body["total"])
	}
	al := get(t, "/AllergyIntolerance?patient="+d.NHSNumber+"&clinical-status=active")
	if al.body["total"] != float64(d.Allergies) {
		t.Errorf("allergies: %v, want %d", al.body["total"], d.Allergies)
	}
	if r := get(t, "/AllergyIntolerance?patient="+d.NHSNumber+"&date=lt1800"); r.body["total"] != 0.0 {
		t.Errorf("date=lt1800: %v", r.body["total"])
	}

	// Legacy consent "Yes" is treated as Ask: the summary is read.
	yes := findPerson(t, func(d sandboxscr.Description) bool { return d.Consent == "Yes" && d.Allergies > 0 })
	if r := get(t, "/AllergyIntolerance?patient="+yes.NHSNumber); r.body["total"] != float64(yes.Allergies) {
		t.Errorf("consent Yes: %s", r.raw)
	}
	// An SCR whose categories are all empty: an empty searchset whose
	// information outcome says the summary holds no relevant information
	// (issue #16: with no outcome it read as a summary never read).
	empty := findPerson(t, func(d sandboxscr.Description) bool {
		return d.HasSCR && d.Consent == "Ask" && d.Allergies+d.Acute+d.Repeat+d.Discontinued == 0
	})
	for _, typ := range []string{"AllergyIntolerance", "MedicationStatement"} {
		r := get(t, "/"+typ+"?patient="+empty.NHSNumber)
		matches, outcomes := entries(t, r)
		if r.body["total"] != 0.0 || len(matches) != 0 || len(outcomes) != 1 ||
			!strings.Contains(string(r.raw), `"severity":"information"`) || !strings.Contains(string(r.raw), "no relevant information") {
			t.Errorf("%s of an all-empty SCR: %s", typ, r.raw)
		}
	}
}

func TestSCRErrors(t *testing.T) {
	sim := env.app.Sandbox.SCR
	before := sim.Requests()
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/AllergyIntolerance?patient=9000000000", 400, "invalid"},
		{"/MedicationStatement?patient=Patient/12345", 400, "invalid"},
		{"/AllergyIntolerance", 400, "invalid"},
		{"/MedicationStatement?status=active", 400, "invalid"},
		{"/AllergyIntolerance?patient:identifier=" + url.QueryEscape("urn:oid:1.2|9000000009"), 400, "invalid"},
		{"/AllergyIntolerance?patient:missing=true", 400, "not-supported"},
		{"/AllergyIntolerance?patient=9000000009&date=12-May-2020", 400, "invalid"},
		{"/MedicationStatement?patient=9000000009&status=taken", 400, "invalid"},
		{"/AllergyIntolerance/not-an-scr-id", 404, "not-found"},
		{"/AllergyIntolerance/" + scrAcute, 404, "not-found"},
		{"/AllergyIntolerance/9000000000-fa60be641f3411eba2a8000c29a364eb-a1", 404, "not-found"},
	}
	for _, tt := range tests {
		r := get(t, tt.path)
		if r.status != tt.status || outcomeIssue(t, r)["code"] != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.path, r.status, r.raw, tt.status, tt.code)
		}
	}
	if got := sim.Requests() - before; got != 0 {
		t.Errorf("invalid requests reached the SCR: %d calls", got)
	}
	// An id of a replaced summary (the Composition's relatesTo), and a row that does not exist.
	for _, id := range []string{"9000000009-d18b57ed992e45a2a6af55200d20f48e-a1", "9000000009-fa60be641f3411eba2a8000c29a364eb-a2", "9000000009-fa60be641f3411eba2a8000c29a364eb-md1"} {
		typ := "AllergyIntolerance"
		if strings.Contains(id, "-m") {
			typ = "MedicationStatement"
		}
		if r := get(t, "/"+typ+"/"+id); r.status != 404 || outcomeIssue(t, r)["code"] != "not-found" {
			t.Errorf("%s: %d %s", id, r.status, r.raw)
		}
	}
}

// An acute medication is active only while its supply could still be
// running (30 days after issue, judged on the day of the request in
// England), then completed; without a readable issue date its status is
// unknown; the status says it is inferred. Never active by default.
// Synthetic summary, served through the simulator's fault injection.
func TestSCRAcuteMedicationStatus(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(london)
	day := func(daysAgo int) string { return today.AddDate(0, 0, -daysAgo).Format("02-Jan-2006") }
	row := func(date, item string) string {
		return `<tr><td>Acute Medication</td><td>` + date + `</td><td>` + item + `</td><td>One To Be Taken Three Times A Day</td><td>21 capsule</td></tr>`
	}
	rows := row("Prescribed: "+day(1), "Amoxicillin 500mg capsules") + row("Prescribed: "+day(60), "Flucloxacillin 500mg capsules") +
		row("Prescribed: recently", "Trimethoprim 200mg tablets") + row("", "Ibuprofen 400mg tablets")
	div := `<div xmlns=\"http://www.w3.org/1999/xhtml\"><table id=\"AcuteMeds\"><thead><tr><th>Type</th><th>Date</th><th>Medication Item</th><th>Dosage Instructions</th><th>Quantity</th></tr></thead><tbody>` +
		strings.ReplaceAll(rows, `"`, `\"`) + `</tbody></table></div>`
	body := `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Composition","id":"C","status":"final","subject":{"reference":"Patient/P1"},` +
		`"date":"` + today.AddDate(0, 0, -1).Format(time.DateOnly) + `","section":[{"code":{"coding":[{"code":"AcuteMedsHeader"}]},"text":{"status":"generated","div":"` + div + `"}}]}},` +
		`{"resource":{"resourceType":"Patient","id":"P1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}}]}`
	sim := env.app.Sandbox.SCR
	sim.SetFault(&sandboxscr.Fault{Status: 200, Body: body, PathPrefix: "/Bundle"})
	defer sim.SetFault(nil)

	r := get(t, "/MedicationStatement?patient=9000000009")
	matches, _ := entries(t, r)
	want := []string{"active", "completed", "unknown", "unknown"}
	if r.status != 200 || len(matches) != len(want) {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	for i, m := range matches {
		res := resourceOf(m)
		if res["status"] != want[i] {
			t.Errorf("row %d (%v): status %v, want %s", i+1, res["effectiveDateTime"], res["status"], want[i])
		}
		reason, _ := res["statusReason"].([]any)
		if len(reason) != 1 || reason[0].(map[string]any)["text"] == "" {
			t.Errorf("row %d: statusReason %v", i+1, res["statusReason"])
		}
	}
	for status, n := range map[string]float64{"active": 1, "completed": 1, "unknown": 2} {
		if r := get(t, "/MedicationStatement?patient=9000000009&status="+status); r.body["total"] != n {
			t.Errorf("status=%s: %v, want %v", status, r.body["total"], n)
		}
	}
}

// TestSCRFailures makes the SCR simulator misbehave: the facade answers
// 502/504/429 with an OperationOutcome, never leaks the backend, and the rest
// of the server (Patient over PDS) keeps working meanwhile.
func TestSCRFailures(t *testing.T) {
	sim := env.app.Sandbox.SCR
	html := "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
	unknown := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"unknown","details":{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode","version":"1","code":"UNKNOWN_ERROR","display":"Unknown Error"}]}}]}`
	broken := `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Composition","id":"C","section":[{"code":{"coding":[{"code":"AllergiesHeader"}]},"text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><table id=\"Allergies\"><thead><tr><th>Description</th></tr></thead><tbody><tr><td>Zebedee<img src=\"x\"/></td></tr></tbody></table></div>"}}]}}]}`
	tests := []struct {
		name   string
		fault  sandboxscr.Fault
		status int
		code   string
		detail string
	}{
		{name: "server error", fault: sandboxscr.Fault{Status: 500, Body: unknown}, status: 502, code: "exception"},
		{name: "unavailable html", fault: sandboxscr.Fault{Status: 503, Body: html, ContentType: "text/html"}, status: 504, code: "timeout"},
		{name: "spine timeout", fault: sandboxscr.Fault{Status: 504, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]}`}, status: 504, code: "timeout"},
		{name: "slow", fault: sandboxscr.Fault{Delay: backendTimeout + 500*time.Millisecond}, status: 504, code: "timeout"},
		{name: "facade credentials refused", fault: sandboxscr.Fault{Status: 401, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden"}]}`}, status: 502, code: "exception"},
		{name: "throttled", fault: sandboxscr.Fault{Status: 429, Header: http.Header{"Retry-After": {"3"}}}, status: 429, code: "throttled"},
		{name: "PSIS access control", fault: sandboxscr.Fault{Status: 420, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","details":{"text":"[PSIS-30418] 9000000009"}}]}`}, status: 403, code: "forbidden"},
		{name: "summary fails", fault: sandboxscr.Fault{Status: 500, Body: unknown, PathPrefix: "/Bundle"}, status: 502, code: "exception"},
		{name: "unreadable summary", fault: sandboxscr.Fault{Status: 200, Body: broken, PathPrefix: "/Bundle"}, status: 502, code: "exception", detail: "section AllergiesHeader, row 1, column 1"},
		{name: "garbage", fault: sandboxscr.Fault{Status: 200, Body: "not json", ContentType: "application/fhir+json"}, status: 502, code: "exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fault
			sim.SetFault(&f)
			defer sim.SetFault(nil)
			for _, path := range []string{"/AllergyIntolerance?patient=9000000009", "/MedicationStatement/" + scrAcute} {
				r := get(t, path)
				if r.status != tt.status || outcomeIssue(t, r)["code"] != tt.code {
					t.Fatalf("%s: %d %s, want %d %s", path, r.status, r.raw, tt.status, tt.code)
				}
				body := string(r.raw)
				if !strings.Contains(body, tt.detail) {
					t.Errorf("%s: the outcome does not say %q: %s", path, tt.detail, body)
				}
				for _, leak := range []string{"127.0.0.1", "<html", "summary-care-record", "PSIS", "Zebedee", "goroutine"} {
					if strings.Contains(body, leak) {
						t.Errorf("%s: body leaks %q: %s", path, leak, body)
					}
				}
			}
			if r := get(t, "/Patient/9000000009"); r.status != 200 {
				t.Errorf("Patient read while the SCR fails: %d", r.status)
			}
		})
	}
	if r := get(t, "/AllergyIntolerance?patient=9000000009"); r.status != 200 {
		t.Errorf("after the faults: %d", r.status)
	}
	logs := env.logs.String()
	if strings.Contains(logs, "Zebedee") {
		t.Error("the logs carry a cell of the unreadable summary")
	}
	if m := nhsNumberPattern.FindString(logs); m != "" {
		t.Errorf("the logs carry an NHS number (%s)", m)
	}
	if !strings.Contains(logs, "section AllergiesHeader, row 1, column 1") {
		t.Error("the log does not say where the summary was unreadable")
	}
}
