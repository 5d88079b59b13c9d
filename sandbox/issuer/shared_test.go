package issuer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/issuer"
	"github.com/carerecords/fhir-facade/state/redisstate"
	"github.com/carerecords/fhir-facade/state/redistest"
)

// replicas are three issuers, as three facade replicas run them: one
// Redis for their launches and codes, one signing key, one clock.
func replicas(t *testing.T, srv *redistest.Server) ([]smartEnv, *redisstate.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: epoch}
	var envs []smartEnv
	var last *redisstate.Client
	for range 3 {
		rc, err := redisstate.Open(redisstate.Options{URL: srv.URL(), PingInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rc.Close() })
		var logs []string
		iss := newIssuer(t, issuer.Config{Now: c.now, Key: key,
			Launches: rc.Store("issuer:launch"), Codes: rc.Store("issuer:code"),
			Logf: func(f string, a ...any) { logs = append(logs, f) },
			Clients: []issuer.Client{
				{ID: "ehr", Secret: "ehr-secret"},
				{ID: issuer.ViewerClientID, RedirectURIs: []string{viewerRedirect}},
			}})
		envs = append(envs, smartEnv{iss: iss, clock: c, logs: &logs})
		last = rc
	}
	return envs, last
}

// TestEHRLaunchAcrossReplicas: a launch registered on replica A is
// authorised on B and its code exchanged on C; the code then fails on
// every replica, and the token is accepted by a verifier of any of them.
func TestEHRLaunchAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	rs, _ := replicas(t, srv)
	a, b, c := rs[0], rs[1], rs[2]
	code := b.code(t, authParams(a.launch(t, "9000000009", "")))
	rec := postForm(c.iss.TokenHandler(), issuer.TokenPath, tokenForm(code), [2]string{})
	if rec.Code != http.StatusOK {
		t.Fatalf("token on C: %d %s", rec.Code, rec.Body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		Patient     string `json:"patient"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.Patient != "9000000009" {
		t.Fatalf("token response %s", rec.Body)
	}
	if p, err := verifier(t, a.iss.IssuerConfig()).Verify(context.Background(), tok.AccessToken); err != nil || p.ClientID != issuer.ViewerClientID {
		t.Errorf("A does not accept C's token: %v", err)
	}
	for i, r := range rs {
		rec := postForm(r.iss.TokenHandler(), issuer.TokenPath, tokenForm(code), [2]string{})
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_grant"`) {
			t.Errorf("code reused on replica %d: %d %s", i, rec.Code, rec.Body)
		}
		if len(*r.logs) != 1 {
			t.Errorf("replica %d logged %d reuses, want 1", i, len(*r.logs))
		}
	}
	// The launch was spent by B's authorization: not usable on A or C.
	launch := a.launch(t, "9000000009", "")
	_ = b.code(t, authParams(launch))
	for _, r := range []smartEnv{a, c} {
		rec := r.authorize(authParams(launch))
		if loc, _ := url.Parse(rec.Header().Get("Location")); rec.Code != http.StatusFound || loc.Query().Get("error") != "invalid_request" {
			t.Errorf("spent launch: %d %s", rec.Code, rec.Header().Get("Location"))
		}
	}
	// Expiry is the issuer's clock's: a code older than CodeTTL is refused.
	code = b.code(t, authParams(a.launch(t, "9000000009", "")))
	a.clock.advance(issuer.CodeTTL)
	if rec := postForm(c.iss.TokenHandler(), issuer.TokenPath, tokenForm(code), [2]string{}); rec.Code != http.StatusBadRequest {
		t.Errorf("expired code: %d %s", rec.Code, rec.Body)
	}
}

// With Redis gone a launch cannot be checked: the authorization is
// refused as temporarily_unavailable, the code exchange with 503, never
// as if the grant were bad.
func TestSharedStoreDown(t *testing.T) {
	srv := redistest.Start(t)
	rs, rc := replicas(t, srv)
	launch := rs[0].launch(t, "9000000009", "")
	code := rs[1].code(t, authParams(rs[0].launch(t, "9000000009", "")))
	srv.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for rc.Up() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	rec := rs[1].authorize(authParams(launch))
	if loc, _ := url.Parse(rec.Header().Get("Location")); rec.Code != http.StatusFound || loc.Query().Get("error") != "temporarily_unavailable" {
		t.Errorf("authorize with Redis down: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rec = postForm(rs[2].iss.TokenHandler(), issuer.TokenPath, tokenForm(code), [2]string{})
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "temporarily_unavailable") || rec.Header().Get("Retry-After") == "" {
		t.Errorf("token with Redis down: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = postForm(rs[0].iss.LaunchHandler(), issuer.LaunchPath, url.Values{"client_id": {"ehr"}, "client_secret": {"ehr-secret"}, "patient": {"9000000009"}}, [2]string{})
	if rec.Code < 500 {
		t.Errorf("launch with Redis down: %d %s", rec.Code, rec.Body)
	}
}
