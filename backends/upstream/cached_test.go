package upstream_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// versioned is a backend whose every resource is at version *v: a read
// answers {"path":…,"v":n} with ETag W/"n", a PATCH moves to the next
// version.
func versioned(t *testing.T) (*scripted, *atomic.Int32) {
	t.Helper()
	var v atomic.Int32
	v.Store(1)
	srv := newScripted(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			v.Add(1)
		}
		n := v.Load()
		answer(w, http.StatusOK, fmt.Sprintf(`{"path":%q,"v":%d}`, r.URL.Path, n),
			"ETag", fmt.Sprintf(`W/"%d"`, n), "Last-Modified", "Wed, 25 Nov 2026 10:00:00 GMT",
			"Retry-After", "5", "X-Request-Id", r.Header.Get("X-Request-ID"))
	})
	return srv, &v
}

// cachingClient returns a pds client caching 30 s in its own store, on a
// fake clock, with its cache metrics in reg.
func cachingClient(t *testing.T, srvURL string, reg *prometheus.Registry) (*upstream.Client, *fakeClock) {
	t.Helper()
	var m *upstream.Metrics
	if reg != nil {
		m = upstream.NewMetrics(reg)
	}
	c := newClient(t, srvURL, upstream.Config{CacheTTL: 30 * time.Second}, m)
	t.Cleanup(c.Close)
	return c, useFakeClock(c)
}

func read(t *testing.T, ctx context.Context, c *upstream.Client, path string, q url.Values) *upstream.Response {
	t.Helper()
	res, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: path, Query: q, Op: "read"})
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return res
}

func TestCacheHitMissAndTTL(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _ := versioned(t)
	c, clk := cachingClient(t, srv.URL, reg)
	ctx := context.Background()

	first := read(t, ctx, c, testPath, nil)
	second := read(t, ctx, c, testPath, nil)
	if srv.count() != 1 {
		t.Fatalf("%d backend calls for two reads, want 1", srv.count())
	}
	if string(second.Body) != string(first.Body) || second.Status != 200 {
		t.Errorf("hit %d %s, miss %s", second.Status, second.Body, first.Body)
	}
	// The headers callers read are kept; the rest (Retry-After, the
	// backend's echo of the first call's X-Request-ID) are not.
	for k, want := range map[string]string{"Etag": `W/"1"`, "Content-Type": "application/fhir+json", "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT", "Retry-After": "", "X-Request-Id": ""} {
		if got := second.Header.Get(k); got != want {
			t.Errorf("cached %s = %q, want %q", k, got, want)
		}
	}
	// A hit is the cache's own answer, not a copy (Response: read-only);
	// a caller that changed one would be caught at the next read.
	if &second.Body[0] != &read(t, ctx, c, testPath, nil).Body[0] {
		t.Error("a cache hit was copied")
	}
	func() {
		saved := second.Body[0]
		second.Body[0] = 'X'
		defer func() {
			second.Body[0] = saved
			if recover() == nil {
				t.Error("a caller changed a cached answer and the next read did not panic")
			}
		}()
		read(t, ctx, c, testPath, nil)
	}()

	clk.Advance(29 * time.Second)
	read(t, ctx, c, testPath, nil)
	if srv.count() != 1 {
		t.Errorf("refetched before the TTL: %d calls", srv.count())
	}
	clk.Advance(time.Second)
	read(t, ctx, c, testPath, nil)
	if srv.count() != 2 {
		t.Errorf("not refetched at the TTL: %d calls", srv.count())
	}
	read(t, ctx, c, testPath, nil)
	if srv.count() != 2 {
		t.Errorf("the refetched answer was not kept: %d calls", srv.count())
	}
	want := map[string]float64{`backend="pds",result="hit"`: 4, `backend="pds",result="miss"`: 2}
	if got := values(t, reg, "facade_backend_cache_requests_total"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cache requests %v, want %v", got, want)
	}
}

// Keys: what differs in the request differs in the key; the order of query
// parameters does not.
func TestCacheKeys(t *testing.T) {
	srv, _ := versioned(t)
	c, _ := cachingClient(t, srv.URL, nil)
	ctx := context.Background()
	orgA := http.Header{"NHSD-End-User-Organisation-ODS": {"A1"}}
	tests := []struct {
		name      string
		path      string
		query     url.Values
		header    http.Header
		wantCalls int // backend calls so far, after this read
	}{
		{name: "search", path: "/Patient", query: url.Values{"family": {"Smith"}, "gender": {"female"}}, wantCalls: 1},
		{name: "same search", path: "/Patient", query: url.Values{"gender": {"female"}, "family": {"Smith"}}, wantCalls: 1},
		{name: "another value", path: "/Patient", query: url.Values{"gender": {"male"}, "family": {"Smith"}}, wantCalls: 2},
		{name: "repeated values in another order", path: "/Patient", query: url.Values{"given": {"A", "B"}}, wantCalls: 3},
		{name: "repeated values reversed", path: "/Patient", query: url.Values{"given": {"B", "A"}}, wantCalls: 4},
		{name: "a read", path: testPath, wantCalls: 5},
		{name: "a read with an organisation header", path: testPath, header: orgA, wantCalls: 6},
		{name: "the same header, another spelling", path: testPath, header: http.Header{"nhsd-end-user-organisation-ods": {"A1"}}, wantCalls: 6},
		{name: "another organisation", path: testPath, header: http.Header{"NHSD-End-User-Organisation-ODS": {"B2"}}, wantCalls: 7},
		{name: "a per-call X-Request-ID is not part of the key", path: testPath, header: http.Header{"X-Request-ID": {"0f8fad5b-d9cb-469f-a165-70867728950e"}}, wantCalls: 7},
	}
	for _, tt := range tests {
		if _, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: tt.path, Query: tt.query, Header: tt.header}); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := srv.count(); got != tt.wantCalls {
			t.Errorf("%s: %d backend calls, want %d", tt.name, got, tt.wantCalls)
		}
	}
}

// Nothing fetched in one partition is served in another; the empty
// partition is one like the others.
func TestCachePartitions(t *testing.T) {
	srv, _ := versioned(t)
	c, _ := cachingClient(t, srv.URL, nil)
	base := context.Background()
	steps := []struct {
		partition string
		set       bool
		wantCalls int
	}{
		{partition: "", wantCalls: 1},
		{partition: "role=clinician;org=A1", set: true, wantCalls: 2},
		{partition: "role=admin;org=A1", set: true, wantCalls: 3},
		{partition: "role=clinician;org=A1", set: true, wantCalls: 3},
		{partition: "", set: true, wantCalls: 3},
		{partition: "", wantCalls: 3},
		// Partitions are length-prefixed in the key: no partition can be
		// made to look like another plus part of the path.
		{partition: "1:x", set: true, wantCalls: 4},
	}
	for i, s := range steps {
		ctx := base
		if s.set {
			ctx = upstream.WithCachePartition(ctx, s.partition)
		}
		if upstream.CachePartition(ctx) != s.partition {
			t.Fatalf("CachePartition = %q", upstream.CachePartition(ctx))
		}
		read(t, ctx, c, testPath, nil)
		if got := srv.count(); got != s.wantCalls {
			t.Errorf("step %d (%q): %d backend calls, want %d", i, s.partition, got, s.wantCalls)
		}
	}
}

// The caller's headers are part of the key: in one partition (same roles
// and organisation), each user's first read reaches the backend, whose
// audit trail names them; a user's repeated read is a hit.
func TestCacheKeyHasCallerHeaders(t *testing.T) {
	srv, _ := versioned(t)
	c, _ := cachingClient(t, srv.URL, nil)
	part := upstream.WithCachePartition(context.Background(), "role=clinician;org=A1")
	user := func(urid string) context.Context {
		return upstream.WithCallerHeaders(part, http.Header{"Nhsd-Session-Urid": {urid}, "Nhsd-End-User-Organisation-Ods": {"A1"}})
	}
	steps := []struct {
		ctx       context.Context
		wantCalls int
	}{
		{user("555021935107"), 1},
		{user("555021935107"), 1},
		{user("555021935108"), 2},
		{user("555021935108"), 2},
		{part, 3},
	}
	for i, s := range steps {
		read(t, s.ctx, c, testPath, nil)
		if got := srv.count(); got != s.wantCalls {
			t.Errorf("step %d: %d backend calls, want %d", i, got, s.wantCalls)
		}
	}
}

// Only 200s are kept; a 404 or a 503 is asked again.
func TestCacheKeepsOnly200(t *testing.T) {
	for _, status := range []int{201, 204, 304, 404, 410, 429, 500, 503} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv := newScripted(t, always(status))
			c := newClient(t, srv.URL, upstream.Config{CacheTTL: time.Minute, MaxAttempts: 1, BreakerThreshold: -1}, nil)
			t.Cleanup(c.Close)
			for range 2 {
				res := read(t, context.Background(), c, testPath, nil)
				if res.Status != status {
					t.Fatalf("status %d", res.Status)
				}
			}
			if srv.count() != 2 {
				t.Errorf("%d backend calls, want 2", srv.count())
			}
		})
	}
}

// WithNoCache fetches afresh, and the fresh answer replaces the cached one.
func TestCacheNoCacheBypass(t *testing.T) {
	reg := prometheus.NewRegistry()
	var v atomic.Int32
	srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		answer(w, http.StatusOK, fmt.Sprintf(`{"v":%d}`, v.Add(1)))
	})
	c, _ := cachingClient(t, srv.URL, reg)
	ctx := context.Background()
	if got := string(read(t, ctx, c, testPath, nil).Body); got != `{"v":1}` {
		t.Fatal(got)
	}
	noCache := upstream.WithNoCache(ctx)
	if !upstream.NoCache(noCache) || upstream.NoCache(ctx) {
		t.Fatal("NoCache does not report WithNoCache")
	}
	if got := string(read(t, noCache, c, testPath, nil).Body); got != `{"v":2}` {
		t.Errorf("no-cache read: %s, want a fresh answer", got)
	}
	if got := string(read(t, ctx, c, testPath, nil).Body); got != `{"v":2}` {
		t.Errorf("read after the no-cache read: %s, want the fresh answer, cached", got)
	}
	want := map[string]float64{`backend="pds",result="bypass"`: 1, `backend="pds",result="hit"`: 1, `backend="pds",result="miss"`: 1}
	if got := values(t, reg, "facade_backend_cache_requests_total"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cache requests %v, want %v", got, want)
	}
}

// A write through the client abandons the cached reads of its resource and
// the searches of its type, whatever its outcome; other resources stay.
func TestCacheInvalidatedByWrites(t *testing.T) {
	for _, method := range []string{http.MethodPatch, http.MethodPut, http.MethodPost, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			srv, v := versioned(t)
			c, _ := cachingClient(t, srv.URL, nil)
			ctx := context.Background()
			other := "/Patient/9000000017"
			search := url.Values{"family": {"Smith"}}
			read(t, ctx, c, testPath, nil)
			read(t, ctx, c, "/Patient", search)
			read(t, ctx, c, other, nil)
			calls := srv.count()

			if _, err := c.Do(ctx, upstream.Request{Method: method, Path: testPath, Body: []byte(`[]`)}); err != nil {
				t.Fatal(err)
			}
			v.Store(2)
			calls++
			if got := read(t, ctx, c, testPath, nil); got.Header.Get("Etag") != `W/"2"` {
				t.Errorf("read after %s: version %s, want 2", method, got.Header.Get("Etag"))
			}
			read(t, ctx, c, "/Patient", search)
			if got := srv.count() - calls; got != 2 {
				t.Errorf("%d of the resource and its search were fetched again, want both", got)
			}
			if got := read(t, ctx, c, other, nil); got.Header.Get("Etag") != `W/"1"` {
				t.Errorf("another patient was refetched: %s", got.Header.Get("Etag"))
			}
			// A write of a sub-path counts for its resource.
			calls = srv.count()
			if _, err := c.Do(ctx, upstream.Request{Method: method, Path: testPath + "/_history/2"}); err != nil {
				t.Fatal(err)
			}
			read(t, ctx, c, testPath, nil)
			if srv.count() != calls+2 {
				t.Errorf("a write of %s/_history/2 left its resource cached", testPath)
			}
		})
	}
}

// A read in flight while a write completes may carry the old state: it is
// kept under the generation before the write, so the next read fetches.
func TestCacheNoStaleReadAfterAWrite(t *testing.T) {
	var (
		v       atomic.Int32
		holding atomic.Bool
	)
	v.Store(1)
	stalled := make(chan struct{})
	release := make(chan struct{})
	srv := newScripted(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			answer(w, http.StatusOK, fmt.Sprintf(`{"v":%d}`, v.Add(1)))
			return
		}
		body := fmt.Sprintf(`{"v":%d}`, v.Load())
		if holding.CompareAndSwap(true, false) {
			close(stalled)
			<-release // the read has its answer, but it is late
		}
		answer(w, http.StatusOK, body)
	})
	c, _ := cachingClient(t, srv.URL, nil)
	ctx := context.Background()
	holding.Store(true)
	old := make(chan string, 1)
	go func() { old <- string(read(t, ctx, c, testPath, nil).Body) }()
	<-stalled
	if _, err := c.Do(ctx, upstream.Request{Method: http.MethodPatch, Path: testPath, Body: []byte(`[]`)}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if got := <-old; got != `{"v":1}` {
		t.Fatalf("the stalled read: %s", got)
	}
	if got := string(read(t, ctx, c, testPath, nil).Body); got != `{"v":2}` {
		t.Errorf("read after the write: %s, want {\"v\":2}", got)
	}
}

// Concurrent identical misses make one backend call; every caller gets the
// answer (one shared, read-only Response).
func TestCacheCoalescesMisses(t *testing.T) {
	const callers = 100
	release := make(chan struct{})
	srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-release
		answer(w, http.StatusOK, `{"v":1}`, "ETag", `W/"1"`)
	})
	c, _ := cachingClient(t, srv.URL, nil)
	var wg sync.WaitGroup
	results := make([]*upstream.Response, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
		}()
	}
	waitFor(t, "every caller to wait for the one call", func() bool { return upstream.FlightWaiters(c) == callers })
	close(release)
	wg.Wait()
	if srv.count() != 1 {
		t.Errorf("%d backend calls for %d concurrent reads, want 1", srv.count(), callers)
	}
	for i := range callers {
		if errs[i] != nil || results[i].Status != 200 || string(results[i].Body) != `{"v":1}` {
			t.Fatalf("caller %d: %v %v", i, results[i], errs[i])
		}
	}
}

// A caller that gives up does not fail the others waiting for the same
// call; when every caller has given up, the call is cancelled.
func TestCacheCoalescedCallers(t *testing.T) {
	t.Run("the first caller leaves", func(t *testing.T) {
		release := make(chan struct{})
		srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			<-release
			answer(w, http.StatusOK, `{}`)
		})
		c, _ := cachingClient(t, srv.URL, nil)
		first, cancel := context.WithCancel(context.Background())
		firstErr := make(chan error, 1)
		go func() {
			_, err := c.Do(first, upstream.Request{Method: http.MethodGet, Path: testPath})
			firstErr <- err
		}()
		waitFor(t, "the call to start", func() bool { return srv.inFlight.Load() == 1 })
		second := make(chan error, 1)
		go func() {
			res, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
			if err == nil && res.Status != 200 {
				err = fmt.Errorf("status %d", res.Status)
			}
			second <- err
		}()
		waitFor(t, "the second caller to join", func() bool { return upstream.FlightWaiters(c) == 2 })
		cancel()
		if err := <-firstErr; fhirerr.CategoryOf(err) != fhirerr.Timeout || fhirerr.As(err).Backend != "pds" {
			t.Errorf("the caller who left: %v, want a categorised cancellation", err)
		}
		close(release)
		if err := <-second; err != nil {
			t.Errorf("the caller who stayed: %v", err)
		}
		if srv.count() != 1 {
			t.Errorf("%d backend calls, want 1", srv.count())
		}
	})
	t.Run("every caller leaves", func(t *testing.T) {
		cancelled := make(chan struct{})
		srv := newScripted(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			close(cancelled)
		})
		c, _ := cachingClient(t, srv.URL, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
		}()
		waitFor(t, "the call to start", func() bool { return srv.inFlight.Load() == 1 })
		cancel()
		<-done
		select {
		case <-cancelled:
		case <-time.After(10 * time.Second):
			t.Fatal("the backend call went on after every caller had left")
		}
	})
}

// Stream is never cached, nor are other methods than GET.
func TestCacheOnlyGETThroughDo(t *testing.T) {
	srv, _ := versioned(t)
	c, _ := cachingClient(t, srv.URL, nil)
	for range 2 {
		res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}, upstream.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	for range 2 {
		if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodHead, Path: testPath}); err != nil {
			t.Fatal(err)
		}
	}
	if srv.count() != 4 {
		t.Errorf("%d backend calls, want 4", srv.count())
	}
}

// Backends sharing a store never see each other's answers; the store's
// byte bound evicts.
func TestCacheSharedStore(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := upstream.NewMetrics(reg)
	store, err := upstream.NewCache(16<<10, m)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv, _ := versioned(t)
	pds := newClient(t, srv.URL, upstream.Config{Name: "pds", CacheTTL: time.Minute, Cache: store}, m)
	scr := newClient(t, srv.URL, upstream.Config{Name: "scr", CacheTTL: time.Minute, Cache: store}, m)
	ctx := context.Background()
	read(t, ctx, pds, testPath, nil)
	read(t, ctx, scr, testPath, nil)
	read(t, ctx, pds, testPath, nil)
	read(t, ctx, scr, testPath, nil)
	if srv.count() != 2 {
		t.Errorf("%d backend calls, want one per backend", srv.count())
	}
	// Far more than 16 KiB of answers: some are evicted or refused.
	for i := range 200 {
		read(t, ctx, pds, fmt.Sprintf("/Patient/%d", i), url.Values{"pad": {fmt.Sprintf("%01000d", i)}})
	}
	var dropped float64
	for _, v := range values(t, reg, "facade_backend_cache_evictions_total") {
		dropped += v
	}
	if dropped == 0 {
		t.Error("200 answers of 1 KB in a 16 KiB cache: no eviction counted")
	}
}
