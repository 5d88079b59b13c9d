package immunisation

import (
	"net/http"

	"github.com/carerecords/fhir-facade/sandbox/fault"
)

// Fault replaces the simulator's answer to matching requests, so tests can
// see how a client copes with a misbehaving Immunisation History API. Its
// PathPrefix matches with or without BasePath (e.g. "/Immunization"); see
// fault.Fault for every field.
type Fault = fault.Fault

// SetFault installs f (a copy of it) for subsequent requests; nil clears any
// fault.
func (s *Simulator) SetFault(f *Fault) { s.faults.Set(f) }

// SetStoreFault installs f (a copy of it) for the requests of one data
// store only (immunization.target, or COVID19 for procedure-code:below), so
// a test can make one store of a search that asks every store misbehave;
// nil clears it. A fault set with SetFault applies first.
func (s *Simulator) SetStoreFault(target string, f *Fault) {
	if in := s.storeFaults[target]; in != nil {
		in.Set(f)
	}
}

// storeFault answers r with the fault of its data store, if any, and
// reports whether it did.
func (s *Simulator) storeFault(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	target := q.Get("immunization.target")
	if target == "" && q.Get("procedure-code:below") != "" {
		target = COVID19
	}
	in := s.storeFaults[target]
	return in != nil && in.Intercept(w, r)
}
