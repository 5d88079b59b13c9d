package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/resources"
)

// maxOperationEntries bounds what one operation returns (it is not paged).
const maxOperationEntries = 1000

// operation serves GET [base]/[type]/[id]/$[name] for providers' instance
// operations, answering a searchset Bundle with every resource (not paged)
// and an OperationOutcome entry for issues such as a missing source.
// See: http://hl7.org/fhir/R4/operations.html
func (s *Server) operation(a *access, r *http.Request, f format, q url.Values) (*reply, error) {
	ri, p := a.ri, a.provider
	name := opName(r)
	var op *resources.Operation
	if o, ok := p.(resources.Operator); ok {
		op = findOp(o.Operations(), name, func(x resources.Operation) string { return x.Name })
	}
	if op == nil {
		return nil, &fhirerr.Error{Category: fhirerr.NotFound, IssueCode: "not-supported", Message: "operation $" + safeName(name) + " is not supported on " + p.ResourceType()}
	}
	ri.interaction = "operation-" + op.Name
	id := mux.Vars(r)["id"]
	if !idPattern.MatchString(id) {
		return nil, fhirerr.New(fhirerr.Invalid, "the resource id is not a valid FHIR id")
	}
	sub, err := parseSubset(q, false)
	if err != nil {
		return nil, err
	}
	if _, ok := idPatient(p, id); !ok && a.scope != "" {
		// An instance operation on a record whose patient its id does not
		// tell is not for a patient-bound token.
		return nil, errOtherPatient
	}
	// A fan-out operation asks only the sources the caller may search.
	ctx := resources.WithAllowedTypes(r.Context(), func(t string) bool { return s.allow(r, t, auth.Search) == nil })
	res, err := op.Run(ctx, id, q)
	if err != nil {
		return nil, err
	}
	if current := supersededIn(p, id, res); current != "" {
		// PDS answered with the record that superseded id: the other
		// sources were asked with a number they no longer hold data under.
		// Asked again with the current one; the answer names both.
		_, issue := a.afterResolving(id, resolved{current: current})
		first := res
		if res, err = op.Run(ctx, current, q); err != nil {
			return nil, err
		}
		keepPatientLink(res, first, current)
		if issue != nil {
			res.Issues = append(res.Issues, *issue)
		}
	}
	self := s.baseURL() + "/" + p.ResourceType() + "/" + id + "/$" + op.Name
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	req := &searchRequest{query: &resources.Query{Count: maxOperationEntries}, subset: sub, selfURL: self}
	return s.searchset(r, p.ResourceType(), req, res)
}

// opName is the operation the path names, without its '$'.
func opName(r *http.Request) string { return strings.TrimPrefix(mux.Vars(r)["op"], "$") }

// findOp returns the operation of ops called name, or nil.
func findOp[T any](ops []T, name string, nameOf func(T) string) *T {
	for i := range ops {
		if nameOf(ops[i]) == name {
			return &ops[i]
		}
	}
	return nil
}

// supersededIn returns the current NHS number when an operation on Patient
// id answered with another Patient (the record that superseded id), else "".
func supersededIn(p resources.Provider, id string, res *resources.SearchResult) string {
	if p.ResourceType() != "Patient" {
		return ""
	}
	for _, e := range res.Entries {
		if r := e.Resource; r != nil && r.Type == "Patient" && r.ID != id && nhsnumber.Valid(r.ID) {
			return r.ID
		}
	}
	return ""
}

// keepPatientLink puts back the Patient of the first answer, which links
// the superseded number it was asked for ("replaces"), in place of the
// current record read again without it.
func keepPatientLink(res, first *resources.SearchResult, current string) {
	var linked *resources.Resource
	for _, e := range first.Entries {
		if e.Resource != nil && e.Resource.Type == "Patient" && e.Resource.ID == current {
			linked = e.Resource
		}
	}
	for i, e := range res.Entries {
		if linked != nil && e.Resource != nil && e.Resource.Type == "Patient" && e.Resource.ID == current {
			res.Entries[i].Resource = linked
		}
	}
}
