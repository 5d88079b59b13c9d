package resources

import (
	"bytes"
	"strconv"
	"sync/atomic"

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
	cache *ristretto.Cache[string, *memoEntry]
	seq   atomic.Uint64
}

type memoEntry struct {
	payload []byte
	res     *Resource
}

// NewMemo returns a memo bounded to about maxBytes of payloads and mapped
// resources.
func NewMemo(maxBytes int64) (*Memo, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, *memoEntry]{
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
	if m == nil {
		return mapFn()
	}
	key := kind + "\x00" + string(payload)
	if e, ok := m.cache.Get(key); ok && bytes.Equal(e.payload, payload) {
		return e.res, nil
	}
	res, err := mapFn()
	if err != nil {
		return nil, err
	}
	res.RenderKey = kind + "#" + strconv.FormatUint(m.seq.Add(1), 10)
	own := append([]byte(nil), payload...)
	// Cost: the payload, the key, and the mapped proto (about the payload's size again).
	m.cache.Set(key, &memoEntry{payload: own, res: res}, int64(3*len(payload)+len(kind)+256))
	return res, nil
}

// Close releases the memo.
func (m *Memo) Close() {
	if m != nil {
		m.cache.Close()
	}
}
