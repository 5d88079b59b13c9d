package fhirjson

import "encoding/json"

// FHIR STU3 resources spoken by the Reasonable Adjustment Flag API (RA,
// BACKENDS.md §3). STU3 datatypes (Coding, CodeableConcept, Reference,
// Period, Extension, Meta) have the same JSON shape as R4's for everything RA
// sends, so the R4 structs of this package are reused. These structs are for
// decoding and encoding only: there are no builders, as the facade never
// serves STU3; mappers/ra translates them to and from R4.

// STU3Flag is an RA Flag (profile RARecord-Flag-1): one reasonable
// adjustment. Category is a single CodeableConcept in STU3. Contained holds
// the Provenances that Extension-RARecord-Provenance-1 references.
//
// See: http://hl7.org/fhir/STU3/flag.html
type STU3Flag struct {
	ResourceType string           `json:"resourceType"`
	ID           string           `json:"id,omitempty"`
	Meta         *Meta            `json:"meta,omitempty"`
	Contained    []STU3Provenance `json:"contained,omitempty"`
	Extension    []Extension      `json:"extension,omitempty"`
	Identifier   []Identifier     `json:"identifier,omitempty"`
	Status       string           `json:"status,omitempty"`
	Category     *CodeableConcept `json:"category,omitempty"`
	Code         *CodeableConcept `json:"code,omitempty"`
	Subject      *Reference       `json:"subject,omitempty"`
	Period       *Period          `json:"period,omitempty"`
	Author       *Reference       `json:"author,omitempty"`
}

// MarshalJSON writes the Flag with "resourceType": "Flag".
func (f STU3Flag) MarshalJSON() ([]byte, error) {
	type plain STU3Flag
	f.ResourceType = "Flag"
	return json.Marshal(plain(f))
}

// STU3Provenance is the contained Provenance (profile RARecord-Provenance-1)
// of every RA resource: when it was recorded, by whom, on behalf of which
// organisation, in which SDS job role.
//
// See: http://hl7.org/fhir/STU3/provenance.html
type STU3Provenance struct {
	ResourceType string                `json:"resourceType"`
	ID           string                `json:"id,omitempty"`
	Meta         *Meta                 `json:"meta,omitempty"`
	Target       []Reference           `json:"target,omitempty"`
	Recorded     string                `json:"recorded,omitempty"`
	Activity     *Coding               `json:"activity,omitempty"`
	Agent        []STU3ProvenanceAgent `json:"agent,omitempty"`
}

// MarshalJSON writes the Provenance with "resourceType": "Provenance".
func (p STU3Provenance) MarshalJSON() ([]byte, error) {
	type plain STU3Provenance
	p.ResourceType = "Provenance"
	return json.Marshal(plain(p))
}

// STU3ProvenanceAgent is who recorded an RA resource: the user
// (whoReference, an SDS Practitioner URL), their organisation
// (onBehalfOfReference, an ODS Organization URL) and their SDS job role.
type STU3ProvenanceAgent struct {
	Role                []CodeableConcept `json:"role,omitempty"`
	WhoReference        *Reference        `json:"whoReference,omitempty"`
	OnBehalfOfReference *Reference        `json:"onBehalfOfReference,omitempty"`
}

// STU3Consent is the RA Consent (profile RARecord-Consent-1): its existence
// is the existence of the patient's RA record. Extension carries the proxy
// role (Extension-RARecord-ProxyRole-1) and the Provenance reference.
//
// See: http://hl7.org/fhir/STU3/consent.html
type STU3Consent struct {
	ResourceType string              `json:"resourceType"`
	ID           string              `json:"id,omitempty"`
	Meta         *Meta               `json:"meta,omitempty"`
	Contained    []STU3Provenance    `json:"contained,omitempty"`
	Extension    []Extension         `json:"extension,omitempty"`
	Status       string              `json:"status,omitempty"`
	Category     []CodeableConcept   `json:"category,omitempty"`
	Patient      *Reference          `json:"patient,omitempty"`
	DateTime     string              `json:"dateTime,omitempty"`
	Organization []Reference         `json:"organization,omitempty"`
	Policy       []STU3ConsentPolicy `json:"policy,omitempty"`
	PolicyRule   string              `json:"policyRule,omitempty"`
	Purpose      []Coding            `json:"purpose,omitempty"`
}

// MarshalJSON writes the Consent with "resourceType": "Consent".
func (c STU3Consent) MarshalJSON() ([]byte, error) {
	type plain STU3Consent
	c.ResourceType = "Consent"
	return json.Marshal(plain(c))
}

// STU3ConsentPolicy names the policy a consent was given under.
type STU3ConsentPolicy struct {
	Authority string `json:"authority,omitempty"`
	URI       string `json:"uri,omitempty"`
}
