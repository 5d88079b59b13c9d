package immunisation_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/sandbox/immunisation"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

var updateMapperTestdata = flag.Bool("update-mapper-testdata", false, "rewrite mappers/immunisation/testdata/generated_*.in.json from the simulator")

type server struct {
	*httptest.Server
	sim *immunisation.Simulator
}

func start(t *testing.T, open bool) *server {
	t.Helper()
	sim := immunisation.New(immunisation.Options{Open: open})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return &server{Server: ts, sim: sim}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to path (below BasePath) with a bearer token unless hdr
// says otherwise (an empty value removes the header).
func (s *server) do(t *testing.T, method, path string, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+immunisation.BasePath+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer test")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// query is GET /Immunization with the parameters given as name, value
// pairs, in that order (so a test can repeat one).
func query(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, url.QueryEscape(kv[i])+"="+url.QueryEscape(kv[i+1]))
	}
	return "/Immunization?" + strings.Join(parts, "&")
}

const nhsSystem = "https://fhir.nhs.uk/Id/nhs-number|"

// searchPath is a search of nhs's target store, with extra parameters.
func searchPath(nhs, target string, extra ...string) string {
	return query(append([]string{"patient.identifier", nhsSystem + nhs, "immunization.target", target}, extra...)...)
}

// realSandbox is testdata/real-sandbox/<name> compacted: the bytes the
// public sandbox sends.
func realSandbox(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "real-sandbox", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRealSandboxContract sends the simulator every request of
// testdata/real-sandbox/SOURCES.md: it must answer as the public sandbox
// did, byte for byte (status, body, Content-Type, version header).
func TestRealSandboxContract(t *testing.T) {
	s := start(t, true)
	const (
		covid  = "covid-target.v1.9000000009.200.derived.json"
		badTgt = "invalid-target-or-code.v1.400.derived.json"
		empty  = "other-nhs-number.v1.200.empty.derived.json"
		noNHS  = "empty-nhs-number.v1.400.derived.json"
		badVer = "bad-version-abc.400.derived.json"
	)
	p9 := nhsSystem + "9000000009"
	tests := []struct {
		name    string
		path    string
		accept  string
		status  int
		version string // "" = no version header
		want    string
	}{
		{name: "COVID19", path: query("patient.identifier", p9, "immunization.target", "COVID19"), status: 200, version: "1.0", want: covid},
		{name: "COVID19 by the procedure code", path: query("patient.identifier", p9, "procedure-code:below", "90640007"), status: 200, version: "1.0", want: covid},
		{name: "COVID19 version 2", path: query("patient.identifier", p9, "immunization.target", "COVID19"), accept: "application/fhir+json;version=2", status: 200, version: "2.0", want: covid},
		{name: "COVID19 until 2020-12-20", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.to", "2020-12-20"), status: 200, version: "1.0",
			want: "covid-target.v1.9000000009.date-to-2020-12-20.200.derived.json"},
		{name: "FLU", path: query("patient.identifier", p9, "immunization.target", "FLU"), status: 200, version: "1.0", want: "flu-target.v1.9000000009.200.derived.json"},
		{name: "HPV", path: query("patient.identifier", p9, "immunization.target", "HPV"), status: 200, version: "1.0", want: "hpv-target.v1.9000000009.200.derived.json"},
		{name: "9000000033", path: query("patient.identifier", nhsSystem+"9000000033", "immunization.target", "COVID19"), status: 200, version: "1.0", want: empty},
		{name: "any other number", path: query("patient.identifier", nhsSystem+"9111231130", "immunization.target", "COVID19"), status: 200, version: "1.0", want: empty},
		{name: "no target nor code", path: query("patient.identifier", p9), status: 400, version: "1.0", want: badTgt},
		{name: "target and code", path: query("patient.identifier", p9, "immunization.target", "COVID19", "procedure-code:below", "90640007"), status: 400, version: "1.0", want: badTgt},
		{name: "another code", path: query("patient.identifier", p9, "procedure-code:below", "1324681000000101"), status: 400, version: "1.0", want: badTgt},
		{name: "MMR", path: query("patient.identifier", p9, "immunization.target", "MMR"), status: 400, version: "1.0", want: badTgt},
		{name: "RSV", path: query("patient.identifier", p9, "immunization.target", "RSV"), status: 400, version: "1.0", want: badTgt},
		{name: "empty NHS number", path: query("patient.identifier", nhsSystem, "procedure-code:below", "90640007"), status: 400, version: "1.0", want: noNHS},
		{name: "identifier without |", path: query("patient.identifier", "9000000009", "procedure-code:below", "90640007"), status: 400, version: "1.0", want: noNHS},
		{name: "no patient.identifier", path: query("immunization.target", "COVID19"), status: 500, want: "missing-patient-identifier.v1.500.derived.json"},
		{name: "bad date.from", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "2020-13-01"), status: 400, version: "1.0", want: "bad-date-from.v1.400.derived.json"},
		{name: "date.from after date.to", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "2021-01-01", "date.to", "2020-01-01"), status: 400, version: "1.0",
			want: "date-from-after-to.v1.400.derived.json"},
		{name: "version abc", path: query("patient.identifier", p9, "immunization.target", "COVID19"), accept: "application/fhir+json;version=abc", status: 400, want: badVer},
		{name: "version 3", path: query("patient.identifier", p9, "immunization.target", "COVID19"), accept: "application/fhir+json;version=3", status: 400, want: badVer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, "GET", tt.path, map[string]string{"Authorization": "", "Accept": tt.accept})
			want := realSandbox(t, tt.want)
			if r.status != tt.status || !bytes.Equal(r.body, want) {
				t.Errorf("%d %s\nwant %d %s", r.status, r.body, tt.status, want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if v, ok := r.header["Version"]; tt.version == "" && ok || tt.version != "" && (len(v) != 1 || v[0] != tt.version) {
				t.Errorf("version header %q, want %q", v, tt.version)
			}
		})
	}
	// The v2 handler's defect: FLU answers 200 with nothing.
	r := s.do(t, "GET", query("patient.identifier", p9, "immunization.target", "FLU"), map[string]string{"Accept": "application/fhir+json;version=2"})
	if r.status != 200 || len(r.body) != 0 || r.header.Get("version") != "2.0" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("FLU version 2: %d %v %q", r.status, r.header, r.body)
	}
}

// TestMapperCopiesAreTheRealSandbox keeps the mapper's copies of the public
// sandbox's answers (mappers/immunisation/testdata/real_sandbox_*.in.json)
// the same bytes as testdata/real-sandbox, so the contract the simulator
// is held to here is the one the mapper is golden-tested against.
func TestMapperCopiesAreTheRealSandbox(t *testing.T) {
	for in, src := range map[string]string{
		"real_sandbox_9000000009_covid19":                    "covid-target.v1.9000000009.200.derived.json",
		"real_sandbox_9000000009_covid19_date_to_2020-12-20": "covid-target.v1.9000000009.date-to-2020-12-20.200.derived.json",
		"real_sandbox_9000000009_flu":                        "flu-target.v1.9000000009.200.derived.json",
		"real_sandbox_9000000009_hpv":                        "hpv-target.v1.9000000009.200.derived.json",
		"real_sandbox_9000000033_empty":                      "other-nhs-number.v1.200.empty.derived.json",
	} {
		a, err := os.ReadFile(filepath.Join("../../mappers/immunisation/testdata", in+".in.json"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("testdata", "real-sandbox", src))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("mappers/immunisation/testdata/%s.in.json is not testdata/real-sandbox/%s", in, src)
		}
	}
}

// TestSandboxRules covers the rest of the sandbox's handler: the date
// filter, the parameters it ignores, and how it reads what it is given.
func TestSandboxRules(t *testing.T) {
	s := start(t, true)
	p9 := nhsSystem + "9000000009"
	covidTotal := func(r reply) int {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var b struct {
			Total int `json:"total"`
			Entry []struct {
				Search struct{ Mode string } `json:"search"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		// The Patient is always there, last, and not counted.
		if len(b.Entry) != b.Total+1 || b.Entry[b.Total].Search.Mode != "include" {
			t.Errorf("%d entries for total %d: %s", len(b.Entry), b.Total, r.body)
		}
		return b.Total
	}
	tests := []struct {
		name  string
		path  string
		total int
	}{
		// 2020-12-10T13:00:08.476Z and 2020-12-31T13:00:08.476Z, against midnight UTC.
		{name: "from the first day", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "2020-12-10"), total: 2},
		{name: "from the next day", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "2020-12-11"), total: 1},
		{name: "to the day of the first: midnight is before it", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.to", "2020-12-10"), total: 0},
		{name: "to the next day", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.to", "2020-12-11"), total: 1},
		{name: "one day", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "2020-12-31", "date.to", "2020-12-31"), total: 0},
		{name: "empty dates are none", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "", "date.to", ""), total: 2},
		{name: "_include and unknown parameters ignored", path: query("patient.identifier", p9, "immunization.target", "COVID19", "_include", "Immunization:patient", "codeing", "x"), total: 2},
		{name: "the identifier's system is not read", path: query("patient.identifier", "urn:x|9000000009", "immunization.target", "COVID19"), total: 2},
		{name: "the part after the first |", path: query("patient.identifier", "a|9000000009|b", "immunization.target", "COVID19"), total: 2},
		{name: "empty target is none", path: query("patient.identifier", p9, "immunization.target", "", "procedure-code:below", "90640007"), total: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := covidTotal(s.do(t, "GET", tt.path, nil)); got != tt.total {
				t.Errorf("total %d, want %d", got, tt.total)
			}
		})
	}
	for _, tt := range []struct {
		name   string
		path   string
		accept string
		status int
		diag   string
	}{
		{name: "repeated patient.identifier", path: query("patient.identifier", p9, "patient.identifier", p9, "immunization.target", "COVID19"), status: 500},
		{name: "repeated target", path: query("patient.identifier", p9, "immunization.target", "COVID19", "immunization.target", "COVID19"), status: 400, diag: "[immunization.target]"},
		{name: "lower-case target", path: query("patient.identifier", p9, "immunization.target", "covid19"), status: 400, diag: "[immunization.target]"},
		{name: "repeated date.from", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "2020-01-01", "date.from", "2020-01-01"), status: 400, diag: "[date.from]"},
		{name: "impossible day", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.to", "2021-02-30"), status: 400, diag: "Invalid request parameters: [date.to]"},
		{name: "year 0", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "0000-12-31"), status: 400, diag: "[date.from]"},
		{name: "not YYYY-MM-DD", path: query("patient.identifier", p9, "immunization.target", "COVID19", "date.from", "10-12-2020"), status: 400, diag: "[date.from]"},
		{name: "empty version", path: searchPath("9000000009", "COVID19"), accept: "application/fhir+json;version=", status: 400, diag: "Invalid version"},
		{name: "version 1.5", path: searchPath("9000000009", "COVID19"), accept: "application/fhir+json; Version = 1.5", status: 200},
		{name: "version without a value", path: searchPath("9000000009", "COVID19"), accept: "application/fhir+json;version", status: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, "GET", tt.path, map[string]string{"Accept": tt.accept})
			if r.status != tt.status || !strings.Contains(string(r.body), tt.diag) {
				t.Errorf("%d %s, want %d %q", r.status, r.body, tt.status, tt.diag)
			}
		})
	}
}

// TestDepartures: what the simulator answers that the public sandbox does
// not (documented in the package and docs/backends.md).
func TestDepartures(t *testing.T) {
	s := start(t, false)
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		status int
		diag   string
	}{
		{name: "no token", path: searchPath("9000000009", "COVID19"), hdr: map[string]string{"Authorization": ""}, status: 401, diag: "bearer token"},
		{name: "other path", path: "/Immunization/90640007.747583-127", status: 404, diag: "Unknown path"},
		{name: "other method", method: "POST", path: searchPath("9000000009", "COVID19"), status: 405, diag: "Method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := s.do(t, method, tt.path, tt.hdr)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			var oo struct {
				ResourceType string `json:"resourceType"`
				Issue        []struct {
					Severity, Code, Diagnostics string
				} `json:"issue"`
			}
			if err := json.Unmarshal(r.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
				t.Fatalf("not an OperationOutcome: %s", r.body)
			}
			if is := oo.Issue[0]; is.Code != "processing" || is.Severity != "error" || !strings.Contains(is.Diagnostics, tt.diag) {
				t.Errorf("issue %+v, want diagnostics with %q", is, tt.diag)
			}
			if err := profiles.Validate(r.body); err != nil {
				t.Errorf("the OperationOutcome fails the R4 schema: %v", err)
			}
		})
	}
	if n := s.sim.Searches(); n != 0 {
		t.Errorf("%d searches answered", n)
	}
	r := s.do(t, "GET", searchPath("9000000009", "COVID19"), map[string]string{"X-Correlation-ID": "11C46F5F-CDEF-4865-94B2-0EE0EDCC26DA", "X-Request-ID": "60E0B220-8136-4CA5-AE46-1D97EF59D068"})
	if r.header.Get("X-Correlation-Id") != "11C46F5F-CDEF-4865-94B2-0EE0EDCC26DA" || r.header.Get("X-Request-Id") != "60E0B220-8136-4CA5-AE46-1D97EF59D068" {
		t.Errorf("headers %v", r.header)
	}
}

// bundleOf decodes a searchset answer.
type bundleOf struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        int    `json:"total"`
	Entry        []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Search   struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func decode(t *testing.T, r reply) bundleOf {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var b bundleOf
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" {
		t.Fatalf("not a searchset: %s", r.body)
	}
	return b
}

// TestDescribe9000000009: Describe says what the public sandbox holds.
func TestDescribe9000000009(t *testing.T) {
	s := start(t, true)
	var got []string
	for _, e := range s.sim.Describe("9000000009").Events {
		got = append(got, e.Target+" "+e.Date+" "+e.Status+" "+e.Patient)
	}
	want := []string{
		"COVID19 2020-12-10 completed 9000000009", "COVID19 2020-12-31 not-done 9000000009",
		"FLU 2021-08-02 completed 9000000009",
		"HPV 2020-12-23 completed 9912003993", "HPV 2020-12-24 completed 9912003993", "HPV 2020-12-25 not-done 9912003993",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := s.sim.Describe("9111231130"); d.Known || len(d.Events) != 0 {
		t.Errorf("9111231130: %+v", d)
	}
}

var targets = []string{immunisation.COVID19, immunisation.FLU, immunisation.HPV}

// TestPopulationHistories checks the generated histories of the whole
// population through Describe, and the answers of a sample over HTTP: valid
// R4, the patient's own, in the stores' reach, dose numbers rising.
func TestPopulationHistories(t *testing.T) {
	s := start(t, true)
	floor := map[string]string{immunisation.COVID19: "2021-06-30", immunisation.FLU: "2024-06-30", immunisation.HPV: "2019-09-01"}
	counts := map[string]int{}
	withAny := 0
	products := map[string]bool{}
	for _, p := range population.Default() {
		d := s.sim.Describe(p.NHSNumber)
		if !d.Known {
			t.Fatalf("%s unknown", p.NHSNumber)
		}
		if len(d.Events) > 0 {
			withAny++
		}
		lastDose := map[string]int{}
		lastDate := map[string]string{}
		for _, e := range d.Events {
			counts[e.Target]++
			products[e.VaccineCode] = true
			if e.Date < floor[e.Target] || e.Date > population.ReferenceDate || p.DeathDate != "" && e.Date >= p.DeathDate || e.Date <= p.BirthDate {
				t.Errorf("%s: %+v outside the store's reach or the patient's life", p.NHSNumber, e)
			}
			if e.DoseNumber <= lastDose[e.Target] || e.Date < lastDate[e.Target] {
				t.Errorf("%s: %+v does not follow dose %d of %s", p.NHSNumber, e, lastDose[e.Target], lastDate[e.Target])
			}
			if e.Status != "completed" || e.Patient != p.NHSNumber {
				t.Errorf("%s: %+v", p.NHSNumber, e)
			}
			lastDose[e.Target], lastDate[e.Target] = e.DoseNumber, e.Date
		}
	}
	n := len(population.Default())
	if withAny < n/2 || counts[immunisation.COVID19] < n || counts[immunisation.FLU] < n/10 || counts[immunisation.HPV] < n/50 {
		t.Errorf("%d of %d people have vaccinations: %v", withAny, n, counts)
	}
	if len(products) < 8 {
		t.Errorf("only %d vaccine products", len(products))
	}
	for i, p := range population.Default()[:60] {
		d := s.sim.Describe(p.NHSNumber)
		for _, target := range targets {
			var events []immunisation.Event
			for _, e := range d.Events {
				if e.Target == target {
					events = append(events, e)
				}
			}
			r := s.do(t, "GET", searchPath(p.NHSNumber, target), nil)
			b := decode(t, r)
			if b.Total != len(events) {
				t.Fatalf("%s %s: total %d, %d events", p.NHSNumber, target, b.Total, len(events))
			}
			if r.header.Get("Content-Type") != "application/json; charset=utf-8" || r.header.Get("version") != "1.0" {
				t.Errorf("%s %s: headers %v", p.NHSNumber, target, r.header)
			}
			if err := profiles.Validate(r.body); err != nil {
				t.Fatalf("%s %s: the answer fails the R4 schema: %v", p.NHSNumber, target, err)
			}
			if len(events) == 0 {
				if !bytes.Equal(r.body, realSandbox(t, "other-nhs-number.v1.200.empty.derived.json")) {
					t.Errorf("%s %s: %s", p.NHSNumber, target, r.body)
				}
				continue
			}
			if len(b.Entry) != len(events)+1 || b.Entry[len(b.Entry)-1].Search.Mode != "include" {
				t.Fatalf("%s %s: entries %d", p.NHSNumber, target, len(b.Entry))
			}
			for j, e := range b.Entry[:len(events)] {
				var im struct {
					ID      string `json:"id"`
					Patient struct {
						Reference  string `json:"reference"`
						Identifier struct{ Value string }
					} `json:"patient"`
					LotNumber string `json:"lotNumber"`
					Performer []struct {
						Actor struct {
							Identifier struct{ System, Value string }
						}
					}
					ProtocolApplied []struct{ DoseNumberPositiveInt int }
				}
				if err := json.Unmarshal(e.Resource, &im); err != nil {
					t.Fatal(err)
				}
				ev := events[j]
				if im.ID != ev.ID || im.Patient.Identifier.Value != p.NHSNumber || im.Patient.Reference != b.Entry[len(b.Entry)-1].FullURL ||
					im.LotNumber == "" || im.Performer[0].Actor.Identifier.Value == "" || im.ProtocolApplied[0].DoseNumberPositiveInt != ev.DoseNumber {
					t.Errorf("%s entry %d: %s", p.NHSNumber, j, e.Resource)
				}
			}
		}
		if i%10 == 0 {
			// A date range selects the vaccinations from midnight UTC of
			// date.from to midnight UTC of date.to: the last day only up to
			// its midnight (generated vaccinations are given from 08:00).
			for _, target := range targets {
				want := 0
				for _, e := range d.Events {
					if e.Target == target && e.Date >= "2022-01-01" && e.Date < "2024-12-31" {
						want++
					}
				}
				got := decode(t, s.do(t, "GET", searchPath(p.NHSNumber, target, "date.from", "2022-01-01", "date.to", "2024-12-31"), nil))
				if got.Total != want {
					t.Errorf("%s %s 2022-2024: %d, want %d", p.NHSNumber, target, got.Total, want)
				}
			}
		}
	}
}

// TestDeterministic: another simulator over the same population answers
// with the same bytes.
func TestDeterministic(t *testing.T) {
	a, b := start(t, true), start(t, true)
	for _, p := range population.Default()[:20] {
		for _, target := range targets {
			if ra, rb := a.do(t, "GET", searchPath(p.NHSNumber, target), nil), b.do(t, "GET", searchPath(p.NHSNumber, target), nil); !bytes.Equal(ra.body, rb.body) {
				t.Fatalf("%s %s: two answers", p.NHSNumber, target)
			}
		}
	}
}

// TestPDSFixturePatients: the PDS fixture patients have histories too.
func TestPDSFixturePatients(t *testing.T) {
	s := start(t, true)
	for _, nhs := range []string{"9000000017", "9000000025"} {
		if d := s.sim.Describe(nhs); !d.Known {
			t.Errorf("%s unknown", nhs)
		}
		if r := s.do(t, "GET", searchPath(nhs, "COVID19"), nil); r.status != 200 {
			t.Errorf("%s: %d %s", nhs, r.status, r.body)
		}
	}
}

func TestFault(t *testing.T) {
	s := start(t, true)
	s.sim.SetFault(&immunisation.Fault{Status: 503, Body: "<html>503</html>", ContentType: "text/html", Count: 1, Header: http.Header{"Retry-After": {"2"}}})
	r := s.do(t, "GET", searchPath("9000000009", "COVID19"), nil)
	if r.status != 503 || string(r.body) != "<html>503</html>" || r.header.Get("Retry-After") != "2" || r.header.Get("Content-Type") != "text/html" {
		t.Errorf("fault: %d %v %s", r.status, r.header, r.body)
	}
	if r := s.do(t, "GET", searchPath("9000000009", "COVID19"), nil); r.status != 200 {
		t.Errorf("after the fault: %d", r.status)
	}
	s.sim.SetFault(&immunisation.Fault{Status: 500, PathPrefix: "/Other"})
	if r := s.do(t, "GET", searchPath("9000000009", "COVID19"), nil); r.status != 200 {
		t.Errorf("a fault on another path: %d", r.status)
	}
	s.sim.SetFault(&immunisation.Fault{Delay: 20 * time.Millisecond})
	if r := s.do(t, "GET", searchPath("9000000009", "COVID19"), nil); r.status != 200 {
		t.Errorf("slow: %d", r.status)
	}
	s.sim.SetFault(nil)
	if s.sim.Requests() != 4 || s.sim.Searches() != 3 {
		t.Errorf("requests %d, searches %d", s.sim.Requests(), s.sim.Searches())
	}
	// A fault of one data store leaves the others alone.
	s.sim.SetStoreFault(immunisation.COVID19, &immunisation.Fault{Status: 200, Body: "", ContentType: "application/json"})
	for _, tt := range []struct {
		path   string
		faulty bool
	}{
		{searchPath("9000000009", "COVID19"), true},
		{query("patient.identifier", nhsSystem+"9000000009", "procedure-code:below", "90640007"), true},
		{searchPath("9000000009", "FLU"), false},
	} {
		r := s.do(t, "GET", tt.path, nil)
		if r.status != 200 || (len(r.body) == 0) != tt.faulty {
			t.Errorf("%s: %d %q", tt.path, r.status, r.body)
		}
	}
	s.sim.SetStoreFault(immunisation.COVID19, nil)
	if r := s.do(t, "GET", searchPath("9000000009", "COVID19"), nil); len(r.body) == 0 {
		t.Error("the store fault outlived SetStoreFault(nil)")
	}
}

// representatives are population patients whose histories cover the
// generator's cases, for the mapper's testdata: the label, the patient and
// the data store whose answer is kept.
func representatives(sim *immunisation.Simulator) map[string][2]string {
	out := map[string][2]string{}
	for _, p := range population.Default() {
		d := sim.Describe(p.NHSNumber)
		targets := map[string]int{}
		primary := false
		for _, e := range d.Events {
			targets[e.Target]++
			primary = primary || e.DoseNumber == 1 && e.Target == immunisation.COVID19
		}
		for label, c := range map[string]struct {
			ok     bool
			target string
		}{
			"covid-primary-and-booster": {primary && targets[immunisation.COVID19] >= 3, immunisation.COVID19},
			"covid-and-flu":             {targets[immunisation.COVID19] >= 5 && targets[immunisation.FLU] == 1, immunisation.FLU},
			"hpv":                       {targets[immunisation.HPV] == 2, immunisation.HPV},
		} {
			if _, done := out[label]; c.ok && !done {
				out[label] = [2]string{p.NHSNumber, c.target}
			}
		}
	}
	return out
}

// TestMapperTestdataIsCurrent keeps mappers/immunisation/testdata/generated_*.in.json
// equal to what the simulator generates (-update-mapper-testdata rewrites them).
func TestMapperTestdataIsCurrent(t *testing.T) {
	s := start(t, true)
	dir := "../../mappers/immunisation/testdata"
	reps := representatives(s.sim)
	if len(reps) != 3 {
		t.Fatalf("representatives %v", reps)
	}
	casesPath := filepath.Join(dir, "cases.json")
	raw, err := os.ReadFile(casesPath)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	labels := make([]string, 0, len(reps))
	for l := range reps {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, label := range labels {
		nhs, target := reps[label][0], reps[label][1]
		body := s.do(t, "GET", searchPath(nhs, target), nil).body
		name := "generated_" + nhs + "_" + strings.ToLower(target)
		path := filepath.Join(dir, name+".in.json")
		if *updateMapperTestdata {
			if err := os.WriteFile(path, append(body, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			cases[name] = nhs
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(bytes.TrimSuffix(got, []byte("\n")), body) {
			t.Errorf("%s (%s) is not what the simulator generates (go test ./sandbox/immunisation -update-mapper-testdata)", path, label)
		}
		if cases[name] != nhs {
			t.Errorf("cases.json lacks %s", name)
		}
	}
	if *updateMapperTestdata {
		out, _ := json.MarshalIndent(cases, "", "  ")
		if err := os.WriteFile(casesPath, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
