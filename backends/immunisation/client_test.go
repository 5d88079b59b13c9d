package immunisation_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/immunisation"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

const basePath = "/immunisation-history/FHIR/R4"

type answer struct {
	status      int
	contentType string
	header      map[string]string
	body        string
	delay       time.Duration
}

type fakeAPI struct {
	*httptest.Server
	hits atomic.Int32
	last atomic.Pointer[http.Request]
}

func newFake(t *testing.T, a answer) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
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

func newClient(t *testing.T, f *fakeAPI) *immunisation.Client {
	t.Helper()
	up, err := upstream.New(upstream.Config{Name: immunisation.Name, BaseURL: f.URL + basePath, Token: "tok", Timeout: 300 * time.Millisecond, MaxAttempts: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return immunisation.New(up)
}

const emptyBundle = `{"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}`

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestSearchQuery checks what is sent: the patient, the mandatory _include,
// the target and the dates, and the platform headers.
func TestSearchQuery(t *testing.T) {
	tests := []struct {
		name string
		q    immunisation.Query
		want url.Values
	}{
		{name: "patient and store", q: immunisation.Query{NHSNumber: "9000000009", Target: immunisation.COVID19},
			want: url.Values{"patient.identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}, "_include": {"Immunization:patient"}, "immunization.target": {"COVID19"}}},
		{name: "dates", q: immunisation.Query{NHSNumber: "9000000009", Target: immunisation.FLU, From: day("2024-09-01"), To: day("2025-03-31")},
			want: url.Values{"patient.identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}, "_include": {"Immunization:patient"},
				"immunization.target": {"FLU"}, "date.from": {"2024-09-01"}, "date.to": {"2025-03-31"}}},
		{name: "a from before the API's floor is left open", q: immunisation.Query{NHSNumber: "9000000009", Target: immunisation.HPV, From: day("1800-01-01"), To: day("2020-12-31")},
			want: url.Values{"patient.identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}, "_include": {"Immunization:patient"}, "immunization.target": {"HPV"}, "date.to": {"2020-12-31"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer{status: 200, body: emptyBundle})
			body, err := newClient(t, f).Search(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != emptyBundle {
				t.Errorf("body %s", body)
			}
			r := f.last.Load()
			if r.Method != http.MethodGet || r.URL.Path != basePath+"/Immunization" {
				t.Errorf("%s %s", r.Method, r.URL.Path)
			}
			got := r.URL.Query()
			if len(got) != len(tt.want) {
				t.Errorf("query %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got.Get(k) != v[0] || len(got[k]) != 1 {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-Request-ID") == "" {
				t.Errorf("headers %v", r.Header)
			}
		})
	}
}

// TestSearchPassesTheAnswerOn: a 200 answer reaches the mapper as sent,
// whatever JSON media type it is labelled with (the public sandbox sends
// application/json; charset=utf-8) and even when it is empty (its version 2
// FLU answer is): the mapper judges what it holds.
func TestSearchPassesTheAnswerOn(t *testing.T) {
	for _, tt := range []struct{ name, contentType, body string }{
		{name: "the sandbox's media type", contentType: "application/json; charset=utf-8", body: emptyBundle},
		{name: "FHIR's", contentType: "application/fhir+json", body: emptyBundle},
		{name: "empty", contentType: "application/json", body: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer{status: 200, contentType: tt.contentType, body: tt.body})
			body, err := newClient(t, f).Search(context.Background(), immunisation.Query{NHSNumber: "9000000009", Target: immunisation.FLU})
			if err != nil || string(body) != tt.body {
				t.Errorf("%q, %v", body, err)
			}
		})
	}
}

// TestSearchRefusesBeforeCalling: nothing invalid reaches the API.
func TestSearchRefusesBeforeCalling(t *testing.T) {
	tests := []struct {
		name string
		q    immunisation.Query
	}{
		{name: "bad check digit", q: immunisation.Query{NHSNumber: "9000000000", Target: immunisation.COVID19}},
		{name: "no patient", q: immunisation.Query{Target: immunisation.COVID19}},
		// The API refuses a search without a store (400 "Missing or invalid
		// required request parameters: [procedure-code:below] OR
		// [immunization.target]"), and MMR and RSV are not its stores.
		{name: "no target", q: immunisation.Query{NHSNumber: "9000000009"}},
		{name: "MMR", q: immunisation.Query{NHSNumber: "9000000009", Target: "MMR"}},
		{name: "RSV", q: immunisation.Query{NHSNumber: "9000000009", Target: "RSV"}},
		{name: "lower-case target", q: immunisation.Query{NHSNumber: "9000000009", Target: "covid19"}},
	}
	f := newFake(t, answer{status: 200, body: emptyBundle})
	c := newClient(t, f)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Search(context.Background(), tt.q)
			if fhirerr.CategoryOf(err) != fhirerr.Invalid {
				t.Errorf("err %v, want Invalid", err)
			}
		})
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("%d calls reached the API", n)
	}
}

// TestSearchErrors maps the API's answers (BACKENDS.md §7, §8), and never
// lets its diagnostics, which quote the NHS number, into the message.
func TestSearchErrors(t *testing.T) {
	outcome := func(d string) string {
		return `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"` + d + `"}]}`
	}
	tests := []struct {
		name       string
		a          answer
		want       fhirerr.Category
		retryAfter time.Duration
	}{
		{name: "invalid NHS number", a: answer{status: 400, body: outcome("Missing or invalid NHS number 9000000009")}, want: fhirerr.Invalid},
		{name: "bad token", a: answer{status: 401, body: outcome("Missing or invalid OAuth 2.0 bearer token")}, want: fhirerr.BadGateway},
		{name: "forbidden", a: answer{status: 403, body: outcome("no")}, want: fhirerr.Forbidden},
		{name: "wrong base URL", a: answer{status: 404, body: "Not Found", contentType: "text/plain"}, want: fhirerr.BadGateway},
		{name: "throttled", a: answer{status: 429, header: map[string]string{"Retry-After": "4"}}, want: fhirerr.Throttled, retryAfter: 4 * time.Second},
		{name: "server error", a: answer{status: 500, body: outcome("boom")}, want: fhirerr.BadGateway},
		{name: "unavailable html", a: answer{status: 503, contentType: "text/html", body: "<html>503 Service Temporarily Unavailable</html>"}, want: fhirerr.Timeout},
		{name: "gateway timeout", a: answer{status: 504}, want: fhirerr.Timeout},
		{name: "200 html", a: answer{status: 200, contentType: "text/html", body: "<html>hello</html>"}, want: fhirerr.BadGateway},
		{name: "refused store", a: answer{status: 400, body: outcome("Missing or invalid required request parameters: [procedure-code:below] OR [immunization.target]")}, want: fhirerr.Invalid},
		{name: "store not authorised", a: answer{status: 401, body: outcome("You do not have permission to access this resource")}, want: fhirerr.BadGateway},
		{name: "too slow", a: answer{status: 200, body: emptyBundle, delay: time.Second}, want: fhirerr.Timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.a)
			_, err := newClient(t, f).Search(context.Background(), immunisation.Query{NHSNumber: "9000000009", Target: immunisation.COVID19})
			e := fhirerr.As(err)
			if e == nil || e.Category != tt.want {
				t.Fatalf("err %v, want category %v", err, tt.want)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if strings.Contains(err.Error(), "9000000009") || strings.Contains(fhirerr.LogString(err), "9000000009") {
				t.Errorf("the error quotes the NHS number: %v", err)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	for _, tt := range []struct {
		target immunisation.Target
		valid  bool
	}{{"COVID19", true}, {"FLU", true}, {"HPV", true}, {"", false}, {"RSV", false}, {"Covid19", false}} {
		if got := tt.target.Valid(); got != tt.valid {
			t.Errorf("%q.Valid() = %v", tt.target, got)
		}
	}
	if len(immunisation.Targets) != 3 {
		t.Errorf("Targets %v", immunisation.Targets)
	}
}
