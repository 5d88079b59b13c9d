package server

import (
	"net/url"
	"slices"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/resources"
)

// compartmentElements are the elements whose Patient reference puts a
// resource in that patient's compartment (subject, or patient for the
// types that name it so: AllergyIntolerance, Immunization…).
var compartmentElements = []protoreflect.Name{"subject", "patient"}

// compartmentOf returns the patients res belongs to: a Patient itself, or
// the Patients its subject and patient reference. It reads the resource's
// proto, not its rendered JSON: parsing every rendered entry again was a
// quarter of a $summary's CPU. body is the fallback for a resource that
// has no proto.
func compartmentOf(res *resources.Resource, body []byte) []string {
	if res.Type == "Patient" {
		return []string{res.ID}
	}
	if res.Message == nil {
		return references(body, "Patient", "subject", "patient") // compartmentElements
	}
	m := res.Message.ProtoReflect()
	fields := m.Descriptor().Fields()
	var out []string
	for _, name := range compartmentElements {
		fd := fields.ByName(name)
		if fd == nil || fd.Kind() != protoreflect.MessageKind || !m.Has(fd) {
			continue
		}
		if fd.IsList() {
			l := m.Get(fd).List()
			for i := 0; i < l.Len(); i++ {
				out = appendPatientRef(out, l.Get(i).Message().Interface())
			}
			continue
		}
		out = appendPatientRef(out, m.Get(fd).Message().Interface())
	}
	return out
}

// appendPatientRef appends the Patient id a Reference points at, if any:
// a relative reference is parsed into patient_id; an absolute one stays a
// uri ending in Patient/<id>.
func appendPatientRef(out []string, msg any) []string {
	ref, ok := msg.(*dtpb.Reference)
	if !ok {
		return out
	}
	if id := ref.GetPatientId().GetValue(); id != "" {
		if fhirjson.ValidID(id) {
			out = append(out, id)
		}
		return out
	}
	if id, ok := referenceTo(ref.GetUri().GetValue(), "Patient"); ok {
		out = append(out, id)
	}
	return out
}

// compartmentQuery is the search a Patient compartment route asks for
// (GET Patient/{id}/{type}, FHIR's compartment search): q with the
// patient parameter naming Patient/{id}, so that the search is held to a
// patient-bound token, audited and resolved (a superseded number) as
// ?patient= is. A type is in the compartment here when its provider
// searches by patient; a query naming the patient again is refused.
// See: http://hl7.org/fhir/R4/http.html#vsearch
func compartmentQuery(p resources.Provider, id string, q url.Values) (url.Values, error) {
	sr, ok := p.(resources.Searcher)
	if !ok || !slices.ContainsFunc(sr.SearchParams(), func(sp resources.SearchParam) bool {
		return sp.Name == "patient" && sp.Type == resources.TypeReference
	}) {
		return nil, &fhirerr.Error{Category: fhirerr.NotFound, IssueCode: "not-supported",
			Message: p.ResourceType() + " cannot be searched in a Patient compartment on this server"}
	}
	out := make(url.Values, len(q)+1)
	for k, v := range q {
		if base, _, _ := strings.Cut(k, ":"); base == "patient" {
			return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "patient",
				Message: "the compartment names the patient: give no patient parameter with Patient/{id}/" + p.ResourceType()}
		}
		out[k] = v
	}
	out.Set("patient", "Patient/"+id)
	return out, nil
}
