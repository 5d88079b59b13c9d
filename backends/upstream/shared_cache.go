package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// SharedCache is a second level behind the client's cache that every
// replica of the facade reads and fills (package redisstate keeps one in
// Redis), so that an answer fetched by one replica is served by the others
// without a second call to the national service. Keys are the client's own
// (partition and headers included); path is the resource the key reads
// (resourcePath), whose writes abandon it on every replica.
type SharedCache interface {
	// Get returns the value stored under key at path's current write
	// generation, nil when there is none; gen names that generation, for
	// Set: an answer fetched while a write is in flight is kept under the
	// generation the write abandons.
	Get(ctx context.Context, backend, path, key string) (value []byte, gen uint64, err error)
	// Set stores value under key at generation gen of path, for ttl.
	Set(ctx context.Context, backend, path, key string, gen uint64, value []byte, ttl time.Duration) error
	// Invalidate moves path to a new generation on every replica: each
	// drops its own cached reads of it too (see redisstate.Cache.Subscribe).
	Invalidate(ctx context.Context, backend, path string) error
}

// ShareCache puts sc behind the client's cache: a miss there is looked up
// in sc before the backend is called, an answer kept is kept in both, and
// a write invalidates both on every replica. sc errors are no failure: the
// read goes on as if sc held nothing. It must be called before the client
// is used; a client without a cache ignores it.
func (c *Client) ShareCache(sc SharedCache) {
	if c.store == nil || sc == nil {
		return
	}
	c.l2 = sc
}

// sharedKey is a request's key in the shared cache: its key in the
// client's cache but for the local write generation, which each replica
// counts apart (the shared cache has generations of its own).
func (c *Client) sharedKey(ctx context.Context, req Request) string {
	return c.cacheKey(ctx, req, 0)
}

// sharedGet looks a request up in the shared cache. ok is true on a hit;
// gen is what sharedSet must be given.
func (c *Client) sharedGet(ctx context.Context, req Request, key string) (resp *Response, gen uint64, ok bool) {
	v, gen, err := c.l2.Get(ctx, c.cfg.Name, resourcePath(req.Path), key)
	if err != nil || v == nil {
		return nil, gen, false
	}
	resp, err = decodeShared(v)
	return resp, gen, err == nil
}

// sharedSet keeps a 200 answer in the shared cache, as keep does in the
// client's.
func (c *Client) sharedSet(ctx context.Context, req Request, key string, gen uint64, resp *Response) {
	if resp.Status != http.StatusOK {
		return
	}
	v, err := encodeShared(resp)
	if err != nil {
		return
	}
	// The answer is kept even when the caller has gone: it was fetched.
	_ = c.l2.Set(context.WithoutCancel(ctx), c.cfg.Name, resourcePath(req.Path), key, gen, v, c.cfg.CacheTTL)
}

// sharedInvalidate abandons path's reads in the shared cache.
func (c *Client) sharedInvalidate(path string) {
	if c.l2 == nil {
		return
	}
	ctx := context.Background()
	r, t := resourcePath(path), typePath(path)
	_ = c.l2.Invalidate(ctx, c.cfg.Name, r)
	if t != r {
		_ = c.l2.Invalidate(ctx, c.cfg.Name, t)
	}
}

// sharedHead is the first line of a shared cache value: the status and
// the kept headers; the body follows the newline as it is.
type sharedHead struct {
	Status int         `json:"s"`
	Header http.Header `json:"h,omitempty"`
}

func encodeShared(resp *Response) ([]byte, error) {
	h := make(http.Header, len(cachedHeaders))
	for _, k := range cachedHeaders {
		if vs := resp.Header.Values(k); len(vs) > 0 {
			h[k] = vs
		}
	}
	head, err := json.Marshal(sharedHead{Status: resp.Status, Header: h})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+1+len(resp.Body))
	out = append(append(append(out, head...), '\n'), resp.Body...)
	return out, nil
}

func decodeShared(v []byte) (*Response, error) {
	i := bytes.IndexByte(v, '\n')
	if i < 0 {
		return nil, errors.New("upstream: shared cache value without a head")
	}
	var h sharedHead
	if err := json.Unmarshal(v[:i], &h); err != nil {
		return nil, err
	}
	if h.Header == nil {
		h.Header = http.Header{}
	}
	return &Response{Status: h.Status, Header: h.Header, Body: v[i+1:]}, nil
}
