// Package cache is the store in front of backend reads: entries bounded in
// bytes (ristretto), each with an expiry the caller checks against its own
// clock; generations that a write bumps, so that a read keyed after the write
// never finds an answer from before it; and request coalescing (Group). It
// keeps whatever its caller puts in an Entry and knows nothing of backends.
package cache

import (
	"hash/fnv"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBytes bounds a Cache when Options.MaxBytes is zero.
const DefaultMaxBytes = 64 << 20

// Entry is one stored answer. Entries are shared by every reader: treat them
// as read-only and copy what you hand on.
type Entry struct {
	Status int
	Header http.Header
	Body   []byte
	// Expires is when the entry stops being served, by the caller's clock.
	Expires time.Time
}

// Options configure New.
type Options struct {
	// MaxBytes bounds the bytes held (keys, headers and bodies);
	// DefaultMaxBytes when zero.
	MaxBytes int64
	// Metrics counts evictions; nil counts nothing.
	Metrics *Metrics
}

// Cache is a store of Entries shared by any number of backends, each entry
// labelled with its backend for the metrics. It is safe for concurrent use.
type Cache struct {
	rc      *ristretto.Cache[string, *stored]
	metrics *Metrics
	closing atomic.Bool
	// gens are the write generations, one counter per slot of a hash of
	// (backend, path): paths that share a slot are invalidated together,
	// which costs a miss, never a stale answer. Bounded whatever the number
	// of paths written.
	gens [genSlots]atomic.Uint64
}

const genSlots = 1 << 12

type stored struct {
	key     string
	backend string
	entry   *Entry
}

// New returns an empty cache. Close it to stop its goroutines.
func New(opts Options) (*Cache, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	// About ten counters per entry the cache can hold, entries being a few
	// kilobytes (a Patient is 6 KB).
	counters := min(max(opts.MaxBytes/512, 10_000), 10_000_000)
	c := &Cache{metrics: opts.Metrics}
	rc, err := ristretto.NewCache(&ristretto.Config[string, *stored]{
		NumCounters: counters,
		MaxCost:     opts.MaxBytes,
		BufferItems: 64,
		OnEvict: func(it *ristretto.Item[*stored]) {
			if c.closing.Load() || it.Value == nil {
				return
			}
			reason := "size"
			if !it.Expiration.IsZero() && !it.Expiration.After(time.Now()) {
				reason = "expired"
			}
			c.metrics.evicted(it.Value.backend, reason)
		},
		OnReject: func(it *ristretto.Item[*stored]) {
			if c.closing.Load() || it.Value == nil {
				return
			}
			c.metrics.evicted(it.Value.backend, "rejected")
		},
	})
	if err != nil {
		return nil, err
	}
	c.rc = rc
	return c, nil
}

// Get returns the entry stored under key, expired or not (the caller judges
// by its own clock). A nil Cache holds nothing.
func (c *Cache) Get(key string) (*Entry, bool) {
	if c == nil {
		return nil, false
	}
	s, ok := c.rc.Get(key)
	// The full key is compared: ristretto tells keys apart by two 64-bit
	// hashes, and two users' keys must never be confused.
	if !ok || s.key != key {
		return nil, false
	}
	return s.entry, true
}

// Set stores e under key for backend, to be dropped by the cache at the
// latest ttl from now (the caller also checks e.Expires). It returns once
// the entry can be read, unless the cache refused it (full of entries read
// more often, or contended).
func (c *Cache) Set(backend, key string, e *Entry, ttl time.Duration) {
	if c == nil || ttl <= 0 {
		return
	}
	cost := int64(len(key) + len(e.Body) + 64)
	for k, vs := range e.Header {
		cost += int64(len(k) + 16)
		for _, v := range vs {
			cost += int64(len(v) + 16)
		}
	}
	if c.rc.SetWithTTL(key, &stored{key: key, backend: backend, entry: e}, cost, ttl) {
		c.rc.Wait()
	}
}

// Generation returns the write generation of (backend, path); a cache key
// that includes it is abandoned by the next Invalidate of the same path.
func (c *Cache) Generation(backend, path string) uint64 {
	if c == nil {
		return 0
	}
	return c.gens[c.slot(backend, path)].Load()
}

// Invalidate moves (backend, path) to a new generation.
func (c *Cache) Invalidate(backend, path string) {
	if c == nil {
		return
	}
	c.gens[c.slot(backend, path)].Add(1)
}

// slot is FNV-1a of (backend, path): the same slot for the same path in
// every run, so which paths share one is reproducible.
func (c *Cache) slot(backend, path string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(backend))
	h.Write([]byte{0})
	h.Write([]byte(path))
	return h.Sum64() % genSlots
}

// Close drops every entry and stops the cache's goroutines. A nil Cache may
// be closed.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.closing.Store(true)
	c.rc.Close()
}

// Result is what a cache lookup came to, for the metrics.
type Result string

// The results of a lookup.
const (
	Hit    Result = "hit"
	Miss   Result = "miss"
	Bypass Result = "bypass" // the caller asked for a fresh answer
)

// Metrics counts cache lookups by backend and result, and evictions by
// backend and reason (size, expired, rejected).
type Metrics struct {
	requests  *prometheus.CounterVec
	evictions *prometheus.CounterVec
}

// NewMetrics registers the cache metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facade_backend_cache_requests_total",
			Help: "Backend reads looked up in the cache, by backend and result (hit, miss, bypass).",
		}, []string{"backend", "result"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facade_backend_cache_evictions_total",
			Help: "Cached backend answers dropped before being replaced, by backend and reason (size: the byte bound, expired: the TTL, rejected: not admitted).",
		}, []string{"backend", "reason"}),
	}
	reg.MustRegister(m.requests, m.evictions)
	return m
}

// Count records one lookup. A nil Metrics records nothing.
func (m *Metrics) Count(backend string, r Result) {
	if m != nil {
		m.requests.WithLabelValues(backend, string(r)).Inc()
	}
}

func (m *Metrics) evicted(backend, reason string) {
	if m != nil {
		m.evictions.WithLabelValues(backend, reason).Inc()
	}
}
