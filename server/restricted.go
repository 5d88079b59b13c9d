package server

import (
	"context"
	"slices"

	"github.com/carerecords/fhir-facade/model/redact"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// Restricted (sensitive) patients. PDS removes their locating details from
// the Patient, but every other service's records can name where they live
// or are seen: the GP practice that authored an SCR medication, the
// pharmacy that vaccinated them, a document's custodian. So every resource
// about a restricted patient is redacted (model/redact) before it leaves
// the facade; one whose patient's status cannot be learned is redacted too
// (redaction removes places and contact points, never clinical facts).

// restricted reports whether patient nhs is restricted, asking PDS (through
// Config.Restricted, cached) once per request and patient; when the answer
// cannot be had it is taken as yes.
func (s *Server) restricted(ctx context.Context, ri *request.Info, nhs string) bool {
	if v, ok := ri.Subjects.Restricted(nhs); ok {
		return v
	}
	v := true
	if s.cfg.Restricted != nil {
		r, err := s.cfg.Restricted(ctx, nhs)
		v = err != nil || r
	}
	ri.Subjects.SetRestricted(nhs, v)
	return v
}

// noteRestricted records the status of the Patients an answer holds, so
// their other resources need no question to PDS.
func noteRestricted(ri *request.Info, res *resources.Resource) {
	if res != nil && res.Type == "Patient" {
		ri.Subjects.SetRestricted(res.ID, resources.RestrictedPatient(res))
	}
}

// safe is res as it may leave the facade: a redacted copy when it is about
// a restricted patient. Patients themselves are stripped by the PDS mapper;
// the facade's own resources (OperationDefinition, AuditEvent) are about
// no patient's whereabouts.
func (s *Server) safe(ctx context.Context, ri *request.Info, res *resources.Resource) *resources.Resource {
	if res == nil || res.Message == nil || res.Type == "Patient" || res.Type == "OperationDefinition" || res.Type == "AuditEvent" {
		return res
	}
	if !slices.ContainsFunc(compartmentOf(res, nil), func(p string) bool { return s.restricted(ctx, ri, p) }) {
		return res
	}
	msg, changed := redact.Locating(res.Message)
	if !changed {
		return res
	}
	out := *res
	out.Message = msg
	out.RenderKey, out.Rendering = "", nil // another rendering than the cached one
	return &out
}
