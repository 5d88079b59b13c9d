package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// withLazyDeadline is context.WithDeadline(parent, now+d) whose timer is
// started only when something waits on the context: its Done or Err, or a
// context derived from it with a cancel (which asks Done). A request
// answered from the caches never waits on anything, and so pays for no
// timer: the timer and its context were 8% of a cached read's handler time.
// The context keeps every promise of context.Context: once the deadline has
// passed, a wait that starts then finds it done with DeadlineExceeded; once
// cancel has been called, Canceled.
func withLazyDeadline(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	c := &lazyDeadline{parent: parent, deadline: time.Now().Add(d)}
	return c, c.cancel
}

type lazyDeadline struct {
	parent   context.Context
	deadline time.Time
	// started is the context that does the work, once started: a
	// WithDeadline of parent, or an already canceled one when cancel came
	// first.
	started  atomic.Pointer[startedContext]
	mu       sync.Mutex
	canceled bool // cancel came before anything started the timer
}

type startedContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// start returns the started context, starting it the first time.
func (c *lazyDeadline) start() *startedContext {
	if s := c.started.Load(); s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.started.Load(); s != nil {
		return s
	}
	var s startedContext
	if c.canceled {
		s.ctx, s.cancel = context.WithCancel(c.parent)
		s.cancel()
	} else {
		s.ctx, s.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	c.started.Store(&s)
	return &s
}

func (c *lazyDeadline) cancel() {
	c.mu.Lock()
	s := c.started.Load()
	if s == nil {
		c.canceled = true
	}
	c.mu.Unlock()
	if s != nil {
		s.cancel()
	}
}

func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *lazyDeadline) Done() <-chan struct{} { return c.start().ctx.Done() }

func (c *lazyDeadline) Err() error { return c.start().ctx.Err() }

// Value answers from the started context once there is one: contexts
// derived from this one then find its cancellation as their parent's (no
// goroutine per child), and context.Cause reads its cause.
func (c *lazyDeadline) Value(key any) any {
	if s := c.started.Load(); s != nil {
		return s.ctx.Value(key)
	}
	return c.parent.Value(key)
}

func (c *lazyDeadline) String() string { return "server.withLazyDeadline" }
