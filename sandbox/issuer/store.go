package issuer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// DefaultMaxPending is how many launches, and how many authorization codes,
// the issuer holds at once unless Config.MaxPending says otherwise.
const DefaultMaxPending = 10000

// errFull is returned by store.put when the store holds its maximum of
// unexpired entries.
var errFull = errors.New("issuer: too many pending grants")

// takeResult says what store.take found.
type takeResult int

const (
	taken       takeResult = iota // the entry, now spent
	unknown                       // no such id (never issued, or purged after expiry)
	expired                       // issued, but past its expiry
	reused                        // issued and already spent
	unavailable                   // the shared store did not answer: nothing can be said
)

// SharedStore keeps the issuer's single-use grants where every replica of
// the facade finds them (package redisstate keeps them in Redis), so that
// a launch registered on one replica is authorised on another and its code
// exchanged on a third, once. Ids are random and unguessable; a store
// should keep them hashed.
type SharedStore interface {
	// Put stores value (never empty) under id for ttl.
	Put(ctx context.Context, id string, value []byte, ttl time.Duration) error
	// Spend returns the value under id the first time it is asked for, on
	// any replica, atomically; after that spent is true until the TTL
	// ends. value is nil and spent false for an id never put or expired.
	Spend(ctx context.Context, id string) (value []byte, spent bool, err error)
}

// sharedTimeout bounds one call to a SharedStore.
const sharedTimeout = 2 * time.Second

// store holds single-use grants (launches, authorization codes) in memory,
// keyed by the SHA-256 of their random id so the ids themselves are not
// kept. It holds at most max entries: a put into a full store first drops
// the expired entries and fails if none were.
type store[V any] struct {
	mu  sync.Mutex
	max int
	m   map[[32]byte]*storeEntry[V]
	// shared, when set, holds the entries instead of m (and max does not
	// apply: the shared store's memory is its bound).
	shared SharedStore
}

// sharedEntry is an entry as a SharedStore keeps it: the value and its
// expiry by the issuer's clock, which decides "expired" (the store's own
// TTL only clears it away).
type sharedEntry[V any] struct {
	V       V         `json:"v"`
	Expires time.Time `json:"exp"`
}

type storeEntry[V any] struct {
	v       V
	expires time.Time
	spent   bool // kept until expiry so a second use can be told from an unknown id
}

func newStore[V any](max int) *store[V] {
	return &store[V]{max: max, m: map[[32]byte]*storeEntry[V]{}}
}

// newID returns 32 random bytes, base64url: 256 bits, unguessable.
func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return b64(b), nil
}

// put stores v under a fresh random id until expires.
func (s *store[V]) put(v V, now, expires time.Time) (string, error) {
	id, err := newID()
	if err != nil {
		return "", err
	}
	if s.shared != nil {
		return id, s.putShared(id, v, now, expires)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		for k, e := range s.m {
			if !now.Before(e.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= s.max {
			return "", errFull
		}
	}
	s.m[sha256.Sum256([]byte(id))] = &storeEntry[V]{v: v, expires: expires}
	return id, nil
}

// take spends the entry under id: its value and taken the first time,
// reused after that (until it expires), expired once past its expiry (an
// expired entry is dropped), unknown for an id never issued.
func (s *store[V]) take(id string, now time.Time) (V, takeResult) {
	var zero V
	if id == "" {
		return zero, unknown
	}
	if s.shared != nil {
		return s.takeShared(id, now)
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	switch {
	case !ok:
		return zero, unknown
	case !now.Before(e.expires):
		delete(s.m, k)
		return zero, expired
	case e.spent:
		return zero, reused
	}
	e.spent = true
	v := e.v
	var cleared V
	e.v = cleared // a spent entry keeps no patient context
	return v, taken
}

// len is the number of entries held, spent and expired ones included.
func (s *store[V]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *store[V]) putShared(id string, v V, now, expires time.Time) error {
	b, err := json.Marshal(sharedEntry[V]{V: v, Expires: expires})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	return s.shared.Put(ctx, id, b, expires.Sub(now))
}

func (s *store[V]) takeShared(id string, now time.Time) (V, takeResult) {
	var zero V
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	b, spent, err := s.shared.Spend(ctx, id)
	switch {
	case err != nil:
		return zero, unavailable
	case spent:
		return zero, reused
	case b == nil:
		return zero, unknown
	}
	var e sharedEntry[V]
	if err := json.Unmarshal(b, &e); err != nil {
		return zero, unavailable
	}
	if !now.Before(e.Expires) {
		return zero, expired
	}
	return e.V, taken
}

// The grants as a SharedStore keeps them (JSON): their fields are the
// issuer's own, so they are copied to and from exported mirrors.

type launchJSON struct {
	Patient string  `json:"patient"`
	Role    DevRole `json:"role"`
}

func (l launchGrant) MarshalJSON() ([]byte, error) {
	return json.Marshal(launchJSON{Patient: l.patient, Role: l.role})
}

func (l *launchGrant) UnmarshalJSON(b []byte) error {
	var j launchJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = launchGrant{patient: j.Patient, role: j.Role}
	return nil
}

type codeJSON struct {
	ClientID      string   `json:"client_id"`
	RedirectURI   string   `json:"redirect_uri"`
	Challenge     string   `json:"challenge"`
	Scopes        []string `json:"scopes"`
	PatientScoped bool     `json:"patient_scoped,omitempty"`
	Patient       string   `json:"patient"`
	Role          DevRole  `json:"role"`
	OpenID        bool     `json:"openid,omitempty"`
	FHIRUser      bool     `json:"fhir_user,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
}

func (g codeGrant) MarshalJSON() ([]byte, error) {
	return json.Marshal(codeJSON{ClientID: g.clientID, RedirectURI: g.redirectURI, Challenge: g.challenge, Scopes: g.scopes,
		PatientScoped: g.patientScoped, Patient: g.patient, Role: g.role, OpenID: g.openid, FHIRUser: g.fhirUser, Nonce: g.nonce})
}

func (g *codeGrant) UnmarshalJSON(b []byte) error {
	var j codeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*g = codeGrant{clientID: j.ClientID, redirectURI: j.RedirectURI, challenge: j.Challenge, scopes: j.Scopes,
		patientScoped: j.PatientScoped, patient: j.Patient, role: j.Role, openid: j.OpenID, fhirUser: j.FHIRUser, nonce: j.Nonce}
	return nil
}
