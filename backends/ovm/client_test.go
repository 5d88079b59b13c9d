package ovm_test

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

	"github.com/carerecords/fhir-facade/backends/ovm"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

const basePath = "/overseas-visitors/v1"

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
			w.Header().Set("Content-Type", "application/json")
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

const status9000000009 = `{"id":"6f1f7a1e-0b7a-4c4e-9d55-3c1b2a000001","chargingCategory":"C","start":"2025-01-06","end":null,` +
	`"recordedBy":{"ods":"ZZ901","name":"Example Hospitals NHS Trust","phone":"01632 960101"},"lastUpdated":"2025-01-06T10:15:00Z"}`

func TestStatuses(t *testing.T) {
	tests := []struct {
		name     string
		answer   answer
		want     int
		wantErr  fhirerr.Category
		wantCode string // the service's code kept in Details
	}{
		{name: "one status", answer: answer{status: 200, body: `{"nhsNumber":"9000000009","statuses":[` + status9000000009 + `]}`}, want: 1},
		{name: "none", answer: answer{status: 200, body: `{"nhsNumber":"9000000009","statuses":[]}`}},
		{name: "null list", answer: answer{status: 200, body: `{"nhsNumber":"9000000009","statuses":null}`}},
		{name: "another patient", answer: answer{status: 200, body: `{"nhsNumber":"9000000017","statuses":[]}`}, wantErr: fhirerr.BadGateway},
		{name: "no patient", answer: answer{status: 200, body: `{"statuses":[]}`}, wantErr: fhirerr.BadGateway},
		{name: "invalid NHS number", answer: answer{status: 400, body: `{"error":"INVALID_NHS_NUMBER"}`}, wantErr: fhirerr.Invalid, wantCode: "INVALID_NHS_NUMBER"},
		{name: "error that is no code", answer: answer{status: 400, body: `{"error":"no such patient 9000000009"}`}, wantErr: fhirerr.Invalid},
		{name: "facade not authorised", answer: answer{status: 401, body: `{"error":"ACCESS_DENIED"}`}, wantErr: fhirerr.BadGateway, wantCode: "ACCESS_DENIED"},
		{name: "RBAC", answer: answer{status: 403, body: `{"error":"ACCESS_DENIED"}`}, wantErr: fhirerr.Forbidden, wantCode: "ACCESS_DENIED"},
		{name: "throttled", answer: answer{status: 429, header: map[string]string{"Retry-After": "2"}}, wantErr: fhirerr.Throttled},
		{name: "unavailable", answer: answer{status: 503, header: map[string]string{"Content-Type": "text/html"}, body: "<html>down</html>"}, wantErr: fhirerr.Timeout},
		{name: "server error", answer: answer{status: 500}, wantErr: fhirerr.BadGateway},
		{name: "not JSON", answer: answer{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: "<html>"}, wantErr: fhirerr.BadGateway},
		{name: "garbage", answer: answer{status: 200, body: `[`}, wantErr: fhirerr.BadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.answer)
			up, err := upstream.New(upstream.Config{Name: ovm.Name, BaseURL: f.URL + basePath, Token: "secret", Timeout: 5 * time.Second, MaxAttempts: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ovm.New(up).Statuses(context.Background(), "9000000009")
			if tc.wantErr != 0 {
				fe := fhirerr.As(err)
				if fe == nil || fe.Category != tc.wantErr || fe.Backend != ovm.Name {
					t.Fatalf("error %v, want category %v", err, tc.wantErr)
				}
				if strings.Contains(fe.Message, "9000000009") {
					t.Errorf("message passes the answer on: %q", fe.Message)
				}
				switch {
				case tc.wantCode == "" && fe.Details != nil:
					t.Errorf("details %+v, want none", fe.Details)
				case tc.wantCode != "" && (fe.Details == nil || fe.Details.Code != tc.wantCode || fe.Details.System != ovm.ErrorSystem):
					t.Errorf("details %+v, want %s", fe.Details, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Errorf("%d statuses, want %d", len(got), tc.want)
			}
			r := f.last.Load()
			q, _ := url.ParseQuery(r.URL.RawQuery)
			if r.Method != http.MethodGet || r.URL.Path != basePath+"/status" || q.Get("nhs-number") != "9000000009" {
				t.Errorf("request %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
			}
			if r.Header.Get("Authorization") != "Bearer secret" || r.Header.Get("X-Request-ID") == "" {
				t.Errorf("headers %v", r.Header)
			}
		})
	}
}

// An invalid NHS number is refused before any call.
func TestStatusesInvalidNHSNumber(t *testing.T) {
	f := newFake(t, answer{status: 500})
	up, err := upstream.New(upstream.Config{Name: ovm.Name, BaseURL: f.URL + basePath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, nhs := range []string{"9000000000", "", "90000000090", "900000000x"} {
		if _, err := ovm.New(up).Statuses(context.Background(), nhs); fhirerr.CategoryOf(err) != fhirerr.Invalid {
			t.Errorf("%q: %v", nhs, err)
		}
	}
	if f.last.Load() != nil {
		t.Error("the service was called")
	}
}

// The facade's request id reaches the service as X-Correlation-ID.
func TestStatusesCorrelation(t *testing.T) {
	f := newFake(t, answer{status: 200, body: `{"nhsNumber":"9000000009","statuses":[]}`})
	up, err := upstream.New(upstream.Config{Name: ovm.Name, BaseURL: f.URL + basePath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := upstream.WithCorrelationID(context.Background(), "req-1")
	if _, err := ovm.New(up).Statuses(ctx, "9000000009"); err != nil {
		t.Fatal(err)
	}
	if got := f.last.Load().Header.Get("X-Correlation-ID"); got != "req-1" {
		t.Errorf("X-Correlation-ID %q", got)
	}
}

// An answer that cannot be the whole list of the patient's statuses is an
// error, never "no status": the Flag search then names OVM as missing
// (issue #16).
func TestStatusesIncompleteAnswers(t *testing.T) {
	tests := []struct{ name, body, message string }{
		{name: "empty body", body: "", message: "an empty"},
		{name: "cut short", body: `{"nhsNumber":"9000000009","statuses":[` + status9000000009[:30], message: "an unreadable"},
		{name: "no list", body: `{"nhsNumber":"9000000009"}`, message: "an incomplete"},
		{name: "a null status", body: `{"nhsNumber":"9000000009","statuses":[` + status9000000009 + `,null]}`, message: "an incomplete"},
		{name: "list is no list", body: `{"nhsNumber":"9000000009","statuses":{}}`, message: "an unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, answer{status: 200, body: tc.body})
			up, err := upstream.New(upstream.Config{Name: ovm.Name, BaseURL: f.URL + basePath, Token: "secret", Timeout: 5 * time.Second, MaxAttempts: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ovm.New(up).Statuses(context.Background(), "9000000009")
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != ovm.Name || !strings.Contains(fe.Message, tc.message) {
				t.Fatalf("statuses %d, error %v: want a BadGateway saying %q", len(got), err, tc.message)
			}
			if strings.Contains(fe.Message, "9000000009") {
				t.Errorf("message %q", fe.Message)
			}
		})
	}
}
