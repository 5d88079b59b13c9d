package viewer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// session is a signed-in clinician's view of one patient: the access token
// the launch gave, held here and nowhere else (never in a cookie, a URL,
// the HTML or a log line).
type session struct {
	Token   string
	Patient string // the launch's patient context: the only patient viewable
}

// pendingLaunch is a launch between the redirect to the authorization
// endpoint and the callback: PKCE verifier and state, bound to the browser
// by a cookie, used once.
type pendingLaunch struct {
	State         string
	Verifier      string
	TokenEndpoint string
}

// Cookie names; both are scoped to Path=/view.
const (
	sessionCookie = "viewer_session"
	launchCookie  = "viewer_launch"
)

// store is a bounded in-memory map of random ids to values with an expiry.
// When full it drops what has expired, then the entry closest to expiry, so
// memory stays bounded whatever arrives.
type store[T any] struct {
	mu  sync.Mutex
	m   map[string]storeEntry[T]
	max int
	now func() time.Time
	// shared, when set, holds the values instead of m, so that every
	// replica of the facade serves every session (Config.Sessions); max
	// does not apply. failed is told of its errors (never an id or value).
	shared SharedStore
	failed func(op string, err error)
}

// SharedStore keeps the viewer's sessions, or its pending launches, where
// every replica of the facade finds them (package redisstate keeps them in
// Redis). Ids are random and unguessable; a store should keep them hashed.
type SharedStore interface {
	// Put stores value under id for ttl.
	Put(ctx context.Context, id string, value []byte, ttl time.Duration) error
	// Get returns the value under id, nil when there is none.
	Get(ctx context.Context, id string) ([]byte, error)
	// Take returns the value under id and removes it, atomically: of two
	// replicas taking one id, one gets it.
	Take(ctx context.Context, id string) ([]byte, error)
	// Delete removes id's value, if any.
	Delete(ctx context.Context, id string) error
}

// sharedTimeout bounds one call to a SharedStore.
const sharedTimeout = 2 * time.Second

type storeEntry[T any] struct {
	v       T
	expires time.Time
}

func newStore[T any](max int, now func() time.Time) *store[T] {
	return &store[T]{m: map[string]storeEntry[T]{}, max: max, now: now}
}

// put stores v under a fresh random id until ttl from now.
func (s *store[T]) put(v T, ttl time.Duration) (string, error) {
	id, err := randomString(32)
	if err != nil {
		return "", err
	}
	if s.shared != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		if err := s.shared.Put(ctx, id, b, ttl); err != nil {
			s.failed("put", err)
			return "", err
		}
		return id, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.m) >= s.max {
		var soonest string
		for k, e := range s.m {
			if !now.Before(e.expires) {
				delete(s.m, k)
				continue
			}
			if soonest == "" || e.expires.Before(s.m[soonest].expires) {
				soonest = k
			}
		}
		if len(s.m) >= s.max && soonest != "" {
			delete(s.m, soonest)
		}
	}
	s.m[id] = storeEntry[T]{v: v, expires: now.Add(ttl)}
	return id, nil
}

// get returns the live value under id.
// (A shared store does not say when: the time is then zero.)
func (s *store[T]) get(id string) (T, time.Time, bool) {
	if s.shared != nil {
		v, ok := s.fetch("get", id, s.shared.Get)
		return v, time.Time{}, ok
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	if !ok || !s.now().Before(e.expires) {
		delete(s.m, id)
		var zero T
		return zero, time.Time{}, false
	}
	return e.v, e.expires, true
}

// take returns the live value under id and removes it: single use.
func (s *store[T]) take(id string) (T, bool) {
	if s.shared != nil {
		return s.fetch("take", id, s.shared.Take)
	}
	v, _, ok := s.get(id)
	s.delete(id)
	return v, ok
}

func (s *store[T]) delete(id string) {
	if s.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		if err := s.shared.Delete(ctx, id); err != nil {
			s.failed("delete", err)
		}
		return
	}
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (s *store[T]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// fetch reads id's value from the shared store with get (Get or Take).
// A store that fails is as good as an empty one for the caller (the
// clinician launches again), but is reported.
func (s *store[T]) fetch(op, id string, get func(context.Context, string) ([]byte, error)) (T, bool) {
	var v T
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	b, err := get(ctx, id)
	if err != nil {
		s.failed(op, err)
		return v, false
	}
	if b == nil {
		return v, false
	}
	if err := json.Unmarshal(b, &v); err != nil {
		s.failed(op, err)
		return v, false
	}
	return v, true
}

// randomString is n random bytes, base64url without padding.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// session returns the request's live session, or renders the 401 page
// that asks the clinician to launch again from their clinical system.
func (v *Viewer) session(w http.ResponseWriter, r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err == nil {
		if s, _, ok := v.sessions.get(c.Value); ok {
			return &s, true
		}
	}
	if err == nil {
		v.clearCookie(w, sessionCookie) // expired or unknown
	}
	v.renderError(w, r, http.StatusUnauthorized, pageSessionEnded)
	return nil, false
}

// endSession forgets the request's session (its token was refused).
func (v *Viewer) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		v.sessions.delete(c.Value)
	}
	v.clearCookie(w, sessionCookie)
}

// setCookie sets a viewer cookie: HttpOnly, Path=/view, Secure on https;
// SameSite=Lax (the callback is a top-level navigation from the issuer),
// or, when other sites may frame the viewer, SameSite=None and Partitioned.
func (v *Viewer) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, v.cookie(name, value, int(ttl/time.Second)))
}

func (v *Viewer) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, v.cookie(name, "", -1))
}

func (v *Viewer) cookie(name, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/view", MaxAge: maxAge,
		HttpOnly: true, Secure: v.secure, SameSite: http.SameSiteLaxMode}
	if v.crossSite {
		c.SameSite, c.Partitioned = http.SameSiteNoneMode, true
	}
	return c
}
