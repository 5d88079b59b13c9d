package cache

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// Group coalesces concurrent calls with the same key into one (a
// singleflight): the first caller starts the call, later callers wait for its
// result, and all get the same value and error.
//
// The call runs on its own goroutine with a context that keeps the first
// caller's values and deadline but not its cancellation, so one caller giving
// up does not fail the others; when every caller has given up the call is
// cancelled. The zero Group is ready to use.
type Group[V any] struct {
	mu    sync.Mutex
	calls map[string]*call[V]
}

type call[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int
	cancel  context.CancelFunc
}

// Do returns the result of fn for key, calling it unless a call for key is
// already in flight. If ctx ends first, Do returns ctx.Err() at once. The
// value is shared by every caller: treat it as read-only.
func (g *Group[V]) Do(ctx context.Context, key string, fn func(context.Context) (V, error)) (V, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call[V]{}
	}
	c, ok := g.calls[key]
	if ok {
		c.waiters++
	} else {
		fctx, cancel := detach(ctx)
		c = &call[V]{done: make(chan struct{}), waiters: 1, cancel: cancel}
		g.calls[key] = c
		go g.run(fctx, key, c, fn)
	}
	g.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			// Nobody wants the answer any more: stop the call, and let the
			// next caller start afresh rather than join a cancelled one.
			c.cancel()
			if g.calls[key] == c {
				delete(g.calls, key)
			}
		}
		g.mu.Unlock()
		var zero V
		return zero, ctx.Err()
	}
}

func (g *Group[V]) run(ctx context.Context, key string, c *call[V], fn func(context.Context) (V, error)) {
	defer func() {
		if r := recover(); r != nil {
			var zero V
			c.val, c.err = zero, fmt.Errorf("cache: panic in a coalesced call: %v\n%s", r, debug.Stack())
		}
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		c.cancel()
		close(c.done)
	}()
	c.val, c.err = fn(ctx)
}

// detach returns a context with ctx's values and deadline that ctx's
// cancellation does not reach.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, dl)
	}
	return context.WithCancel(base)
}

// Waiting reports how many calls are in flight and how many callers wait
// for them (tests, debugging).
func (g *Group[V]) Waiting() (calls, waiters int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.calls {
		calls++
		waiters += c.waiters
	}
	return calls, waiters
}
