package upstream_test

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// statusServer answers each request with the status held in *status.
func statusServer(t *testing.T, status *atomic.Int32) *scripted {
	t.Helper()
	return newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) { answer(w, int(status.Load()), `{}`) })
}

// get makes one GET that is not retried.
func get(t *testing.T, c *upstream.Client) (*upstream.Response, error) {
	t.Helper()
	return c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath, Op: "read"})
}

// assertFailsFast checks err is the open circuit's error.
func assertFailsFast(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	fe := fhirerr.As(err)
	if fe == nil {
		t.Fatalf("err = %v, want the open circuit's *fhirerr.Error", err)
	}
	want := fhirerr.Error{Category: fhirerr.Unavailable, Backend: "pds", RetryAfter: retryAfter,
		Message: "the pds service is unavailable (failing fast while it recovers)"}
	if fe.Category != want.Category || fe.Backend != want.Backend || fe.RetryAfter != want.RetryAfter || fe.Message != want.Message {
		t.Errorf("err = %+v, want %+v", *fe, want)
	}
}

// Failures are transport errors, timeouts and 5xx; 4xx (the backend
// answered) resets the count, 429 leaves it as it is.
func TestBreakerCountsConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		want     upstream.BreakerState
		failures int
	}{
		{name: "three 500s open it", statuses: []int{500, 500, 500}, want: upstream.Open, failures: 3},
		{name: "502, 503, 504 are failures", statuses: []int{502, 503, 504}, want: upstream.Open, failures: 3},
		{name: "a 404 between resets the count", statuses: []int{500, 500, 404, 500, 500}, want: upstream.Closed, failures: 2},
		{name: "a 200 between resets the count", statuses: []int{500, 500, 200, 500}, want: upstream.Closed, failures: 1},
		{name: "429 neither fails nor resets", statuses: []int{500, 429, 500, 429, 500}, want: upstream.Open, failures: 3},
		{name: "400s only", statuses: []int{400, 401, 403, 404, 409, 412, 422}, want: upstream.Closed, failures: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var status atomic.Int32
			srv := statusServer(t, &status)
			c := newClient(t, srv.URL, upstream.Config{MaxAttempts: 1, BreakerThreshold: 3}, nil)
			useFakeClock(c)
			for _, s := range tt.statuses {
				status.Store(int32(s))
				if _, err := get(t, c); err != nil {
					t.Fatalf("after %d calls: %v", srv.count(), err)
				}
			}
			if h := c.Health(); h.State != tt.want || h.ConsecutiveFailures != tt.failures {
				t.Errorf("health %+v, want %v with %d failures", h, tt.want, tt.failures)
			}
		})
	}
}

func TestBreakerTransportFailures(t *testing.T) {
	srv := newScripted(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := newClient(t, srv.URL, upstream.Config{MaxAttempts: 1, BreakerThreshold: 2, Timeout: 10 * time.Millisecond}, nil)
	useFakeClock(c)
	for range 2 {
		if _, err := get(t, c); fhirerr.CategoryOf(err) != fhirerr.Timeout {
			t.Fatalf("err %v, want Timeout", err)
		}
	}
	if h := c.Health(); h.State != upstream.Open {
		t.Errorf("after two timeouts: %+v", h)
	}

	down := newClient(t, refusedURL(t), upstream.Config{MaxAttempts: 1, BreakerThreshold: 2}, nil)
	useFakeClock(down)
	for range 2 {
		_, _ = get(t, down)
	}
	if h := down.Health(); h.State != upstream.Open {
		t.Errorf("after two refused connections: %+v", h)
	}

	// A caller that cancels says nothing about the backend.
	hung := newClient(t, srv.URL, upstream.Config{MaxAttempts: 1, BreakerThreshold: 1}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	_, _ = hung.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath})
	if h := hung.Health(); h.State != upstream.Closed || h.ConsecutiveFailures != 0 {
		t.Errorf("after a cancelled call: %+v", h)
	}
}

// The breaker's life: closed, open (failing fast without calling), half-open
// after the cool-down with one probe at a time, open again when the probe
// fails, closed when one succeeds. The gauge follows.
func TestBreakerLifecycle(t *testing.T) {
	const cooldown = 10 * time.Second
	reg := prometheus.NewRegistry()
	m := upstream.NewMetrics(reg)
	var status atomic.Int32
	status.Store(500)
	release := make(chan struct{})
	var block atomic.Bool
	srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if block.Load() {
			<-release
		}
		answer(w, int(status.Load()), `{}`)
	})
	c := newClient(t, srv.URL, upstream.Config{BreakerThreshold: 3, BreakerCooldown: cooldown}, m)
	clk := useFakeClock(c)
	gauge := func() float64 { return values(t, reg, "facade_backend_circuit_state")[`backend="pds"`] }

	for range 3 {
		_, _ = get(t, c)
	}
	h := c.Health()
	if h.State != upstream.Open || h.ConsecutiveFailures != 3 || h.RetryAfter != cooldown || !h.Since.Equal(clk.Now()) {
		t.Fatalf("after 3 failures: %+v", h)
	}
	if g := gauge(); g != 2 {
		t.Errorf("gauge %v while open, want 2", g)
	}

	// Open: fail fast, without calling the backend.
	calls := srv.count()
	_, err := get(t, c)
	assertFailsFast(t, err, cooldown)
	clk.Advance(4 * time.Second)
	_, err = get(t, c)
	assertFailsFast(t, err, 6*time.Second)
	if srv.count() != calls {
		t.Fatalf("the backend was called while the circuit was open")
	}
	if got := values(t, reg, "facade_backend_rejections_total")[`backend="pds",reason="circuit_open"`]; got != 2 {
		t.Errorf("%v circuit_open rejections, want 2", got)
	}

	// Half-open after the cool-down; the probe fails: open again.
	clk.Advance(6 * time.Second)
	if h := c.Health(); h.State != upstream.HalfOpen {
		t.Fatalf("after the cool-down: %+v", h)
	}
	if g := gauge(); g != 1 {
		t.Errorf("gauge %v while half-open, want 1", g)
	}
	if res, err := get(t, c); err != nil || res.Status != 500 {
		t.Fatalf("probe: %v %v", res, err)
	}
	if srv.count() != calls+1 {
		t.Errorf("the failed probe was retried: %d calls", srv.count()-calls)
	}
	if h := c.Health(); h.State != upstream.Open || h.RetryAfter != cooldown {
		t.Fatalf("after a failed probe: %+v", h)
	}

	// Half-open again; while the probe is in flight, other calls fail fast.
	clk.Advance(cooldown)
	status.Store(200)
	block.Store(true)
	probe := make(chan error, 1)
	go func() {
		res, err := get(t, c)
		if err == nil && res.Status != 200 {
			err = fhirerr.New(fhirerr.Internal, "status %d", res.Status)
		}
		probe <- err
	}()
	waitFor(t, "the probe to reach the backend", func() bool { return srv.inFlight.Load() == 1 })
	_, err = get(t, c)
	if fe := fhirerr.As(err); fe == nil || fe.Category != fhirerr.Unavailable || fe.RetryAfter <= 0 {
		t.Errorf("a call during the probe: %v, want Unavailable with a Retry-After", err)
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if h := c.Health(); h.State != upstream.Closed || h.ConsecutiveFailures != 0 {
		t.Fatalf("after a successful probe: %+v", h)
	}
	if g := gauge(); g != 0 {
		t.Errorf("gauge %v once closed, want 0", g)
	}
	if res, err := get(t, c); err != nil || res.Status != 200 {
		t.Errorf("after recovery: %v %v", res, err)
	}
}

// Retries stop when the circuit opens: the last real answer is returned,
// not the fail-fast error.
func TestBreakerStopsRetries(t *testing.T) {
	srv := newScripted(t, always(http.StatusBadGateway))
	c := newClient(t, srv.URL, upstream.Config{MaxAttempts: 5, BreakerThreshold: 2}, nil)
	useFakeClock(c)
	res, err := get(t, c)
	if err != nil || res.Status != 502 {
		t.Fatalf("Do = %v, %v; want the 502", res, err)
	}
	if srv.count() != 2 {
		t.Errorf("%d attempts, want 2 (the circuit opened after the second)", srv.count())
	}
}

func TestBreakerDisabled(t *testing.T) {
	srv := newScripted(t, always(http.StatusInternalServerError))
	c := newClient(t, srv.URL, upstream.Config{BreakerThreshold: -1}, nil)
	for i := range 20 {
		if _, err := get(t, c); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if h := c.Health(); h.State != upstream.Closed {
		t.Errorf("%+v", h)
	}
}

func TestBreakerStateNames(t *testing.T) {
	for s, want := range map[upstream.BreakerState]string{upstream.Closed: "closed", upstream.HalfOpen: "half-open", upstream.Open: "open", 7: "state(7)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", int(s), s.String(), want)
		}
		if b, _ := s.MarshalText(); string(b) != want {
			t.Errorf("%d: MarshalText %q", int(s), b)
		}
	}
	if strconv.Itoa(int(upstream.Open)) != "2" || strconv.Itoa(int(upstream.HalfOpen)) != "1" {
		t.Error("the gauge values are 0 closed, 1 half-open, 2 open")
	}
}
