package upstream_test

import (
	"context"
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
