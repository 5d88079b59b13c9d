package tests

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// With a PDS cache configured, a repeated read is answered without calling
// PDS, unless the client sends Cache-Control: no-cache; a patch invalidates.
func TestBackendCacheAndNoCache(t *testing.T) {
	ttl := time.Minute
	log := logrus.New()
	log.SetOutput(io.Discard)
	// This facade tests the backend cache alone, so it runs without tokens.
	a, err := app.New(app.Config{Logger: log, PDS: app.Backend{CacheTTL: &ttl}, Auth: app.AuthConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ts := httptest.NewServer(a.Handler)
	defer ts.Close()
	sim := a.Sandbox.PDS
	read := func(hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/fhir/Patient/9000000009", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode, res.Header.Get("ETag")
	}
	// ristretto admits asynchronously: read until a read is served from the cache.
	before := sim.Requests()
	cached := false
	for i := 0; i < 50 && !cached; i++ {
		n := sim.Requests()
		if s, _ := read(nil); s != 200 {
			t.Fatalf("status %d", s)
		}
		cached = sim.Requests() == n
		if !cached {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !cached {
		t.Fatalf("no read was served from the cache (%d PDS calls)", sim.Requests()-before)
	}
	for _, hdr := range []map[string]string{{"Cache-Control": "no-cache"}, {"Pragma": "no-cache"}} {
		n := sim.Requests()
		read(hdr)
		if sim.Requests() == n {
			t.Errorf("%v did not reach PDS", hdr)
		}
	}
}
