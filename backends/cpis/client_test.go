package cpis_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/cpis"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

const basePath = "/cpis/FHIR/R4"

type answer struct {
	status int
	header map[string]string
	body   string
}

type fake struct {
	*httptest.Server
	last atomic.Pointer[http.Request]
}

func newFake(t *testing.T, a answer) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.last.Store(r.Clone(context.Background()))
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

func newClient(t *testing.T, f *fake, opts cpis.Options) *cpis.Client {
	t.Helper()
	up, err := upstream.New(upstream.Config{Name: cpis.Name, BaseURL: f.URL + basePath, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cpis.New(up, opts)
}

func outcome(code string) string {
	return `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"value","details":{"coding":[{"system":"` + cpis.ErrorSystem + `","code":"` + code + `"}]},"diagnostics":"Invalid NHS Number 9000000009"}]}`
}

func TestCareTeams(t *testing.T) {
	tests := []struct {
		name    string
		answer  answer
		want    int
		wantErr fhirerr.Category
	}{
		{name: "two plans", answer: answer{status: 200, body: `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"CareTeam","id":"a"}},{"resource":{"resourceType":"CareTeam","id":"b"}}]}`}, want: 2},
		{name: "no plan", answer: answer{status: 200, body: `{"resourceType":"Bundle","type":"searchset","total":0}`}},
		{name: "invalid value", answer: answer{status: 400, body: outcome("INVALID_VALUE")}, wantErr: fhirerr.Invalid},
		{name: "missing value", answer: answer{status: 400, body: outcome("MISSING_VALUE")}, wantErr: fhirerr.Required},
		{name: "facade not authorised", answer: answer{status: 401, body: outcome("ACCESS_DENIED")}, wantErr: fhirerr.BadGateway},
		{name: "RBAC", answer: answer{status: 403, body: outcome("ACCESS_DENIED")}, wantErr: fhirerr.Forbidden},
		{name: "404 is not part of the contract", answer: answer{status: 404, body: outcome("RESOURCE_NOT_FOUND")}, wantErr: fhirerr.BadGateway},
		{name: "throttled", answer: answer{status: 429}, wantErr: fhirerr.Throttled},
		{name: "gateway timeout", answer: answer{status: 504, body: "<html/>", header: map[string]string{"Content-Type": "text/html"}}, wantErr: fhirerr.Timeout},
		{name: "not a bundle", answer: answer{status: 200, body: `{"resourceType":"CareTeam"}`}, wantErr: fhirerr.BadGateway},
		{name: "html 200", answer: answer{status: 200, body: "<html/>", header: map[string]string{"Content-Type": "text/html"}}, wantErr: fhirerr.BadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.answer)
			got, err := newClient(t, f, cpis.Options{}).CareTeams(context.Background(), "9000000009")
			if tc.wantErr != 0 {
				fe := fhirerr.As(err)
				if fe == nil || fe.Category != tc.wantErr || fe.Backend != cpis.Name {
					t.Fatalf("error %v, want category %v", err, tc.wantErr)
				}
				if strings.Contains(fe.Message, "9000000009") {
					t.Errorf("message passes diagnostics on: %q", fe.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Errorf("%d plans, want %d", len(got), tc.want)
			}
			r := f.last.Load()
			q, _ := url.ParseQuery(r.URL.RawQuery)
			if r.URL.Path != basePath+"/CareTeam" || q.Get("patient:identifier") != "https://fhir.nhs.uk/Id/nhs-number|9000000009" {
				t.Errorf("request %s?%s", r.URL.Path, r.URL.RawQuery)
			}
			if r.Header.Get("TraceID") == "" {
				t.Error("no TraceID")
			}
		})
	}
}

// IsUnscheduledAccessEvent is always sent (an omitted header counts as
// unscheduled): the configured default, or the request's own choice.
func TestUnscheduledAccessHeader(t *testing.T) {
	tests := []struct {
		name   string
		opts   cpis.Options
		ctx    func(context.Context) context.Context
		header string
	}{
		{name: "default is a silent read", header: "false"},
		{name: "configured unscheduled", opts: cpis.Options{UnscheduledAccess: true}, header: "true"},
		{name: "request says unscheduled", ctx: func(c context.Context) context.Context { return cpis.WithUnscheduledAccess(c, true) }, header: "true"},
		{name: "request says scheduled", opts: cpis.Options{UnscheduledAccess: true},
			ctx: func(c context.Context) context.Context { return cpis.WithUnscheduledAccess(c, false) }, header: "false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answer{status: 200, body: `{"resourceType":"Bundle","type":"searchset"}`})
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			if _, err := newClient(t, f, tc.opts).CareTeams(ctx, "9000000009"); err != nil {
				t.Fatal(err)
			}
			if got := f.last.Load().Header.Values("IsUnscheduledAccessEvent"); len(got) != 1 || got[0] != tc.header {
				t.Errorf("IsUnscheduledAccessEvent %q, want %q", got, tc.header)
			}
		})
	}
}

func TestInvalidNHSNumberIsNotSent(t *testing.T) {
	f := newFake(t, answer{status: 200, body: `{"resourceType":"Bundle"}`})
	_, err := newClient(t, f, cpis.Options{}).CareTeams(context.Background(), "9000000000")
	if fhirerr.CategoryOf(err) != fhirerr.Invalid || f.last.Load() != nil {
		t.Errorf("error %v; request sent: %v", err, f.last.Load() != nil)
	}
}

// An answer that cannot be the whole of the patient's plans is an error,
// never "no plan": the Flag search then names CP-IS as missing (issue #16).
func TestCareTeamsIncompleteAnswers(t *testing.T) {
	plan := `{"resource":{"resourceType":"CareTeam","id":"a"}}`
	tests := []struct{ name, body, message string }{
		{name: "empty body", body: "", message: "an empty"},
		{name: "blank body", body: " \n", message: "an empty"},
		{name: "cut short", body: `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[` + plan[:20], message: "an unreadable"},
		{name: "total above the entries", body: `{"resourceType":"Bundle","type":"searchset","total":2,"entry":[` + plan + `]}`, message: "a truncated"},
		{name: "total and no entry", body: `{"resourceType":"Bundle","type":"searchset","total":1}`, message: "a truncated"},
		{name: "a further page", body: `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"https://cpis.example/CareTeam?page=2"}],"entry":[` + plan + `]}`, message: "a truncated"},
		{name: "entry without its resource", body: `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"fullUrl":"urn:uuid:x"}]}`, message: "an incomplete"},
		{name: "null resource", body: `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":null}]}`, message: "an incomplete"},
		{name: "not a searchset", body: `{"resourceType":"Bundle","type":"collection","entry":[` + plan + `]}`, message: "an unexpected"},
		{name: "no type", body: `{"resourceType":"Bundle"}`, message: "an unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answer{status: 200, body: tc.body})
			got, err := newClient(t, f, cpis.Options{}).CareTeams(context.Background(), "9000000009")
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != cpis.Name || !strings.Contains(fe.Message, tc.message) {
				t.Fatalf("plans %d, error %v: want a BadGateway saying %q", len(got), err, tc.message)
			}
			if strings.Contains(fe.Message, "9000000009") || strings.Contains(fe.Message, "cpis.example") {
				t.Errorf("message %q", fe.Message)
			}
		})
	}
}
