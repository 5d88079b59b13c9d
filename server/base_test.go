package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/server"
)

// startServer serves server.New(cfg, reg) on a loopback test server. A cfg
// without a BaseURL gets the test server's own address, known before the
// server is built, since the server never derives its base from a request.
func startServer(t *testing.T, cfg server.Config, reg *resources.Registry) (*httptest.Server, *server.Server) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ts.Listener.Addr().String() + "/fhir"
	}
	s, err := server.New(cfg, reg)
	if err != nil {
		ts.Close()
		t.Fatal(err)
	}
	ts.Config.Handler = s
	ts.Start()
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts, s
}

// The base is configured, never taken from a request: whatever Host a
// client names (localhost for 127.0.0.1, a proxy's name), links, fullUrls,
// Location and the CapabilityStatement say the one base; and a server
// without a usable base is not built.
func TestBaseURLIsConfigured(t *testing.T) {
	const base = "https://fhir.example.nhs.uk/fhir"
	log := logrus.New()
	log.SetOutput(io.Discard)
	ts, _ := startServer(t, server.Config{BaseURL: base + "/", Logger: log}, resources.NewRegistry(&fake{n: 3}, &writable{}))
	send := func(t *testing.T, method, path, host, body string) result {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		r := result{status: res.StatusCode, header: res.Header}
		if err := json.NewDecoder(res.Body).Decode(&r.body); err != nil && res.StatusCode != http.StatusCreated {
			t.Fatalf("%s %s: %d, body not JSON: %v", method, path, res.StatusCode, err)
		}
		return r
	}
	for _, host := range []string{"", "localhost", "proxy.internal:9443", "elsewhere.example"} {
		t.Run("Host "+host, func(t *testing.T) {
			r := send(t, "GET", "/fhir/Patient?_count=1", host, "")
			if r.status != 200 {
				t.Fatalf("%d %v", r.status, r.body)
			}
			links, _ := r.body["link"].([]any)
			entries, _ := r.body["entry"].([]any)
			if len(links) < 2 || len(entries) != 1 {
				t.Fatalf("links %v, entries %v: want self and next, one entry", links, entries)
			}
			for _, l := range links {
				if u, _ := l.(map[string]any)["url"].(string); !strings.HasPrefix(u, base+"/Patient?") {
					t.Errorf("link %q is not under %s", u, base)
				}
			}
			if u, _ := entries[0].(map[string]any)["fullUrl"].(string); !strings.HasPrefix(u, base+"/Patient/") {
				t.Errorf("fullUrl %q is not under %s", u, base)
			}
			w := send(t, "POST", "/fhir/Flag", host, flagJSON)
			if loc := w.header.Get("Location"); w.status != http.StatusCreated || !strings.HasPrefix(loc, base+"/Flag/") {
				t.Errorf("%d, Location %q: want 201 under %s", w.status, loc, base)
			}
			m := send(t, "GET", "/fhir/metadata", host, "")
			if impl, _ := m.body["implementation"].(map[string]any); impl["url"] != base {
				t.Errorf("implementation %v, want url %s", impl, base)
			}
		})
	}
	for _, bad := range []string{"", "/fhir", "fhir.example/fhir", "ftp://fhir.example/fhir"} {
		if s, err := server.New(server.Config{BaseURL: bad, Logger: log}, resources.NewRegistry(&fake{})); err == nil {
			s.Close()
			t.Errorf("BaseURL %q accepted", bad)
		}
	}
}
