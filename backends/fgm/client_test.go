package fgm_test

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

	"github.com/carerecords/fhir-facade/backends/fgm"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

const basePath = "/fgm/FHIR/R4"

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

func outcome(code string) string {
	return `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"value","details":{"coding":[{"system":"` + fgm.ErrorSystem + `","code":"` + code + `"}]},"diagnostics":"Invalid NHS Number 9000000009"}]}`
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		answer  answer
		want    int
		wantErr fhirerr.Category
	}{
		{name: "found", answer: answer{status: 200, body: `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"fullUrl":"x","resource":{"resourceType":"Flag","id":"FGM-ActiveFlag-Example"},"search":{"mode":"match"}}]}`}, want: 1},
		{name: "not found", answer: answer{status: 200, body: `{"resourceType":"Bundle","type":"searchset","total":0}`}},
		{name: "invalid value", answer: answer{status: 400, body: outcome("INVALID_VALUE")}, wantErr: fhirerr.Invalid},
		{name: "missing value", answer: answer{status: 400, body: outcome("MISSING_VALUE")}, wantErr: fhirerr.Required},
		{name: "facade not authorised", answer: answer{status: 401}, wantErr: fhirerr.BadGateway},
		{name: "RBAC", answer: answer{status: 403, body: outcome("ACCESS_DENIED")}, wantErr: fhirerr.Forbidden},
		{name: "throttled", answer: answer{status: 429, header: map[string]string{"Retry-After": "2"}}, wantErr: fhirerr.Throttled},
		{name: "unavailable", answer: answer{status: 503}, wantErr: fhirerr.Timeout},
		{name: "server error", answer: answer{status: 500}, wantErr: fhirerr.BadGateway},
		{name: "garbage", answer: answer{status: 200, body: `[`}, wantErr: fhirerr.BadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.answer)
			up, err := upstream.New(upstream.Config{Name: fgm.Name, BaseURL: f.URL + basePath, Timeout: 5 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fgm.New(up).Flags(context.Background(), "9000000009")
			if tc.wantErr != 0 {
				fe := fhirerr.As(err)
				if fe == nil || fe.Category != tc.wantErr || fe.Backend != fgm.Name {
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
				t.Errorf("%d flags, want %d", len(got), tc.want)
			}
			r := f.last.Load()
			q, _ := url.ParseQuery(r.URL.RawQuery)
			if r.URL.Path != basePath+"/Flag" || q.Get("patient:identifier") != "https://fhir.nhs.uk/Id/nhs-number|9000000009" || r.Header.Get("TraceID") == "" {
				t.Errorf("request %s?%s TraceID %q", r.URL.Path, r.URL.RawQuery, r.Header.Get("TraceID"))
			}
		})
	}
}

// An answer that cannot be the whole of the patient's FGM flags is an
// error, never "no flag": the Flag search then names FGM-IS as missing
// (issue #16).
func TestFlagsIncompleteAnswers(t *testing.T) {
	flag := `{"resource":{"resourceType":"Flag","id":"FGM-ActiveFlag-Example"},"search":{"mode":"match"}}`
	tests := []struct{ name, body, message string }{
		{name: "empty body", body: "", message: "an empty"},
		{name: "cut short", body: `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[` + flag[:25], message: "an unreadable"},
		{name: "total above the entries", body: `{"resourceType":"Bundle","type":"searchset","total":2,"entry":[` + flag + `]}`, message: "a truncated"},
		{name: "total and no entry", body: `{"resourceType":"Bundle","type":"searchset","total":1}`, message: "a truncated"},
		{name: "an outcome is not a match", body: `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}]}`, message: "a truncated"},
		{name: "a further page", body: `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"https://fgm.example/Flag?page=2"}],"entry":[` + flag + `]}`, message: "a truncated"},
		{name: "entry without its resource", body: `{"resourceType":"Bundle","type":"searchset","entry":[{"search":{"mode":"match"}}]}`, message: "an incomplete"},
		{name: "not a searchset", body: `{"resourceType":"Bundle","type":"batch-response"}`, message: "an unexpected"},
		{name: "not a Bundle", body: `{"resourceType":"Flag","id":"FGM-ActiveFlag-Example"}`, message: "an unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answer{status: 200, body: tc.body})
			up, err := upstream.New(upstream.Config{Name: fgm.Name, BaseURL: f.URL + basePath, Timeout: 5 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fgm.New(up).Flags(context.Background(), "9000000009")
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != fgm.Name || !strings.Contains(fe.Message, tc.message) {
				t.Fatalf("flags %d, error %v: want a BadGateway saying %q", len(got), err, tc.message)
			}
			if strings.Contains(fe.Message, "9000000009") || strings.Contains(fe.Message, "fgm.example") {
				t.Errorf("message %q", fe.Message)
			}
		})
	}
}
