package fgm

import (
	"encoding/json"

	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// Flag is an FGM-IS Flag (R4) as the service sends it (the IG's
// Flag-FGM-active and the contract's Flag-FGM-removed): the SNOMED CT FGM
// concept about a patient, since when, recorded by which organisation; a
// removed flag has an end, status inactive or entered-in-error and the
// removal reason in an extension. The simulator's own wire type (issue
// #18), not the facade's model. MarshalJSON writes "resourceType": "Flag"
// first.
type Flag struct {
	ID        string                    `json:"id,omitempty"`
	Meta      *fhirwire.Meta            `json:"meta,omitempty"`
	Extension []fhirwire.Extension      `json:"extension,omitempty"`
	Status    string                    `json:"status"`
	Code      *fhirwire.CodeableConcept `json:"code"`
	Subject   *fhirwire.Reference       `json:"subject"`
	Period    *fhirwire.Period          `json:"period,omitempty"`
	Author    *fhirwire.Reference       `json:"author,omitempty"`
}

// MarshalJSON writes the Flag with its resourceType first.
func (f Flag) MarshalJSON() ([]byte, error) {
	type plain Flag
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Flag", plain(f)})
}
