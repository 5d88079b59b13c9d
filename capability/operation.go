package capability

import (
	"encoding/json"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/resources"
)

// OperationDefinition builds the FHIR OperationDefinition resource for one
// of the facade's operations: instance operations returning a Bundle, or
// type operations with their own parameters.
// See: http://hl7.org/fhir/R4/operationdefinition.html
func OperationDefinition(d resources.OperationDefinition) (proto.Message, error) {
	doc := map[string]any{
		"resourceType": "OperationDefinition",
		"id":           d.ID,
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
			"documentation": "A searchset Bundle: the resources, and an OperationOutcome entry for any source that failed.",
		}},
	}
	if len(d.Parameters) > 0 {
		var ps []map[string]any
		for _, p := range d.Parameters {
			ps = append(ps, map[string]any{"name": p.Name, "use": p.Use, "min": p.Min, "max": p.Max, "type": p.Type, "documentation": p.Documentation})
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
