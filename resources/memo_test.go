package resources_test

import (
	"errors"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/resources"
)

func TestMemo(t *testing.T) {
	m, err := resources.NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	calls := 0
	mapFn := func(id string) func() (*resources.Resource, error) {
		return func() (*resources.Resource, error) {
			calls++
			return &resources.Resource{Type: "Patient", ID: id}, nil
		}
	}
	a1, _ := m.Map("k", []byte(`{"id":"a"}`), mapFn("a"))
	// ristretto admits asynchronously; wait until the entry is visible.
	deadline := time.Now().Add(2 * time.Second)
	var a2 *resources.Resource
	for {
		a2, _ = m.Map("k", []byte(`{"id":"a"}`), mapFn("a"))
		if a2 == a1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a2 != a1 {
		t.Fatal("the same payload was mapped again instead of being remembered")
	}
	if a1.RenderKey == "" {
		t.Error("no RenderKey")
	}
	b, _ := m.Map("k", []byte(`{"id":"b"}`), mapFn("b"))
	if b.ID != "b" || b.RenderKey == a1.RenderKey {
		t.Errorf("different payload: got %s with key %s (a has %s)", b.ID, b.RenderKey, a1.RenderKey)
	}
	c, _ := m.Map("other-kind", []byte(`{"id":"a"}`), mapFn("c"))
	if c == a1 || c.ID != "c" {
		t.Error("the kind is not part of the key")
	}
	if _, err := m.Map("k", []byte("bad"), func() (*resources.Resource, error) { return nil, errors.New("boom") }); err == nil {
		t.Error("mapping error swallowed")
	}
	var nilMemo *resources.Memo
	before := calls
	nilMemo.Map("k", []byte("x"), mapFn("x"))
	nilMemo.Map("k", []byte("x"), mapFn("x"))
	if calls-before != 2 {
		t.Error("a nil memo must always map")
	}
}

// A shared resource keeps one rendering: the one its renderer stored under
// its RenderKey; another renderer or another key finds nothing.
func TestRendering(t *testing.T) {
	a, b := new(int), new(int)
	var nilSlot *resources.Rendering
	if _, ok := nilSlot.Load(a, "k"); ok {
		t.Error("a nil Rendering holds something")
	}
	nilSlot.Store(a, "k", []byte("x")) // no panic
	r := new(resources.Rendering)
	if _, ok := r.Load(a, "k"); ok {
		t.Error("an empty Rendering holds something")
	}
	r.Store(a, "k", []byte(`{"a":1}`))
	for _, tc := range []struct {
		by   any
		key  string
		want bool
	}{{a, "k", true}, {b, "k", false}, {a, "k2", false}} {
		got, ok := r.Load(tc.by, tc.key)
		if ok != tc.want || ok && string(got) != `{"a":1}` {
			t.Errorf("Load(%p, %q) = %s, %v; want found %v", tc.by, tc.key, got, ok, tc.want)
		}
	}
	r.Store(b, "k", []byte(`{"b":1}`))
	if _, ok := r.Load(a, "k"); ok {
		t.Error("the replaced rendering is still found")
	}
}
