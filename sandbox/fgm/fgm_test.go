package fgm_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	mapfgm "github.com/carerecords/fhir-facade/mappers/fgm"

	"github.com/carerecords/fhir-facade/sandbox/fgm"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

type result struct {
	status int
	header http.Header
	body   map[string]any
}

func start(t *testing.T, opts fgm.Options) (*fgm.Simulator, string) {
	t.Helper()
	sim := fgm.New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts.URL + fgm.BasePath
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

var ok = map[string]string{"TraceID": "trace-1", "Authorization": "Bearer t"}

func search(nhs string) string {
	return "/Flag?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|" + nhs
}

// The reserved patients answer as the contract fixtures say.
func TestFixturePatients(t *testing.T) {
	_, base := start(t, fgm.Options{})
	r := get(t, base+search("9000000009"), ok)
	if r.status != 200 || r.body["total"] != 1.0 {
		t.Fatalf("9000000009: %d %v", r.status, r.body)
	}
	raw, err := os.ReadFile("testdata/Bundle-flag-found-9000000009.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixture map[string]any
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	want := fixture["entry"].([]any)[0].(map[string]any)["resource"]
	got := r.body["entry"].([]any)[0].(map[string]any)["resource"]
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flag of 9000000009\n got %v\nwant %v", got, want)
	}
	if r.header.Get("TraceID") != "trace-1" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
		t.Errorf("headers %v", r.header)
	}
	if r := get(t, base+search("9000000017"), ok); r.status != 200 || r.body["total"] != 0.0 || r.body["entry"] != nil {
		t.Errorf("9000000017: %d %v", r.status, r.body)
	}
}

func TestErrors(t *testing.T) {
	_, base := start(t, fgm.Options{})
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		code   string
	}{
		{name: "no token", path: search("9000000009"), hdr: map[string]string{"TraceID": "x"}, status: 401, code: "ACCESS_DENIED"},
		{name: "no TraceID", path: search("9000000009"), hdr: map[string]string{"Authorization": "Bearer t"}, status: 400, code: "MISSING_VALUE"},
		{name: "no patient", path: "/Flag", hdr: ok, status: 400, code: "MISSING_VALUE"},
		{name: "invalid NHS number", path: search("9000000000"), hdr: ok, status: 400, code: "INVALID_VALUE"},
		{name: "another identifier system", path: "/Flag?patient:identifier=urn:x|9000000009", hdr: ok, status: 400, code: "INVALID_VALUE"},
		{name: "unknown path", path: "/Patient", hdr: ok, status: 404, code: "RESOURCE_NOT_FOUND"},
		{name: "forbidden patient", path: search(fgm.ForbiddenNHSNumber), hdr: ok, status: 403, code: "ACCESS_DENIED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, base+tc.path, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %v", r.status, tc.status, r.body)
			}
			is := r.body["issue"].([]any)[0].(map[string]any)
			code := is["details"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]
			if code != tc.code {
				t.Errorf("code %v, want %s", code, tc.code)
			}
		})
	}
}

// Only girls under 18 have flags; a few have one, some removed; every flag
// the simulator holds maps to a facade Flag.
func TestPopulationFlags(t *testing.T) {
	sim := fgm.New(fgm.Options{})
	ref, _ := time.Parse(time.DateOnly, population.ReferenceDate)
	var flagged, removed int
	for _, p := range population.Default() {
		fs := sim.Flags(p.NHSNumber)
		if len(fs) == 0 {
			continue
		}
		flagged++
		birth, _ := time.Parse(time.DateOnly, p.BirthDate)
		if p.Gender != population.Female || !birth.AddDate(18, 0, 0).After(ref) {
			t.Errorf("%s (%s, born %s) has an FGM flag", p.NHSNumber, p.Gender, p.BirthDate)
		}
		for _, f := range fs {
			if f.Status != "active" {
				removed++
				if f.Period.End == "" || len(f.Extension) == 0 {
					t.Errorf("removed flag without end or reason: %+v", f)
				}
			}
			// As the facade's client receives it: through the wire.
			raw, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			in, err := mapfgm.Decode(raw)
			if err == nil {
				_, err = mapfgm.Flag(in, p.NHSNumber, time.Now())
			}
			if err != nil {
				t.Errorf("flag of %s does not map: %v", p.NHSNumber, err)
			}
		}
	}
	if flagged < 5 || removed == 0 || removed == flagged {
		t.Errorf("%d flagged, %d removed", flagged, removed)
	}
	if again := fgm.New(fgm.Options{}); !reflect.DeepEqual(again.Flags(population.Default()[0].NHSNumber), sim.Flags(population.Default()[0].NHSNumber)) {
		t.Error("not deterministic")
	}
}

func TestOpen(t *testing.T) {
	_, base := start(t, fgm.Options{Open: true})
	if r := get(t, base+search("9000000009"), map[string]string{"TraceID": "x"}); r.status != 200 {
		t.Errorf("open simulator: %d", r.status)
	}
}

func TestFaults(t *testing.T) {
	sim, base := start(t, fgm.Options{})
	sim.SetFault(&fgm.Fault{Status: 503, Body: "<html>down</html>", ContentType: "text/html", Count: 1})
	if r := get(t, base+search("9000000009"), ok); r.status != 503 || r.header.Get("Content-Type") != "text/html" {
		t.Errorf("fault: %d %v", r.status, r.header)
	}
	if r := get(t, base+search("9000000009"), ok); r.status != 200 {
		t.Errorf("after a Count 1 fault: %d", r.status)
	}
	sim.SetFault(&fgm.Fault{Status: 500, PathPrefix: "/Patient"})
	if r := get(t, base+search("9000000009"), ok); r.status != 200 {
		t.Errorf("fault on another path: %d", r.status)
	}
	sim.SetFault(&fgm.Fault{Delay: time.Millisecond})
	if r := get(t, base+search("9000000009"), ok); r.status != 200 {
		t.Errorf("delay-only fault: %d", r.status)
	}
	sim.SetFault(&fgm.Fault{Drop: true})
	req, _ := http.NewRequest(http.MethodGet, base+search("9000000009"), nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("dropped connection answered %d", res.StatusCode)
	}
	sim.SetFault(nil)
	if r := get(t, base+search("9000000009"), ok); r.status != 200 {
		t.Errorf("after clearing: %d", r.status)
	}
	// The dropped request may have been retried by the transport.
	if n := sim.Requests(); n < 7 || n > 8 {
		t.Errorf("%d requests counted", n)
	}
}
