package pds_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/pds"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

const basePath = "/personal-demographics/FHIR/R4"

// answer is what the fake PDS sends back.
type answer struct {
	status int
	header map[string]string
	body   []byte
}

// fakePDS serves a on every request and counts the requests; last holds the
// most recent one.
type fakePDS struct {
	*httptest.Server
	hits atomic.Int32
	last atomic.Pointer[http.Request]
}

func newFakePDS(t *testing.T, a answer) *fakePDS {
	t.Helper()
	f := &fakePDS{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.last.Store(r.Clone(context.Background()))
		if _, ok := a.header["Content-Type"]; !ok {
			w.Header().Set("Content-Type", "application/fhir+json")
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func newClient(t *testing.T, f *fakePDS) *pds.Client {
	t.Helper()
	up, err := upstream.New(upstream.Config{Name: pds.Name, BaseURL: f.URL + basePath, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pds.New(up)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRead(t *testing.T) {
	patient := readTestdata(t, "patient_9000000009.json")
	tests := []struct {
		name        string
		etag        string // "" sends none
		wantVersion string
	}{
		{name: "weak ETag as PDS sends it", etag: `W/"2"`, wantVersion: "2"},
		{name: "strong ETag", etag: `"2"`, wantVersion: "2"},
		{name: "weak ETag with a typographic closing quote", etag: `W/"2”`, wantVersion: "2"},
		{name: "weak ETag with typographic quotes", etag: `W/“12”`, wantVersion: "12"},
		{name: "bare number", etag: `3`, wantVersion: "3"},
		{name: "ETag with surrounding space", etag: ` W/"4" `, wantVersion: "4"},
		{name: "no ETag", etag: "", wantVersion: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := answer{status: http.StatusOK, body: patient, header: map[string]string{}}
			if tt.etag != "" {
				a.header["ETag"] = tt.etag
			}
			f := newFakePDS(t, a)
			p, err := newClient(t, f).Read(context.Background(), "9000000009")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if string(p.Body) != string(patient) {
				t.Errorf("body differs from what PDS sent")
			}
			if p.Version != tt.wantVersion {
				t.Errorf("Version = %q, want %q", p.Version, tt.wantVersion)
			}
			r := f.last.Load()
			if r.Method != http.MethodGet || r.URL.Path != basePath+"/Patient/9000000009" || r.URL.RawQuery != "" {
				t.Errorf("request = %s %s", r.Method, r.URL)
			}
		})
	}
}

func TestReadInvalidNHSNumberNeverCallsPDS(t *testing.T) {
	tests := []struct {
		name string
		nhs  string
	}{
		{name: "wrong check digit", nhs: "9000000000"},
		{name: "check digit would be 10", nhs: "0000000060"},
		{name: "nine digits", nhs: "900000000"},
		{name: "eleven digits", nhs: "90000000090"},
		{name: "letters", nhs: "900000000A"},
		{name: "spaces", nhs: "900 000 0009"},
		{name: "empty", nhs: ""},
		{name: "path traversal", nhs: "../Patient"},
		{name: "query injection", nhs: "?family=Smith"},
	}
	f := newFakePDS(t, answer{status: http.StatusOK, body: []byte(`{"resourceType":"Patient"}`)})
	c := newClient(t, f)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.Read(context.Background(), tt.nhs)
			if err == nil {
				t.Fatalf("Read(%q) = %+v, want an error", tt.nhs, p)
			}
			if got := fhirerr.CategoryOf(err); got != fhirerr.Invalid {
				t.Errorf("category = %v, want Invalid (%v)", got, err)
			}
		})
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("PDS was called %d times", n)
	}
}

func TestReadNonJSON(t *testing.T) {
	f := newFakePDS(t, answer{status: http.StatusOK, header: map[string]string{"Content-Type": "text/html"}, body: []byte("<html>maintenance</html>")})
	_, err := newClient(t, f).Read(context.Background(), "9000000009")
	if got := fhirerr.CategoryOf(err); got != fhirerr.BadGateway {
		t.Errorf("category = %v, want BadGateway (%v)", got, err)
	}
}

func TestSearch(t *testing.T) {
	score := func(f float64) *float64 { return &f }
	tests := []struct {
		name      string
		answer    answer
		wantIDs   []string
		wantScore []*float64
		wantMany  bool
		wantErr   fhirerr.Category // checked when wantFail
		wantFail  bool
	}{
		{
			name:      "one scored match",
			answer:    answer{status: http.StatusOK, body: readTestdata(t, "PatientSearch.json")},
			wantIDs:   []string{"9000000009"},
			wantScore: []*float64{score(0.75)},
		},
		{
			name:      "several matches, in PDS's order",
			answer:    answer{status: http.StatusOK, body: readTestdata(t, "youds_searchset.json")},
			wantIDs:   []string{"9693633679", "9693633687", "9693633695", "9693633709"},
			wantScore: []*float64{score(1), score(1), score(1), score(1)},
		},
		{
			name: "entry without a search element",
			answer: answer{status: http.StatusOK, body: []byte(`{"resourceType":"Bundle","type":"searchset","total":2,"entry":[
				{"resource":{"resourceType":"Patient","id":"9000000009"}},
				{"resource":{"resourceType":"Patient","id":"9000000017"},"search":{"score":0.5}}]}`)},
			wantIDs:   []string{"9000000009", "9000000017"},
			wantScore: []*float64{nil, score(0.5)},
		},
		{
			name:      "no matches",
			answer:    answer{status: http.StatusOK, body: []byte(`{"resourceType":"Bundle","type":"searchset","total":0}`)},
			wantIDs:   []string{},
			wantScore: []*float64{},
		},
		{
			name:     "200 TOO_MANY_MATCHES OperationOutcome",
			answer:   answer{status: http.StatusOK, body: readTestdata(t, "TOO_MANY_MATCHES.json")},
			wantMany: true,
		},
		{
			name:     "200 OperationOutcome that is not TOO_MANY_MATCHES",
			answer:   answer{status: http.StatusOK, body: readTestdata(t, "INVALID_SEARCH_DATA.json")},
			wantFail: true, wantErr: fhirerr.BadGateway,
		},
		{
			name:     "200 not-supported warning (the public sandbox's answer to a search it has no example for)",
			answer:   answer{status: http.StatusOK, body: readTestdata(t, "search.200.no-example-not-supported.derived.json")},
			wantFail: true, wantErr: fhirerr.NotSupported,
		},
		{
			name:     "200 Patient instead of a Bundle",
			answer:   answer{status: http.StatusOK, body: readTestdata(t, "patient_9000000009.json")},
			wantFail: true, wantErr: fhirerr.BadGateway,
		},
		{
			name:     "200 JSON without resourceType",
			answer:   answer{status: http.StatusOK, body: []byte(`{"entry":[]}`)},
			wantFail: true, wantErr: fhirerr.BadGateway,
		},
		{
			name:     "200 HTML",
			answer:   answer{status: http.StatusOK, header: map[string]string{"Content-Type": "text/html"}, body: []byte("<html><body>Service maintenance</body></html>")},
			wantFail: true, wantErr: fhirerr.BadGateway,
		},
		{
			name:     "200 HTML labelled as JSON",
			answer:   answer{status: http.StatusOK, body: []byte("<html><body>Service maintenance</body></html>")},
			wantFail: true, wantErr: fhirerr.BadGateway,
		},
		{
			name:     "200 truncated JSON",
			answer:   answer{status: http.StatusOK, body: []byte(`{"resourceType":"Bundle","entry":[`)},
			wantFail: true, wantErr: fhirerr.BadGateway,
		},
	}
	params := url.Values{"family": {"Sm*"}, "gender": {"female"}, "birthdate": {"eq2010-10-22"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePDS(t, tt.answer)
			res, err := newClient(t, f).Search(context.Background(), params)
			r := f.last.Load()
			if r.Method != http.MethodGet || r.URL.Path != basePath+"/Patient" || r.URL.RawQuery != "birthdate=eq2010-10-22&family=Sm%2A&gender=female" {
				t.Errorf("request = %s %s", r.Method, r.URL)
			}
			if tt.wantFail {
				if got := fhirerr.CategoryOf(err); got != tt.wantErr {
					t.Errorf("category = %v, want %v (%v)", got, tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			if res.TooManyMatches != tt.wantMany {
				t.Errorf("TooManyMatches = %v, want %v", res.TooManyMatches, tt.wantMany)
			}
			if tt.wantMany {
				if len(res.Matches) != 0 {
					t.Errorf("TooManyMatches with %d matches", len(res.Matches))
				}
				return
			}
			if len(res.Matches) != len(tt.wantIDs) {
				t.Fatalf("%d matches, want %d", len(res.Matches), len(tt.wantIDs))
			}
			for i, m := range res.Matches {
				var p struct{ ResourceType, ID string }
				if err := json.Unmarshal(m.Body, &p); err != nil {
					t.Fatalf("match %d: %v", i, err)
				}
				if p.ResourceType != "Patient" || p.ID != tt.wantIDs[i] {
					t.Errorf("match %d = %s/%s, want Patient/%s", i, p.ResourceType, p.ID, tt.wantIDs[i])
				}
				switch want := tt.wantScore[i]; {
				case want == nil && m.Score != nil:
					t.Errorf("match %d score = %v, want none", i, *m.Score)
				case want != nil && (m.Score == nil || *m.Score != *want):
					t.Errorf("match %d score = %v, want %v", i, m.Score, *want)
				}
			}
		})
	}
}

// patientData stands for what PDS's diagnostics can echo back: it must
// never reach the facade's user-facing message.
const patientData = "Invalid value - 'SMITH' in field 'family' for 9000000009 born 2010-10-22"

// withDiagnostics returns the OperationOutcome body with the first issue's
// diagnostics set to patientData and a "#(display)" placeholder (the sandbox
// fills it in) replaced by display.
func withDiagnostics(t *testing.T, body []byte, display string) []byte {
	t.Helper()
	var oo map[string]any
	if err := json.Unmarshal(body, &oo); err != nil {
		t.Fatal(err)
	}
	issue := oo["issue"].([]any)[0].(map[string]any)
	issue["diagnostics"] = patientData
	if details, ok := issue["details"].(map[string]any); ok {
		coding := details["coding"].([]any)[0].(map[string]any)
		if coding["display"] == "#(display)" {
			coding["display"] = display
		}
	}
	b, err := json.Marshal(oo)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outcome builds a PDS OperationOutcome for the codes that have no stub
// (408, 429 and 503 come from the specification).
func outcome(issueCode, code, display string) []byte {
	return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"` + issueCode +
		`","details":{"coding":[{"system":"` + pds.ErrorSystem + `","version":"1","code":"` + code +
		`","display":"` + display + `"}]},"diagnostics":"` + patientData + `"}]}`)
}

const (
	html503 = "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
	html500 = "<html><body><h1>500 Internal Server Error</h1></body></html>"
)

func TestErrors(t *testing.T) {
	stub := func(name string) []byte {
		return withDiagnostics(t, readTestdata(t, name+".json"), "Access Denied - Unauthorised")
	}
	htmlType := map[string]string{"Content-Type": "text/html"}
	tests := []struct {
		name       string
		answer     answer
		want       fhirerr.Category
		wantCode   string // "" expects no Details
		wantSystem string // pds.ErrorSystem when "" and wantCode is set
		wantRetry  time.Duration
		// wantSpine: PDS's Spine code is passed on to the client (the
		// failure is the client's and the code is PDS's own system).
		wantSpine bool
	}{
		{name: "400 INVALID_RESOURCE_ID", answer: answer{status: 400, body: stub("INVALID_RESOURCE_ID")}, want: fhirerr.Invalid, wantCode: "INVALID_RESOURCE_ID", wantSpine: true},
		{name: "400 INVALID_SEARCH_DATA", answer: answer{status: 400, body: stub("INVALID_SEARCH_DATA")}, want: fhirerr.Invalid, wantCode: "INVALID_SEARCH_DATA", wantSpine: true},
		{name: "400 INVALID_VALUE", answer: answer{status: 400, body: stub("INVALID_VALUE")}, want: fhirerr.Invalid, wantCode: "INVALID_VALUE", wantSpine: true},
		{name: "400 MISSING_VALUE", answer: answer{status: 400, body: stub("MISSING_VALUE")}, want: fhirerr.Required, wantCode: "MISSING_VALUE", wantSpine: true},
		{name: "400 without a body", answer: answer{status: 400}, want: fhirerr.Invalid},
		{
			name:   "400 code from another Spine code system",
			answer: answer{status: 400, body: []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"value","details":{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode","code":"INVALID_VALUE","display":"Provided value is invalid"}]},"diagnostics":"` + patientData + `"}]}`)},
			want:   fhirerr.Invalid, wantCode: "INVALID_VALUE", wantSystem: "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode",
		},
		{name: "401 ACCESS_DENIED is the facade's own credentials", answer: answer{status: 401, body: stub("ACCESS_DENIED")}, want: fhirerr.BadGateway, wantCode: "ACCESS_DENIED"},
		{name: "403 ACCESS_DENIED", answer: answer{status: 403, body: stub("ACCESS_DENIED")}, want: fhirerr.Forbidden, wantCode: "ACCESS_DENIED", wantSpine: true},
		{name: "404 RESOURCE_NOT_FOUND (information severity)", answer: answer{status: 404, body: stub("RESOURCE_NOT_FOUND")}, want: fhirerr.NotFound, wantCode: "RESOURCE_NOT_FOUND", wantSpine: true},
		{name: "404 INVALIDATED_RESOURCE", answer: answer{status: 404, body: stub("INVALIDATED_RESOURCE")}, want: fhirerr.Gone, wantCode: "INVALIDATED_RESOURCE", wantSpine: true},
		{name: "404 HTML", answer: answer{status: 404, header: htmlType, body: []byte("<html>Not Found</html>")}, want: fhirerr.NotFound},
		{name: "408 UNABLE_TO_CALL_SERVICE", answer: answer{status: 408, body: outcome("timeout", "UNABLE_TO_CALL_SERVICE", "Unable to call service")}, want: fhirerr.Timeout, wantCode: "UNABLE_TO_CALL_SERVICE"},
		{
			name:   "503 SERVICE_UNAVAILABLE with Retry-After",
			answer: answer{status: 503, header: map[string]string{"Retry-After": "5"}, body: outcome("timeout", "SERVICE_UNAVAILABLE", "Service unavailable")},
			want:   fhirerr.Timeout, wantCode: "SERVICE_UNAVAILABLE", wantRetry: 5 * time.Second,
		},
		{name: "503 HTML page", answer: answer{status: 503, header: htmlType, body: []byte(html503)}, want: fhirerr.Timeout},
		{name: "504 gateway timeout", answer: answer{status: 504, header: htmlType, body: []byte("<html>Gateway Timeout</html>")}, want: fhirerr.Timeout},
		{name: "409 RESOURCE_VERSION_MISMATCH", answer: answer{status: 409, body: stub("RESOURCE_VERSION_MISMATCH")}, want: fhirerr.PreconditionFailed, wantCode: "RESOURCE_VERSION_MISMATCH", wantSpine: true},
		{name: "412 PRECONDITION_FAILED", answer: answer{status: 412, body: stub("PRECONDITION_FAILED")}, want: fhirerr.PreconditionRequired, wantCode: "PRECONDITION_FAILED", wantSpine: true},
		{
			name:   "429 TOO_MANY_REQUESTS with Retry-After",
			answer: answer{status: 429, header: map[string]string{"Retry-After": "30"}, body: outcome("throttled", "TOO_MANY_REQUESTS", "Too many requests")},
			want:   fhirerr.Throttled, wantCode: "TOO_MANY_REQUESTS", wantRetry: 30 * time.Second, wantSpine: true,
		},
		{name: "429 without Retry-After", answer: answer{status: 429, body: outcome("throttled", "TOO_MANY_REQUESTS", "Too many requests")}, want: fhirerr.Throttled, wantCode: "TOO_MANY_REQUESTS", wantSpine: true},
		{name: "500 HTML", answer: answer{status: 500, header: htmlType, body: []byte(html500)}, want: fhirerr.BadGateway},
		{name: "502 without a body", answer: answer{status: 502}, want: fhirerr.BadGateway},
	}
	ops := []struct {
		name string
		call func(*pds.Client) error
	}{
		{name: "read", call: func(c *pds.Client) error { _, err := c.Read(context.Background(), "9000000009"); return err }},
		{name: "search", call: func(c *pds.Client) error {
			_, err := c.Search(context.Background(), url.Values{"family": {"Smith"}, "birthdate": {"eq2010-10-22"}})
			return err
		}},
	}
	for _, tt := range tests {
		for _, op := range ops {
			t.Run(tt.name+"/"+op.name, func(t *testing.T) {
				f := newFakePDS(t, tt.answer)
				err := op.call(newClient(t, f))
				e := fhirerr.As(err)
				if e == nil {
					t.Fatalf("err = %v (%T), want a *fhirerr.Error", err, err)
				}
				if e.Category != tt.want {
					t.Errorf("category = %v, want %v (%v)", e.Category, tt.want, err)
				}
				if e.Backend != pds.Name {
					t.Errorf("Backend = %q, want %q", e.Backend, pds.Name)
				}
				if e.RetryAfter != tt.wantRetry {
					t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
				}
				wantSystem := tt.wantSystem
				if wantSystem == "" {
					wantSystem = pds.ErrorSystem
				}
				switch {
				case tt.wantCode == "" && e.Details != nil:
					t.Errorf("Details = %+v, want none", *e.Details)
				case tt.wantCode != "" && e.Details == nil:
					t.Errorf("Details = nil, want code %s", tt.wantCode)
				case tt.wantCode != "" && (e.Details.Code != tt.wantCode || e.Details.System != wantSystem):
					t.Errorf("Details = %s|%s, want %s|%s", e.Details.System, e.Details.Code, wantSystem, tt.wantCode)
				}
				switch {
				case tt.wantSpine && (e.Spine == nil || e.Spine.Code != tt.wantCode || e.Spine.System != fhirerr.SpineSystem || e.Spine.Version != "1"):
					t.Errorf("Spine = %+v, want %s|%s version 1", e.Spine, fhirerr.SpineSystem, tt.wantCode)
				case !tt.wantSpine && e.Spine != nil:
					t.Errorf("Spine = %+v, want none: the failure is not the client's", *e.Spine)
				}
				if e.Message == "" {
					t.Error("empty user message")
				}
				for _, leak := range []string{"SMITH", "Smith", "9000000009", "2010-10-22", "<html", f.Listener.Addr().String(), basePath} {
					if strings.Contains(e.Message, leak) {
						t.Errorf("user message %q contains %q", e.Message, leak)
					}
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error %q contains %q", err.Error(), leak)
					}
				}
			})
		}
	}
}

// TestInvalidNHSNumberNeverReachesPDS: the client refuses an NHS number that
// fails Modulus 11 itself, with the Spine code PDS would answer
// (INVALID_RESOURCE_ID), and sends nothing.
func TestInvalidNHSNumberNeverReachesPDS(t *testing.T) {
	tests := []struct {
		name string
		call func(*pds.Client) error
	}{
		{name: "read", call: func(c *pds.Client) error { _, err := c.Read(context.Background(), "9000000000"); return err }},
		{name: "patch", call: func(c *pds.Client) error {
			_, err := c.Patch(context.Background(), "9000000000", "2", json.RawMessage(`[{"op":"remove","path":"/gender"}]`))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePDS(t, answer{status: 200})
			e := fhirerr.As(tt.call(newClient(t, f)))
			if e == nil || e.Category != fhirerr.Invalid {
				t.Fatalf("err = %v, want an Invalid *fhirerr.Error", e)
			}
			if e.Spine == nil || *e.Spine != (fhirerr.Coding{System: pds.ErrorSystem, Version: "1", Code: "INVALID_RESOURCE_ID", Display: "Resource Id is invalid"}) {
				t.Errorf("Spine = %+v, want INVALID_RESOURCE_ID", e.Spine)
			}
			if n := f.hits.Load(); n != 0 {
				t.Errorf("%d requests reached PDS", n)
			}
		})
	}
}

// TestSpineCodingsAsPDSSendsThem: every Spine coding the facade gives itself
// (fhirerr.Spine) is the coding PDS's own error answer carries: system,
// version and display, byte for byte as its sandbox's stub.
func TestSpineCodingsAsPDSSendsThem(t *testing.T) {
	for _, code := range fhirerr.SpineCodes() {
		t.Run(code, func(t *testing.T) {
			o, ok := upstream.ParseOutcome(readTestdata(t, code+".json"))
			if !ok {
				t.Fatal("the stub is not an OperationOutcome")
			}
			want := fhirerr.Coding{System: o.System, Version: o.Version, Code: o.Code, Display: o.Display}
			if got := *fhirerr.Spine(code); got != want {
				t.Errorf("fhirerr.Spine(%s) = %+v, PDS sends %+v", code, got, want)
			}
		})
	}
}
