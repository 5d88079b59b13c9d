package scr_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/scr"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

const basePath = "/summary-care-record/FHIR/R4"

type answer struct {
	status      int
	contentType string
	header      map[string]string
	body        string
	delay       time.Duration
}

type fakeSCR struct {
	*httptest.Server
	hits atomic.Int32
	last atomic.Pointer[http.Request]
}

func newFake(t *testing.T, a answer) *fakeSCR {
	t.Helper()
	f := &fakeSCR{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.last.Store(r.Clone(context.Background()))
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		ct := a.contentType
		if ct == "" {
			ct = "application/fhir+json"
		}
		w.Header().Set("Content-Type", ct)
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(f.Close)
	return f
}

func newClient(t *testing.T, f *fakeSCR, opts scr.Options) *scr.Client {
	t.Helper()
	up, err := upstream.New(upstream.Config{Name: scr.Name, BaseURL: f.URL + basePath, Token: "tok", Timeout: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return scr.New(up, opts)
}

func fixture(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/DocumentReferenceBundle.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLatest(t *testing.T) {
	doc := fixture(t)
	tests := []struct {
		name    string
		body    string
		want    *scr.Latest
		permits bool
	}{
		{name: "sandbox 9000000009", body: doc, want: &scr.Latest{UUID: "FA60BE64-1F34-11EB-A2A8-000C29A364EB", Consent: scr.ConsentAsk}, permits: true},
		{name: "opted out", body: strings.Replace(doc, `"code": "Ask"`, `"code": "No"`, 1), want: &scr.Latest{UUID: "FA60BE64-1F34-11EB-A2A8-000C29A364EB", Consent: scr.ConsentNo}},
		{name: "legacy yes", body: strings.Replace(doc, `"code": "Ask"`, `"code": "Yes"`, 1), want: &scr.Latest{UUID: "FA60BE64-1F34-11EB-A2A8-000C29A364EB", Consent: scr.ConsentYes}, permits: true},
		{name: "no label", body: `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"DocumentReference","masterIdentifier":{"value":"U1"}}}]}`, want: &scr.Latest{UUID: "U1"}},
		{name: "unknown code", body: `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"DocumentReference","masterIdentifier":{"value":"U1"},"securityLabel":[{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/SCR-ACSPermission","code":"Maybe"}]}]}}]}`, want: &scr.Latest{UUID: "U1", Consent: "Maybe"}},
		{name: "no SCR", body: `{"resourceType":"Bundle","id":"x","type":"searchset","total":0}`, want: nil},
		{name: "the public sandbox's answer for 9000000009", body: readTestdata(t, "GET_DocumentReference_9000000009.200.derived.json"),
			want: &scr.Latest{UUID: "FA60BE64-1F34-11EB-A2A8-000C29A364EB", Consent: scr.ConsentYes}, permits: true},
		{name: "patient entry only", body: `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}`, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer{status: 200, body: tt.body})
			got, err := newClient(t, f, scr.Options{SessionURID: "555254240100"}).Latest(context.Background(), "9000000009")
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if got != nil && got.Consent.Permits() != tt.permits {
				t.Errorf("Permits() = %v", got.Consent.Permits())
			}
			r := f.last.Load()
			q := r.URL.Query()
			if r.URL.Path != basePath+"/DocumentReference" || q.Get("patient") != "https://fhir.nhs.uk/Id/nhs-number|9000000009" ||
				q.Get("type") != "http://snomed.info/sct|196981000000101" || q.Get("_sort") != "date" || q.Get("_count") != "1" {
				t.Errorf("request %s", r.URL)
			}
			if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("NHSD-Session-URID") != "555254240100" || r.Header.Get("X-Request-ID") == "" {
				t.Errorf("headers %v", r.Header)
			}
		})
	}
}

// TestLatestCutAnswer: a search saying the patient has a summary but
// carrying none is a failed read, never "no Summary Care Record".
func TestLatestCutAnswer(t *testing.T) {
	f := newFake(t, answer{status: 200, body: `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}`})
	got, err := newClient(t, f, scr.Options{SessionURID: "555254240100"}).Latest(context.Background(), "9000000009")
	if got != nil || fhirerr.CategoryOf(err) != fhirerr.BadGateway {
		t.Fatalf("got %+v, %v; want a bad-gateway error", got, err)
	}
}

func TestSummary(t *testing.T) {
	f := newFake(t, answer{status: 200, body: `{"resourceType":"Bundle"}`})
	body, err := newClient(t, f, scr.Options{}).Summary(context.Background(), "9000000009", "FA60BE64-1F34-11EB-A2A8-000C29A364EB")
	if err != nil || string(body) != `{"resourceType":"Bundle"}` {
		t.Fatalf("%s %v", body, err)
	}
	r := f.last.Load()
	q := r.URL.Query()
	if r.URL.Path != basePath+"/Bundle" || q.Get("composition.identifier") != "FA60BE64-1F34-11EB-A2A8-000C29A364EB" ||
		q.Get("composition.subject:Patient.identifier") != "https://fhir.nhs.uk/Id/nhs-number|9000000009" {
		t.Errorf("request %s", r.URL)
	}
	if _, ok := r.Header["Nhsd-Session-Urid"]; ok {
		t.Error("NHSD-Session-URID sent though not configured")
	}
}

func TestInvalidNHSNumberNeverCalls(t *testing.T) {
	f := newFake(t, answer{status: 200, body: `{}`})
	c := newClient(t, f, scr.Options{})
	if _, err := c.Latest(context.Background(), "9000000000"); fhirerr.CategoryOf(err) != fhirerr.Invalid {
		t.Errorf("Latest: %v", err)
	}
	if _, err := c.Summary(context.Background(), "12345", "U"); fhirerr.CategoryOf(err) != fhirerr.Invalid {
		t.Errorf("Summary: %v", err)
	}
	if f.hits.Load() != 0 {
		t.Errorf("%d calls", f.hits.Load())
	}
}

func TestErrors(t *testing.T) {
	psis := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","details":{"text":"Code: 420, Display: [PSIS-30418] nhsNumber 9000000009"}}]}`
	unknown := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"unknown","details":{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode","version":"1","code":"UNKNOWN_ERROR","display":"Unknown Error"}]},"diagnostics":"An unknown server-side error"}]}`
	tests := []struct {
		name       string
		a          answer
		cat        fhirerr.Category
		retryAfter time.Duration
		code       string
	}{
		{name: "400", a: answer{status: 400, body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"Invalid NHS number 9000000009"}}]}`}, cat: fhirerr.Invalid},
		{name: "401", a: answer{status: 401, body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","details":{"text":"Invalid access token"}}]}`}, cat: fhirerr.BadGateway},
		{name: "403 no consent", a: answer{status: 403, body: psis}, cat: fhirerr.Forbidden},
		{name: "403 PSIS-30418, the public sandbox's answer for any other patient", a: answer{status: 403, body: readTestdata(t, "no_consent.response.json")}, cat: fhirerr.Forbidden},
		{name: "420 PSIS", a: answer{status: 420, body: psis}, cat: fhirerr.Forbidden},
		{name: "404 wrong base", a: answer{status: 404, body: "not found", contentType: "text/plain"}, cat: fhirerr.BadGateway},
		{name: "415", a: answer{status: 415, body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported"}]}`}, cat: fhirerr.BadGateway},
		{name: "429", a: answer{status: 429, header: map[string]string{"Retry-After": "5"}, body: ""}, cat: fhirerr.Throttled, retryAfter: 5 * time.Second},
		{name: "500", a: answer{status: 500, body: unknown}, cat: fhirerr.BadGateway, code: "UNKNOWN_ERROR"},
		{name: "502 html", a: answer{status: 502, contentType: "text/html", body: "<html>bad gateway</html>"}, cat: fhirerr.BadGateway},
		{name: "503 html", a: answer{status: 503, contentType: "text/html", body: "<html>503 Service Temporarily Unavailable</html>"}, cat: fhirerr.Timeout},
		{name: "504", a: answer{status: 504, body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient","details":{"text":"Request processing timed out. Spine POST + polling GET has timed out"}}]}`}, cat: fhirerr.Timeout},
		{name: "slow", a: answer{status: 200, body: "{}", delay: time.Second}, cat: fhirerr.Timeout},
		{name: "200 not json", a: answer{status: 200, contentType: "text/html", body: "<html/>"}, cat: fhirerr.BadGateway},
		{name: "200 garbage json", a: answer{status: 200, body: "{not json"}, cat: fhirerr.BadGateway},
		{name: "200 not a bundle", a: answer{status: 200, body: `{"resourceType":"OperationOutcome"}`}, cat: fhirerr.BadGateway},
		{name: "200 no uuid", a: answer{status: 200, body: `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"DocumentReference"}}]}`}, cat: fhirerr.BadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.a)
			_, err := newClient(t, f, scr.Options{}).Latest(context.Background(), "9000000009")
			e := fhirerr.As(err)
			if e == nil || e.Category != tt.cat {
				t.Fatalf("error %v, want category %v", err, tt.cat)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter %v", e.RetryAfter)
			}
			if tt.code != "" && (e.Details == nil || e.Details.Code != tt.code) {
				t.Errorf("details %+v", e.Details)
			}
			for _, s := range []string{e.Message, fhirerr.LogString(err)} {
				if strings.Contains(s, "9000000009") || strings.Contains(s, "127.0.0.1") {
					t.Errorf("message leaks: %s", s)
				}
			}
			if tt.a.status != 200 || tt.a.delay > 0 {
				// Summary maps errors the same way.
				if _, err := newClient(t, f, scr.Options{}).Summary(context.Background(), "9000000009", "U"); fhirerr.CategoryOf(err) != tt.cat {
					t.Errorf("Summary: %v", err)
				}
			}
		})
	}
}
