package server

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

type valueKey struct{}

func TestLazyDeadline(t *testing.T) {
	bg := context.WithValue(context.Background(), valueKey{}, "v")
	closed := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return true
		default:
			return false
		}
	}
	within := func(ctx context.Context, d time.Duration) bool {
		select {
		case <-ctx.Done():
			return true
		case <-time.After(d):
			return false
		}
	}

	t.Run("nothing waits: cancel starts no timer, and the context reads canceled", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(bg, time.Hour)
		if ctx.Value(valueKey{}) != "v" {
			t.Error("a value of the parent is lost")
		}
		if d, ok := ctx.Deadline(); !ok || time.Until(d) < 59*time.Minute {
			t.Errorf("Deadline = %v, %v", d, ok)
		}
		cancel()
		if ctx.(*lazyDeadline).started.Load() != nil {
			t.Fatal("cancel started the context before anything waited")
		}
		if !closed(ctx) || !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("after cancel: done %v, err %v", closed(ctx), ctx.Err())
		}
	})
	t.Run("the deadline passes", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(bg, 20*time.Millisecond)
		defer cancel()
		if closed(ctx) || ctx.Err() != nil {
			t.Fatal("done before its deadline")
		}
		if !within(ctx, 5*time.Second) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("after the deadline: err %v", ctx.Err())
		}
	})
	t.Run("a wait that starts after the deadline finds it passed", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(bg, time.Millisecond)
		defer cancel()
		time.Sleep(5 * time.Millisecond)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !closed(ctx) {
			t.Errorf("err %v", ctx.Err())
		}
	})
	t.Run("the parent is canceled", func(t *testing.T) {
		parent, stop := context.WithCancel(bg)
		ctx, cancel := withLazyDeadline(parent, time.Hour)
		defer cancel()
		stop()
		if !within(ctx, 5*time.Second) || !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("err %v", ctx.Err())
		}
	})
	t.Run("the parent's earlier deadline is the deadline", func(t *testing.T) {
		parent, stop := context.WithTimeout(bg, time.Minute)
		defer stop()
		want, _ := parent.Deadline()
		ctx, cancel := withLazyDeadline(parent, time.Hour)
		defer cancel()
		if d, _ := ctx.Deadline(); !d.Equal(want) {
			t.Errorf("Deadline %v, want the parent's %v", d, want)
		}
	})
	t.Run("derived contexts: canceled with it, its cause, no goroutine each", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(bg, 50*time.Millisecond)
		defer cancel()
		before := runtime.NumGoroutine()
		var children []context.Context
		for range 100 {
			child, stop := context.WithCancel(ctx)
			defer stop()
			children = append(children, child)
		}
		if n := runtime.NumGoroutine(); n > before+5 {
			t.Errorf("%d goroutines after deriving 100 contexts, %d before: one per child", n, before)
		}
		for _, child := range children {
			if !within(child, 5*time.Second) || !errors.Is(child.Err(), context.DeadlineExceeded) {
				t.Fatalf("a child: err %v", child.Err())
			}
		}
		if c := context.Cause(ctx); !errors.Is(c, context.DeadlineExceeded) {
			t.Errorf("Cause = %v", c)
		}
	})
	t.Run("a child's cancel leaves it running", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(bg, time.Hour)
		defer cancel()
		child, stop := context.WithCancel(ctx)
		stop()
		if child.Err() == nil || ctx.Err() != nil {
			t.Errorf("child %v, parent %v", child.Err(), ctx.Err())
		}
	})
	t.Run("many waiters at once start it once", func(t *testing.T) {
		ctx, cancel := withLazyDeadline(bg, time.Hour)
		var wg sync.WaitGroup
		dones := make([]<-chan struct{}, 50)
		for i := range dones {
			wg.Add(1)
			go func() { defer wg.Done(); dones[i] = ctx.Done() }()
		}
		wg.Wait()
		for _, d := range dones {
			if d != dones[0] {
				t.Fatal("two waiters were given different channels")
			}
		}
		cancel()
		if !within(ctx, time.Second) || !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("err %v", ctx.Err())
		}
	})
}
