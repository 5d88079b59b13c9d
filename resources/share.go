package resources

import (
	"context"
	"sync"
)

// A request's sources sometimes need the same backend read: $summary asks
// AllergyIntolerance and MedicationStatement at once, and both come from the
// same Summary Care Record. WithShare lets them make that read once. The
// backend cache would coalesce them too, but only where a TTL is configured,
// and it is off by default for some backends; this needs no configuration
// and lives only as long as the request.

type shareKey struct{}

type share struct {
	mu    sync.Mutex
	calls map[string]*shareCall
}

type shareCall struct {
	done chan struct{}
	val  any
	err  error
}

// WithShare returns ctx carrying a scope in which reads made through
// shared run once per key. Start one per request that fans out.
func WithShare(ctx context.Context) context.Context {
	if _, ok := ctx.Value(shareKey{}).(*share); ok {
		return ctx
	}
	// The map is made at the first shared read: most requests make none.
	return context.WithValue(ctx, shareKey{}, &share{})
}

// shared runs fn once per key within ctx's share scope: concurrent and later
// callers with the same key get the first call's answer. Without a scope it
// just calls fn. A waiting caller gives up when its own ctx ends.
func shared[T any](ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	s, ok := ctx.Value(shareKey{}).(*share)
	if !ok {
		return fn(ctx)
	}
	s.mu.Lock()
	c, found := s.calls[key]
	if !found {
		if s.calls == nil {
			s.calls = map[string]*shareCall{}
		}
		c = &shareCall{done: make(chan struct{})}
		s.calls[key] = c
	}
	s.mu.Unlock()
	if !found {
		v, err := fn(ctx)
		c.val, c.err = v, err
		close(c.done)
		return v, err
	}
	select {
	case <-c.done:
		v, _ := c.val.(T)
		return v, c.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
