package resources

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestShared(t *testing.T) {
	cases := []struct {
		name      string
		scope     bool
		keys      []string
		wantCalls int32
	}{
		{"no scope: every caller reads", false, []string{"a", "a", "a"}, 3},
		{"scope: one read per key", true, []string{"a", "a", "a", "a"}, 1},
		{"scope: keys apart", true, []string{"a", "b", "a", "b"}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			if c.scope {
				ctx = WithShare(ctx)
			}
			var calls atomic.Int32
			var wg sync.WaitGroup
			got := make([]string, len(c.keys))
			for i, k := range c.keys {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := shared(ctx, k, func(context.Context) (string, error) {
						calls.Add(1)
						return "v-" + k, nil
					})
					if err != nil {
						t.Error(err)
					}
					got[i] = v
				}()
			}
			wg.Wait()
			if n := calls.Load(); n != c.wantCalls {
				t.Errorf("fn ran %d times, want %d", n, c.wantCalls)
			}
			for i, k := range c.keys {
				if got[i] != "v-"+k {
					t.Errorf("caller %d got %q, want %q", i, got[i], "v-"+k)
				}
			}
		})
	}
}

func TestSharedErrorAndCancel(t *testing.T) {
	ctx := WithShare(context.Background())
	if WithShare(ctx) != ctx {
		t.Error("a nested WithShare should keep the outer scope")
	}
	boom := errors.New("boom")
	if _, err := shared(ctx, "k", func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("first call err = %v", err)
	}
	// The error is the request's answer for that key too: no second call.
	if _, err := shared(ctx, "k", func(context.Context) (int, error) { t.Error("called again"); return 1, nil }); !errors.Is(err, boom) {
		t.Fatalf("second call err = %v", err)
	}

	// A waiter whose own context ends stops waiting.
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_, _ = shared(ctx, "slow", func(context.Context) (int, error) { close(started); <-release; return 1, nil })
	}()
	<-started
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := shared(wctx, "slow", func(context.Context) (int, error) { return 2, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("waiter err = %v, want context.Canceled", err)
	}
	close(release)
}
