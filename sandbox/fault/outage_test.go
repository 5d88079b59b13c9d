package fault_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/fault"
)

func TestParseKind(t *testing.T) {
	tests := []struct {
		in      string
		want    fault.Kind
		wantErr bool
	}{
		{in: "503", want: "503"},
		{in: "500", want: "500"},
		{in: "429", want: "429"},
		{in: "timeout", want: fault.Timeout},
		{in: " Empty ", want: fault.Empty},
		{in: "TRUNCATED", want: fault.Truncated},
		{in: "malformed", want: fault.Malformed},
		{in: "drop", want: fault.Drop},
		{in: "200", wantErr: true},
		{in: "302", wantErr: true},
		{in: "600", wantErr: true},
		{in: "0503", wantErr: true},
		{in: "slow", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := fault.ParseKind(tt.in)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "timeout, drop, empty, truncated, malformed") {
					t.Fatalf("ParseKind(%q) = %q, %v; want an error listing the kinds", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseKind(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// serving answers with body as application/fhir+json, with an ETag and a
// Content-Length that an outage must not pass on unchanged.
func serving(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Header().Set("ETag", `W/"1"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// bundle is a searchset of ids (matches) with an included Patient.
func bundle(ids ...string) string {
	var es []string
	for _, id := range ids {
		es = append(es, `{"resource":{"resourceType":"Flag","id":"`+id+`"},"search":{"mode":"match"}}`)
	}
	es = append(es, `{"resource":{"resourceType":"Patient","id":"p"},"search":{"mode":"include"}}`)
	return `{"resourceType":"Bundle","type":"searchset","total":` + strconv.Itoa(len(ids)) + `,"entry":[` + strings.Join(es, ",") + `]}`
}

// readBundle is the total and the match ids of a Bundle.
func readBundle(t *testing.T, body string) (int, []string) {
	t.Helper()
	var b struct {
		Total int `json:"total"`
		Entry []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
			Search struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	var ids []string
	for _, e := range b.Entry {
		if e.Search.Mode == "match" {
			ids = append(ids, e.Resource.ID)
		}
	}
	return b.Total, ids
}

func TestOutageAnswers(t *testing.T) {
	tests := []struct {
		name   string
		next   http.Handler
		kind   fault.Kind
		status int
		check  func(t *testing.T, body string)
	}{
		{name: "none passes on", next: serving(200, bundle("a", "b")), status: 200, check: func(t *testing.T, body string) {
			if total, ids := readBundle(t, body); total != 2 || len(ids) != 2 {
				t.Errorf("total %d, ids %v", total, ids)
			}
		}},
		{name: "503", next: serving(200, bundle("a")), kind: "503", status: 503, check: func(t *testing.T, body string) {
			if !strings.Contains(body, "simulated outage") {
				t.Errorf("body %q", body)
			}
		}},
		{name: "500", next: serving(200, bundle("a")), kind: "500", status: 500},
		{name: "empty keeps the status", next: serving(200, bundle("a")), kind: fault.Empty, status: 200, check: func(t *testing.T, body string) {
			if body != "" {
				t.Errorf("body %q", body)
			}
		}},
		{name: "malformed", next: serving(200, bundle("a")), kind: fault.Malformed, status: 200, check: func(t *testing.T, body string) {
			if json.Valid([]byte(body)) || body == "" || !strings.HasPrefix(bundle("a"), body) {
				t.Errorf("body %q", body)
			}
		}},
		{name: "truncated drops the last match, keeps the total", next: serving(200, bundle("a", "b")), kind: fault.Truncated, status: 200, check: func(t *testing.T, body string) {
			if total, ids := readBundle(t, body); total != 2 || strings.Join(ids, ",") != "a" || !strings.Contains(body, `"include"`) {
				t.Errorf("total %d, ids %v: %s", total, ids, body)
			}
		}},
		{name: "truncated empty searchset says it has one", next: serving(200, bundle()), kind: fault.Truncated, status: 200, check: func(t *testing.T, body string) {
			if total, ids := readBundle(t, body); total != 1 || len(ids) != 0 {
				t.Errorf("total %d, ids %v: %s", total, ids, body)
			}
		}},
		{name: "truncated non-Bundle is cut short", next: serving(404, `{"resourceType":"OperationOutcome","issue":[]}`), kind: fault.Truncated, status: 404, check: func(t *testing.T, body string) {
			if json.Valid([]byte(body)) || body == "" {
				t.Errorf("body %q", body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fault.NewOutage(tt.next)
			o.Set(tt.kind)
			if o.Kind() != tt.kind {
				t.Errorf("Kind() = %q", o.Kind())
			}
			ts := httptest.NewServer(o)
			defer ts.Close()
			resp, err := http.Get(ts.URL + "/Flag")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.kind != "" && resp.Header.Get("ETag") != "" {
				t.Error("a mangled answer keeps the ETag of the real one")
			}
			if tt.check != nil {
				tt.check(t, string(b))
			}
		})
	}
}

// timeout never answers until the client gives up; drop closes the
// connection; Set("") ends the outage.
func TestOutageWithoutAnswer(t *testing.T) {
	o := fault.NewOutage(serving(200, bundle("a")))
	ts := httptest.NewServer(o)
	defer ts.Close()
	defer o.Close()
	get := func(timeout time.Duration) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/Flag", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	o.Set(fault.Timeout)
	start := time.Now()
	if _, err := get(200 * time.Millisecond); err == nil || time.Since(start) < 200*time.Millisecond {
		t.Errorf("timeout: err %v after %v", err, time.Since(start))
	}
	o.Set(fault.Drop)
	if _, err := get(5 * time.Second); err == nil {
		t.Error("drop: an answer")
	}
	o.Set("")
	if resp, err := get(5 * time.Second); err != nil || resp.StatusCode != 200 {
		t.Errorf("after the outage: %v", err)
	}
}

// Close releases the requests a timeout holds (a prompt shutdown).
func TestOutageCloseReleasesTimeouts(t *testing.T) {
	o := fault.NewOutage(serving(200, bundle("a")))
	o.Set(fault.Timeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }() // drop panics on a recorder: no connection to close
		o.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/Flag", nil))
	}()
	o.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a timeout outage held its request after Close")
	}
}
