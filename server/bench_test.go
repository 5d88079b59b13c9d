package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// BenchmarkPatientRead compares, in the same run, a Patient read through the
// facade (HTTP in, PDS client, mapping, rendering, HTTP out) with the same
// read sent straight to the PDS simulator. The difference is the facade's
// overhead; p50 and p99 are reported per request in microseconds.
//
//	go test -run '^$' -bench PatientRead -benchtime 3s ./server/
func BenchmarkPatientRead(b *testing.B) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	a, err := app.New(app.Config{Logger: log, QuietLogs: true})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	facade := httptest.NewServer(a.Handler)
	defer facade.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	token, err := a.DevToken("clinician", "")
	if err != nil {
		b.Fatal(err)
	}

	cases := []struct {
		name string
		url  string
		hdr  func(h http.Header)
	}{
		{name: "simulator-direct", url: a.Backends["pds"] + "/Patient/9000000009", hdr: func(h http.Header) {
			h.Set("X-Request-ID", uuid.NewString())
			h.Set("Authorization", "Bearer sandbox")
		}},
		{name: "facade", url: facade.URL + "/fhir/Patient/9000000009", hdr: func(h http.Header) { h.Set("Authorization", "Bearer "+token) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest(http.MethodGet, c.url, nil)
				c.hdr(req.Header)
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat = append(lat, time.Since(start))
				if res.StatusCode != 200 {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
