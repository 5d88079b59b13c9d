package cdshooks

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// ReplayCache remembers the JWT ids (jti) already presented, each until its
// token expires: a JWT is accepted once. It is an interface so that
// replicas can share one (Redis SET NX with the token's remaining lifetime
// as PX is the whole of an implementation); MemoryReplay serves one
// process.
type ReplayCache interface {
	// Claim records key until expires and reports whether it was new. An
	// error means the cache cannot say: the token is refused (fail closed).
	Claim(ctx context.Context, key string, expires time.Time) (fresh bool, err error)
}

// ErrReplayFull is MemoryReplay's answer when it holds its maximum of
// unexpired ids: refusing is safer than forgetting one, which would let
// that token be replayed.
var ErrReplayFull = errors.New("the replay cache is full")

// MemoryReplay is an in-memory ReplayCache bounded at max entries; an entry
// lives until its token's exp, so with tokens of at most MaxLifetime the
// bound is max tokens per MaxLifetime.
type MemoryReplay struct {
	mu   sync.Mutex
	max  int
	now  func() time.Time
	seen map[string]time.Time
	exp  expiryHeap
}

// DefaultReplayEntries bounds a MemoryReplay made with max <= 0: about
// 20 MB, and 55 calls a second sustained with one-hour tokens.
const DefaultReplayEntries = 200_000

// NewMemoryReplay returns an empty cache of at most max ids.
func NewMemoryReplay(max int) *MemoryReplay {
	if max <= 0 {
		max = DefaultReplayEntries
	}
	return &MemoryReplay{max: max, now: time.Now, seen: map[string]time.Time{}}
}

// Claim implements ReplayCache.
func (m *MemoryReplay) Claim(_ context.Context, key string, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for m.exp.Len() > 0 && !m.exp[0].at.After(now) {
		e := heap.Pop(&m.exp).(expiry)
		if at, ok := m.seen[e.key]; ok && at.Equal(e.at) {
			delete(m.seen, e.key)
		}
	}
	if at, ok := m.seen[key]; ok && at.After(now) {
		return false, nil
	}
	if len(m.seen) >= m.max {
		return false, ErrReplayFull
	}
	m.seen[key] = expires
	heap.Push(&m.exp, expiry{key: key, at: expires})
	return true, nil
}

// Len is how many ids are held.
func (m *MemoryReplay) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

type expiry struct {
	key string
	at  time.Time
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
