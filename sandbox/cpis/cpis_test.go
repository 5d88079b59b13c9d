package cpis_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"testing"
	"time"

	mapcpis "github.com/carerecords/fhir-facade/mappers/cpis"
	"github.com/carerecords/fhir-facade/sandbox/cpis"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

type result struct {
	status int
	header http.Header
	body   map[string]any
}

func start(t *testing.T, opts cpis.Options) (*cpis.Simulator, string) {
	t.Helper()
	sim := cpis.New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts.URL + cpis.BasePath
}

func get(t *testing.T, url string, hdr map[string]string) result {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode, header: res.Header}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func silent() map[string]string {
	return map[string]string{"TraceID": "t-1", "Authorization": "Bearer t", "IsUnscheduledAccessEvent": "false"}
}

func query(path, nhs string) string {
	return path + "?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|" + nhs
}

func resources(t *testing.T, bundle map[string]any) []any {
	t.Helper()
	var out []any
	es, _ := bundle["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any)["resource"])
	}
	return out
}

// The reserved patients answer what the contract fixtures hold.
func TestFixturePatients(t *testing.T) {
	_, base := start(t, cpis.Options{})
	for nhs, file := range map[string]string{
		"9000000009": "Bundle-careteam-found-cpp.json",
		"9000000017": "Bundle-careteam-found-lac-and-ucpp.json",
	} {
		t.Run(nhs, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + file)
			if err != nil {
				t.Fatal(err)
			}
			var fixture map[string]any
			if err := json.Unmarshal(raw, &fixture); err != nil {
				t.Fatal(err)
			}
			r := get(t, base+query("/CareTeam", nhs), silent())
			if r.status != 200 || r.body["type"] != "searchset" {
				t.Fatalf("%d %v", r.status, r.body)
			}
			if got, want := resources(t, r.body), resources(t, fixture); !reflect.DeepEqual(got, want) {
				t.Errorf("plans\n got %v\nwant %v", got, want)
			}
			if r.body["total"] != fixture["total"] {
				t.Errorf("total %v", r.body["total"])
			}
		})
	}
	if r := get(t, base+query("/CareTeam", "9000000025"), silent()); r.status != 200 || r.body["total"] != 0.0 {
		t.Errorf("no plan: %d %v", r.status, r.body)
	}
}

// Unscheduled queries (the header true or omitted) are recorded in the
// access history; silent reads are not.
func TestAccessHistory(t *testing.T) {
	sim, base := start(t, cpis.Options{Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }})
	nhs := "9000000017"
	tests := []struct {
		name   string
		header string // "-" omits it
		want   int
	}{
		{name: "silent read", header: "false", want: 0},
		{name: "unscheduled", header: "true", want: 1},
		{name: "omitted counts as unscheduled", header: "-", want: 2},
		{name: "silent again", header: "false", want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := silent()
			if tc.header == "-" {
				delete(h, "IsUnscheduledAccessEvent")
			} else {
				h["IsUnscheduledAccessEvent"] = tc.header
			}
			if r := get(t, base+query("/CareTeam", nhs), h); r.status != 200 {
				t.Fatalf("%d %v", r.status, r.body)
			}
			if got := sim.Accesses(nhs); got != tc.want {
				t.Errorf("%d accesses, want %d", got, tc.want)
			}
		})
	}
	r := get(t, base+query("/AuditEvent", nhs)+"&_include=AuditEvent:entity-type=http://terminology.hl7.org/CodeSystem/v3-RoleClass|ASSIGNED", silent())
	es := resources(t, r.body)
	if r.status != 200 || len(es) != 2 {
		t.Fatalf("history: %d %v", r.status, r.body)
	}
	if got := es[0].(map[string]any)["recorded"]; got != "2026-03-01T12:00:00+00:00" {
		t.Errorf("recorded %v", got)
	}
	for i := 0; i < cpis.MaxAccesses+5; i++ {
		get(t, base+query("/CareTeam", nhs), map[string]string{"TraceID": "t", "Authorization": "Bearer t"})
	}
	if got := sim.Accesses(nhs); got != cpis.MaxAccesses {
		t.Errorf("history keeps %d, want %d", got, cpis.MaxAccesses)
	}
	if got := len(resources(t, get(t, base+query("/AuditEvent", "9000000009"), silent()).body)); got != 1 {
		t.Errorf("fixture history of 9000000009: %d accesses", got)
	}
}

func TestErrors(t *testing.T) {
	_, base := start(t, cpis.Options{})
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		code   string
	}{
		{name: "no token", path: query("/CareTeam", "9000000009"), hdr: map[string]string{"TraceID": "x"}, status: 401, code: "ACCESS_DENIED"},
		{name: "no TraceID", path: query("/CareTeam", "9000000009"), hdr: map[string]string{"Authorization": "Bearer t"}, status: 400, code: "MISSING_VALUE"},
		{name: "no patient", path: "/CareTeam", hdr: silent(), status: 400, code: "MISSING_VALUE"},
		{name: "invalid NHS number", path: query("/CareTeam", "9000000000"), hdr: silent(), status: 400, code: "INVALID_VALUE"},
		{name: "bad unscheduled flag", path: query("/CareTeam", "9000000009"), hdr: map[string]string{"TraceID": "x", "Authorization": "Bearer t", "IsUnscheduledAccessEvent": "maybe"}, status: 400, code: "INVALID_VALUE"},
		{name: "unknown path", path: "/Flag", hdr: silent(), status: 404, code: "RESOURCE_NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, base+tc.path, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %v", r.status, tc.status, r.body)
			}
			is := r.body["issue"].([]any)[0].(map[string]any)
			if code := is["details"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]; code != tc.code {
				t.Errorf("code %v, want %s", code, tc.code)
			}
		})
	}
}

// Children have plans of every kind, some ended; unborn child protection
// plans are their mothers'; every plan maps to a facade Flag.
func TestPopulationPlans(t *testing.T) {
	sim := cpis.New(cpis.Options{})
	ref, _ := time.Parse(time.DateOnly, population.ReferenceDate)
	type key struct{ kind, status string }
	children := map[key]int{}
	var ucppUnder18 int
	for _, p := range population.Default() {
		birth, _ := time.Parse(time.DateOnly, p.BirthDate)
		child := birth.AddDate(18, 0, 0).After(ref)
		for _, ct := range sim.Plans(p.NHSNumber) {
			kind := ct.Category[0].Coding[0].Code
			if kind == "UCPP" {
				if p.Gender != population.Female {
					t.Errorf("%s (%s) has an unborn child protection plan", p.NHSNumber, p.Gender)
				}
				if child {
					ucppUnder18++
				}
			} else if !child {
				t.Errorf("adult %s has a %s", p.NHSNumber, kind)
			}
			if child {
				children[key{kind, ct.Status}]++
			}
			if (ct.Status == "inactive") != (ct.Period.End != "") {
				t.Errorf("%s: status %s with end %q", ct.ID, ct.Status, ct.Period.End)
			}
			// As the facade's client receives it: through the wire.
			raw, err := json.Marshal(ct)
			if err != nil {
				t.Fatal(err)
			}
			in, err := mapcpis.Decode(raw)
			if err == nil {
				_, err = mapcpis.Flag(in, p.NHSNumber, time.Now())
			}
			if err != nil {
				t.Errorf("%s does not map: %v", ct.ID, err)
			}
		}
	}
	for _, k := range []key{{"CPP", "active"}, {"CPP", "inactive"}, {"LAC", "active"}, {"LAC", "inactive"}} {
		if children[k] < 3 {
			t.Errorf("%d children with %s %s plans, want several", children[k], k.status, k.kind)
		}
	}
	if ucppUnder18 == 0 {
		t.Error("no child under 18 has an unborn child protection plan")
	}
}

func TestFaults(t *testing.T) {
	sim, base := start(t, cpis.Options{})
	sim.SetFault(&cpis.Fault{Status: 429, Header: http.Header{"Retry-After": {"5"}}, Count: 1})
	if r := get(t, base+query("/CareTeam", "9000000009"), silent()); r.status != 429 || r.header.Get("Retry-After") != "5" {
		t.Errorf("fault: %d %v", r.status, r.header)
	}
	if r := get(t, base+query("/CareTeam", "9000000009"), silent()); r.status != 200 {
		t.Errorf("after a Count 1 fault: %d", r.status)
	}
	sim.SetFault(&cpis.Fault{Drop: true, PathPrefix: "/CareTeam"})
	req, _ := http.NewRequest(http.MethodGet, base+query("/CareTeam", "9000000009"), nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("dropped connection answered %d", res.StatusCode)
	}
	if r := get(t, base+query("/AuditEvent", "9000000009"), silent()); r.status != 200 {
		t.Errorf("fault on another path: %d", r.status)
	}
}
