// Package cache is the store in front of backend reads: entries bounded in
// bytes (ristretto), each with an expiry the caller checks against its own
// clock; generations that a write bumps, so that a read keyed after the write
// never finds an answer from before it; and request coalescing (Group). It
// keeps whatever its caller puts in an Entry and knows nothing of backends.
package cache

import (
	"flag"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBytes bounds a Cache when Options.MaxBytes is zero.
const DefaultMaxBytes = 64 << 20

// Entry is one stored answer. Entries are shared by every reader, and
// handed out without a copy (a 6 KB copy per hit was the largest
// allocation of a cached read): treat them as read-only. In test binaries
// the cache holds every reader to that: an entry changed after it was
// stored panics at its next Get (checkUnchanged).
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
	// sum is the entry's checksum when it was stored, in test binaries
	// only (0 otherwise): checkUnchanged compares it at each Get.
	sum uint64
}

// verify says entries are checked for changes at every Get: in test
// binaries, so that the whole test suite proves no reader writes to a
// shared answer; never in the facade itself, where hashing every hit
// would cost what not copying saves, nor in benchmarks, which measure it.
var verify = sync.OnceValue(func() bool {
	if !testing.Testing() {
		return false
	}
	bench := flag.Lookup("test.bench")
	return bench == nil || bench.Value.String() == ""
})

// checksum hashes what a reader could change: status, headers, body.
func checksum(e *Entry) uint64 {
	h := xxhash.New()
	_, _ = h.WriteString(strconv.Itoa(e.Status))
	keys := make([]string, 0, len(e.Header))
	for k := range e.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		_, _ = h.WriteString("\x00" + k)
		for _, v := range e.Header[k] {
			_, _ = h.WriteString("\x01" + v)
		}
	}
	_, _ = h.WriteString("\x02")
	_, _ = h.Write(e.Body)
	return h.Sum64()
}

// checkUnchanged panics when a reader has changed a stored entry: a defect
// that would hand the next reader someone else's edit.
func (s *stored) checkUnchanged() {
	if s.sum != 0 && checksum(s.entry) != s.sum {
		panic("cache: a reader changed a shared cache entry (" + s.backend + "): entries are read-only")
	}
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
	if verify() {
		s.checkUnchanged()
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
	st := &stored{key: key, backend: backend, entry: e}
	if verify() {
		st.sum = checksum(e)
	}
	if c.rc.SetWithTTL(key, st, cost, ttl) {
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
	// hash/fnv's FNV-1a, inline: no hasher nor byte slices per read.
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(backend); i++ {
		h = (h ^ uint64(backend[i])) * prime64
	}
	h *= prime64 // the 0 byte between the two
	for i := 0; i < len(path); i++ {
		h = (h ^ uint64(path[i])) * prime64
	}
	return h % genSlots
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
	// counters holds each (backend, result) counter once looked up: every
	// cached read counts one, and the vector's lookup hashes the labels.
	counters sync.Map // [2]string → prometheus.Counter
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
	if m == nil {
		return
	}
	k := [2]string{backend, string(r)}
	c, ok := m.counters.Load(k)
	if !ok {
		c, _ = m.counters.LoadOrStore(k, m.requests.WithLabelValues(backend, string(r)))
	}
	c.(prometheus.Counter).Inc()
}

func (m *Metrics) evicted(backend, reason string) {
	if m != nil {
		m.evictions.WithLabelValues(backend, reason).Inc()
	}
}
