package tests

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/sandbox/cpis"
	"github.com/carerecords/fhir-facade/sandbox/fgm"
	"github.com/carerecords/fhir-facade/sandbox/immunisation"
	"github.com/carerecords/fhir-facade/sandbox/nrl"
	sandboxovm "github.com/carerecords/fhir-facade/sandbox/ovm"
	sandboxpds "github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/ra"
	"github.com/carerecords/fhir-facade/sandbox/scr"
)

// summaryLatency is the simulated latency of every backend in
// BenchmarkPatientSummary.
const summaryLatency = 20 * time.Millisecond

// BenchmarkPatientSummary measures GET /fhir/Patient/9000000009/$summary
// through the facade (the shared one of TestMain: embedded sandbox, no
// cache) with every simulator answering after summaryLatency, and without
// added latency for reference; and, in the same run, the backend calls that
// one $summary makes, sent straight to the simulators:
//
//   - "backends-one-after-another": all of them in sequence (PDS read,
//     related people and read again, SCR DocumentReference + Bundle twice — AllergyIntolerance and
//     MedicationStatement each read the summary —, NRL search, RA flags and
//     consent, CP-IS, FGM-IS, Immunisation History's COVID19, FLU and HPV
//     stores, one call each), what a client without
//     the facade would wait for if it asked one service after the other;
//   - "slowest-source": the longest chain of calls that depend on each
//     other, SCR's DocumentReference then Bundle: the least any $summary can
//     take. The facade's answer should take about this, not the sum.
//
// p50, p99 and the max are reported per $summary in milliseconds.
//
//	go test -run '^$' -bench PatientSummary -benchtime 200x ./tests/
func BenchmarkPatientSummary(b *testing.B) {
	sb := env.app.Sandbox
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 30 * time.Second}
	get := func(b *testing.B, u string, hdr http.Header) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
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
	facadeAuth := http.Header{"Authorization": {bearer("clinician")}}
	facade := func(b *testing.B) { get(b, env.url+"/Patient/9000000009/$summary", facadeAuth) }

	// Every header any of the services needs; each ignores the others'.
	direct := func(b *testing.B, u string) {
		get(b, u, http.Header{
			"Authorization":                  {"Bearer sandbox"},
			"X-Request-Id":                   {uuid.NewString()},
			"Traceid":                        {uuid.NewString()},
			"Isunscheduledaccessevent":       {"false"},
			"Nhsd-End-User-Organisation-Ods": {"Y05868"},
			"Nhsd-Session-Urid":              {"555254240100"}, // RA requires it (backends/ra.DefaultSessionURID)
		})
	}
	byNHS := url.Values{"patient:identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}}.Encode()
	scrChain := []string{
		sb.SCRBaseURL + "/DocumentReference?" + url.Values{
			"patient": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}, "type": {"http://snomed.info/sct|196981000000101"}, "_sort": {"date"}, "_count": {"1"},
		}.Encode(),
		sb.SCRBaseURL + "/Bundle?" + url.Values{
			"composition.identifier":                 {"FA60BE64-1F34-11EB-A2A8-000C29A364EB"},
			"composition.subject:Patient.identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"},
		}.Encode(),
	}
	raQuery := url.Values{"patient": {"9000000009"}, "category": {"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1|NRAF"}}
	raFlags, raConsent := url.Values{"status": {"active"}}, url.Values{"status": {"active"}}
	for k, v := range raQuery {
		raFlags[k], raConsent[k] = v, v
	}
	var immsCalls []string
	for _, target := range []string{immunisation.COVID19, immunisation.FLU, immunisation.HPV} {
		immsCalls = append(immsCalls, sb.ImmsBaseURL+"/Immunization?"+url.Values{
			"patient.identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}, "_include": {"Immunization:patient"},
			"immunization.target": {target},
		}.Encode())
	}
	all := slices.Concat(
		// PDS: the Patient; its related people (the RelatedPerson
		// section), whose provider reads the Patient again to learn
		// whether the record is restricted (Patient.Restricted, asked
		// alongside the first read, not after it).
		[]string{sb.PDSBaseURL + "/Patient/9000000009", sb.PDSBaseURL + "/Patient/9000000009/RelatedPerson", sb.PDSBaseURL + "/Patient/9000000009"},
		scrChain,
		[]string{
			sb.NRLBaseURL + "/DocumentReference?" + url.Values{"subject:identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}}.Encode(),
			sb.RABaseURL + "/Flag?" + raFlags.Encode(),
			sb.RABaseURL + "/Consent?" + raConsent.Encode(),
			sb.CPISBaseURL + "/CareTeam?" + byNHS,
			sb.FGMBaseURL + "/Flag?" + byNHS,
			sb.OVMBaseURL + "/status?nhs-number=9000000009",
		},
		// The Immunisation History API answers one data store per call:
		// COVID19, FLU and HPV, asked at once.
		immsCalls,
	)
	sequence := func(us []string) func(*testing.B) {
		return func(b *testing.B) {
			for _, u := range us {
				direct(b, u)
			}
		}
	}

	// How many backend calls one $summary makes, to check the sequence
	// above is the same work (sources added later change it).
	requests := func() int64 {
		return sb.PDS.Requests() + sb.SCR.Requests() + sb.NRL.Requests() + sb.RA.Requests() +
			sb.CPIS.Requests() + sb.FGM.Requests() + sb.Imms.Requests() + sb.OVM.Requests()
	}
	n0 := requests()
	facade(b)
	if calls := requests() - n0; calls != int64(len(all)) {
		b.Fatalf("one $summary made %d backend calls; the one-after-another sequence has %d: update it", calls, len(all))
	}

	slow := func() {
		sb.PDS.SetFault(&sandboxpds.Fault{Delay: summaryLatency})
		sb.SCR.SetFault(&scr.Fault{Delay: summaryLatency})
		sb.NRL.SetFault(&nrl.Fault{Delay: summaryLatency})
		sb.RA.SetFault(&ra.Fault{Delay: summaryLatency})
		sb.CPIS.SetFault(&cpis.Fault{Delay: summaryLatency})
		sb.FGM.SetFault(&fgm.Fault{Delay: summaryLatency})
		sb.Imms.SetFault(&immunisation.Fault{Delay: summaryLatency})
		sb.OVM.SetFault(&sandboxovm.Fault{Delay: summaryLatency})
	}
	fast := func() { clearFaults(env.app) }
	defer fast()

	for _, c := range []struct {
		name  string
		setup func()
		run   func(*testing.B)
	}{
		{name: "facade/no-latency", setup: fast, run: facade},
		{name: "facade/20ms-per-backend", setup: slow, run: facade},
		{name: "slowest-source/20ms-per-backend", setup: slow, run: sequence(scrChain)},
		{name: "backends-one-after-another/20ms-per-backend", setup: slow, run: sequence(all)},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.setup()
			c.run(b) // warm connections and memos
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				c.run(b)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
		})
	}
}
