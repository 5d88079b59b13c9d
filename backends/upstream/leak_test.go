package upstream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carerecords/fhir-facade/backends/upstream"
)

// Every path through the client — cached and coalesced reads, callers that
// leave, retries, an open circuit, bulkhead and rate-limit waits, streams —
// leaves no goroutine behind once the client and the server are closed.
func TestNoGoroutineLeak(t *testing.T) {
	noLeak(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok/", func(w http.ResponseWriter, _ *http.Request) { answer(w, 200, `{}`) })
	mux.HandleFunc("/slow/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Millisecond):
			answer(w, 200, `{}`)
		}
	})
	mux.HandleFunc("/hang/", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/down/", func(w http.ResponseWriter, _ *http.Request) { answer(w, 503, `{}`) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := upstream.New(upstream.Config{Name: "pds", BaseURL: srv.URL, Timeout: time.Second,
		CacheTTL: time.Minute, MaxConcurrent: 4, RateLimit: 2000, RateBurst: 10,
		BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond}, upstream.NewMetrics(nilRegisterer{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	for i := range 40 {
		run(func() { _, _ = c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: "/slow/x"}) })
		run(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*time.Millisecond)
			defer cancel()
			_, _ = c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/hang/x"})
		})
		run(func() {
			res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: "/ok/doc"}, upstream.StreamOptions{})
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
		run(func() {
			_, _ = c.Do(upstream.WithNoCache(context.Background()), upstream.Request{Method: http.MethodGet, Path: "/ok/x"})
		})
		run(func() { _, _ = c.Do(context.Background(), upstream.Request{Method: http.MethodPatch, Path: "/ok/x"}) })
	}
	wg.Wait()
	// Failures until the circuit opens, then fast failures.
	for range 10 {
		_, _ = c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: "/down/x"})
	}
	if c.Health().State != upstream.Open {
		t.Errorf("the circuit is %v after ten 503s", c.Health().State)
	}
}

// nilRegisterer accepts metrics and keeps none.
type nilRegisterer struct{}

func (nilRegisterer) Register(prometheus.Collector) error  { return nil }
func (nilRegisterer) MustRegister(...prometheus.Collector) {}
func (nilRegisterer) Unregister(prometheus.Collector) bool { return true }
