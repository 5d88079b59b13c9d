package viewer_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/state/redisstate"
	"github.com/carerecords/fhir-facade/state/redistest"
	"github.com/carerecords/fhir-facade/viewer"
)

// TestSessionsAcrossReplicas: with the sessions and pending launches in
// Redis, a launch begun on replica A returns to B's callback, and the
// session it opens is served by A, B and C; signing out on one (a refused
// token ends the session) ends it everywhere; a callback is used once.
func TestSessionsAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeFacade(t)
	var vs []*viewer.Viewer
	for range 3 {
		rc, err := redisstate.Open(redisstate.Options{URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rc.Close() })
		vs = append(vs, newViewer(t, f, func(c *viewer.Config) {
			c.Sessions, c.Launches = rc.Store("viewer:session"), rc.Store("viewer:launch")
			c.MaxSessions = 1 // no bound on a shared store: Redis' memory is
		}))
	}
	b := newBrowser(t, vs[0])
	w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=L-9000000009")
	if w.Code != http.StatusFound {
		t.Fatalf("launch on A: %d %s", w.Code, w.Body)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	code := f.authorize(loc.Query(), "9000000009")
	callback := "/view/callback?code=" + url.QueryEscape(code) + "&state=" + url.QueryEscape(loc.Query().Get("state"))
	launchCookie := *b.cookies["viewer_launch"]
	b.h = vs[1]
	if w := b.get(callback); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/view/Patient/9000000009" {
		t.Fatalf("callback on B: %d %s", w.Code, w.Body)
	}
	for i, v := range vs {
		b.h = v
		if page := b.get("/view/Patient/9000000009"); page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "900 000 0009") {
			t.Errorf("page on replica %d: %d", i, page.Code)
		}
	}
	// A second browser signs in, so the store holds two sessions though
	// MaxSessions is 1: both are served.
	other := newBrowser(t, vs[2])
	if w := signIn(t, other, f, "9000000009"); w.Code != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", w.Code)
	}
	b.h = vs[2]
	if page := b.get("/view/Patient/9000000009"); page.Code != http.StatusOK {
		t.Errorf("the first session after a second sign-in: %d", page.Code)
	}
	// The pending launch was taken by B: the same callback on C fails.
	replay := newBrowser(t, vs[2])
	replay.cookies["viewer_launch"] = &launchCookie
	if w := replay.get(callback); w.Code != http.StatusUnauthorized {
		t.Errorf("replayed callback on C: %d", w.Code)
	}
}

// With Redis gone the viewer cannot find a session: the clinician is asked
// to launch again (401), never shown another's page.
func TestSessionsStoreDown(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeFacade(t)
	rc, err := redisstate.Open(redisstate.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	v := newViewer(t, f, func(c *viewer.Config) {
		c.Sessions, c.Launches = rc.Store("viewer:session"), rc.Store("viewer:launch")
	})
	b := newBrowser(t, v)
	if w := signIn(t, b, f, "9000000009"); w.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", w.Code)
	}
	srv.Stop()
	if page := b.get("/view/Patient/9000000009"); page.Code != http.StatusUnauthorized {
		t.Errorf("page with Redis down: %d", page.Code)
	}
	if w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=L-9000000009"); w.Code != http.StatusInternalServerError {
		t.Errorf("launch with Redis down: %d", w.Code)
	}
}
