package fault_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/fault"
)

const base = "/svc/FHIR/R4"

// handler answers 200 "normal" unless in intercepts the request.
func handler(in *fault.Injector) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in.Intercept(w, r) {
			return
		}
		_, _ = w.Write([]byte("normal"))
	})
}

func do(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func TestInjector(t *testing.T) {
	tests := []struct {
		name      string
		fault     fault.Fault
		over      bool
		path      string
		status    int
		ctype     string
		body      string
		retry     string
		faulted   int // of 3 requests
		minLatent time.Duration
	}{
		{name: "status and body", fault: fault.Fault{Status: 503, Body: "<html>503</html>", ContentType: "text/html"},
			path: base + "/Patient/1", status: 503, ctype: "text/html", body: "<html>503</html>", faulted: 3},
		{name: "default content type", fault: fault.Fault{Status: 500, Body: "{}"},
			path: base + "/Patient/1", status: 500, ctype: "application/fhir+json", body: "{}", faulted: 3},
		{name: "header's content type wins", fault: fault.Fault{Status: 500, Body: "{}", Header: http.Header{"Content-Type": {"text/plain"}}},
			path: base + "/Patient/1", status: 500, ctype: "text/plain", body: "{}", faulted: 3},
		{name: "default over the header's", over: true, fault: fault.Fault{Status: 500, Body: "{}", Header: http.Header{"Content-Type": {"text/plain"}}},
			path: base + "/Patient/1", status: 500, ctype: "application/fhir+json", body: "{}", faulted: 3},
		{name: "no body, no content type", fault: fault.Fault{Status: 429, Header: http.Header{"Retry-After": {"2"}}, Count: 2},
			path: base + "/Patient/1", status: 429, retry: "2", faulted: 2},
		{name: "prefix relative to the base", fault: fault.Fault{Status: 500, PathPrefix: "/Patient/1"},
			path: base + "/Patient/1", status: 500, faulted: 3},
		{name: "prefix with the base", fault: fault.Fault{Status: 500, PathPrefix: base + "/Patient/1"},
			path: base + "/Patient/1", status: 500, faulted: 3},
		{name: "other paths served", fault: fault.Fault{Status: 500, PathPrefix: "/Patient/2"},
			path: base + "/Patient/1", status: 500, faulted: 0},
		{name: "delay only", fault: fault.Fault{Delay: 20 * time.Millisecond, Count: 1},
			path: base + "/Patient/1", status: 200, body: "normal", faulted: 3, minLatent: 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &fault.Injector{BasePath: base, ContentType: "application/fhir+json", ContentTypeOverHeader: tt.over}
			f := tt.fault
			in.Set(&f)
			f.Status = 418 // Set keeps its own copy
			if f.Header != nil {
				f.Header.Set("Retry-After", "99")
			}
			h := handler(in)
			faulted := 0
			for i := 0; i < 3; i++ {
				start := time.Now()
				w := do(t, h, tt.path)
				if i == 0 && time.Since(start) < tt.minLatent {
					t.Errorf("answered in %v, before the %v delay", time.Since(start), tt.minLatent)
				}
				if w.Code != tt.status {
					continue
				}
				faulted++
				if got := w.Header().Get("Content-Type"); tt.ctype != "" && got != tt.ctype {
					t.Errorf("Content-Type = %q, want %q", got, tt.ctype)
				}
				if tt.body != "" && w.Body.String() != tt.body {
					t.Errorf("body = %q, want %q", w.Body, tt.body)
				}
				if got := w.Header().Get("Retry-After"); tt.retry != "" && got != tt.retry {
					t.Errorf("Retry-After = %q, want %q", got, tt.retry)
				}
			}
			if faulted != tt.faulted {
				t.Errorf("%d of 3 requests faulted, want %d", faulted, tt.faulted)
			}
		})
	}
}

func TestSetNilClears(t *testing.T) {
	in := &fault.Injector{BasePath: base}
	in.Set(&fault.Fault{Status: 500})
	in.Set(nil)
	if w := do(t, handler(in), base+"/x"); w.Code != 200 {
		t.Errorf("status %d after Set(nil)", w.Code)
	}
}

func TestDelayEndsWithTheRequest(t *testing.T) {
	in := &fault.Injector{BasePath: base}
	in.Set(&fault.Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	w := httptest.NewRecorder()
	start := time.Now()
	handler(in).ServeHTTP(w, httptest.NewRequest(http.MethodGet, base+"/x", nil).WithContext(ctx))
	if time.Since(start) > 10*time.Second {
		t.Fatal("the delay outlived the request")
	}
	if w.Body.Len() != 0 {
		t.Errorf("a cancelled request was answered: %q", w.Body)
	}
}

func TestDrop(t *testing.T) {
	in := &fault.Injector{BasePath: base}
	in.Set(&fault.Fault{Drop: true, Status: 200, Body: "ignored", Count: 1})
	srv := httptest.NewServer(handler(in))
	defer srv.Close()
	if resp, err := http.Get(srv.URL + base + "/x"); err == nil {
		resp.Body.Close()
		t.Fatalf("got %s, want the connection closed", resp.Status)
	}
	resp, err := http.Get(srv.URL + base + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after the one drop: %s", resp.Status)
	}
}
