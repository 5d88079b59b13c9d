package server

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/resources"
)

// Superseded NHS numbers. When two records of one person are merged, PDS
// answers the superseded number with the superseding (current) record; the
// other national services hold the person's data under the current number
// only. A clinical search or $summary made with the old number would find
// nothing there and read as "no allergies, no vaccinations": so the number
// is resolved through PDS, alongside the search, and when PDS says it was
// superseded the search is made again with the current number, and the
// answer says so, naming both.

// resolved is what PDS said of a number: the current one, or why it could
// not say.
type resolved struct {
	current string
	err     error
}

// resolving starts resolving nhs through PDS, when the server can and the
// provider's records are held by NHS number in other services; the
// returned function waits for the answer (nil: nothing to resolve).
func (s *Server) resolving(ctx context.Context, p resources.Provider, patients []string) func() resolved {
	if s.cfg.CurrentNHSNumber == nil || len(patients) != 1 || !nhsnumber.Valid(patients[0]) ||
		p.ResourceType() == "Patient" || !slices.Contains(auth.ClinicalTypes, p.ResourceType()) {
		return nil
	}
	ch := make(chan resolved, 1)
	go func() {
		cur, err := s.cfg.CurrentNHSNumber(ctx, patients[0])
		ch <- resolved{current: cur, err: err}
	}()
	return func() resolved { return <-ch }
}

// supersededIssue tells the client the answer is the current number's.
func supersededIssue(old, current string) resources.Issue {
	return resources.Issue{Severity: "warning", Code: "informational", Expression: "patient",
		Diagnostics: "NHS number " + old + " has been superseded by " + current + " (the records were merged): this answer holds the records of " + current}
}

// unresolvedIssue says PDS could not be asked whether the number is
// current: records held under a current number would be missing.
func unresolvedIssue(nhs string) resources.Issue {
	return resources.Issue{Severity: "warning", Code: "incomplete", Expression: "patient",
		Diagnostics: "the Personal Demographics Service could not confirm that NHS number " + nhs + " is current: if it has been superseded, records held under the current number are not in this answer"}
}

// afterResolving decides what a search or operation made with old does
// once PDS has answered: nothing (current), a repeat with the current
// number (superseded; a patient-bound token for old may then see the
// current record, which is the same person's), or a warning.
func (a *access) afterResolving(old string, rv resolved) (current string, issue *resources.Issue) {
	switch {
	case rv.err == nil && rv.current != "" && rv.current != old && nhsnumber.Valid(rv.current):
		a.alias(old, rv.current)
		is := supersededIssue(old, rv.current)
		return rv.current, &is
	case rv.err != nil:
		switch fhirerr.CategoryOf(rv.err) {
		case fhirerr.NotFound, fhirerr.Gone, fhirerr.Invalid:
			return "", nil // nothing current to find elsewhere either
		}
		is := unresolvedIssue(old)
		return "", &is
	}
	return "", nil
}

// withPatient returns q with every patient parameter naming old naming
// current instead (patient=old, patient=Patient/old,
// patient:identifier=system|old, subject=…).
func withPatient(q url.Values, old, current string) url.Values {
	out := url.Values{}
	for k, vs := range q {
		base, _, _ := strings.Cut(k, ":")
		for _, v := range vs {
			if (base == "patient" || base == "subject") && strings.HasSuffix(v, old) {
				v = strings.TrimSuffix(v, old) + current
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}
