package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/fhirerr"
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
	self := s.baseURL(r) + "/" + p.ResourceType() + "/" + id + "/$" + op.Name
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
