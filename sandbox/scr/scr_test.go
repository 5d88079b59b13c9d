package scr_test

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

	scrmap "github.com/carerecords/fhir-facade/mappers/scr"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/scr"
)

var updateMapperTestdata = flag.Bool("update-mapper-testdata", false, "rewrite mappers/scr/testdata/generated_*.in.json from the simulator")

const nhsSystem = "https://fhir.nhs.uk/Id/nhs-number|"

type server struct {
	*httptest.Server
	sim *scr.Simulator
}

func start(t *testing.T, open bool) *server {
	t.Helper()
	sim := scr.New(scr.Options{Open: open})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return &server{Server: ts, sim: sim}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (s *server) do(t *testing.T, method, path string, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+scr.BasePath+path, nil)
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

func docRefPath(nhs string) string {
	return "/DocumentReference?" + url.Values{"patient": {nhsSystem + nhs}}.Encode()
}

func bundlePath(nhs, uuid string) string {
	return "/Bundle?" + url.Values{"composition.identifier": {uuid}, "composition.subject:Patient.identifier": {nhsSystem + nhs}}.Encode()
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// latest reads masterIdentifier and the consent code from a DocumentReference answer.
func latest(t *testing.T, body []byte) (uuid, consent string, total int) {
	t.Helper()
	var b struct {
		Total int `json:"total"`
		Entry []struct {
			Resource struct {
				ResourceType     string `json:"resourceType"`
				MasterIdentifier struct {
					Value string `json:"value"`
				} `json:"masterIdentifier"`
				SecurityLabel []struct {
					Coding []struct {
						Code string `json:"code"`
					} `json:"coding"`
				} `json:"securityLabel"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, e := range b.Entry {
		if e.Resource.ResourceType == "DocumentReference" {
			return e.Resource.MasterIdentifier.Value, e.Resource.SecurityLabel[0].Coding[0].Code, b.Total
		}
	}
	return "", "", b.Total
}

// TestPublicSandboxAnswers checks the headers of the sandbox's answers; the
// bodies are the contract test's (contract_test.go).
func TestPublicSandboxAnswers(t *testing.T) {
	s := start(t, true)
	r := s.do(t, "GET", docRefPath("9000000009")+"&type=http://snomed.info/sct%7C196981000000101&_sort=date&_count=1", map[string]string{"Authorization": "", "X-Request-ID": "60E0B220-8136-4CA5-AE46-1D97EF59D068", "X-Correlation-ID": "c1"})
	if uuid, consent, _ := latest(t, r.body); r.status != 200 || uuid != scr.SandboxUUID || consent != "Yes" {
		t.Fatalf("DocumentReference 9000000009: %d %s", r.status, r.body)
	}
	if r.header.Get("X-Request-Id") != "60E0B220-8136-4CA5-AE46-1D97EF59D068" || r.header.Get("X-Correlation-Id") != "c1" || r.header.Get("Content-Type") != "application/fhir+json" {
		t.Errorf("headers %v", r.header)
	}
	r = s.do(t, "GET", bundlePath("9000000009", scr.SandboxUUID), nil)
	// The API's example, with the clinical status displays the service adds.
	if r.status != 200 || !bytes.Equal(bytes.ReplaceAll(r.body, []byte(`, "display": "Active"`), nil), fixture(t, "GetScrBundle.json")) {
		t.Fatalf("Bundle 9000000009: %d", r.status)
	}
	for _, nhs := range []string{scr.RefusedNHSNumber, "9111231130"} {
		for _, path := range []string{docRefPath(nhs), bundlePath(nhs, scr.SandboxUUID)} {
			if r = s.do(t, "GET", path, nil); r.status != 403 || !strings.Contains(string(r.body), "PSIS-30418") {
				t.Errorf("%s: %d %s", path, r.status, r.body)
			}
		}
	}
}

func TestOptOut(t *testing.T) {
	s := start(t, false)
	r := s.do(t, "GET", docRefPath(scr.OptOutNHSNumber), nil)
	uuid, consent, _ := latest(t, r.body)
	if r.status != 200 || consent != "No" || uuid == "" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = s.do(t, "GET", bundlePath(scr.OptOutNHSNumber, uuid), nil)
	if r.status != 403 || !strings.Contains(string(r.body), `"forbidden"`) || !strings.Contains(string(r.body), "PSIS-30418") {
		t.Errorf("GET /Bundle for an opt-out: %d %s", r.status, r.body)
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
		code   string
	}{
		{name: "no token", method: "GET", path: docRefPath("9000000009"), hdr: map[string]string{"Authorization": ""}, status: 401, code: "forbidden"},
		{name: "bad request id", method: "GET", path: docRefPath("9000000009"), hdr: map[string]string{"X-Request-ID": "nope"}, status: 400, code: "invalid"},
		{name: "bad URID", method: "GET", path: docRefPath("9000000009"), hdr: map[string]string{"NHSD-Session-URID": "abc"}, status: 400, code: "invalid"},
		{name: "no patient", method: "GET", path: "/DocumentReference", status: 400, code: "value"},
		{name: "no system", method: "GET", path: "/DocumentReference?patient=9000000009", status: 400, code: "value"},
		{name: "other type", method: "GET", path: docRefPath("9000000009") + "&type=http://snomed.info/sct%7C1", status: 400, code: "value"},
		{name: "other sort", method: "GET", path: docRefPath("9000000009") + "&_sort=-date", status: 400, code: "value"},
		{name: "other count", method: "GET", path: docRefPath("9000000009") + "&_count=2", status: 400, code: "value"},
		{name: "bundle sandbox invalid", method: "GET", path: "/Bundle?composition.identifier=INVALID%20ID&composition.subject:Patient.identifier=INVALID%20NHS%20NUMBER", status: 400, code: "value"},
		{name: "bundle missing subject", method: "GET", path: "/Bundle?composition.identifier=" + scr.SandboxUUID, status: 400, code: "value"},
		{name: "upload without content type", method: "POST", path: "/Bundle", status: 415, code: "not-supported"},
		{name: "upload without a role", method: "POST", path: "/Bundle", hdr: map[string]string{"Content-Type": "application/fhir+json"}, status: 400, code: "value"},
		{name: "set permission without a role", method: "POST", path: "/$setPermission", hdr: map[string]string{"Content-Type": "application/fhir+json"}, status: 400, code: "value"},
		{name: "audit event without a role", method: "POST", path: "/AuditEvent", hdr: map[string]string{"Content-Type": "application/fhir+json"}, status: 400, code: "value"},
		{name: "delete", method: "DELETE", path: "/Bundle", status: 405, code: "not-supported"},
		{name: "get set permission", method: "GET", path: "/$setPermission", status: 405, code: "not-supported"},
		{name: "unknown path", method: "GET", path: "/Patient/9000000009", status: 404, code: "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, tt.hdr)
			if r.status != tt.status || !strings.Contains(string(r.body), `"code":"`+tt.code+`"`) {
				t.Errorf("%d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
	if s.sim.BundleRequests() != 0 || s.sim.DocumentReferenceRequests() != 0 {
		t.Errorf("rejected requests were counted: %d %d", s.sim.DocumentReferenceRequests(), s.sim.BundleRequests())
	}
}

func TestFault(t *testing.T) {
	s := start(t, true)
	s.sim.SetFault(&scr.Fault{Status: 503, Body: "<html>503 Service Temporarily Unavailable</html>", ContentType: "text/html", PathPrefix: "/Bundle", Count: 1})
	if r := s.do(t, "GET", docRefPath("9000000009"), nil); r.status != 200 {
		t.Errorf("DocumentReference hit by a /Bundle fault: %d", r.status)
	}
	if r := s.do(t, "GET", bundlePath("9000000009", scr.SandboxUUID), nil); r.status != 503 || r.header.Get("Content-Type") != "text/html" {
		t.Errorf("fault: %d", r.status)
	}
	if r := s.do(t, "GET", bundlePath("9000000009", scr.SandboxUUID), nil); r.status != 200 {
		t.Errorf("after a Count 1 fault: %d", r.status)
	}
	s.sim.SetFault(&scr.Fault{Delay: 50 * time.Millisecond})
	start := time.Now()
	if r := s.do(t, "GET", docRefPath("9000000009"), nil); r.status != 200 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("delay fault: %d after %v", r.status, time.Since(start))
	}
	s.sim.SetFault(nil)
}

// TestPopulation checks the documented mix over the default population, and
// that every generated summary reads back (through the SCR mapper) to
// exactly the rows Describe announces: nothing generated is unreadable.
func TestPopulation(t *testing.T) {
	s := start(t, true)
	counts := map[string]int{}
	mapped := 0
	for i, p := range population.Default() {
		d := s.sim.Describe(p.NHSNumber)
		switch {
		case !d.HasSCR:
			counts["none"]++
			continue
		default:
			counts[d.Consent]++
		}
		if d.Allergies > 0 {
			counts["allergies"]++
		}
		if d.Acute > 0 {
			counts["acute"]++
		}
		if d.Repeat > 0 {
			counts["repeat"]++
		}
		if d.Discontinued > 0 {
			counts["discontinued"]++
		}
		if d.Allergies+d.Acute+d.Repeat+d.Discontinued == 0 {
			counts["all empty"]++
		}
		if i%20 != 0 || d.Consent == "No" {
			continue
		}
		r := s.do(t, "GET", docRefPath(p.NHSNumber), nil)
		uuid, consent, _ := latest(t, r.body)
		if uuid != d.UUID || consent != d.Consent {
			t.Fatalf("%s: DocumentReference says %s %s, Describe %+v", p.NHSNumber, uuid, consent, d)
		}
		r = s.do(t, "GET", bundlePath(p.NHSNumber, uuid), nil)
		rec, err := scrmap.Map(r.body, p.NHSNumber, uuid)
		if err != nil {
			t.Fatalf("%s: %v", p.NHSNumber, err)
		}
		if len(rec.Allergies) != d.Allergies || len(rec.Medications) != d.Acute+d.Repeat+d.Discontinued {
			t.Fatalf("%s: mapped %d allergies and %d medications, Describe %+v", p.NHSNumber, len(rec.Allergies), len(rec.Medications), d)
		}
		mapped++
		if r := s.do(t, "GET", bundlePath(p.NHSNumber, d.PreviousUUID), nil); !strings.Contains(string(r.body), `"total": 0`) {
			t.Fatalf("%s: the previous UUID still answers", p.NHSNumber)
		}
	}
	n := len(population.Default())
	t.Logf("population %d: %v; %d summaries mapped", n, counts, mapped)
	for k, lo := range map[string]float64{"none": 0.07, "No": 0.03, "Yes": 0.03, "Ask": 0.7, "allergies": 0.3, "acute": 0.2, "repeat": 0.3, "discontinued": 0.1, "all empty": 0.1} {
		if float64(counts[k]) < lo*float64(n) {
			t.Errorf("%s: %d of %d, want at least %.0f%%", k, counts[k], n, lo*100)
		}
	}
	if mapped < 100 {
		t.Errorf("only %d summaries mapped", mapped)
	}
}

func TestDeterministic(t *testing.T) {
	a, b := start(t, true), start(t, true)
	nhs := population.Default()[42].NHSNumber
	d := a.sim.Describe(nhs)
	if !d.HasSCR {
		t.Skip("person 42 has no SCR")
	}
	ra, rb := a.do(t, "GET", bundlePath(nhs, d.UUID), nil), b.do(t, "GET", bundlePath(nhs, d.UUID), nil)
	if !bytes.Equal(ra.body, rb.body) || !bytes.Equal(ra.body, a.do(t, "GET", bundlePath(nhs, d.UUID), nil).body) {
		t.Error("the same summary differs between calls or simulators")
	}
}

// representatives picks, in population order, the people whose summaries
// are kept as mapper test data.
func representatives(sim *scr.Simulator) map[string]string {
	out := map[string]string{}
	ref, _ := time.Parse(time.DateOnly, population.ReferenceDate)
	for _, p := range population.Default() {
		d := sim.Describe(p.NHSNumber)
		if !d.HasSCR || d.Consent == "No" {
			continue
		}
		birth, _ := time.Parse(time.DateOnly, p.BirthDate)
		full := d.Allergies > 0 && d.Acute > 0 && d.Repeat > 0 && d.Discontinued > 0
		empty := d.Allergies+d.Acute+d.Repeat+d.Discontinued == 0
		child := ref.Sub(birth) < 8*365*24*time.Hour && d.Acute+d.Repeat > 0
		for label, ok := range map[string]bool{"full": full, "empty": empty, "child": child, "legacy-yes": d.Consent == "Yes" && d.Allergies > 0} {
			if _, done := out[label]; ok && !done {
				out[label] = p.NHSNumber
			}
		}
	}
	return out
}

// TestMapperTestdataIsCurrent keeps mappers/scr/testdata/generated_*.in.json
// equal to what the simulator generates (-update-mapper-testdata rewrites them).
func TestMapperTestdataIsCurrent(t *testing.T) {
	s := start(t, true)
	dir := "../../mappers/scr/testdata"
	reps := representatives(s.sim)
	if len(reps) != 4 {
		t.Fatalf("representatives %v", reps)
	}
	casesPath := filepath.Join(dir, "cases.json")
	raw, err := os.ReadFile(casesPath)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]map[string]string{}
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
		d := s.sim.Describe(nhs)
		body := s.do(t, "GET", bundlePath(nhs, d.UUID), nil).body
		name := "generated_" + nhs
		path := filepath.Join(dir, name+".in.json")
		if *updateMapperTestdata {
			if err := os.WriteFile(path, append(body, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			cases[name] = map[string]string{"nhs": nhs, "uuid": d.UUID}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(bytes.TrimSuffix(got, []byte("\n")), body) {
			t.Errorf("%s (%s) is not what the simulator generates (go test ./sandbox/scr -update-mapper-testdata)", path, label)
		}
		if c := cases[name]; c["nhs"] != nhs || c["uuid"] != d.UUID {
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
