package ovm_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	mapovm "github.com/carerecords/fhir-facade/mappers/ovm"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/ovm"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

type result struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func start(t *testing.T, opts ovm.Options) (*ovm.Simulator, string) {
	t.Helper()
	sim := ovm.New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts.URL + ovm.BasePath
}

func do(t *testing.T, method, url string, hdr map[string]string) result {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func get(t *testing.T, url string, hdr map[string]string) result {
	t.Helper()
	return do(t, http.MethodGet, url, hdr)
}

var ok = map[string]string{"Authorization": "Bearer t", "X-Request-ID": "60E0B220-8136-4CA5-AE46-1D97EF59D068", "X-Correlation-ID": "c-1"}

func status(nhs string) string { return "/status?nhs-number=" + nhs }

// The answer has exactly the contract's members (BACKENDS.md §7a).
func TestContract(t *testing.T) {
	_, base := start(t, ovm.Options{})
	r := get(t, base+status("9000000009"), ok)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	if r.header.Get("X-Request-ID") != ok["X-Request-ID"] || r.header.Get("X-Correlation-ID") != "c-1" {
		t.Errorf("headers not echoed: %v", r.header)
	}
	if keys(r.body) != "nhsNumber,statuses" || r.body["nhsNumber"] != "9000000009" {
		t.Fatalf("answer %s", r.raw)
	}
	st := r.body["statuses"].([]any)
	if len(st) != 1 {
		t.Fatalf("9000000009 has %d statuses", len(st))
	}
	s := st[0].(map[string]any)
	if keys(s) != "chargingCategory,end,id,lastUpdated,recordedBy,start" || keys(s["recordedBy"].(map[string]any)) != "name,ods,phone" {
		t.Errorf("status members %s", r.raw)
	}
	if s["end"] != nil || !strings.Contains(string(r.raw), `"end":null`) {
		t.Errorf("9000000009's status is not current (end null): %s", r.raw)
	}
	if _, err := time.Parse(time.RFC3339, s["lastUpdated"].(string)); err != nil {
		t.Errorf("lastUpdated: %v", err)
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return strings.Join(sorted(ks), ",")
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// The reserved sandbox patients answer as the package documents.
func TestReservedPatients(t *testing.T) {
	_, base := start(t, ovm.Options{})
	tests := []struct {
		name    string
		nhs     string
		current int
		ended   int
	}{
		{name: "demo patient: one current status", nhs: "9000000009", current: 1},
		{name: "one ended status", nhs: "9000000017", ended: 1},
		{name: "restricted patient: none, as in the other flag services", nhs: "9000000025"},
		{name: "minimal patient: none", nhs: "9000000033"},
		{name: "unknown to PDS: none", nhs: "9111231130"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, base+status(tc.nhs), ok)
			if r.status != 200 || r.body["nhsNumber"] != tc.nhs {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			st, isList := r.body["statuses"].([]any)
			if !isList {
				t.Fatalf("statuses is not a list: %s", r.raw)
			}
			var current, ended int
			for _, s := range st {
				if s.(map[string]any)["end"] == nil {
					current++
				} else {
					ended++
				}
			}
			if current != tc.current || ended != tc.ended {
				t.Errorf("%d current, %d ended: %s", current, ended, r.raw)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	_, base := start(t, ovm.Options{})
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		status int
		code   string
	}{
		{name: "no token", path: status("9000000009"), hdr: map[string]string{}, status: 401, code: "ACCESS_DENIED"},
		{name: "not a bearer token", path: status("9000000009"), hdr: map[string]string{"Authorization": "Basic eDp5"}, status: 401, code: "ACCESS_DENIED"},
		{name: "invalid NHS number", path: status("9000000000"), hdr: ok, status: 400, code: "INVALID_NHS_NUMBER"},
		{name: "no NHS number", path: "/status", hdr: ok, status: 400, code: "INVALID_NHS_NUMBER"},
		{name: "not digits", path: status("90000000O9"), hdr: ok, status: 400, code: "INVALID_NHS_NUMBER"},
		{name: "unknown path", path: "/statuses", hdr: ok, status: 404, code: "NOT_FOUND"},
		{name: "read-only", method: http.MethodPost, path: status("9000000009"), hdr: ok, status: 405, code: "METHOD_NOT_ALLOWED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r := do(t, method, base+tc.path, tc.hdr)
			if r.status != tc.status || r.body["error"] != tc.code || len(r.body) != 1 {
				t.Errorf("%d %s, want %d {\"error\":%q}", r.status, r.raw, tc.status, tc.code)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
}

// A few adults have statuses, current and ended, every one of which maps to
// a facade Flag; children and the deceased have none; the data is the same
// at every start.
func TestPopulationStatuses(t *testing.T) {
	sim := ovm.New(ovm.Options{})
	ref, _ := time.Parse(time.DateOnly, population.ReferenceDate)
	var people, adults, withStatus, ended, open, earlier int
	for _, p := range population.Default() {
		people++
		birth, _ := time.Parse(time.DateOnly, p.BirthDate)
		adult := !birth.AddDate(18, 0, 0).After(ref) && !p.Deceased()
		if adult {
			adults++
		}
		st := sim.Statuses(p.NHSNumber)
		if len(st) == 0 {
			continue
		}
		withStatus++
		if !adult {
			t.Errorf("%s (born %s, died %q) has a status", p.NHSNumber, p.BirthDate, p.DeathDate)
		}
		if len(st) > 1 {
			earlier++
		}
		for i, s := range st {
			switch {
			case s.End == nil:
				open++
			case *s.End < population.ReferenceDate:
				ended++
			}
			if i > 0 && (s.End == nil || *s.End >= st[0].Start) {
				t.Errorf("%s: earlier status %+v overlaps %+v", p.NHSNumber, s, st[0])
			}
			if !strings.HasPrefix(s.RecordedBy.Phone, "01632 960") || !strings.HasPrefix(s.RecordedBy.ODS, "ZZ") {
				t.Errorf("not synthetic: %+v", s.RecordedBy)
			}
			raw, _ := json.Marshal(s)
			in, err := mapovm.Decode(raw)
			if err == nil {
				_, err = mapovm.Flag(in, p.NHSNumber, ref)
			}
			if err != nil {
				t.Errorf("status of %s does not map: %v", p.NHSNumber, err)
			}
		}
	}
	if withStatus < 20 || withStatus*10 > adults || ended == 0 || open == 0 || earlier == 0 {
		t.Errorf("%d of %d adults (%d people) with a status: %d open, %d ended, %d with an earlier one", withStatus, adults, people, open, ended, earlier)
	}
	again := ovm.New(ovm.Options{})
	for _, p := range population.Default()[:500] {
		if !reflect.DeepEqual(again.Statuses(p.NHSNumber), sim.Statuses(p.NHSNumber)) {
			t.Fatalf("%s: not deterministic", p.NHSNumber)
		}
	}
}

func TestOpen(t *testing.T) {
	_, base := start(t, ovm.Options{Open: true})
	if r := get(t, base+status("9000000009"), nil); r.status != 200 {
		t.Errorf("open simulator: %d", r.status)
	}
}

func TestFaults(t *testing.T) {
	sim, base := start(t, ovm.Options{})
	sim.SetFault(&ovm.Fault{Status: 503, Body: "<html>down</html>", ContentType: "text/html", Count: 1})
	if r := get(t, base+status("9000000009"), ok); r.status != 503 || r.header.Get("Content-Type") != "text/html" {
		t.Errorf("fault: %d %v", r.status, r.header)
	}
	if r := get(t, base+status("9000000009"), ok); r.status != 200 {
		t.Errorf("after a Count 1 fault: %d", r.status)
	}
	sim.SetFault(&ovm.Fault{Status: 500, Body: `{"error":"INTERNAL"}`})
	if r := get(t, base+status("9000000009"), ok); r.status != 500 || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("fault with a JSON body: %d %v", r.status, r.header)
	}
	sim.SetFault(&ovm.Fault{Status: 500, PathPrefix: "/other"})
	if r := get(t, base+status("9000000009"), ok); r.status != 200 {
		t.Errorf("fault on another path: %d", r.status)
	}
	sim.SetFault(&ovm.Fault{Status: 429, PathPrefix: "/status", Header: http.Header{"Retry-After": {"1"}}})
	if r := get(t, base+status("9000000009"), ok); r.status != 429 || r.header.Get("Retry-After") != "1" {
		t.Errorf("fault on the status path: %d %v", r.status, r.header)
	}
	sim.SetFault(&ovm.Fault{Delay: time.Millisecond})
	if r := get(t, base+status("9000000009"), ok); r.status != 200 {
		t.Errorf("delay-only fault: %d", r.status)
	}
	sim.SetFault(&ovm.Fault{Drop: true})
	req, _ := http.NewRequest(http.MethodGet, base+status("9000000009"), nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("dropped connection answered %d", res.StatusCode)
	}
	sim.SetFault(nil)
	if r := get(t, base+status("9000000009"), ok); r.status != 200 {
		t.Errorf("after clearing: %d", r.status)
	}
	// The dropped request may have been retried by the transport.
	if n := sim.Requests(); n < 8 || n > 9 {
		t.Errorf("%d requests counted", n)
	}
}

// The mapper's golden inputs (mappers/ovm/testdata) are this simulator's
// payloads, byte for byte: testdata/cases.json names the patient of each,
// and which of their statuses it is. OVM_WRITE_FIXTURES=1 rewrites them.
func TestMapperFixturesAreSimulatorPayloads(t *testing.T) {
	const dir = "../../mappers/ovm/testdata"
	_, base := start(t, ovm.Options{})
	if os.Getenv("OVM_WRITE_FIXTURES") == "1" {
		writeFixtures(t, base, dir)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		NHS   string `json:"nhs"`
		Index int    `json:"index"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 4 {
		t.Fatalf("%d cases", len(cases))
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, name+".in.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got := statusJSON(t, base, c.NHS, c.Index); !bytes.Equal(got, want) {
				t.Errorf("the simulator now sends\n%s\nnot\n%s\n(OVM_WRITE_FIXTURES=1 go test rewrites the fixtures)", got, want)
			}
		})
	}
}

// statusJSON is status i of nhs as the simulator sends it, indented.
func statusJSON(t *testing.T, base, nhs string, i int) []byte {
	t.Helper()
	r := get(t, base+status(nhs), ok)
	var a struct {
		Statuses []json.RawMessage `json:"statuses"`
	}
	if err := json.Unmarshal(r.raw, &a); err != nil || i >= len(a.Statuses) {
		t.Fatalf("%s: %d %s", nhs, r.status, r.raw)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, a.Statuses[i], "", "  "); err != nil {
		t.Fatal(err)
	}
	return append(out.Bytes(), '\n')
}

// writeFixtures saves the reserved patients' statuses and the first
// generated patients of each kind (open, ended, ending later, with an
// earlier status) as the mapper's golden inputs.
func writeFixtures(t *testing.T, base, dir string) {
	t.Helper()
	type ref struct {
		NHS   string `json:"nhs"`
		Index int    `json:"index"`
	}
	cases := map[string]ref{
		"reserved_9000000009_current": {NHS: "9000000009"},
		"reserved_9000000017_ended":   {NHS: "9000000017"},
	}
	sim := ovm.New(ovm.Options{})
	for _, p := range population.Default() {
		st := sim.Statuses(p.NHSNumber)
		if len(st) == 0 || !nhsnumber.Valid(p.NHSNumber) {
			continue
		}
		kind := "open"
		switch {
		case len(st) > 1:
			kind = "earlier"
		case st[0].End != nil && *st[0].End < population.ReferenceDate:
			kind = "ended"
		case st[0].End != nil:
			kind = "ending_later"
		}
		name := "generated_" + kind
		if _, seen := cases[name]; seen {
			continue
		}
		cases[name] = ref{NHS: p.NHSNumber, Index: len(st) - 1}
	}
	for name, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, name+".in.json"), statusJSON(t, base, c.NHS, c.Index), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.MarshalIndent(cases, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "cases.json"), append(raw, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
