package server

import (
	"slices"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carerecords/fhir-facade/resources"
)

// TestCompartmentOf: reading the compartment from the proto finds what
// reading it from the rendered JSON finds.
func TestCompartmentOf(t *testing.T) {
	un, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := newRenderer(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, json string
		want       []string
	}{
		{"patient element", `{"resourceType":"AllergyIntolerance","id":"a","patient":{"reference":"Patient/9000000009"}}`, []string{"9000000009"}},
		{"subject element", `{"resourceType":"MedicationStatement","id":"m","status":"active","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/9000000017"}}`, []string{"9000000017"}},
		{"absolute reference", `{"resourceType":"Flag","id":"f","status":"active","code":{"text":"x"},"subject":{"reference":"https://example.org/fhir/Patient/9000000009"}}`, []string{"9000000009"}},
		{"identifier only", `{"resourceType":"Flag","id":"f","status":"active","code":{"text":"x"},"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}}}`, nil},
		{"another type", `{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"url":"https://example.org/x"}}],"subject":{"reference":"Group/g1"}}`, nil},
		{"no subject", `{"resourceType":"Immunization","id":"i","status":"completed","vaccineCode":{"text":"x"},"patient":{"display":"someone"},"occurrenceDateTime":"2021-01-01"}`, nil},
		{"patient element of Immunization", `{"resourceType":"Immunization","id":"i","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/9000000009"},"occurrenceDateTime":"2021-01-01"}`, []string{"9000000009"}},
		{"a Patient is its own", `{"resourceType":"Patient","id":"9000000033"}`, []string{"9000000033"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cr, err := un.Unmarshal([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			msg := containedResource(cr)
			res := &resources.Resource{Type: string(msg.ProtoReflect().Descriptor().Name()), ID: resourceID(msg), Message: msg}
			body, err := rd.render(res)
			if err != nil {
				t.Fatal(err)
			}
			got := compartmentOf(res, body)
			if !slices.Equal(got, c.want) {
				t.Errorf("from the proto: %v, want %v", got, c.want)
			}
			if noProto := compartmentOf(&resources.Resource{Type: res.Type, ID: res.ID}, body); !slices.Equal(noProto, got) {
				t.Errorf("from the JSON (no proto) %v, from the proto %v", noProto, got)
			}
		})
	}
}
