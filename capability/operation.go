package capability

import (
	"encoding/json"
	"strings"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/resources"
)

// Canonical is the canonical URL of the facade's OperationDefinition id:
// where it is served, under the server's public FHIR base (the one base of
// every link, never a request's Host), so a client resolves it by GET.
func Canonical(base, id string) string {
	return strings.TrimRight(base, "/") + "/OperationDefinition/" + id
}

// standardBases are the HL7 operations the facade's are versions of, by
// resource/code: OperationDefinition.base says a client that knows the
// standard one knows this one (ours take fewer parameters, none more).
var standardBases = map[string]string{
	// IPS STU2's Patient $summary: an IPS document.
	// See: https://hl7.org/fhir/uv/ips/OperationDefinition-summary.html
	"Patient/summary": "http://hl7.org/fhir/uv/ips/OperationDefinition/summary",
	// FHIR R4's Patient $everything: a searchset of the patient's records.
	// See: http://hl7.org/fhir/R4/operation-patient-everything.html
	"Patient/everything": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
}

// Definitions returns the builder resources.NewOperationDefinitions takes,
// for a server whose public FHIR base is base, running software version.
func Definitions(base, version string) func(resources.OperationDefinition) (proto.Message, error) {
	return func(d resources.OperationDefinition) (proto.Message, error) {
		return OperationDefinition(d, base, version)
	}
}

// OperationDefinition builds the FHIR OperationDefinition resource for one
// of the facade's operations: instance operations returning a Bundle, or
// type operations with their own parameters. Its url is Canonical(base,
// d.ID), what the CapabilityStatement names; version the software's.
// See: http://hl7.org/fhir/R4/operationdefinition.html
func OperationDefinition(d resources.OperationDefinition, base, version string) (proto.Message, error) {
	doc := map[string]any{
		"resourceType": "OperationDefinition",
		"id":           d.ID,
		"url":          Canonical(base, d.ID),
		"version":      version,
		"name":         d.Name,
		"title":        d.Title,
		"status":       "active",
		"kind":         "operation",
		"description":  d.Description,
		"affectsState": d.AffectsState,
		"code":         d.Code,
		"resource":     []string{d.Resource},
		"system":       false,
		"type":         d.Type,
		"instance":     !d.Type,
		"parameter": []map[string]any{{
			"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle",
			"documentation": returnDoc(d),
		}},
	}
	if b, ok := standardBases[d.Resource+"/"+d.Code]; ok {
		doc["base"] = b
	}
	if version == "" {
		delete(doc, "version") // a FHIR string is never empty
	}
	if len(d.Parameters) > 0 {
		var ps []map[string]any
		for _, p := range d.Parameters {
			ps = append(ps, map[string]any{"name": p.Name, "use": p.Use, "min": p.Min, "max": p.Max, "type": p.Type, "documentation": p.Documentation})
		}
		if !d.Type {
			// An instance operation's parameters are its in-parameters;
			// its one out-parameter is always the Bundle.
			ps = append(ps, doc["parameter"].([]map[string]any)...)
		}
		doc["parameter"] = ps
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return nil, err
	}
	cr, err := u.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	return cr.ProtoReflect().Get(cr.ProtoReflect().Descriptor().Fields().ByName("operation_definition")).Message().Interface(), nil
}

// returnDoc documents the Bundle an instance operation returns.
func returnDoc(d resources.OperationDefinition) string {
	if d.ReturnDoc != "" {
		return d.ReturnDoc
	}
	return "A searchset Bundle: the resources, and an OperationOutcome entry for any source that failed."
}
