package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/server"
)

// slow is a Patient provider whose reads wait until released.
type slow struct {
	started chan struct{}
	release chan struct{}
}

func (*slow) ResourceType() string  { return "Patient" }
func (*slow) Profile() string       { return "" }
func (*slow) Documentation() string { return "slow" }
func (s *slow) Read(ctx context.Context, id string) (*resources.Resource, error) {
	s.started <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return patient(id), nil
}

func TestGuard(t *testing.T) {
	sl := &slow{started: make(chan struct{}, 1), release: make(chan struct{})}
	log := logrus.New()
	log.SetOutput(io.Discard)
	ready := true
	ts, srv := startServer(t, server.Config{Logger: log, MaxInFlight: 1, MaxHeaderBytes: 4096,
		Ready: func() (bool, map[string]string) { return ready, map[string]string{"pds": "closed"} }}, resources.NewRegistry(sl))

	// One request occupies the only slot…
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err := http.Get(ts.URL + "/fhir/Patient/a")
		if err == nil {
			res.Body.Close()
		}
	}()
	<-sl.started
	// …so the next is refused with 503 + Retry-After, not queued.
	r := do(t, "GET", ts.URL+"/fhir/Patient/b", nil, "")
	if r.status != 503 || issue0(t, r)["code"] != "transient" || r.header.Get("Retry-After") == "" {
		t.Errorf("overload: %d %v %s", r.status, r.header, r.raw)
	}
	close(sl.release)
	wg.Wait()

	big := do(t, "GET", ts.URL+"/fhir/metadata", map[string]string{"X-Big": strings.Repeat("x", 5000)}, "")
	if big.status != 431 || issue0(t, big)["code"] != "too-costly" {
		t.Errorf("large headers: %d %s", big.status, big.raw)
	}

	res, err := http.Get(ts.URL + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, res)
	}
	res.Body.Close()
	ready = false
	res, _ = http.Get(ts.URL + "/readyz")
	if res.StatusCode != 503 {
		t.Errorf("readyz with a backend down: %d", res.StatusCode)
	}
	res.Body.Close()
	ready = true
	srv.Drain()
	res, _ = http.Get(ts.URL + "/readyz")
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || !strings.Contains(string(body), "draining") {
		t.Errorf("readyz while draining: %d %s", res.StatusCode, body)
	}
	d := do(t, "GET", ts.URL+"/fhir/metadata", nil, "")
	if d.status != 503 {
		t.Errorf("request while draining: %d", d.status)
	}
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	ts, _ := startServer(t, server.Config{Logger: log, CORSOrigins: []string{"https://app.example"}}, resources.NewRegistry(&fake{}))
	tests := []struct {
		name      string
		path      string
		noStore   bool
		origin    string
		allowedAs string
	}{
		{name: "patient data", path: "/fhir/Patient/1", noStore: true},
		{name: "error", path: "/fhir/Patient/404", noStore: true},
		{name: "capability statement", path: "/fhir/metadata", noStore: false},
		{name: "allowed origin", path: "/fhir/Patient/1", noStore: true, origin: "https://app.example", allowedAs: "https://app.example"},
		{name: "other origin", path: "/fhir/Patient/1", noStore: true, origin: "https://evil.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.origin != "" {
				hdr["Origin"] = tt.origin
			}
			r := do(t, "GET", ts.URL+tt.path, hdr, "")
			if r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			if got := r.header.Get("Cache-Control") == "no-store"; got != tt.noStore {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tt.allowedAs {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.allowedAs)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodOptions, ts.URL+"/fhir/Patient/1", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
}
