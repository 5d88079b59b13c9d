package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// BenchmarkSCRAllergySearch compares, in the same run, an AllergyIntolerance
// search for 9000000009 through the facade (HTTP in, both SCR calls, table
// parsing and mapping — memoised —, rendering, HTTP out) with the two calls
// a client of the SCR API makes itself: GET /DocumentReference, then GET
// /Bundle with the UUID it returned, sent straight to the SCR simulator.
// p50 and p99 are per search, in microseconds.
//
//	go test -run '^$' -bench SCRAllergySearch -benchtime 3s ./server/
func BenchmarkSCRAllergySearch(b *testing.B) {
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

	get := func(b *testing.B, u string, direct bool) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if direct {
			req.Header.Set("X-Request-ID", uuid.NewString())
			req.Header.Set("Authorization", "Bearer sandbox")
		} else {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: status %d", u, res.StatusCode)
		}
	}
	simulator := a.Backends["scr"]
	docRef := simulator + "/DocumentReference?" + url.Values{
		"patient": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}, "type": {"http://snomed.info/sct|196981000000101"}, "_sort": {"date"}, "_count": {"1"},
	}.Encode()
	summary := simulator + "/Bundle?" + url.Values{
		"composition.identifier":                 {"FA60BE64-1F34-11EB-A2A8-000C29A364EB"},
		"composition.subject:Patient.identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"},
	}.Encode()
	cases := []struct {
		name string
		run  func(b *testing.B)
	}{
		{name: "simulator-direct-2-calls", run: func(b *testing.B) { get(b, docRef, true); get(b, summary, true) }},
		{name: "facade", run: func(b *testing.B) { get(b, facade.URL+"/fhir/AllergyIntolerance?patient=9000000009", false) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				c.run(b)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
