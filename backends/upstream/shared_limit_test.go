package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// sharedAnswer is one answer of a scripted shared limiter.
type sharedAnswer struct {
	ok    bool
	retry time.Duration
	err   error
}

// scriptedShared is a SharedLimiter answering from a script (its last
// answer repeats), keeping what it was asked.
type scriptedShared struct {
	mu     sync.Mutex
	script []sharedAnswer
	asked  []string
}

func (s *scriptedShared) Allow(_ context.Context, key string, limit float64, burst int) (bool, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, key)
	a := s.script[min(len(s.asked), len(s.script))-1]
	return a.ok, a.retry, a.err
}

// TestSharedRateLimit: the quota shared by replicas decides while it
// answers, with the local limiter's wait-or-refuse semantics; when it
// cannot be consulted, the local limiter decides at limit ÷ replicas.
func TestSharedRateLimit(t *testing.T) {
	down := errors.New("redis: unavailable")
	for _, tc := range []struct {
		name     string
		script   []sharedAnswer
		deadline time.Duration
		calls    int // calls made one after the other
		// want: the last call's error category (0: it succeeded), its
		// Retry-After, the backend's count, what the client slept, the
		// mode after.
		want       fhirerr.Category
		retryAfter time.Duration
		reached    int
		slept      []time.Duration
		mode       string
	}{
		{name: "granted", script: []sharedAnswer{{ok: true}}, deadline: time.Second, calls: 1, reached: 1, mode: "shared"},
		{name: "waits its turn within the deadline", script: []sharedAnswer{{retry: 150 * time.Millisecond}, {retry: 40 * time.Millisecond}, {ok: true}},
			deadline: time.Second, calls: 1, reached: 1, slept: []time.Duration{150 * time.Millisecond, 40 * time.Millisecond}, mode: "shared"},
		{name: "refused when the turn is past the deadline", script: []sharedAnswer{{retry: 2 * time.Second}},
			deadline: time.Second, calls: 1, want: fhirerr.Throttled, retryAfter: 2 * time.Second, mode: "shared"},
		{name: "refused after waiting once", script: []sharedAnswer{{retry: 600 * time.Millisecond}, {retry: 600 * time.Millisecond}},
			deadline: time.Second, calls: 1, want: fhirerr.Throttled, retryAfter: 600 * time.Millisecond, slept: []time.Duration{600 * time.Millisecond}, mode: "shared"},
		// Limit 6 a second, burst 3, 3 replicas: the fallback grants 2 a
		// second, burst 1. The first call goes; the second's turn is 500ms
		// away, past its 100ms deadline.
		{name: "falls back to limit ÷ replicas", script: []sharedAnswer{{err: down}},
			deadline: 100 * time.Millisecond, calls: 2, want: fhirerr.Throttled, retryAfter: 500 * time.Millisecond, reached: 1, mode: "local-fallback"},
		{name: "back to the shared quota", script: []sharedAnswer{{err: down}, {ok: true}},
			deadline: 100 * time.Millisecond, calls: 2, reached: 2, mode: "shared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, always(http.StatusOK))
			c := newClient(t, srv.URL, upstream.Config{RateLimit: 6, RateBurst: 3, MaxAttempts: 1, BreakerThreshold: -1}, nil)
			if got := c.RateLimitMode(); got != "local" {
				t.Errorf("mode before sharing: %q", got)
			}
			sl := &scriptedShared{script: tc.script}
			c.ShareRateLimit(sl, "app-1", 3)
			clock := useFakeClock(c)
			var err error
			for range tc.calls {
				ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(tc.deadline))
				_, err = c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
				cancel()
			}
			fe := fhirerr.As(err)
			switch {
			case tc.want == 0 && err != nil:
				t.Errorf("err %v, want success", err)
			case tc.want != 0 && (fe == nil || fe.Category != tc.want || fe.RetryAfter != tc.retryAfter):
				t.Errorf("err %#v, want %v with Retry-After %v", err, tc.want, tc.retryAfter)
			}
			if srv.count() != tc.reached {
				t.Errorf("the backend was called %d times, want %d", srv.count(), tc.reached)
			}
			if got := clock.Slept(); len(got) != len(tc.slept) || len(got) > 0 && got[0] != tc.slept[0] {
				t.Errorf("slept %v, want %v", got, tc.slept)
			}
			for _, k := range sl.asked {
				if k != "pds:app-1" {
					t.Errorf("asked for quota %q, want pds:app-1 (backend and application)", k)
				}
			}
			if got := c.RateLimitMode(); got != tc.mode {
				t.Errorf("mode %q, want %q", got, tc.mode)
			}
		})
	}
}

// A client without a rate limit is not made to share one.
func TestShareRateLimitWithoutLimit(t *testing.T) {
	srv := newScripted(t, always(http.StatusOK))
	c := newClient(t, srv.URL, upstream.Config{}, nil)
	sl := &scriptedShared{script: []sharedAnswer{{retry: time.Hour}}}
	c.ShareRateLimit(sl, "app", 3)
	if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}); err != nil {
		t.Fatal(err)
	}
	if len(sl.asked) != 0 || c.RateLimitMode() != "" {
		t.Errorf("an unlimited client asked the shared quota %d times (mode %q)", len(sl.asked), c.RateLimitMode())
	}
}
