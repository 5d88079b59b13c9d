package server

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/resources"
)

// Identity is who made a request, as the audit trail records it. The
// authentication layer supplies it through Config.Identity.
type Identity struct {
	User, Role, Organisation string
}

// audit writes the audit record of a request that touched, or asked for,
// patient data: every interaction on a patient, successful or not.
func (s *Server) audit(r *http.Request, ri *reqInfo, status int, start time.Time) {
	if s.cfg.Audit == nil {
		return
	}
	s.noteQueryPatients(r, ri)
	if len(ri.patients) == 0 {
		return
	}
	rec := audit.Record{
		Time: start.UTC(), RequestID: ri.id, ResourceType: ri.resourceType, Interaction: ri.interaction, Status: status,
	}
	if s.cfg.Identity != nil {
		id := s.cfg.Identity(r)
		rec.User, rec.Role, rec.Organisation = id.User, id.Role, id.Organisation
	} else if p, ok := auth.FromContext(r.Context()); ok {
		rec.User, rec.Role, rec.Organisation = p.Subject, strings.Join(p.Roles, " "), p.OrgODS
	}
	for p := range ri.patients {
		rec.Patients = append(rec.Patients, p)
	}
	sort.Strings(rec.Patients)
	if err := s.cfg.Audit.Write(rec); err != nil {
		// The access happened; losing its record is an operational alarm.
		s.log.WithFields(logrus.Fields{"request_id": ri.id, "error": err.Error()}).Error("audit record not written")
	}
}

// noteQueryPatients records the patients a request names in its path or
// parameters, so an access is audited even when it was refused or found
// nothing.
func (s *Server) noteQueryPatients(r *http.Request, ri *reqInfo) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return
	}
	for _, name := range []string{"patient", "subject"} {
		if nhs, ok, err := resources.PatientNHSNumber(q, name); ok && err == nil {
			ri.notePatient(nhs)
		}
	}
	if ri.resourceType == "Patient" {
		for _, k := range []string{"_id", "identifier"} {
			for _, v := range q[k] {
				if _, value, found := cutLast(v, "|"); found {
					v = value
				}
				if nhsnumber.Valid(v) {
					ri.notePatient(v)
				}
			}
		}
	}
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}
