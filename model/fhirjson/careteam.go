package fhirjson

import "encoding/json"

// CareTeam is the R4 CareTeam as CP-IS sends it (BACKENDS.md §4.1, a project
// contract): one child protection plan, with its period, the responsible
// local authority (managingOrganization) and the authority's phone numbers
// (telecom). It is decoded only: mappers/cpis turns it into a Flag.
//
// See: http://hl7.org/fhir/R4/careteam.html#resource
type CareTeam struct {
	ResourceType         string            `json:"resourceType"`
	ID                   string            `json:"id,omitempty"`
	Meta                 *Meta             `json:"meta,omitempty"`
	Extension            []Extension       `json:"extension,omitempty"`
	Identifier           []Identifier      `json:"identifier,omitempty"`
	Status               string            `json:"status,omitempty"`
	Category             []CodeableConcept `json:"category,omitempty"`
	Name                 string            `json:"name,omitempty"`
	Subject              *Reference        `json:"subject,omitempty"`
	Period               *Period           `json:"period,omitempty"`
	ManagingOrganization []Reference       `json:"managingOrganization,omitempty"`
	Telecom              []ContactPoint    `json:"telecom,omitempty"`
}

// MarshalJSON writes the CareTeam with "resourceType": "CareTeam".
func (c CareTeam) MarshalJSON() ([]byte, error) {
	type plain CareTeam
	c.ResourceType = "CareTeam"
	return json.Marshal(plain(c))
}
