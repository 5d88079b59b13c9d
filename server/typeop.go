package server

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// typeOperation serves POST [base]/[type]/$[name] for providers' type
// operations that create a resource (Patient/$notify-birth): the body is a
// Parameters resource, checked against the R4 schema; the answer is 201 with
// the created resource, Location, ETag and Last-Modified, like a create. The
// caller needs auth.CreateOperation on the type; a patient-context token
// never may.
// See: http://hl7.org/fhir/R4/operations.html
func (s *Server) typeOperation(a *access, r *http.Request, _ format, _ url.Values) (*reply, error) {
	ri, p := a.ri, a.provider
	name := opName(r)
	var op *resources.TypeOperation
	if o, ok := p.(resources.TypeOperator); ok {
		op = findOp(o.TypeOperations(), name, func(x resources.TypeOperation) string { return x.Name })
	}
	if op == nil {
		return nil, &fhirerr.Error{Category: fhirerr.NotFound, IssueCode: "not-supported", Message: "operation $" + safeName(name) + " is not supported on the type " + p.ResourceType()}
	}
	ri.Interaction = "operation-" + op.Name
	if a.scope != "" {
		return nil, &fhirerr.Error{Category: fhirerr.Forbidden, Message: "a token limited to one patient cannot run $" + op.Name}
	}
	body, err := readParameters(r)
	if err != nil {
		return nil, err
	}
	res, err := op.Run(r.Context(), body)
	if err != nil {
		return nil, err
	}
	return s.written(a, r, res, http.StatusCreated)
}

// readParameters reads a Parameters resource from the request body:
// bounded, JSON only, valid against the R4 JSON schema.
func readParameters(r *http.Request) ([]byte, error) {
	return readFHIRBody(r, "Parameters resource", func(b []byte) error {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(b, &head); err != nil || head.ResourceType != "Parameters" {
			return &fhirerr.Error{Category: fhirerr.Invalid, Expression: "resourceType", Message: "the body must be a FHIR Parameters resource"}
		}
		return nil
	})
}
