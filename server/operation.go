package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/resources"
)

// maxOperationEntries bounds what one operation returns (it is not paged).
const maxOperationEntries = 1000

// operation serves GET and POST [base]/[type]/[id]/$[name] for providers'
// instance operations, answering a searchset Bundle with every resource (not
// paged) and an OperationOutcome entry for issues such as a missing source.
// A POST may carry a Parameters resource (or nothing) whose parameters join
// those of the URL (operationParams).
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
	ri.Interaction = "operation-" + op.Name
	id := r.PathValue("id")
	if !fhirjson.ValidID(id) {
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
	// _summary and _elements shape the answer (parseSubset, above): they
	// are the URL's, never the body's. The operation's own parameters may
	// come in either.
	params := q
	if r.Method == http.MethodPost {
		if params, err = operationParams(r, q); err != nil {
			return nil, err
		}
	}
	// Parameters the operation does not declare: refused under Prefer:
	// handling=strict, else ignored with a warning, as for a search.
	ignored, err := undeclaredParams(op.Definition, params, preferStrict(r))
	if err != nil {
		return nil, err
	}
	// A fan-out operation asks only the sources the caller may search
	// (request.Info.Allowed, set with the caller).
	ctx := r.Context()
	res, err := op.Run(ctx, id, params)
	if err != nil {
		return nil, err
	}
	if current := supersededIn(p, id, res); current != "" {
		// PDS answered with the record that superseded id: the other
		// sources were asked with a number they no longer hold data under.
		// Asked again with the current one; the answer names both.
		_, issue := a.afterResolving(id, resolved{current: current})
		first := res
		if res, err = op.Run(ctx, current, params); err != nil {
			return nil, err
		}
		keepPatientLink(res, first, current)
		if issue != nil {
			res.Issues = append(res.Issues, *issue)
		}
	}
	res.Issues = append(res.Issues, ignored...)
	self := s.baseURL() + "/" + p.ResourceType() + "/" + id + "/$" + op.Name
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	if op.Document {
		return s.document(r, id, sub, self, res)
	}
	req := &searchRequest{query: &resources.Query{Count: maxOperationEntries}, subset: sub, selfURL: self}
	if _, paged := params["_count"]; paged && declares(op.Definition, "_count") {
		if err := s.operationPage(req, p, op, params, p.ResourceType()+"/"+id+"/$"+op.Name); err != nil {
			return nil, err
		}
	}
	return s.searchset(r, p.ResourceType(), req, res)
}

// declares says whether d declares the in-parameter name.
func declares(d resources.OperationDefinition, name string) bool {
	for _, p := range d.Parameters {
		if p.Use == "in" && p.Name == name {
			return true
		}
	}
	return false
}

// operationPage pages an operation's searchset as a search is paged: _count
// entries from _offset, self/first/previous/next/last links on path that
// repeat the operation's own parameters and the echoed result parameters.
func (s *Server) operationPage(req *searchRequest, p resources.Provider, op *resources.Operation, params url.Values, path string) error {
	req.query.Params, req.echo = url.Values{}, url.Values{}
	// _count and _offset as a search reads them (bounds and warnings).
	for _, k := range []string{"_count", "_offset"} {
		if vs, ok := params[k]; ok {
			if err := s.resultParam(p, req, k, vs); err != nil {
				return err
			}
		}
	}
	for _, d := range op.Definition.Parameters {
		if vs, ok := params[d.Name]; ok && d.Use == "in" && d.Name != "_count" && d.Name != "_offset" {
			req.query.Params[d.Name] = vs
		}
	}
	for _, k := range echoed {
		if vs, ok := params[k]; ok {
			req.echo[k] = vs
		}
	}
	req.selfURL, req.path = "", path
	return nil
}

// undeclaredParams checks an instance operation's parameters against its
// definition. The result parameters every interaction takes (_format,
// _pretty, _summary, _elements) are always allowed. Any other parameter
// the operation does not declare is an error when strict, else a warning
// saying it was ignored (a client must not take an answer for filtered
// that was not).
// See: http://hl7.org/fhir/R4/search.html#errors
func undeclaredParams(d resources.OperationDefinition, params url.Values, strict bool) ([]resources.Issue, error) {
	declared := map[string]bool{"_format": true, "_pretty": true, "_summary": true, "_elements": true}
	for _, p := range d.Parameters {
		if p.Use == "in" {
			declared[p.Name] = true
		}
	}
	var names []string
	for k := range params {
		if !declared[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []resources.Issue
	for _, k := range names {
		if strict {
			return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: safeName(k), Message: "$" + d.Code + " has no parameter '" + safeName(k) + "'"}
		}
		out = append(out, resources.Issue{Severity: "warning", Code: "not-supported", Expression: safeName(k),
			Diagnostics: "$" + d.Code + " has no parameter '" + safeName(k) + "': it was ignored"})
	}
	return out, nil
}

// operationParams are the parameters of an operation invoked by POST: the
// URL's, and those of the Parameters resource in the body, if there is a
// body. The operations take primitive values only (they can be invoked by
// GET), so a parameter with a resource, parts or a complex value is refused,
// and so is one given both in the URL and the body: which was meant cannot
// be told.
// See: https://hl7.org/fhir/R4/operations.html#request
func operationParams(r *http.Request, q url.Values) (url.Values, error) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return q, nil
	}
	body, err := readParameters(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		Parameter []map[string]json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the Parameters resource cannot be read")
	}
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for i, p := range in.Parameter {
		var name string
		_ = json.Unmarshal(p["name"], &name)
		where := fmt.Sprintf("Parameters.parameter[%d]", i)
		if _, inURL := q[name]; inURL {
			return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: where, Message: "parameter " + safeName(name) + " is given both in the URL and in the body: give it once"}
		}
		v, ok := primitiveValue(p)
		if !ok {
			return nil, &fhirerr.Error{Category: fhirerr.NotSupported, Expression: where,
				Message: "parameter " + safeName(name) + ": this operation takes only primitive values (value[x] of a primitive type), not resources, parts or complex types"}
		}
		out[name] = append(out[name], v)
	}
	return out, nil
}

// primitiveValue is a parameter's value[x] as it would be in a URL, when
// that value is of a primitive type (a JSON string, number or boolean).
func primitiveValue(p map[string]json.RawMessage) (string, bool) {
	for k, raw := range p {
		if !strings.HasPrefix(k, "value") {
			continue
		}
		var str string
		if json.Unmarshal(raw, &str) == nil {
			return str, true
		}
		var num json.Number
		if json.Unmarshal(raw, &num) == nil {
			return num.String(), true
		}
		var b bool
		if json.Unmarshal(raw, &b) == nil {
			return strconv.FormatBool(b), true
		}
		return "", false
	}
	return "", false
}

// opName is the operation the path names, without its '$'.
func opName(r *http.Request) string { return strings.TrimPrefix(r.PathValue("op"), "$") }

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
