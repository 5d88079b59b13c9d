package pds_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/pds"
)

// patchBenchOps is a typical update: a guarded name change and a new
// telecom, the shape of the specification's examples.
const patchBenchOps = `{"patches":[` +
	`{"op":"replace","path":"/gender","value":"female"},` +
	`{"op":"add","path":"/telecom/-","value":{"system":"email","value":"jane.smith@example.com","use":"home"}}]}`

// BenchmarkPatch is a PATCH through the simulator, with PDS's rules
// (strict) and as the public sandbox (stateless).
func BenchmarkPatch(b *testing.B) {
	for _, stateless := range []bool{false, true} {
		b.Run("stateless="+strconv.FormatBool(stateless), func(b *testing.B) {
			sim := pds.New(pds.Options{Open: true, StatelessPatches: stateless})
			version := 2
			b.ReportAllocs()
			for b.Loop() {
				if !stateless {
					b.StopTimer()
					sim = pds.New(pds.Options{Open: true})
					b.StartTimer()
				}
				req := httptest.NewRequest(http.MethodPatch, pds.BasePath+"/Patient/9000000009", strings.NewReader(patchBenchOps))
				req.Header.Set("X-Request-ID", testRequestID)
				req.Header.Set("Content-Type", "application/json-patch+json")
				req.Header.Set("If-Match", `W/"`+strconv.Itoa(version)+`"`)
				w := httptest.NewRecorder()
				sim.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
