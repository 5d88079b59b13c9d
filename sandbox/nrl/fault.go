package nrl

import "github.com/carerecords/fhir-facade/sandbox/fault"

// Fault replaces the simulator's answer to matching requests, so tests can
// see how a client copes with a misbehaving NRL or document holder. A fault
// on the document host (PathPrefix SSPPath) stands for the Spine Secure
// Proxy or the holder behind it misbehaving: Status 504 or a Delay beyond
// the client's timeout for a holder that does not answer, 502 for one that
// cannot be reached, Status 200 with another ContentType for a holder that
// sends something else than the pointer declares. Its PathPrefix matches
// with or without BasePath: "/DocumentReference/" faults reads only, SSPPath
// ("/ssp") the document host only. See fault.Fault for every field.
type Fault = fault.Fault

// SetFault installs f (a copy of it) for subsequent requests; nil clears any
// fault.
func (s *Simulator) SetFault(f *Fault) { s.faults.Set(f) }
