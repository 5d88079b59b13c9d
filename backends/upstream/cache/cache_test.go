package cache_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream/cache"
)

func TestGetSet(t *testing.T) {
	c, err := cache.New(cache.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := &cache.Entry{Status: 200, Header: http.Header{"Etag": {`W/"1"`}}, Body: []byte(`{}`), Expires: time.Now().Add(time.Minute)}
	if _, ok := c.Get("k"); ok {
		t.Fatal("an empty cache found k")
	}
	c.Set("pds", "k", e, time.Minute)
	got, ok := c.Get("k")
	if !ok || got != e {
		t.Fatalf("Get after Set = %v, %v", got, ok)
	}
	c.Set("pds", "zero ttl", e, 0)
	if _, ok := c.Get("zero ttl"); ok {
		t.Error("an entry with no TTL was kept")
	}
}

func TestGenerations(t *testing.T) {
	c, err := cache.New(cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := c.Generation("pds", "/Patient/9000000009")
	other := c.Generation("pds", "/Patient/9000000017")
	scr := c.Generation("scr", "/Patient/9000000009")
	c.Invalidate("pds", "/Patient/9000000009")
	if c.Generation("pds", "/Patient/9000000009") == g {
		t.Error("Invalidate did not move the generation")
	}
	if c.Generation("pds", "/Patient/9000000017") != other || c.Generation("scr", "/Patient/9000000009") != scr {
		t.Error("Invalidate moved another path's or backend's generation")
	}
}

func TestNilCache(t *testing.T) {
	var c *cache.Cache
	c.Set("pds", "k", &cache.Entry{}, time.Minute)
	if _, ok := c.Get("k"); ok {
		t.Error("a nil cache found k")
	}
	c.Invalidate("pds", "/p")
	if c.Generation("pds", "/p") != 0 {
		t.Error("a nil cache has generations")
	}
	c.Close()
	var m *cache.Metrics
	m.Count("pds", cache.Hit)
}

func TestClosedCacheKeepsNothing(t *testing.T) {
	c, err := cache.New(cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Set("pds", "k", &cache.Entry{Status: 200}, time.Minute)
	c.Close()
	c.Close()
	c.Set("pds", "k2", &cache.Entry{Status: 200}, time.Minute)
	if _, ok := c.Get("k"); ok {
		t.Error("a closed cache found k")
	}
	if _, ok := c.Get("k2"); ok {
		t.Error("a closed cache kept k2")
	}
}

func TestGroupCoalesces(t *testing.T) {
	var g cache.Group[int]
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	fn := func(context.Context) (int, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		<-release
		return 42, nil
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := g.Do(context.Background(), "k", fn)
			if v != 42 || err != nil {
				t.Errorf("Do = %d, %v", v, err)
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if calls, waiters := g.Waiting(); calls == 1 && waiters == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the callers did not join one call")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	if c, w := g.Waiting(); c != 0 || w != 0 {
		t.Errorf("after the call: %d calls, %d waiters", c, w)
	}
	// Once done, the next caller calls afresh.
	release = make(chan struct{})
	close(release)
	if _, err := g.Do(context.Background(), "k", fn); err != nil || calls != 2 {
		t.Errorf("a later call: %v, %d calls", err, calls)
	}
}

func TestGroupKeepsTheDeadlineNotTheCancellation(t *testing.T) {
	var g cache.Group[string]
	deadline := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.WithValue(context.Background(), ctxKey{}, "v"), deadline)
	defer cancel()
	v, err := g.Do(ctx, "k", func(fctx context.Context) (string, error) {
		if dl, ok := fctx.Deadline(); !ok || !dl.Equal(deadline) {
			return "", errors.New("the deadline was lost")
		}
		cancel()
		if fctx.Err() != nil {
			return "", errors.New("the caller's cancellation reached the call")
		}
		return fctx.Value(ctxKey{}).(string), nil
	})
	// The only caller left (cancel) before the call returned: either
	// outcome is possible, but never the call's own complaints.
	if err != nil && err != context.Canceled {
		t.Fatal(err)
	}
	if err == nil && v != "v" {
		t.Errorf("value %q", v)
	}
}

type ctxKey struct{}

func TestGroupPanicIsAnError(t *testing.T) {
	var g cache.Group[int]
	_, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err %v, want the panic as an error", err)
	}
	if c, _ := g.Waiting(); c != 0 {
		t.Error("the panicked call is still in flight")
	}
}

// TestReadersMustNotChangeEntries: entries are handed out without a copy,
// so in test binaries a reader's change to one is a panic at the next Get,
// whichever part it changed.
func TestReadersMustNotChangeEntries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *cache.Entry)
	}{
		{"body byte", func(e *cache.Entry) { e.Body[2] = 'X' }},
		{"body length", func(e *cache.Entry) { e.Body = e.Body[:1] }},
		{"header value", func(e *cache.Entry) { e.Header["Etag"][0] = `W/"2"` }},
		{"header added", func(e *cache.Entry) { e.Header.Set("Content-Location", "/x") }},
		{"status", func(e *cache.Entry) { e.Status = 404 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cache.New(cache.Options{MaxBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Set("pds", "k", &cache.Entry{Status: 200, Header: http.Header{"Etag": {`W/"1"`}}, Body: []byte(`{"a":1}`)}, time.Minute)
			e, ok := c.Get("k")
			if !ok {
				t.Fatal("not stored")
			}
			if _, ok := c.Get("k"); !ok {
				t.Fatal("an unchanged entry was not found again")
			}
			tc.change(e)
			defer func() {
				if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "read-only") {
					t.Errorf("Get after a reader changed the entry: panic %v, want one saying entries are read-only", p)
				}
			}()
			c.Get("k")
		})
	}
}

// The generation slots are FNV-1a of backend, a 0 byte and path, as
// hash/fnv computes it: the same paths share a slot in every run.
func TestGenerationSlotIsFNV1a(t *testing.T) {
	for _, tc := range [][2]string{{"pds", "/Patient/9000000009"}, {"", ""}, {"scr", "/Bundle"}, {"nrl", "/DocumentReference/ü"}} {
		h := fnv.New64a()
		h.Write([]byte(tc[0] + "\x00" + tc[1]))
		if got, want := cache.Slot(tc[0], tc[1]), h.Sum64()%cache.GenSlots; got != want {
			t.Errorf("slot(%q, %q) = %d, want %d", tc[0], tc[1], got, want)
		}
	}
}
