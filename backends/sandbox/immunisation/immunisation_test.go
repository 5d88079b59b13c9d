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

	"github.com/carerecords/fhir-facade/backends/sandbox/immunisation"
	"github.com/carerecords/fhir-facade/backends/sandbox/population"
	"github.com/carerecords/fhir-facade/profiles"
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

// searchPath is GET /Immunization for nhs with the mandatory _include and extra parameters.
func searchPath(nhs string, extra ...string) string {
	q := url.Values{"patient.identifier": {"https://fhir.nhs.uk/Id/nhs-number|" + nhs}, "_include": {"Immunization:patient"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/Immunization?" + q.Encode()
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
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

// TestPublicSandboxAnswers: 9000000009 and 9000000033 answer byte for byte
// as the public sandbox.
func TestPublicSandboxAnswers(t *testing.T) {
	s := start(t, true)
	tests := []struct {
		name string
		path string
		want string
	}{
		{name: "9000000009", path: searchPath("9000000009"), want: "Immunization.json"},
		{name: "9000000009 COVID19", path: searchPath("9000000009", "immunization.target", "COVID19"), want: "Immunization.json"},
		{name: "9000000009 by the deprecated procedure code", path: searchPath("9000000009", "procedure-code:below", "90640007"), want: "Immunization.json"},
		{name: "9000000009 over its dates", path: searchPath("9000000009", "date.from", "2020-12-10", "date.to", "2020-12-31"), want: "Immunization.json"},
		{name: "9000000009 FLU", path: searchPath("9000000009", "immunization.target", "FLU"), want: "EmptyBundle.json"},
		{name: "9000000009 before", path: searchPath("9000000009", "date.to", "2020-12-09"), want: "EmptyBundle.json"},
		{name: "9000000033", path: searchPath("9000000033"), want: "EmptyBundle.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, "GET", tt.path, map[string]string{"Authorization": ""})
			if r.status != 200 || !bytes.Equal(r.body, fixture(t, tt.want)) {
				t.Errorf("%d %s, want %s", r.status, r.body, tt.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/fhir+json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	// One of the two: the second vaccination only, with the included Patient.
	b := decode(t, s.do(t, "GET", searchPath("9000000009", "date.from", "2020-12-11"), nil))
	if b.Total != 1 || len(b.Entry) != 2 || b.Entry[1].Search.Mode != "include" || !strings.Contains(string(b.Entry[0].Resource), "90640007.747583-128") {
		t.Errorf("date.from=2020-12-11: %+v", b)
	}
}

func TestErrors(t *testing.T) {
	s := start(t, false)
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		status int
		diag   string
	}{
		{name: "no token", path: searchPath("9000000009"), hdr: map[string]string{"Authorization": ""}, status: 401, diag: "bearer token"},
		{name: "unknown NHS number", path: searchPath("9111231130"), status: 400, diag: "Missing or invalid NHS number"},
		{name: "bad check digit", path: searchPath("9000000000"), status: 400, diag: "Missing or invalid NHS number"},
		{name: "no patient", path: "/Immunization?_include=Immunization:patient", status: 400, diag: "Missing or invalid NHS number"},
		{name: "other identifier system", path: "/Immunization?_include=Immunization:patient&patient.identifier=" + url.QueryEscape("urn:x|9000000009"), status: 400, diag: "Missing or invalid NHS number"},
		{name: "no _include", path: "/Immunization?patient.identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9000000009"), status: 400, diag: "_include"},
		{name: "other _include", path: strings.Replace(searchPath("9000000009"), "Immunization%3Apatient", "Immunization%3Aperformer", 1), status: 400, diag: "_include"},
		{name: "unknown target", path: searchPath("9000000009", "immunization.target", "MMR"), status: 400, diag: "Target"},
		{name: "conflicting target", path: searchPath("9000000009", "immunization.target", "FLU", "procedure-code:below", "90640007"), status: 400, diag: "conflicting"},
		{name: "other procedure code", path: searchPath("9000000009", "procedure-code:below", "1324681000000101"), status: 400, diag: "parent SNOMED code"},
		{name: "bad date", path: searchPath("9000000009", "date.from", "10-12-2020"), status: 400, diag: "date.from must be in format: YYYY-MM-DD"},
		{name: "unknown parameter", path: searchPath("9000000009", "codeing", "x"), status: 400, diag: "Unknown search parameter 'codeing' for resource type 'Immunization'."},
		{name: "repeated parameter", path: searchPath("9000000009") + "&date.to=2021-01-01&date.to=2022-01-01", status: 400, diag: "only once"},
		{name: "other path", path: "/Immunization/90640007.747583-127", status: 404, diag: "Unknown path"},
		{name: "other method", method: "POST", path: searchPath("9000000009"), status: 405, diag: "Method not allowed"},
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
}

func TestHeadersMirrored(t *testing.T) {
	s := start(t, false)
	r := s.do(t, "GET", searchPath("9000000009"), map[string]string{"X-Correlation-ID": "11C46F5F-CDEF-4865-94B2-0EE0EDCC26DA", "X-Request-ID": "60E0B220-8136-4CA5-AE46-1D97EF59D068"})
	if r.header.Get("X-Correlation-Id") != "11C46F5F-CDEF-4865-94B2-0EE0EDCC26DA" || r.header.Get("X-Request-Id") != "60E0B220-8136-4CA5-AE46-1D97EF59D068" {
		t.Errorf("headers %v", r.header)
	}
}

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
		r := s.do(t, "GET", searchPath(p.NHSNumber), nil)
		b := decode(t, r)
		if b.Total != len(d.Events) {
			t.Fatalf("%s: total %d, %d events", p.NHSNumber, b.Total, len(d.Events))
		}
		if err := profiles.Validate(r.body); err != nil {
			t.Fatalf("%s: the answer fails the R4 schema: %v", p.NHSNumber, err)
		}
		if len(d.Events) == 0 {
			if !bytes.Equal(r.body, fixture(t, "EmptyBundle.json")) {
				t.Errorf("%s: %s", p.NHSNumber, r.body)
			}
			continue
		}
		if len(b.Entry) != len(d.Events)+1 || b.Entry[len(b.Entry)-1].Search.Mode != "include" {
			t.Fatalf("%s: entries %d", p.NHSNumber, len(b.Entry))
		}
		for j, e := range b.Entry[:len(d.Events)] {
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
			ev := d.Events[j]
			if im.ID != ev.ID || im.Patient.Identifier.Value != p.NHSNumber || im.Patient.Reference != b.Entry[len(b.Entry)-1].FullURL ||
				im.LotNumber == "" || im.Performer[0].Actor.Identifier.Value == "" || im.ProtocolApplied[0].DoseNumberPositiveInt != ev.DoseNumber {
				t.Errorf("%s entry %d: %s", p.NHSNumber, j, e.Resource)
			}
		}
		if i%10 == 0 {
			// Filters: each store, and a date range, select what Describe says.
			for _, target := range []string{immunisation.COVID19, immunisation.FLU, immunisation.HPV} {
				want := 0
				for _, e := range d.Events {
					if e.Target == target && e.Date >= "2022-01-01" && e.Date <= "2024-12-31" {
						want++
					}
				}
				got := decode(t, s.do(t, "GET", searchPath(p.NHSNumber, "immunization.target", target, "date.from", "2022-01-01", "date.to", "2024-12-31"), nil))
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
		if ra, rb := a.do(t, "GET", searchPath(p.NHSNumber), nil), b.do(t, "GET", searchPath(p.NHSNumber), nil); !bytes.Equal(ra.body, rb.body) {
			t.Fatalf("%s: two answers", p.NHSNumber)
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
		if r := s.do(t, "GET", searchPath(nhs), nil); r.status != 200 {
			t.Errorf("%s: %d %s", nhs, r.status, r.body)
		}
	}
}

func TestFault(t *testing.T) {
	s := start(t, true)
	s.sim.SetFault(&immunisation.Fault{Status: 503, Body: "<html>503</html>", ContentType: "text/html", Count: 1, Header: http.Header{"Retry-After": {"2"}}})
	r := s.do(t, "GET", searchPath("9000000009"), nil)
	if r.status != 503 || string(r.body) != "<html>503</html>" || r.header.Get("Retry-After") != "2" || r.header.Get("Content-Type") != "text/html" {
		t.Errorf("fault: %d %v %s", r.status, r.header, r.body)
	}
	if r := s.do(t, "GET", searchPath("9000000009"), nil); r.status != 200 {
		t.Errorf("after the fault: %d", r.status)
	}
	s.sim.SetFault(&immunisation.Fault{Status: 500, PathPrefix: "/Other"})
	if r := s.do(t, "GET", searchPath("9000000009"), nil); r.status != 200 {
		t.Errorf("a fault on another path: %d", r.status)
	}
	s.sim.SetFault(&immunisation.Fault{Delay: 20 * time.Millisecond})
	if r := s.do(t, "GET", searchPath("9000000009"), nil); r.status != 200 {
		t.Errorf("slow: %d", r.status)
	}
	s.sim.SetFault(nil)
	if s.sim.Requests() != 4 || s.sim.Searches() != 3 {
		t.Errorf("requests %d, searches %d", s.sim.Requests(), s.sim.Searches())
	}
}

// representatives are population patients whose histories cover the
// generator's cases, for the mapper's testdata.
func representatives(sim *immunisation.Simulator) map[string]string {
	out := map[string]string{}
	for _, p := range population.Default() {
		d := sim.Describe(p.NHSNumber)
		targets := map[string]int{}
		primary := false
		for _, e := range d.Events {
			targets[e.Target]++
			primary = primary || e.DoseNumber == 1 && e.Target == immunisation.COVID19
		}
		for label, ok := range map[string]bool{
			"covid-primary-and-booster": primary && targets[immunisation.COVID19] >= 3,
			"covid-and-flu":             targets[immunisation.COVID19] >= 5 && targets[immunisation.FLU] == 1,
			"hpv":                       targets[immunisation.HPV] == 2,
		} {
			if _, done := out[label]; ok && !done {
				out[label] = p.NHSNumber
			}
		}
	}
	return out
}

// TestMapperTestdataIsCurrent keeps mappers/immunisation/testdata/generated_*.in.json
// equal to what the simulator generates (-update-mapper-testdata rewrites them).
func TestMapperTestdataIsCurrent(t *testing.T) {
	s := start(t, true)
	dir := "../../../mappers/immunisation/testdata"
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
		nhs := reps[label]
		body := s.do(t, "GET", searchPath(nhs), nil).body
		name := "generated_" + nhs
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
			t.Errorf("%s (%s) is not what the simulator generates (go test ./backends/sandbox/immunisation -update-mapper-testdata)", path, label)
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
