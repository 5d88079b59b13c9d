package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// sink is a ResponseWriter that keeps nothing: what is measured is the
// handler's own work, not a connection's.
type sink struct{ h http.Header }

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) WriteHeader(int)             {}
func (s *sink) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkHotPathHandler is the facade's share of the hot path (a cached,
// authenticated Patient read, as tools/perf/hotpath.sh drives it) without
// the network: the handler called in process, against a bare handler
// writing the same bytes, so allocations and time per request are the
// facade's alone. The wrk run (hotpath.sh) is the end-to-end measure; this
// one tells which change moved it.
//
//	go test -run '^$' -bench HotPathHandler -benchmem ./cmd/facade/app/
func BenchmarkHotPathHandler(b *testing.B) {
	ttl := time.Minute
	log := logrus.New()
	log.SetOutput(io.Discard)
	a, err := app.New(app.Config{Logger: log, QuietLogs: true, PDS: app.Backend{CacheTTL: &ttl}, MaxInFlightPerCaller: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	token, err := a.DevToken("clinician", "")
	if err != nil {
		b.Fatal(err)
	}
	newReq := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/fhir/Patient/9000000009", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return r
	}
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, newReq()) // the caches are warm
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body, hdr := rec.Body.Bytes(), rec.Header()
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = hdr["Content-Type"]
		h["Content-Length"] = hdr["Content-Length"]
		h["Etag"] = hdr["Etag"]
		_, _ = w.Write(body)
	})
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"facade", a.Handler}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := newReq()
				for pb.Next() {
					tc.h.ServeHTTP(&sink{h: http.Header{}}, r)
				}
			})
		})
	}
}
