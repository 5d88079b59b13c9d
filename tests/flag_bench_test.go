package tests

import (
	"io"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/sandbox/cpis"
	"github.com/carerecords/fhir-facade/sandbox/fgm"
	sandboxovm "github.com/carerecords/fhir-facade/sandbox/ovm"
	"github.com/carerecords/fhir-facade/sandbox/ra"
)

// flagLatency is the simulated latency of each Flag backend.
const flagLatency = 20 * time.Millisecond

// BenchmarkFlagSearch measures GET /fhir/Flag?patient=9000000009 through
// the facade, which asks RA, CP-IS and FGM-IS in parallel, with every
// simulator answering after flagLatency (and without, for reference). For
// comparison, "backends-one-after-another" sends each backend's flag query
// straight to its simulator, one after the other: the least a sequential
// facade would take (the facade also reads RA's consent, in parallel with
// the rest). p50 and p99 are reported per request in milliseconds.
//
//	go test -run '^$' -bench FlagSearch -benchtime 200x ./tests/
func BenchmarkFlagSearch(b *testing.B) {
	sb := env.app.Sandbox
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	get := func(b *testing.B, u string, hdr http.Header) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("X-Request-ID", uuid.NewString())
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("%s: status %d", u, res.StatusCode)
		}
	}
	facade := func(b *testing.B) {
		get(b, env.url+"/Flag?patient=9000000009", http.Header{"Authorization": {bearer("clinician")}})
	}
	backend := http.Header{"Authorization": {"Bearer sandbox"}, "TracEid": {"bench"}, "Isunscheduledaccessevent": {"false"}}
	raQuery := url.Values{"patient": {"9000000009"}, "status": {"active"}, "category": {"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1|NRAF"}}.Encode()
	byNHS := url.Values{"patient:identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}}.Encode()
	// The calls one Flag search makes: RA's flags and consent, CP-IS,
	// FGM-IS and OVM.
	sequential := func(b *testing.B) {
		get(b, sb.RABaseURL+"/Flag?"+raQuery, backend)
		get(b, sb.RABaseURL+"/Consent?"+raQuery, backend)
		get(b, sb.CPISBaseURL+"/CareTeam?"+byNHS, backend)
		get(b, sb.FGMBaseURL+"/Flag?"+byNHS, backend)
		get(b, sb.OVMBaseURL+"/status?nhs-number=9000000009", backend)
	}
	slow := func() {
		sb.RA.SetFault(&ra.Fault{Delay: flagLatency})
		sb.CPIS.SetFault(&cpis.Fault{Delay: flagLatency})
		sb.FGM.SetFault(&fgm.Fault{Delay: flagLatency})
		sb.OVM.SetFault(&sandboxovm.Fault{Delay: flagLatency})
	}
	fast := func() { sb.RA.SetFault(nil); sb.CPIS.SetFault(nil); sb.FGM.SetFault(nil); sb.OVM.SetFault(nil) }
	defer fast()

	for _, c := range []struct {
		name  string
		setup func()
		run   func(*testing.B)
	}{
		{name: "facade/no-latency", setup: fast, run: facade},
		{name: "facade/20ms-per-backend", setup: slow, run: facade},
		{name: "backends-one-after-another/20ms-per-backend", setup: slow, run: sequential},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.setup()
			c.run(b) // warm connections and caches
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				c.run(b)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
		})
	}
}
