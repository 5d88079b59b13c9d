package fhirjson

// Composition is the R4 Composition resource as the Summary Care Record API
// returns it in GET /Bundle: the summary's sections carry their content as
// XHTML narrative (section.text.div). Decode-only: the facade serves no
// Composition, so there is no builder.
//
// See: http://hl7.org/fhir/R4/composition.html#resource
type Composition struct {
	ResourceType string               `json:"resourceType"`
	ID           string               `json:"id,omitempty"`
	Meta         *Meta                `json:"meta,omitempty"`
	Identifier   *Identifier          `json:"identifier,omitempty"`
	Status       string               `json:"status,omitempty"`
	Type         *CodeableConcept     `json:"type,omitempty"`
	Category     []CodeableConcept    `json:"category,omitempty"`
	Subject      *Reference           `json:"subject,omitempty"`
	Date         string               `json:"date,omitempty"`
	Author       []Reference          `json:"author,omitempty"`
	Title        string               `json:"title,omitempty"`
	RelatesTo    []CompositionRelates `json:"relatesTo,omitempty"`
	Section      []CompositionSection `json:"section,omitempty"`
}

// CompositionRelates is a relationship to another composition (the SCR
// points at the summary it replaces).
type CompositionRelates struct {
	Code             string      `json:"code,omitempty"`
	TargetIdentifier *Identifier `json:"targetIdentifier,omitempty"`
	TargetReference  *Reference  `json:"targetReference,omitempty"`
}

// CompositionSection is one section of a composition: a title, a code, the
// narrative, references to coded entries, and nested sections.
//
// See: http://hl7.org/fhir/R4/composition-definitions.html#Composition.section
type CompositionSection struct {
	Title   string               `json:"title,omitempty"`
	Code    *CodeableConcept     `json:"code,omitempty"`
	Text    *Narrative           `json:"text,omitempty"`
	Entry   []Reference          `json:"entry,omitempty"`
	Section []CompositionSection `json:"section,omitempty"`
}

// PractitionerRole is the R4 PractitionerRole resource, decode-only: the
// elements that say who a practitioner is and for which organisation.
//
// See: http://hl7.org/fhir/R4/practitionerrole.html#resource
type PractitionerRole struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id,omitempty"`
	Identifier   []Identifier      `json:"identifier,omitempty"`
	Practitioner *Reference        `json:"practitioner,omitempty"`
	Organization *Reference        `json:"organization,omitempty"`
	Code         []CodeableConcept `json:"code,omitempty"`
}

// Organization is the R4 Organization resource, decode-only: identity, name
// and contact.
//
// See: http://hl7.org/fhir/R4/organization.html#resource
type Organization struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id,omitempty"`
	Identifier   []Identifier   `json:"identifier,omitempty"`
	Name         string         `json:"name,omitempty"`
	Telecom      []ContactPoint `json:"telecom,omitempty"`
	Address      []Address      `json:"address,omitempty"`
}
