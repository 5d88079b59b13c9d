package tests

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sandboximms "github.com/carerecords/fhir-facade/backends/sandbox/immunisation"
	"github.com/carerecords/fhir-facade/backends/sandbox/population"
)

const (
	imms1 = "9000000009-90640007.747583-127" // 2020-12-10, AstraZeneca
	imms2 = "9000000009-90640007.747583-128" // 2020-12-31
)

// TestImmunization9000000009 lists and reads the public sandbox patient's
// two COVID-19 vaccinations, as a FHIR client would.
func TestImmunization9000000009(t *testing.T) {
	for _, patient := range []string{"patient=9000000009", "patient=Patient/9000000009", "patient:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9000000009")} {
		r := get(t, "/Immunization?"+patient)
		if r.status != 200 || r.body["total"] != 2.0 {
			t.Fatalf("%s: %d %s", patient, r.status, r.raw)
		}
		matches, outcomes := entries(t, r)
		if got := strings.Join(matchIDs(t, r), ","); got != imms1+","+imms2 || len(outcomes) != 0 {
			t.Errorf("%s: %s", patient, r.raw)
		}
		im := resourceOf(matches[0])
		if im["patient"].(map[string]any)["reference"] != "Patient/9000000009" || im["occurrenceDateTime"] != "2020-12-10T13:00:08.476Z" ||
			im["lotNumber"] != "R04X" || im["vaccineCode"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] != "39114911000001105" ||
			im["protocolApplied"].([]any)[0].(map[string]any)["doseNumberPositiveInt"] != 1.0 {
			t.Errorf("%s: first vaccination %v", patient, im)
		}
		if matches[0]["fullUrl"] != env.url+"/Immunization/"+imms1 {
			t.Errorf("fullUrl %v", matches[0]["fullUrl"])
		}
		// The API's included Patient (birth date as recorded at vaccination,
		// 1965-02-28) is never served.
		if strings.Contains(string(r.raw), "1965-02-28") || strings.Contains(string(r.raw), "urn:uuid:124fcb63") {
			t.Errorf("%s: the API's included Patient leaked: %s", patient, r.raw)
		}
	}
	for _, id := range []string{imms1, imms2} {
		r := get(t, "/Immunization/"+id)
		if r.status != 200 || r.body["id"] != id || r.body["status"] != "completed" {
			t.Errorf("read %s: %d %s", id, r.status, r.raw)
		}
	}
	if r := get(t, "/Immunization?patient=9000000033"); r.status != 200 || r.body["total"] != 0.0 || len(matchIDs(t, r)) != 0 {
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
		if r.status != 200 || types["Immunization"] != 2 || types["Patient"] != 1 {
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
	}{
		{"date=2020-12-10", []string{imms1}},
		{"date=ge2020-12-11", []string{imms2}},
		{"date=eq2020-12", []string{imms1, imms2}},
		{"date=lt2020-12-10", nil},
		{"date=ge2020-12-01&date=le2020-12-30", []string{imms1}},
		{"target-disease=COVID19", []string{imms1, imms2}},
		{"target-disease=" + url.QueryEscape("http://snomed.info/sct|840539006"), []string{imms1, imms2}},
		{"target-disease=FLU,HPV", nil},
		{"target-disease=COVID19,FLU&date=ge2020-12-31", []string{imms2}},
		{"_sort=-date", []string{imms2, imms1}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := get(t, "/Immunization?patient=9000000009&"+tt.query)
			if got := strings.Join(matchIDs(t, r), ","); r.status != 200 || got != strings.Join(tt.want, ",") || r.body["total"] != float64(len(tt.want)) {
				t.Errorf("%d: %v, want %v", r.status, got, tt.want)
			}
		})
	}
	// _count pages over the two.
	r := get(t, "/Immunization?patient=9000000009&_count=1")
	next := linkURL(r, "next")
	if got := matchIDs(t, r); len(got) != 1 || got[0] != imms1 || next == "" {
		t.Fatalf("page 1: %v, next %q", got, next)
	}
	if got := matchIDs(t, get(t, next)); len(got) != 1 || got[0] != imms2 {
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
	// The API refuses an NHS number it does not know (as the public
	// sandbox does); a read of an id naming it is not found.
	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/Immunization?patient=9111231130", 400, "invalid"},
		{"/Immunization/9111231130-90640007.747583-127", 404, "not-found"},
		{"/Immunization/9000000009-90640007.747583-129", 404, "not-found"},
	} {
		r := get(t, tt.path)
		if r.status != tt.status || outcomeIssue(t, r)["code"] != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.path, r.status, r.raw, tt.status, tt.code)
		}
		if strings.Contains(string(r.raw), "Missing or invalid NHS number") {
			t.Errorf("%s: the API's diagnostics were passed on: %s", tt.path, r.raw)
		}
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
	if r := get(t, "/Patient/9000000009/$summary"); count(r) != 2 {
		t.Errorf("%d Immunizations in 9000000009's summary, want 2", count(r))
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
