package upstream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream"
)

// BenchmarkCachedGet is the cost of a cache hit: key, lookup, and the
// caller's copy of a 6 KB answer (PDS's Patient 9000000009 is about that).
func BenchmarkCachedGet(b *testing.B) {
	body := `{"resourceType":"Patient","pad":"` + strings.Repeat("x", 6<<10) + `"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		answer(w, http.StatusOK, body, "ETag", `W/"2"`)
	}))
	defer srv.Close()
	c, err := upstream.New(upstream.Config{Name: "pds", BaseURL: srv.URL, CacheTTL: time.Hour}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := upstream.WithCachePartition(context.Background(), "role=clinician;org=A1")
	req := upstream.Request{Method: http.MethodGet, Path: testPath, Op: "read"}
	if _, err := c.Do(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Do(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// roundTripFunc answers a request without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkPolicy is the resilience policy's share of an uncached call
// (breaker, rate limit, bulkhead, retry bookkeeping) over an in-memory
// transport, with and without a rate limit high enough never to wait.
func BenchmarkPolicy(b *testing.B) {
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/fhir+json"}},
			Body: io.NopCloser(strings.NewReader(`{}`)), ContentLength: 2, Request: r}, nil
	})
	for _, bc := range []struct {
		name string
		cfg  upstream.Config
	}{
		{"unlimited", upstream.Config{}},
		{"rate-limited", upstream.Config{RateLimit: 1e9, RateBurst: 1 << 20}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := bc.cfg
			cfg.Name, cfg.BaseURL, cfg.Transport = "pds", "http://backend.invalid"+basePath, rt
			c, err := upstream.New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := upstream.Request{Method: http.MethodGet, Path: testPath, Op: "read"}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Do(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
