package redisstate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/state/redisstate"
	"github.com/carerecords/fhir-facade/state/redistest"
)

// TestCache: what one replica keeps the other finds, under the generation
// it was read at; an invalidation moves the path on and is told to every
// subscriber; an answer fetched while a write was in flight is kept under
// the abandoned generation, so never served.
func TestCache(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, nil).Cache(), open(t, srv, nil).Cache()
	ctx := context.Background()
	var mu sync.Mutex
	var dropped []string
	got := make(chan struct{}, 8)
	b.Subscribe(func(backend, path string) {
		mu.Lock()
		dropped = append(dropped, backend+" "+path)
		mu.Unlock()
		got <- struct{}{}
	})
	time.Sleep(100 * time.Millisecond) // the subscription is made

	v, gen, err := a.Get(ctx, "pds", "/Patient/9000000009", "k1")
	if v != nil || err != nil {
		t.Fatalf("empty cache: %q %v", v, err)
	}
	if err := a.Set(ctx, "pds", "/Patient/9000000009", "k1", gen, []byte("answer"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, backend, path, key string
		want                     string
	}{
		{"the other replica", "pds", "/Patient/9000000009", "k1", "answer"},
		{"another key", "pds", "/Patient/9000000009", "k2", ""},
	} {
		v, _, err := b.Get(ctx, tc.backend, tc.path, tc.key)
		if err != nil || string(v) != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, v, err, tc.want)
		}
	}
	// A read starts (generation gen), a write invalidates, the read's
	// answer arrives and is kept: no one finds it.
	_, inflight, _ := b.Get(ctx, "pds", "/Patient/9000000009", "k3")
	if err := a.Invalidate(ctx, "pds", "/Patient/9000000009"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "pds", "/Patient/9000000009", "k3", inflight, []byte("stale"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"k1", "k3"} {
		if v, _, err := b.Get(ctx, "pds", "/Patient/9000000009", key); v != nil || err != nil {
			t.Errorf("%s after the write: %q %v", key, v, err)
		}
	}
	select {
	case <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("the invalidation was not told to the subscriber")
	}
	mu.Lock()
	if len(dropped) != 1 || dropped[0] != "pds /Patient/9000000009" {
		t.Errorf("dropped %v", dropped)
	}
	mu.Unlock()
	// Redis down: nothing found, nothing kept, at once.
	srv.Stop()
	c := open(t, srv, nil)
	if _, _, err := c.Cache().Get(ctx, "pds", "/Patient/9000000009", "k1"); !errors.Is(err, redisstate.ErrDown) {
		t.Errorf("get with Redis down: %v", err)
	}
}
