package server

import (
	"context"

	"github.com/carerecords/fhir-facade/model/redact"
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
func (s *Server) restricted(ctx context.Context, ri *reqInfo, nhs string) bool {
	if v, ok := ri.restricted[nhs]; ok {
		return v
	}
	v := true
	if s.cfg.Restricted != nil {
		r, err := s.cfg.Restricted(ctx, nhs)
		v = err != nil || r
	}
	if ri.restricted == nil {
		ri.restricted = map[string]bool{}
	}
	ri.restricted[nhs] = v
	return v
}

// noteRestricted records the status of the Patients an answer holds, so
// their other resources need no question to PDS.
func (ri *reqInfo) noteRestricted(res *resources.Resource) {
	if res == nil || res.Type != "Patient" {
		return
	}
	if ri.restricted == nil {
		ri.restricted = map[string]bool{}
	}
	ri.restricted[res.ID] = resources.RestrictedPatient(res)
}

// redacted returns res, or a redacted copy when it is about a restricted
// patient. Patients themselves are stripped by the PDS mapper.
func (s *Server) redacted(ctx context.Context, ri *reqInfo, res *resources.Resource, patients []string) *resources.Resource {
	if res == nil || res.Message == nil || res.Type == "Patient" || res.Type == "OperationDefinition" || res.Type == "AuditEvent" {
		return res
	}
	hide := false
	for _, p := range patients {
		if s.restricted(ctx, ri, p) {
			hide = true
		}
	}
	if !hide {
		return res
	}
	msg, changed := redact.Locating(res.Message)
	if !changed {
		return res
	}
	out := *res
	out.Message = msg
	out.RenderKey = "" // another rendering than the cached one
	return &out
}

// safe is res as it may leave the facade: redacted when its patient is
// restricted.
func (s *Server) safe(ctx context.Context, ri *reqInfo, res *resources.Resource) *resources.Resource {
	if res == nil || res.Type == "Patient" {
		return res
	}
	return s.redacted(ctx, ri, res, compartmentOf(res, nil))
}
