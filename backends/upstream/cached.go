package upstream

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/backends/upstream/cache"
	"github.com/carerecords/fhir-facade/model/request"
)

// Backend reads are cached apart per request.Info.CachePartition (whatever
// decides what the caller may see, so that no answer fetched for one caller
// is served to another who may not see it; "" is a partition like any
// other), and bypass the cache when request.Info.NoCache says (each is then
// fetched afresh, and its answer refreshes the cache).

// WithCachePartition returns ctx whose request value has partition s.
//
// Deprecated: the server sets request.Info.CachePartition once per
// request; this remains for tests that make a context by hand.
func WithCachePartition(ctx context.Context, s string) context.Context {
	return request.Derive(ctx, func(i *request.Info) { i.CachePartition = s })
}

// CachePartition returns the request's cache partition, or "".
func CachePartition(ctx context.Context) string { return request.From(ctx).CachePartition }

// WithNoCache returns ctx whose backend reads bypass the cache.
//
// Deprecated: use request.WithNoCache.
func WithNoCache(ctx context.Context) context.Context { return request.WithNoCache(ctx) }

// NoCache reports whether the request's backend reads bypass the cache.
func NoCache(ctx context.Context) bool { return request.From(ctx).NoCache }

// cachedHeaders are the response headers kept with a cached answer: those
// the backend clients read. Retry-After and the rest are not kept.
var cachedHeaders = []string{"Content-Type", "Etag", "Last-Modified", "Content-Location"}

// cachedGet answers a GET from the cache, or fetches it once for all
// concurrent identical misses and keeps a 200. The one call carries the
// first caller's context values (X-Correlation-ID among them) and deadline.
func (c *Client) cachedGet(ctx context.Context, req Request) (*Response, error) {
	store := c.store
	// The generation is read before the backend is called: an answer
	// fetched while a write is in flight is kept under the old generation,
	// which the write's end abandons.
	key := c.cacheKey(ctx, req, store.Generation(c.cfg.Name, resourcePath(req.Path)))
	var l2key string
	if c.l2 != nil {
		l2key = c.sharedKey(ctx, req)
	}
	if NoCache(ctx) {
		c.metrics.cached(c.cfg.Name, cache.Bypass)
		var gen uint64
		if c.l2 != nil {
			_, gen, _ = c.sharedGet(ctx, req, l2key)
		}
		resp, err := c.call(ctx, req)
		if err == nil {
			c.keep(store, key, resp)
			if c.l2 != nil {
				c.sharedSet(ctx, req, l2key, gen, resp)
			}
		}
		return resp, err
	}
	if e, ok := store.Get(key); ok && c.now().Before(e.Expires) {
		c.metrics.cached(c.cfg.Name, cache.Hit)
		return &Response{Status: e.Status, Header: e.Header, Body: e.Body}, nil
	}
	c.metrics.cached(c.cfg.Name, cache.Miss)
	resp, err := c.flights.Do(ctx, key, func(ctx context.Context) (*Response, error) {
		var gen uint64
		if c.l2 != nil {
			// Another replica may have fetched it: kept here too.
			var resp *Response
			var ok bool
			if resp, gen, ok = c.sharedGet(ctx, req, l2key); ok {
				c.keep(store, key, resp)
				return resp, nil
			}
		}
		resp, err := c.call(ctx, req)
		if err == nil {
			c.keep(store, key, resp)
			if c.l2 != nil {
				c.sharedSet(ctx, req, l2key, gen, resp)
			}
		}
		return resp, err
	})
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return nil, c.contextError(ctx, err)
		}
		return nil, err
	}
	// The flight's answer is shared by every caller that joined it, and
	// by the cache: read-only (Response).
	return resp, nil
}

// keep stores a 200 answer under key.
func (c *Client) keep(store *cache.Cache, key string, resp *Response) {
	if resp.Status != http.StatusOK {
		return
	}
	h := make(http.Header, len(cachedHeaders))
	for _, k := range cachedHeaders {
		if vs := resp.Header.Values(k); len(vs) > 0 {
			h[k] = slices.Clone(vs)
		}
	}
	e := &cache.Entry{Status: resp.Status, Header: h, Body: resp.Body, Expires: c.now().Add(c.cfg.CacheTTL)}
	store.Set(c.cfg.Name, key, e, c.cfg.CacheTTL)
}

// cacheKey names a GET's answer: the backend, the caller's partition, the
// write generation of the resource, the path, the sorted query, and the
// headers the call is sent with (bar the per-call ids) — the caller's
// headers (WithCallerHeaders) among them, so that each user's first read
// reaches the national service and its audit trail — each field
// length-prefixed so that no two requests share a key.
func (c *Client) cacheKey(ctx context.Context, req Request, gen uint64) string {
	ri := request.From(ctx)
	// The headers sent (withCallerHeaders), canonical and sorted. A read
	// usually has no headers of its own: then they are the caller's,
	// used as they are rather than merged into a new map on every read.
	sent := ri.Forward
	if len(req.Header) > 0 {
		sent = withCallerHeaders(ctx, req.Header)
	}
	type header struct {
		key    string
		values []string
	}
	var buf [8]header
	hs := buf[:0]
	for k, vs := range sent {
		if ck := http.CanonicalHeaderKey(k); ck != "X-Request-Id" && ck != "X-Correlation-Id" {
			hs = append(hs, header{ck, vs})
		}
	}
	slices.SortFunc(hs, func(a, b header) int { return strings.Compare(a.key, b.key) })
	query := req.Query.Encode()

	size := len(c.cfg.Name) + len(ri.CachePartition) + len(req.Path) + len(query) + 48
	for _, h := range hs {
		size += len(h.key) + 16
		for _, v := range h.values {
			size += len(v) + 8
		}
	}
	var b strings.Builder
	b.Grow(size)
	var num [20]byte
	field := func(s string) {
		b.Write(strconv.AppendInt(num[:0], int64(len(s)), 10))
		b.WriteByte(':')
		b.WriteString(s)
	}
	field(c.cfg.Name)
	field(ri.CachePartition)
	field(strconv.FormatUint(gen, 10))
	field(req.Path)
	field(query)
	for _, h := range hs {
		field(h.key)
		field(strconv.Itoa(len(h.values)))
		for _, v := range h.values {
			field(v)
		}
	}
	return b.String()
}

// invalidate abandons the cached reads a write to path may have changed:
// those of its resource ("/Patient/9000000009") and the searches of its
// type ("/Patient").
func (c *Client) invalidate(path string) {
	if c.store == nil {
		return
	}
	r, t := resourcePath(path), typePath(path)
	c.store.Invalidate(c.cfg.Name, r)
	if t != r {
		c.store.Invalidate(c.cfg.Name, t)
	}
	c.sharedInvalidate(path)
}

// resourcePath is the resource a path names: its first two segments
// ("/Patient/9000000009/_history/2" → "/Patient/9000000009"), or the type
// for a type-level path ("/Patient").
func resourcePath(p string) string {
	s := strings.Trim(p, "/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if j := strings.IndexByte(s[i+1:], '/'); j >= 0 {
			s = s[:i+1+j]
		}
	}
	if len(p) > len(s) && p[0] == '/' && p[1:len(s)+1] == s {
		// Already "/" + s in p: no new string on every cached read.
		return p[:len(s)+1]
	}
	return "/" + s
}

// typePath is a path's first segment ("/Patient").
func typePath(p string) string {
	s := strings.Trim(p, "/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return "/" + s
}
