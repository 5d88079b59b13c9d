package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// The bulkhead bounds the calls in flight to one backend: the server never
// sees more at once, and the others wait their turn.
func TestBulkheadBoundsConcurrency(t *testing.T) {
	const limit, callers = 4, 24
	release := make(chan struct{})
	srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-release
		answer(w, http.StatusOK, `{}`)
	})
	c := newClient(t, srv.URL, upstream.Config{MaxConcurrent: limit, Timeout: time.Minute}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
			errs <- err
		}()
	}
	waitFor(t, "the bulkhead to fill", func() bool { return srv.inFlight.Load() == limit })
	if got := c.Health().InFlight; got != limit {
		t.Errorf("Health().InFlight = %d, want %d", got, limit)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := srv.maxIn.Load(); got != limit {
		t.Errorf("the backend had up to %d calls at once, want %d", got, limit)
	}
	if srv.count() != callers {
		t.Errorf("%d calls reached the backend, want %d", srv.count(), callers)
	}
}

// A caller that cannot get a slot before its deadline is refused with
// Unavailable and a short Retry-After; one that cancels is told so.
func TestBulkheadRefuses(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := upstream.NewMetrics(reg)
	release := make(chan struct{})
	srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-release
		answer(w, http.StatusOK, `{}`)
	})
	defer close(release)
	c := newClient(t, srv.URL, upstream.Config{MaxConcurrent: 1, Timeout: time.Minute}, m)
	go func() { _, _ = c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}) }()
	waitFor(t, "the only slot to be taken", func() bool { return srv.inFlight.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
	fe := fhirerr.As(err)
	if fe == nil || fe.Category != fhirerr.Unavailable || fe.Backend != "pds" || fe.RetryAfter != time.Second {
		t.Errorf("err %v, want Unavailable with Retry-After 1s", err)
	}
	if got := values(t, reg, "facade_backend_rejections_total")[`backend="pds",reason="bulkhead"`]; got != 1 {
		t.Errorf("%v bulkhead rejections, want 1", got)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	_, err = c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
	if fhirerr.CategoryOf(err) != fhirerr.Timeout || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while waiting: %v, want a cancellation", err)
	}
	if srv.count() != 1 {
		t.Errorf("%d calls reached the backend, want 1", srv.count())
	}
}

// A streamed answer holds its slot until the caller closes the body.
func TestBulkheadHeldByStream(t *testing.T) {
	srv := newScripted(t, always(http.StatusOK))
	c := newClient(t, srv.URL, upstream.Config{MaxConcurrent: 1}, nil)
	res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: sspPath}, upstream.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath}); fhirerr.CategoryOf(err) != fhirerr.Unavailable {
		t.Errorf("with the stream open: %v, want Unavailable", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	res.Body.Close() // twice is harmless: the slot is given back once
	for range 3 {
		if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}); err != nil {
			t.Errorf("after Close: %v", err)
		}
	}
	if c.Health().InFlight != 0 {
		t.Errorf("%d slots still taken", c.Health().InFlight)
	}
}

// The rate limiter holds calls to the quota: a call within the burst goes
// at once, the next waits for its token when that comes before its deadline,
// and is refused at once with Throttled and a Retry-After when it does not.
func TestRateLimit(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		burst     int
		calls     int
		deadline  time.Duration // of every call; 0 for none (the client's Timeout bounds the wait)
		wantWaits []time.Duration
		wantCalls int // that reach the backend
		refusedIn time.Duration
	}{
		{name: "burst of 1 at 5/s: evenly spaced", rate: 5, calls: 4, wantWaits: []time.Duration{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}, wantCalls: 4},
		{name: "burst of 3 at 1/s", rate: 1, burst: 3, calls: 5, wantWaits: []time.Duration{time.Second, time.Second}, wantCalls: 5},
		{name: "no token before the deadline", rate: 1, calls: 2, deadline: 500 * time.Millisecond, wantCalls: 1, refusedIn: time.Second},
		{name: "no token within Timeout", rate: 0.01, calls: 2, wantCalls: 1, refusedIn: 100 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := upstream.NewMetrics(reg)
			srv := newScripted(t, always(http.StatusOK))
			c := newClient(t, srv.URL, upstream.Config{RateLimit: tt.rate, RateBurst: tt.burst}, m)
			clk := useFakeClock(c)
			var refused []*fhirerr.Error
			for range tt.calls {
				ctx := context.Background()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithDeadline(ctx, clk.Now().Add(tt.deadline))
					defer cancel()
				}
				_, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
				if fe := fhirerr.As(err); fe != nil && fe.Category == fhirerr.Throttled {
					refused = append(refused, fe)
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if got := clk.Slept(); !slices.Equal(got, tt.wantWaits) {
				t.Errorf("waits %v, want %v", got, tt.wantWaits)
			}
			if srv.count() != tt.wantCalls {
				t.Errorf("%d calls reached the backend, want %d", srv.count(), tt.wantCalls)
			}
			if tt.refusedIn == 0 {
				if len(refused) != 0 {
					t.Errorf("refused: %v", refused[0])
				}
				return
			}
			if len(refused) != tt.calls-tt.wantCalls {
				t.Fatalf("%d refused, want %d", len(refused), tt.calls-tt.wantCalls)
			}
			if fe := refused[0]; fe.RetryAfter != tt.refusedIn || fe.Backend != "pds" {
				t.Errorf("refused with %+v, want Retry-After %v", *fe, tt.refusedIn)
			}
			if got := values(t, reg, "facade_backend_rejections_total")[`backend="pds",reason="rate_limit"`]; int(got) != len(refused) {
				t.Errorf("%v rate_limit rejections, want %d", got, len(refused))
			}
		})
	}
}

// Unused time banks tokens up to the burst, no more; a refused call takes
// none.
func TestRateLimitRefills(t *testing.T) {
	srv := newScripted(t, always(http.StatusOK))
	c := newClient(t, srv.URL, upstream.Config{RateLimit: 2, RateBurst: 2}, nil)
	clk := useFakeClock(c)
	call := func(deadline time.Duration) error {
		ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(deadline))
		defer cancel()
		_, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
		return err
	}
	for i := range 2 {
		if err := call(300 * time.Millisecond); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	if err := call(300 * time.Millisecond); fhirerr.CategoryOf(err) != fhirerr.Throttled {
		t.Fatalf("beyond the burst: %v", err)
	}
	clk.Advance(time.Hour) // banks 2 tokens, not 7200
	for i := range 2 {
		if err := call(300 * time.Millisecond); err != nil {
			t.Fatalf("call %d after an idle hour: %v", i, err)
		}
	}
	if err := call(300 * time.Millisecond); fhirerr.CategoryOf(err) != fhirerr.Throttled {
		t.Fatalf("a third after the idle hour: %v", err)
	}
	if len(clk.Slept()) != 0 || srv.count() != 4 {
		t.Errorf("waits %v, %d calls; want none and 4", clk.Slept(), srv.count())
	}
}

// A caller that gives up while waiting for its token gives it back: the
// next caller waits as if it had never asked.
func TestRateLimitGiveBack(t *testing.T) {
	srv := newScripted(t, always(http.StatusOK))
	c := newClient(t, srv.URL, upstream.Config{RateLimit: 1}, nil)
	clk := useFakeClock(c)
	if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Do(cancelled, upstream.Request{Method: http.MethodGet, Path: testPath}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting: %v, want a cancellation", err)
	}
	if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}); err != nil {
		t.Fatal(err)
	}
	if got, want := clk.Slept(), []time.Duration{time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v (the cancelled caller's token given back)", got, want)
	}
	if srv.count() != 2 {
		t.Errorf("%d calls reached the backend, want 2", srv.count())
	}
}
