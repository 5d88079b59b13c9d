package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/request"
)

// errAuditFailed answers an access whose audit record could not be made
// durable: the answer is withheld, never sent unaudited.
var errAuditFailed = fhirerr.New(fhirerr.Unavailable, "the access could not be recorded in the audit trail; try again shortly")

// audit writes the audit record of a FHIR request that touched, or asked
// for, patient data — successful, empty, refused or failed — and of every
// refused FHIR request (401, 403), whoever it named. The record names the
// caller as the verified token says: user, role profile, role,
// organisation and client; a request refused before its token was verified
// is recorded as unauthenticated. It is called as the answer's status is
// about to go out (auditGate), so the answer waits for the record to be
// durable; an error means it is not.
func (s *Server) audit(ctx context.Context, ri *request.Info, status int, start time.Time) error {
	if s.cfg.Audit == nil || ri.Route == "other" {
		return nil
	}
	refused := status == http.StatusUnauthorized || status == http.StatusForbidden
	if ri.Subjects.Len() == 0 && !refused {
		return nil
	}
	rec := audit.Record{
		Time: start.UTC(), RequestID: ri.ID, ResourceType: ri.ResourceType, Interaction: ri.Interaction,
		Status: status, Outcome: audit.OutcomeOf(status), Patients: ri.Subjects.List(),
	}
	if p := ri.Caller; p != nil {
		rec.User, rec.RoleProfile, rec.Role, rec.Organisation = p.Subject, p.RoleProfileID, strings.Join(p.Roles, " "), p.OrgODS
		rec.ClientID, rec.Issuer = p.ClientID, p.Issuer
	}
	// The record is written even when the client has gone: the access
	// (the national service's answer) happened.
	if err := s.cfg.Audit.Write(context.WithoutCancel(ctx), rec); err != nil {
		s.log.WithFields(logrus.Fields{"request_id": ri.ID, "error": err.Error()}).Error("audit record not written")
		return err
	}
	return nil
}

// auditGate is the statusWriter's hook: it writes the audit record before
// the status goes out and, when that fails, answers 503 instead of what the
// handler meant to send.
type auditGate struct {
	s     *Server
	ctx   context.Context
	ri    *request.Info
	start time.Time
}

// pass writes the record of an answer with status; false means it could
// not, and the 503 has been sent instead.
func (g *auditGate) pass(w http.ResponseWriter, status int) bool {
	if g.s.audit(g.ctx, g.ri, status, g.start) == nil {
		return true
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Location", "Content-Disposition", "ETag", "Last-Modified", "Location"} {
		h.Del(k)
	}
	st, hdr, body := errorReply(errAuditFailed, g.ri.ID)
	for k, v := range hdr {
		h[k] = v
	}
	h.Set("Content-Type", mediaFHIRJSON+"; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	_, _ = w.Write(body)
	return false
}
