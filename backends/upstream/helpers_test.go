package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream"
)

// fakeClock is a clock that moves only when told to, or when a client
// "sleeps" on it: Sleep returns at once, having moved the clock.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

// useFakeClock gives c a fake clock starting at the real time, so that
// deadlines of real contexts compare sensibly with it.
func useFakeClock(c *upstream.Client) *fakeClock {
	f := &fakeClock{now: time.Now()}
	upstream.SetClock(c, f.Now, f.Sleep)
	return f
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.slept = append(f.slept, d)
	return nil
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fakeClock) Slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

// seen is one request a scripted server received.
type seen struct {
	method, path, query string
	requestID           string
	header              http.Header
}

// scripted is a test server whose handler is told the 1-based number of
// the request it is answering; it keeps what it received, and counts the
// most requests it had in progress at once.
type scripted struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []seen
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

func newScripted(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) *scripted {
	t.Helper()
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxIn.Load()
			if in <= m || s.maxIn.CompareAndSwap(m, in) {
				break
			}
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{method: r.Method, path: strings.TrimPrefix(r.URL.Path, basePath), query: r.URL.RawQuery,
			requestID: r.Header.Get("X-Request-ID"), header: r.Header.Clone()})
		n := len(s.reqs)
		s.mu.Unlock()
		h(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *scripted) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// answer writes status with a FHIR JSON body and the given header pairs.
func answer(w http.ResponseWriter, status int, body string, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		w.Header().Set(kv[i], kv[i+1])
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/fhir+json")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// always answers every request with status.
func always(status int, kv ...string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { answer(w, status, `{}`, kv...) }
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// noLeak fails the test if, once it has ended and its cleanups have run,
// more goroutines are left than there were when it started. Call it first.
func noLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
