package ra_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/ra"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

const basePath = "/reasonable-adjustment-flag/FHIR/STU3"

type answer struct {
	status int
	header map[string]string
	body   string
}

// seen is one request the fake RA received.
type seen struct {
	method, path, query string
	header              http.Header
	body                string
}

type fakeRA struct {
	*httptest.Server
	last atomic.Pointer[seen]
}

func newFake(t *testing.T, a answer) *fakeRA {
	t.Helper()
	f := &fakeRA{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.last.Store(&seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: string(b)})
		if _, ok := a.header["Content-Type"]; !ok {
			w.Header().Set("Content-Type", "application/fhir+json")
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func newClient(t *testing.T, f *fakeRA) *ra.Client {
	t.Helper()
	up, err := upstream.New(upstream.Config{Name: ra.Name, BaseURL: f.URL + basePath, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ra.New(up, ra.Options{SessionURID: "555254240100"})
}

func outcome(code, issue string) string {
	return `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"` + issue + `","details":{"coding":[{"system":"` + ra.ErrorSystem + `","code":"` + code + `","display":"Some display"}]},"diagnostics":"patient 5900026175 secret"}]}`
}

const twoFlags = `{"resourceType":"Bundle","type":"searchset","total":2,"entry":[{"resource":{"resourceType":"Flag","id":"5900026175.a"}},{"resource":{"resourceType":"Flag","id":"5900026175.b"}}]}`

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		answer  answer
		want    int
		wantErr fhirerr.Category
	}{
		{name: "two flags", answer: answer{status: 200, body: twoFlags}, want: 2},
		{name: "none", answer: answer{status: 200, body: `{"resourceType":"Bundle","type":"searchset","total":0}`}},
		{name: "no record is no flags", answer: answer{status: 404, body: outcome("PATIENT_NOT_FOUND", "not-found")}},
		{name: "404 without an outcome is a failure", answer: answer{status: 404, body: "<html>Not Found</html>", header: map[string]string{"Content-Type": "text/html"}}, wantErr: fhirerr.BadGateway},
		{name: "invalidated", answer: answer{status: 404, body: outcome("INVALIDATED_RESOURCE", "not-found")}, wantErr: fhirerr.Gone},
		{name: "invalid NHS number", answer: answer{status: 400, body: outcome("INVALID_NHS_NUMBER", "value")}, wantErr: fhirerr.Invalid},
		{name: "missing value", answer: answer{status: 400, body: outcome("MISSING_VALUE", "required")}, wantErr: fhirerr.Required},
		{name: "facade not authorised", answer: answer{status: 401, body: outcome("ACCESS_DENIED", "forbidden")}, wantErr: fhirerr.BadGateway},
		{name: "forbidden", answer: answer{status: 403, body: outcome("ACCESS_DENIED", "forbidden")}, wantErr: fhirerr.Forbidden},
		{name: "spine timeout", answer: answer{status: 408, body: outcome("UNABLE_TO_CALL_SERVICE", "timeout")}, wantErr: fhirerr.Timeout},
		{name: "throttled", answer: answer{status: 429, body: "", header: map[string]string{"Retry-After": "3"}}, wantErr: fhirerr.Throttled},
		{name: "html 503", answer: answer{status: 503, body: "<html>503</html>", header: map[string]string{"Content-Type": "text/html"}}, wantErr: fhirerr.Timeout},
		{name: "500", answer: answer{status: 500, body: "boom"}, wantErr: fhirerr.BadGateway},
		{name: "garbage 200", answer: answer{status: 200, body: "not json"}, wantErr: fhirerr.BadGateway},
		{name: "outcome 200", answer: answer{status: 200, body: outcome("X", "exception")}, wantErr: fhirerr.BadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.answer)
			got, err := newClient(t, f).Flags(context.Background(), "5900026175", "active")
			if tc.wantErr != 0 {
				checkErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Errorf("%d flags, want %d", len(got), tc.want)
			}
			r := f.last.Load()
			if r.path != basePath+"/Flag" || !strings.Contains(r.query, "status=active") || !strings.Contains(r.query, "patient=5900026175") ||
				!strings.Contains(r.query, "category=https%3A%2F%2Ffhir.nhs.uk%2FSTU3%2FCodeSystem%2FRARecord-FlagCategory-1%7CNRAF") {
				t.Errorf("request %s?%s", r.path, r.query)
			}
			if r.header.Get("NHSD-Session-URID") != "555254240100" || r.header.Get("X-Request-ID") == "" {
				t.Errorf("headers %v", r.header)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want fhirerr.Category) {
	t.Helper()
	fe := fhirerr.As(err)
	if fe == nil || fe.Category != want {
		t.Fatalf("error %v, want category %v", err, want)
	}
	if fe.Backend != ra.Name {
		t.Errorf("backend %q", fe.Backend)
	}
	if strings.Contains(fe.Message, "secret") || strings.Contains(fe.Message, "5900026175") {
		t.Errorf("message passes backend diagnostics on: %q", fe.Message)
	}
}

func TestInvalidNHSNumberIsNotSent(t *testing.T) {
	f := newFake(t, answer{status: 200, body: twoFlags})
	_, err := newClient(t, f).Flags(context.Background(), "9000000000", "active")
	checkErr(t, err, fhirerr.Invalid)
	if f.last.Load() != nil {
		t.Error("the invalid NHS number reached RA")
	}
}

func TestConsent(t *testing.T) {
	consent := `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Consent","id":"5900026175.c"}}]}`
	tests := []struct {
		name    string
		answer  answer
		want    bool
		wantErr fhirerr.Category
	}{
		{name: "record", answer: answer{status: 200, body: consent}, want: true},
		{name: "empty searchset", answer: answer{status: 200, body: `{"resourceType":"Bundle","type":"searchset"}`}},
		{name: "no record", answer: answer{status: 404, body: outcome("PATIENT_NOT_FOUND", "not-found")}},
		{name: "failure", answer: answer{status: 502, body: "bad"}, wantErr: fhirerr.BadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.answer)
			got, err := newClient(t, f).Consent(context.Background(), "5900026175")
			if tc.wantErr != 0 {
				checkErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tc.want {
				t.Errorf("consent %s", got)
			}
			if r := f.last.Load(); r.path != basePath+"/Consent" || !strings.Contains(r.query, "status=active") {
				t.Errorf("request %s?%s", r.path, r.query)
			}
		})
	}
}

func TestWrites(t *testing.T) {
	created := answer{status: 201, body: `{"resourceType":"Flag","id":"5900026175.n"}`,
		header: map[string]string{"ETag": `W/"aa755bd6-2be9-4971-972a-6724879c5cb1”`, "Location": "Flag/5900026175.n"}}
	tests := []struct {
		name       string
		answer     answer
		call       func(c *ra.Client) (*ra.Written, error)
		wantMethod string
		wantPath   string
		wantMatch  string
		wantErr    fhirerr.Category
	}{
		{name: "create flag (typographic quote in the ETag)", answer: created,
			call: func(c *ra.Client) (*ra.Written, error) {
				return c.CreateFlag(context.Background(), []byte(`{"resourceType":"Flag"}`))
			},
			wantMethod: "POST", wantPath: basePath + "/Flag"},
		{name: "create consent", answer: created,
			call:       func(c *ra.Client) (*ra.Written, error) { return c.CreateConsent(context.Background(), []byte(`{}`)) },
			wantMethod: "POST", wantPath: basePath + "/Consent"},
		{name: "update", answer: answer{status: 200, body: `{"resourceType":"Flag"}`, header: map[string]string{"ETag": `W/"aa755bd6-2be9-4971-972a-6724879c5cb1"`}},
			call: func(c *ra.Client) (*ra.Written, error) {
				return c.UpdateFlag(context.Background(), "5900026175.n", []byte(`{}`), "v1")
			},
			wantMethod: "PUT", wantPath: basePath + "/Flag/5900026175.n", wantMatch: `W/"v1"`},
		{name: "update without version", answer: created,
			call: func(c *ra.Client) (*ra.Written, error) {
				return c.UpdateFlag(context.Background(), "x", []byte(`{}`), "")
			},
			wantErr: fhirerr.PreconditionRequired},
		{name: "version mismatch is 412", answer: answer{status: 409, body: outcome("RESOURCE_VERSION_MISMATCH", "conflict")},
			call: func(c *ra.Client) (*ra.Written, error) {
				return c.UpdateFlag(context.Background(), "x", []byte(`{}`), "v0")
			},
			wantErr: fhirerr.PreconditionFailed},
		{name: "no If-Match is 428", answer: answer{status: 412, body: outcome("PRECONDITION_FAILED", "required")},
			call: func(c *ra.Client) (*ra.Written, error) {
				return c.UpdateFlag(context.Background(), "x", []byte(`{}`), "v0")
			},
			wantErr: fhirerr.PreconditionRequired},
		{name: "validation error is 422", answer: answer{status: 400, body: outcome("VALIDATION_ERROR", "invalid")},
			call:    func(c *ra.Client) (*ra.Written, error) { return c.CreateFlag(context.Background(), []byte(`{}`)) },
			wantErr: fhirerr.Unprocessable},
		{name: "forbidden update", answer: answer{status: 403, body: outcome("FORBIDDEN_UPDATE", "forbidden")},
			call:    func(c *ra.Client) (*ra.Written, error) { return c.CreateFlag(context.Background(), []byte(`{}`)) },
			wantErr: fhirerr.Forbidden},
		{name: "not found", answer: answer{status: 404, body: outcome("RESOURCE_NOT_FOUND", "not-found")},
			call: func(c *ra.Client) (*ra.Written, error) {
				return c.UpdateFlag(context.Background(), "x", []byte(`{}`), "v0")
			},
			wantErr: fhirerr.NotFound},
		{name: "empty 201", answer: answer{status: 201},
			call:    func(c *ra.Client) (*ra.Written, error) { return c.CreateFlag(context.Background(), []byte(`{}`)) },
			wantErr: fhirerr.BadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.answer)
			w, err := tc.call(newClient(t, f))
			if tc.wantErr != 0 {
				checkErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Version != "aa755bd6-2be9-4971-972a-6724879c5cb1" {
				t.Errorf("version %q", w.Version)
			}
			r := f.last.Load()
			if r.method != tc.wantMethod || r.path != tc.wantPath || r.header.Get("If-Match") != tc.wantMatch {
				t.Errorf("request %s %s If-Match %q", r.method, r.path, r.header.Get("If-Match"))
			}
			if r.header.Get("Content-Type") != "application/fhir+json" || r.body == "" {
				t.Errorf("content type %q, body %q", r.header.Get("Content-Type"), r.body)
			}
		})
	}
}

// An answer that cannot be the whole of the patient's adjustments (or
// consent) is an error, never "none": the Flag search then names RA as
// missing (issue #16).
func TestSearchIncompleteAnswers(t *testing.T) {
	flag := `{"resource":{"resourceType":"Flag","id":"5900026175.a"}}`
	tests := []struct{ name, body, message string }{
		{name: "empty body", body: "", message: "an empty"},
		{name: "cut short", body: twoFlags[:len(twoFlags)/2], message: "an unreadable"},
		{name: "total above the entries", body: `{"resourceType":"Bundle","type":"searchset","total":2,"entry":[` + flag + `]}`, message: "a truncated"},
		{name: "total and no entry", body: `{"resourceType":"Bundle","type":"searchset","total":3}`, message: "a truncated"},
		{name: "a further page", body: `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"https://ra.example/Flag?page=2"}],"entry":[` + flag + `]}`, message: "a truncated"},
		{name: "entry without its resource", body: `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"x"}]}`, message: "an incomplete"},
		{name: "not a searchset", body: `{"resourceType":"Bundle","type":"collection"}`, message: "an unexpected"},
	}
	for _, tc := range tests {
		for _, search := range []struct {
			name string
			run  func(*ra.Client) (int, error)
		}{
			{"flags", func(c *ra.Client) (int, error) {
				fs, err := c.Flags(context.Background(), "5900026175", "active")
				return len(fs), err
			}},
			{"consent", func(c *ra.Client) (int, error) {
				cs, err := c.Consent(context.Background(), "5900026175")
				return len(cs), err
			}},
		} {
			t.Run(tc.name+"/"+search.name, func(t *testing.T) {
				f := newFake(t, answer{status: 200, body: tc.body})
				n, err := search.run(newClient(t, f))
				fe := fhirerr.As(err)
				if fe == nil || !strings.Contains(fe.Message, tc.message) {
					t.Fatalf("%d found, error %v: want one saying %q", n, err, tc.message)
				}
				checkErr(t, err, fhirerr.BadGateway)
			})
		}
	}
}
