package issuer

import (
	"crypto/rand"
	"crypto/sha256"
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
	taken   takeResult = iota // the entry, now spent
	unknown                   // no such id (never issued, or purged after expiry)
	expired                   // issued, but past its expiry
	reused                    // issued and already spent
)

// store holds single-use grants (launches, authorization codes) in memory,
// keyed by the SHA-256 of their random id so the ids themselves are not
// kept. It holds at most max entries: a put into a full store first drops
// the expired entries and fails if none were.
type store[V any] struct {
	mu  sync.Mutex
	max int
	m   map[[32]byte]*storeEntry[V]
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
