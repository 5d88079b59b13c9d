package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/audit"
)

// audit writes the audit record of a FHIR request that touched, or asked
// for, patient data — successful, empty, refused or failed — and of every
// refused FHIR request (401, 403), whoever it named. The record names the
// caller as the verified token says: user, role profile, role,
// organisation and client; a request refused before its token was verified
// is recorded as unauthenticated.
func (s *Server) audit(ri *reqInfo, status int, start time.Time) {
	if s.cfg.Audit == nil || ri.route == "other" {
		return
	}
	refused := status == http.StatusUnauthorized || status == http.StatusForbidden
	if len(ri.patients) == 0 && !refused {
		return
	}
	rec := audit.Record{
		Time: start.UTC(), RequestID: ri.id, ResourceType: ri.resourceType, Interaction: ri.interaction,
		Status: status, Outcome: audit.OutcomeOf(status), Patients: ri.patientList(),
	}
	if p := ri.principal; p != nil {
		rec.User, rec.RoleProfile, rec.Role, rec.Organisation = p.Subject, p.RoleProfileID, strings.Join(p.Roles, " "), p.OrgODS
		rec.ClientID, rec.Issuer = p.ClientID, p.Issuer
	}
	if err := s.cfg.Audit.Write(rec); err != nil {
		// The access happened; losing its record is an operational alarm.
		s.log.WithFields(logrus.Fields{"request_id": ri.id, "error": err.Error()}).Error("audit record not written")
	}
}
