package ra

import (
	"encoding/json"

	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// The STU3 resources RA keeps, as the public sandbox's files and the
// specification's examples write them (fixtures/, testdata/spec-requests/):
// the simulator's own wire types (issue #18), not the facade's model. A
// write keeps only these elements: RA's profiles use no others. Each
// MarshalJSON writes the resourceType first.

// Flag is one reasonable adjustment (RARecord-Flag-1). Category is a single
// CodeableConcept in STU3 (NRAF); the adjustment category, the Provenance
// references and a removal reason are extensions; Contained holds the
// Provenances.
type Flag struct {
	ID        string                    `json:"id,omitempty"`
	Meta      *fhirwire.Meta            `json:"meta,omitempty"`
	Contained []Provenance              `json:"contained,omitempty"`
	Extension []fhirwire.Extension      `json:"extension,omitempty"`
	Status    string                    `json:"status,omitempty"`
	Category  *fhirwire.CodeableConcept `json:"category,omitempty"`
	Code      *fhirwire.CodeableConcept `json:"code,omitempty"`
	Subject   *fhirwire.Reference       `json:"subject,omitempty"`
}

// Consent is the patient's consent (RARecord-Consent-1), whose existence
// is the RA record's: the proxy role and the Provenance reference are
// extensions.
type Consent struct {
	ID        string                     `json:"id,omitempty"`
	Meta      *fhirwire.Meta             `json:"meta,omitempty"`
	Contained []Provenance               `json:"contained,omitempty"`
	Extension []fhirwire.Extension       `json:"extension,omitempty"`
	Status    string                     `json:"status,omitempty"`
	Category  []fhirwire.CodeableConcept `json:"category,omitempty"`
	Patient   *fhirwire.Reference        `json:"patient,omitempty"`
	Policy    []ConsentPolicy            `json:"policy,omitempty"`
	Purpose   []fhirwire.Coding          `json:"purpose,omitempty"`
}

// ConsentPolicy is the policy a consent was given under.
type ConsentPolicy struct {
	Authority string `json:"authority,omitempty"`
	URI       string `json:"uri,omitempty"`
}

// Provenance is the contained record of who wrote a Flag or Consent, and
// when (RARecord-Provenance-1).
type Provenance struct {
	ID       string               `json:"id,omitempty"`
	Meta     *fhirwire.Meta       `json:"meta,omitempty"`
	Target   []fhirwire.Reference `json:"target,omitempty"`
	Recorded string               `json:"recorded,omitempty"`
	Agent    []ProvenanceAgent    `json:"agent,omitempty"`
}

// ProvenanceAgent is the user (an SDS Practitioner URL), their SDS job
// role and their organisation (an ODS Organization URL).
type ProvenanceAgent struct {
	Role                []fhirwire.CodeableConcept `json:"role,omitempty"`
	WhoReference        *fhirwire.Reference        `json:"whoReference,omitempty"`
	OnBehalfOfReference *fhirwire.Reference        `json:"onBehalfOfReference,omitempty"`
}

// MarshalJSON writes the Flag with its resourceType first.
func (f Flag) MarshalJSON() ([]byte, error) {
	type plain Flag
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Flag", plain(f)})
}

// MarshalJSON writes the Consent with its resourceType first.
func (c Consent) MarshalJSON() ([]byte, error) {
	type plain Consent
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Consent", plain(c)})
}

// MarshalJSON writes the Provenance with its resourceType first.
func (p Provenance) MarshalJSON() ([]byte, error) {
	type plain Provenance
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Provenance", plain(p)})
}
