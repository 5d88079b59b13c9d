package resources

import (
	"bytes"
	"strconv"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
)

// Memo remembers what a backend payload mapped to. Mappers are pure, so the
// same payload bytes always map to the same Resource; on a hit the provider
// skips decoding and mapping (the larger part of a read's CPU). A hit is
// confirmed by comparing the payload bytes, so two payloads can never be
// confused, whatever their hashes.
//
// Each stored Resource gets a RenderKey unique to that mapping, so the
// server's cache of rendered JSON is exactly as fresh as the memo.
// Resources handed out by a Memo are shared: callers must not modify them.
type Memo struct {
	cache *ristretto.Cache[uint64, *memoEntry]
	seq   atomic.Uint64
}

type memoEntry struct {
	kind    string
	payload []byte
	res     []*Resource
}

// NewMemo returns a memo bounded to about maxBytes of payloads and mapped
// resources.
func NewMemo(maxBytes int64) (*Memo, error) {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *memoEntry]{
		NumCounters: 100_000,
		MaxCost:     maxBytes,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &Memo{cache: c}, nil
}

// Map returns the Resource that payload maps to under kind (which must name
// everything besides the payload that the mapping depends on, e.g. the NHS
// number asked for), calling mapFn only on a miss. A nil Memo always maps.
func (m *Memo) Map(kind string, payload []byte, mapFn func() (*Resource, error)) (*Resource, error) {
	rs, err := m.MapAll(kind, payload, func() ([]*Resource, error) {
		r, err := mapFn()
		if err != nil {
			return nil, err
		}
		return []*Resource{r}, nil
	})
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// MapAll is Map for a payload that maps to several resources (a Bundle from
// a backend, say). The returned slice is shared: do not modify it.
func (m *Memo) MapAll(kind string, payload []byte, mapFn func() ([]*Resource, error)) ([]*Resource, error) {
	if m == nil {
		return mapFn()
	}
	// The key is a hash (no copy of a 50 KB payload per lookup); a hit is
	// confirmed byte for byte, so a collision is only ever a miss.
	h := xxhash.New()
	_, _ = h.WriteString(kind)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(payload)
	key := h.Sum64()
	if e, ok := m.cache.Get(key); ok && e.kind == kind && bytes.Equal(e.payload, payload) {
		return e.res, nil
	}
	rs, err := mapFn()
	if err != nil {
		return nil, err
	}
	prefix := kind + "#" + strconv.FormatUint(m.seq.Add(1), 10) + "/"
	for i, r := range rs {
		r.RenderKey = prefix + strconv.Itoa(i)
		r.Rendering = new(Rendering)
	}
	own := append([]byte(nil), payload...)
	// Cost: the payload, the key, the mapped protos (about the payload's
	// size again) and their rendering (about the same again).
	m.cache.Set(key, &memoEntry{kind: kind, payload: own, res: rs}, int64(4*len(payload)+len(kind)+256))
	return rs, nil
}

// Close releases the memo.
func (m *Memo) Close() {
	if m != nil {
		m.cache.Close()
	}
}
