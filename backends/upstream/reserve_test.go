package upstream

import (
	"context"
	"testing"
)

// BenchmarkReserve is the rate limiter's cost per admitted call, at a rate
// high enough never to wait (the common case on the hot path).
func BenchmarkReserve(b *testing.B) {
	c, err := New(Config{Name: "pds", BaseURL: "http://backend.invalid", RateLimit: 1e12, RateBurst: 1 << 30}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, ok := c.reserve(ctx); !ok {
				b.Error("refused")
				return
			}
		}
	})
}
