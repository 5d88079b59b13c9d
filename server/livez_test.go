package server_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/server"
)

// TestLivezIgnoresReadiness: Kubernetes restarts a container whose liveness
// probe fails, so /livez must stay 200 while /readyz is 503 for a backend's
// open circuit or a drain: restarting would cure neither.
func TestLivezIgnoresReadiness(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	ready := true
	ts, srv := startServer(t, server.Config{Logger: log,
		Ready: func() (bool, map[string]string) { return ready, map[string]string{"pds": "open"} }}, resources.NewRegistry(&fake{}))
	status := func(path string) int {
		t.Helper()
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, tc := range []struct {
		name            string
		before          func()
		livez, readyzSC int
	}{
		{"ready", func() {}, 200, 200},
		{"a backend down", func() { ready = false }, 200, 503},
		{"draining", func() { ready = true; srv.Drain() }, 200, 503},
	} {
		tc.before()
		if got := status("/livez"); got != tc.livez {
			t.Errorf("%s: /livez %d, want %d", tc.name, got, tc.livez)
		}
		if got := status("/readyz"); got != tc.readyzSC {
			t.Errorf("%s: /readyz %d, want %d", tc.name, got, tc.readyzSC)
		}
	}
}
