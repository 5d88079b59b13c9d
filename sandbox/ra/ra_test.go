package ra_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	mapra "github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/ra"
)

const category = "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1|NRAF"

type result struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func start(t *testing.T, opts ra.Options) (*ra.Simulator, string) {
	t.Helper()
	sim := ra.New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts.URL + ra.BasePath
}

func do(t *testing.T, method, url string, hdr map[string]string, body string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("X-Request-ID", uuid.NewString())
	req.Header.Set("NHSD-Session-URID", "555254240100")
	req.Header.Set("Authorization", "Bearer t")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func search(base, path, nhs, status string) string {
	return base + path + "?" + url.Values{"patient": {nhs}, "status": {status}, "category": {category}}.Encode()
}

func errorCode(t *testing.T, r result) string {
	t.Helper()
	is, ok := r.body["issue"].([]any)
	if !ok {
		t.Fatalf("not an OperationOutcome: %s", r.raw)
	}
	return is[0].(map[string]any)["details"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
}

func entries(r result) []any {
	var out []any
	es, _ := r.body["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any)["resource"])
	}
	return out
}

// The public sandbox's patient answers the sandbox's own payloads.
func TestSandboxPatient(t *testing.T) {
	_, base := start(t, ra.Options{})
	for path, file := range map[string]string{"/Flag": "flagGET.json", "/Consent": "consentGET.json"} {
		raw, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		_ = json.Unmarshal(raw, &want)
		r := do(t, "GET", search(base, path, ra.SandboxNHSNumber, "active"), nil, "")
		if r.status != 200 || r.body["type"] != "searchset" {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		got, wantEntries := entries(r), entries(result{body: want})
		if !reflect.DeepEqual(normalise(got), normalise(wantEntries)) {
			t.Errorf("%s differs from %s:\n%v\n%v", path, file, got, wantEntries)
		}
	}
}

// normalise drops what the simulator adds to what it stores
// (resourceType of contained resources, which the mocks carry too).
func normalise(v []any) string {
	b, _ := json.Marshal(v)
	var again any
	_ = json.Unmarshal(b, &again)
	out, _ := json.Marshal(again)
	return string(out)
}

func TestSearch(t *testing.T) {
	_, base := start(t, ra.Options{})
	tests := []struct {
		name   string
		url    string
		hdr    map[string]string
		status int
		n      int
		code   string
	}{
		{name: "9000000009 active", url: search(base, "/Flag", "9000000009", "active"), status: 200, n: 2},
		{name: "9000000009 inactive", url: search(base, "/Flag", "9000000009", "inactive"), status: 200, n: 0},
		{name: "consent", url: search(base, "/Consent", "9000000009", "active"), status: 200, n: 1},
		{name: "no record", url: search(base, "/Flag", "9000000017", "active"), status: 404, code: "PATIENT_NOT_FOUND"},
		{name: "no consent", url: search(base, "/Consent", "9000000017", "active"), status: 404, code: "PATIENT_NOT_FOUND"},
		{name: "invalid NHS number", url: search(base, "/Flag", "9000000000", "active"), status: 400, code: "INVALID_NHS_NUMBER"},
		{name: "bad status", url: search(base, "/Flag", "9000000009", "removed"), status: 400, code: "INVALID_VALUE"},
		{name: "bad category", url: base + "/Flag?patient=9000000009&status=active&category=x", status: 400, code: "INVALID_VALUE"},
		{name: "request id not a UUID", url: search(base, "/Flag", "9000000009", "active"), hdr: map[string]string{"X-Request-ID": "1234"}, status: 400, code: "INVALID_VALUE"},
		{name: "no token", url: search(base, "/Flag", "9000000009", "active"), hdr: map[string]string{"Authorization": ""}, status: 401, code: "ACCESS_DENIED"},
		// The sandbox proxy's plain JSON errors (contract_test.go holds their bodies).
		{name: "missing status", url: base + "/Flag?patient=9000000009&category=" + url.QueryEscape(category), status: 404},
		{name: "no request id", url: search(base, "/Flag", "9000000009", "active"), hdr: map[string]string{"X-Request-ID": ""}, status: 400},
		{name: "no session URID", url: search(base, "/Flag", "9000000009", "active"), hdr: map[string]string{"NHSD-Session-URID": ""}, status: 400},
		{name: "unknown path", url: base + "/Pets", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", tc.url, tc.hdr, "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status >= 400 && tc.code == "" {
				if _, ok := r.body["error"]; !ok {
					t.Errorf("not the proxy's or app's JSON error: %s", r.raw)
				}
				return
			}
			if tc.code != "" {
				if got := errorCode(t, r); got != tc.code {
					t.Errorf("code %s, want %s", got, tc.code)
				}
				return
			}
			if got := len(entries(r)); got != tc.n {
				t.Errorf("%d entries, want %d", got, tc.n)
			}
		})
	}
}

const newFlag = `{"resourceType":"Flag","status":"active",
	"category":{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1","code":"NRAF"}]},
	"code":{"coding":[{"system":"http://snomed.info/sct","code":"441092009","display":"Does lip read"}]},
	"subject":{"reference":"https://demographics.spineservices.nhs.uk/STU3/Patient/9000000017"}}`

const newConsent = `{"resourceType":"Consent","status":"active",
	"category":[{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1","code":"NRAF"}]}],
	"patient":{"reference":"https://demographics.spineservices.nhs.uk/STU3/Patient/9000000017"}}`

// A record is created (consent first), an adjustment added, updated under
// its version, and removed; each step as RA answers it.
func TestWrites(t *testing.T) {
	now := time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)
	sim, base := start(t, ra.Options{Now: func() time.Time { return now }})
	json := map[string]string{"Content-Type": "application/fhir+json"}

	if r := do(t, "POST", base+"/Flag", json, newFlag); r.status != 404 || errorCode(t, r) != "PATIENT_NOT_FOUND" {
		t.Fatalf("flag before consent: %d %s", r.status, r.raw)
	}
	r := do(t, "POST", base+"/Consent", json, newConsent)
	if r.status != 201 || r.header.Get("Location") == "" || !strings.HasPrefix(r.header.Get("ETag"), `W/"`) {
		t.Fatalf("create consent: %d %v %s", r.status, r.header, r.raw)
	}
	if r := do(t, "POST", base+"/Consent", json, newConsent); r.status != 400 || errorCode(t, r) != "INVALID_UPDATE" {
		t.Errorf("second consent: %d %s", r.status, r.raw)
	}
	r = do(t, "POST", base+"/Flag", json, newFlag)
	if r.status != 201 {
		t.Fatalf("create flag: %d %s", r.status, r.raw)
	}
	etag := r.header.Get("ETag")
	if !strings.HasSuffix(etag, "”") {
		t.Errorf("ETag %q lacks the sandbox's typographic quote", etag)
	}
	id := r.body["id"].(string)
	version := strings.TrimSuffix(strings.TrimPrefix(etag, `W/"`), "”")
	if !strings.HasPrefix(id, "9000000017.") || r.body["meta"].(map[string]any)["versionId"] != version {
		t.Errorf("id %s, meta %v, version %s", id, r.body["meta"], version)
	}
	if !strings.HasSuffix(r.header.Get("Location"), "/Flag/"+id) {
		t.Errorf("Location %s", r.header.Get("Location"))
	}
	if got := len(sim.Flags("9000000017")); got != 1 {
		t.Fatalf("%d flags stored", got)
	}
	stored := r.raw

	put := func(hdr map[string]string, body string) result {
		h := map[string]string{"Content-Type": "application/fhir+json"}
		for k, v := range hdr {
			h[k] = v
		}
		return do(t, "PUT", base+"/Flag/"+id, h, body)
	}
	removal := strings.Replace(stored, `"status":"active"`, `"status":"inactive"`, 1)
	withReason := strings.Replace(removal, `"extension":[`, `"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-RemovalReason-1","extension":[{"url":"removalReason","valueCodeableConcept":{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-RemovalReason-1","code":"Error"}]}}]},`, 1)
	tests := []struct {
		name   string
		hdr    map[string]string
		body   string
		status int
		code   string
	}{
		{name: "no If-Match", body: stored, status: 412, code: "PRECONDITION_FAILED"},
		{name: "stale version", hdr: map[string]string{"If-Match": `W/"0"`}, body: stored, status: 409, code: "RESOURCE_VERSION_MISMATCH"},
		{name: "removal without reason", hdr: map[string]string{"If-Match": `W/"` + version + `"`}, body: removal, status: 400, code: "MISSING_VALUE"},
		{name: "id differs", hdr: map[string]string{"If-Match": `W/"` + version + `"`}, body: strings.Replace(stored, id, "9000000017.other", 1), status: 400, code: "INVALID_UPDATE"},
		{name: "removal (typographic If-Match)", hdr: map[string]string{"If-Match": etag}, body: withReason, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := put(tc.hdr, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.code != "" && errorCode(t, r) != tc.code {
				t.Errorf("code %s, want %s", errorCode(t, r), tc.code)
			}
		})
	}
	flags := sim.Flags("9000000017")
	if flags[0].Status != "inactive" || flags[0].Meta.VersionID == version {
		t.Errorf("after removal: %s version %s", flags[0].Status, flags[0].Meta.VersionID)
	}
	if r := do(t, "GET", search(base, "/Flag", "9000000017", "inactive"), nil, ""); len(entries(r)) != 1 {
		t.Errorf("removed flag not found by status=inactive: %s", r.raw)
	}
	again := put(map[string]string{"If-Match": `W/"` + flags[0].Meta.VersionID + `"`}, withReason)
	if again.status != 400 || errorCode(t, again) != "INVALID_UPDATE" {
		t.Errorf("changing a removed flag: %d %s", again.status, again.raw)
	}
}

// A few people have a record, and everything the simulator holds maps to
// facade Flags.
func TestPopulationRecords(t *testing.T) {
	sim := ra.New(ra.Options{})
	var records, removed int
	for _, p := range append(population.Default(), population.Person{NHSNumber: "9000000009"}, population.Person{NHSNumber: ra.SandboxNHSNumber}) {
		if !sim.HasRecord(p.NHSNumber) {
			continue
		}
		records++
		for _, f := range sim.Flags(p.NHSNumber) {
			if f.Status != "active" {
				removed++
			}
			// As the facade's client receives it: through the wire.
			raw, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			in, err := mapra.DecodeFlag(raw)
			if err == nil {
				_, err = mapra.Flag(in, nil, p.NHSNumber)
			}
			if err != nil {
				t.Errorf("flag of %s does not map: %v", p.NHSNumber, err)
			}
		}
	}
	if n := len(population.Default()); records < n/100 || records > n/10 || removed == 0 {
		t.Errorf("%d records (%d removed flags) in %d people", records, removed, n)
	}
}

func TestFaults(t *testing.T) {
	sim, base := start(t, ra.Options{})
	sim.SetFault(&ra.Fault{Status: 408, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout"}]}`, PathPrefix: "/Flag", Count: 1})
	if r := do(t, "GET", search(base, "/Consent", "9000000009", "active"), nil, ""); r.status != 200 {
		t.Errorf("fault on another path: %d", r.status)
	}
	if r := do(t, "GET", search(base, "/Flag", "9000000009", "active"), nil, ""); r.status != 408 {
		t.Errorf("fault: %d", r.status)
	}
	sim.SetFault(&ra.Fault{Drop: true})
	req, _ := http.NewRequest("GET", search(base, "/Flag", "9000000009", "active"), nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("dropped connection answered %d", res.StatusCode)
	}
}
