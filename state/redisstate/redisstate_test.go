package redisstate_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/carerecords/fhir-facade/state/redisstate"
	"github.com/carerecords/fhir-facade/state/redistest"
)

// open is one replica's client of srv, closed when the test ends.
func open(t *testing.T, srv *redistest.Server, reg prometheus.Registerer) *redisstate.Client {
	t.Helper()
	c, err := redisstate.Open(redisstate.Options{URL: srv.URL(), Registerer: reg, PingInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestStore(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, nil), open(t, srv, nil)
	ctx := context.Background()
	sa, sb := a.Store("test"), b.Store("test")
	other := b.Store("other")

	if err := sa.Put(ctx, "id1", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		get  func() ([]byte, error)
		want []byte
	}{
		{"get on another replica", func() ([]byte, error) { return sb.Get(ctx, "id1") }, []byte("v1")},
		{"get again (not single use)", func() ([]byte, error) { return sb.Get(ctx, "id1") }, []byte("v1")},
		{"another key space", func() ([]byte, error) { return other.Get(ctx, "id1") }, nil},
		{"unknown id", func() ([]byte, error) { return sb.Get(ctx, "id2") }, nil},
		{"take", func() ([]byte, error) { return sb.Take(ctx, "id1") }, []byte("v1")},
		{"take again", func() ([]byte, error) { return sa.Take(ctx, "id1") }, nil},
		{"get after take", func() ([]byte, error) { return sa.Get(ctx, "id1") }, nil},
	} {
		got, err := tc.get()
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
	if err := sa.Put(ctx, "id3", []byte("v3"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := sb.Delete(ctx, "id3"); err != nil {
		t.Fatal(err)
	}
	if v, err := sa.Get(ctx, "id3"); v != nil || err != nil {
		t.Errorf("after delete: %q %v", v, err)
	}
	// The key is the id's hash: the id itself is not in Redis.
	keys, err := a.Redis().Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if bytes.Contains([]byte(k), []byte("id")) {
			t.Errorf("key %q holds the id", k)
		}
	}
	// TTL: gone once expired.
	if err := sa.Put(ctx, "short", []byte("v"), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if v, err := sb.Get(ctx, "short"); v != nil || err != nil {
		t.Errorf("after its TTL: %q %v", v, err)
	}
	if err := sa.Put(ctx, "x", nil, time.Minute); err == nil {
		t.Error("an empty value was stored")
	}
	if err := sa.Put(ctx, "x", []byte("v"), 0); err == nil {
		t.Error("a value without TTL was stored")
	}
}

// TestSpendOnce: of many replicas spending one code at once, exactly one
// gets it; the others, and any later, find it spent; after its TTL it is
// unknown.
func TestSpendOnce(t *testing.T) {
	srv := redistest.Start(t)
	clients := []*redisstate.Client{open(t, srv, nil), open(t, srv, nil), open(t, srv, nil)}
	ctx := context.Background()
	if err := clients[0].Store("code").Put(ctx, "code-1", []byte("grant"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var got, spent atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, wasSpent, err := clients[i%3].Store("code").Spend(ctx, "code-1")
			switch {
			case err != nil:
				t.Error(err)
			case wasSpent && v == nil:
				spent.Add(1)
			case !wasSpent && string(v) == "grant":
				got.Add(1)
			default:
				t.Errorf("spend: %q spent=%v", v, wasSpent)
			}
		}()
	}
	wg.Wait()
	if got.Load() != 1 || spent.Load() != 29 {
		t.Errorf("taken %d times, found spent %d times; want 1 and 29", got.Load(), spent.Load())
	}
	time.Sleep(400 * time.Millisecond)
	if v, wasSpent, err := clients[1].Store("code").Spend(ctx, "code-1"); v != nil || wasSpent || err != nil {
		t.Errorf("after expiry: %q spent=%v %v, want unknown", v, wasSpent, err)
	}
	if v, wasSpent, err := clients[1].Store("code").Spend(ctx, "never"); v != nil || wasSpent || err != nil {
		t.Errorf("never issued: %q spent=%v %v", v, wasSpent, err)
	}
}

// TestLimiterShared: three replicas drawing on one quota of 10 calls a
// second, burst 3, get no more than limit×time + burst between them.
func TestLimiterShared(t *testing.T) {
	srv := redistest.Start(t)
	lims := []*redisstate.Limiter{open(t, srv, nil).Limiter(), open(t, srv, nil).Limiter(), open(t, srv, nil).Limiter()}
	ctx := context.Background()
	const limit, burst = 10.0, 3
	start := time.Now()
	var allowed int
	var lastRetry time.Duration
	for time.Since(start) < 1200*time.Millisecond {
		for _, l := range lims {
			ok, retry, err := l.Allow(ctx, "pds:app", limit, burst)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				allowed++
			} else {
				if retry <= 0 || retry > 150*time.Millisecond {
					t.Fatalf("refused with retry-after %v, want within one emission interval (100ms)", retry)
				}
				lastRetry = retry
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start).Seconds()
	if max := int(limit*elapsed) + burst + 1; allowed > max || allowed < int(limit*elapsed) {
		t.Errorf("%d calls allowed in %.2fs across three replicas; want between %d and %d", allowed, elapsed, int(limit*elapsed), max)
	}
	if lastRetry == 0 {
		t.Error("no call was refused")
	}
	// Another application's quota is its own.
	if ok, _, err := lims[0].Allow(ctx, "pds:other-app", limit, burst); !ok || err != nil {
		t.Errorf("another application: %v %v", ok, err)
	}
}

// TestDownAndBack: with Redis killed the client is marked down, its limiter
// refuses at once with ErrDown (the caller's cue to fall back) and counts
// the fallback; when Redis returns the client is up again and OnUp runs.
func TestDownAndBack(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	c := open(t, srv, reg)
	back := make(chan struct{}, 1)
	c.OnUp(func() { back <- struct{}{} })
	if c.Mode() != redisstate.ModeUp {
		t.Fatalf("mode %s at start", c.Mode())
	}
	srv.Stop()
	ctx := context.Background()
	// The first command to fail marks it down, or the next PING does.
	_, _, _ = c.Limiter().Allow(ctx, "k", 5, 1)
	waitFor(t, func() bool { return c.Mode() == redisstate.ModeDown }, "down")
	start := time.Now()
	if _, _, err := c.Limiter().Allow(ctx, "k", 5, 1); !errors.Is(err, redisstate.ErrDown) {
		t.Errorf("allow while down: %v", err)
	}
	if d := time.Since(start); d > 10*time.Millisecond {
		t.Errorf("allow while down took %v: it must not wait on Redis", d)
	}
	if _, err := c.Store("s").Get(ctx, "x"); err == nil {
		t.Error("get while down: no error")
	}
	if n := testutil.ToFloat64(fallbacks(t, reg)); n < 1 {
		t.Errorf("fallbacks counted: %v", n)
	}
	srv.Start()
	waitFor(t, func() bool { return c.Mode() == redisstate.ModeUp }, "up again")
	select {
	case <-back:
	case <-time.After(2 * time.Second):
		t.Error("OnUp not called")
	}
	if ok, _, err := c.Limiter().Allow(ctx, "k", 5, 1); !ok || err != nil {
		t.Errorf("allow after recovery: %v %v", ok, err)
	}
}

func fallbacks(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "facade_redis_fallbacks_total" {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
			for _, m := range mf.GetMetric() {
				c.Add(m.GetCounter().GetValue())
			}
			return c
		}
	}
	t.Fatal("facade_redis_fallbacks_total not registered")
	return nil
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSharedValue(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var made atomic.Int32
	gen := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) { made.Add(1); return []byte(v), nil }
	}
	first, err := open(t, srv, nil).Shared(ctx, "key", gen("a"))
	if err != nil || string(first) != "a" {
		t.Fatalf("first: %q %v", first, err)
	}
	second, err := open(t, srv, nil).Shared(ctx, "key", gen("b"))
	if err != nil || string(second) != "a" {
		t.Errorf("second replica: %q %v, want the first's", second, err)
	}
	if made.Load() != 1 {
		t.Errorf("made %d values, want 1 (the second reads the first's)", made.Load())
	}
}

func TestReplay(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, nil).Replay("jti"), open(t, srv, nil).Replay("jti")
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	for _, tc := range []struct {
		name  string
		r     *redisstate.Replay
		key   string
		exp   time.Time
		fresh bool
	}{
		{"first use", a, "jti-1", exp, true},
		{"replayed on another replica", b, "jti-1", exp, false},
		{"another token", b, "jti-2", exp, true},
		{"already expired", a, "jti-3", time.Now().Add(-time.Second), false},
	} {
		fresh, err := tc.r.Claim(ctx, tc.key, tc.exp)
		if err != nil || fresh != tc.fresh {
			t.Errorf("%s: fresh=%v %v, want %v", tc.name, fresh, err, tc.fresh)
		}
	}
}
