package upstream_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/backends/upstream/cache"
)

// memShared is a SharedCache in memory with the semantics redisstate.Cache
// has in Redis: generations per path, invalidations told to every
// subscribed replica's store.
type memShared struct {
	mu      sync.Mutex
	gens    map[string]uint64
	entries map[string][]byte
	stores  []*cache.Cache
	sets    int
}

func newMemShared() *memShared {
	return &memShared{gens: map[string]uint64{}, entries: map[string][]byte{}}
}

func (m *memShared) Get(_ context.Context, backend, path, key string) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.gens[backend+"\x00"+path]
	return m.entries[key+"@"+strconv.FormatUint(g, 10)], g, nil
}

func (m *memShared) Set(_ context.Context, backend, path, key string, gen uint64, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key+"@"+strconv.FormatUint(gen, 10)] = value
	m.sets++
	return nil
}

func (m *memShared) Invalidate(_ context.Context, backend, path string) error {
	m.mu.Lock()
	m.gens[backend+"\x00"+path]++
	stores := m.stores
	m.mu.Unlock()
	for _, s := range stores {
		s.Invalidate(backend, path)
	}
	return nil
}

// TestSharedCacheAcrossReplicas: three clients with their own stores and
// one shared second level. An answer fetched by A is served by B and C
// without a backend call, with its headers; a write through C reaches
// every replica's store; what a partition fetched is never served to
// another; an error answer is not shared.
func TestSharedCacheAcrossReplicas(t *testing.T) {
	srv, _ := versioned(t)
	shared := newMemShared()
	var clients []*upstream.Client
	for range 3 {
		store, err := upstream.NewCache(1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(store.Close)
		c := newClient(t, srv.URL, upstream.Config{CacheTTL: 30 * time.Second, Cache: store}, nil)
		c.ShareCache(shared)
		shared.stores = append(shared.stores, store)
		clients = append(clients, c)
	}
	a, b, c := clients[0], clients[1], clients[2]
	ctx := upstream.WithCachePartition(context.Background(), "role=clinician;org=A1")
	version := func(r *upstream.Response) int {
		var body struct{ V int }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("body %s", r.Body)
		}
		return body.V
	}
	steps := []struct {
		name      string
		client    *upstream.Client
		ctx       context.Context
		write     bool
		wantCalls int
		wantV     int
	}{
		{"A fetches", a, ctx, false, 1, 1},
		{"B is served A's answer", b, ctx, false, 1, 1},
		{"C too", c, ctx, false, 1, 1},
		{"B again, from its own store", b, ctx, false, 1, 1},
		{"another partition fetches its own", b, context.Background(), false, 2, 1},
		{"C writes", c, ctx, true, 3, 2},
		{"A fetches afresh", a, ctx, false, 4, 2},
		{"B is served A's new answer", b, ctx, false, 4, 2},
	}
	calls := 0
	for _, s := range steps {
		if s.write {
			if _, err := s.client.Do(s.ctx, upstream.Request{Method: http.MethodPatch, Path: testPath, Body: []byte(`[]`)}); err != nil {
				t.Fatal(err)
			}
		} else {
			r := read(t, s.ctx, s.client, testPath, nil)
			if v := version(r); v != s.wantV {
				t.Errorf("%s: version %d, want %d", s.name, v, s.wantV)
			}
			// A cached answer keeps the headers the clients read, no other.
			cached := srv.count() == calls
			if r.Header.Get("ETag") != `W/"`+strconv.Itoa(s.wantV)+`"` || cached && r.Header.Get("Retry-After") != "" {
				t.Errorf("%s: headers %v", s.name, r.Header)
			}
		}
		if got := srv.count(); got != s.wantCalls {
			t.Errorf("%s: %d backend calls, want %d", s.name, got, s.wantCalls)
		}
		calls = srv.count()
	}

	// A 404 is nobody's to share.
	miss := newScripted(t, always(http.StatusNotFound))
	shared2 := newMemShared()
	x := newClient(t, miss.URL, upstream.Config{CacheTTL: 30 * time.Second}, nil)
	x.ShareCache(shared2)
	_, _ = x.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
	if shared2.sets != 0 {
		t.Errorf("a 404 was put in the shared cache %d times", shared2.sets)
	}
}
