package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
	"github.com/carerecords/fhir-facade/tracing"
)

// discard is an exporter that drops what it is given: the cost measured is
// the facade's (spans made, batched, redacted), not a collector's.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracedPatientRead is the hot path, a cached authenticated
// Patient read (PDS_CACHE_TTL=60s, as tools/perf/hotpath.sh runs it),
// with tracing off (the default: nothing wrapped) and on (every request
// sampled, batched to an exporter that drops them, through tracing.Redact
// as in production). The ratio of the two is the price of tracing.
//
//	go test -run '^$' -bench TracedPatientRead -benchtime 3s ./cmd/facade/app/
func BenchmarkTracedPatientRead(b *testing.B) {
	ttl := time.Minute
	for _, tc := range []struct {
		name string
		tp   func() *sdktrace.TracerProvider
	}{
		{"off", func() *sdktrace.TracerProvider { return nil }},
		{"on-sampled", func() *sdktrace.TracerProvider {
			return sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracing.Redact(discard{})), sdktrace.WithSampler(sdktrace.AlwaysSample()))
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			log := logrus.New()
			log.SetOutput(io.Discard)
			cfg := app.Config{Logger: log, QuietLogs: true, PDS: app.Backend{CacheTTL: &ttl}, MaxInFlightPerCaller: 1024}
			var tp trace.TracerProvider
			if p := tc.tp(); p != nil {
				defer func() { _ = p.Shutdown(context.Background()) }()
				tp = p
			}
			cfg.TracerProvider = tp
			a, err := app.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			srv := httptest.NewServer(a.Handler)
			defer srv.Close()
			token, err := a.DevToken("clinician", "")
			if err != nil {
				b.Fatal(err)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			read := func() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/fhir/Patient/9000000009", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
			read() // the cache is warm
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					read()
				}
			})
		})
	}
}
