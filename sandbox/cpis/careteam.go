package cpis

import (
	"encoding/json"

	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// CareTeam is one plan as CP-IS sends it (R4 CareTeam, the contract's
// Bundle-careteam-found-*.json): the kind of plan as its category, whose
// (subject, by NHS number), since and until when (period, active or
// inactive), the responsible local authority (managingOrganization, by ODS
// code) and its numbers (telecom). The simulator's own wire type (issue
// #18), not the facade's model. MarshalJSON writes "resourceType":
// "CareTeam" first.
type CareTeam struct {
	ID                   string                     `json:"id"`
	Status               string                     `json:"status"`
	Category             []fhirwire.CodeableConcept `json:"category"`
	Subject              *fhirwire.Reference        `json:"subject"`
	Period               *fhirwire.Period           `json:"period"`
	ManagingOrganization []fhirwire.Reference       `json:"managingOrganization"`
	Telecom              []fhirwire.ContactPoint    `json:"telecom"`
}

// MarshalJSON writes the CareTeam with its resourceType first.
func (c CareTeam) MarshalJSON() ([]byte, error) {
	type plain CareTeam
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"CareTeam", plain(c)})
}
