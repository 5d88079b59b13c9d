package scr

import "github.com/carerecords/fhir-facade/sandbox/fault"

// Fault replaces the simulator's answer to matching requests, so tests can
// see how a client copes with a misbehaving SCR API. Its PathPrefix matches
// with or without BasePath (e.g. "/Bundle"); see fault.Fault for every
// field.
type Fault = fault.Fault

// SetFault installs f (a copy of it) for subsequent requests; nil clears any
// fault.
func (s *Simulator) SetFault(f *Fault) { s.faults.Set(f) }
