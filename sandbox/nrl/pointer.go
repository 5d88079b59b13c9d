package nrl

import (
	"encoding/json"

	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// DocumentReference is an NRL pointer (R4) as NRLF stores and serves them
// (fixtures/document-pointer.json, NRL's examples): what kind of record,
// about whom, held by whom, when, and where each copy is and in which
// format; its practice setting and the holder's Spine ASID. The simulator's
// own wire type (issue #18), not the facade's model. MarshalJSON writes
// "resourceType": "DocumentReference" first.
type DocumentReference struct {
	ID               string                     `json:"id,omitempty"`
	MasterIdentifier *fhirwire.Identifier       `json:"masterIdentifier,omitempty"`
	Status           string                     `json:"status,omitempty"`
	DocStatus        string                     `json:"docStatus,omitempty"`
	Type             *fhirwire.CodeableConcept  `json:"type,omitempty"`
	Category         []fhirwire.CodeableConcept `json:"category,omitempty"`
	Subject          *fhirwire.Reference        `json:"subject,omitempty"`
	Date             string                     `json:"date,omitempty"`
	Author           []fhirwire.Reference       `json:"author,omitempty"`
	Custodian        *fhirwire.Reference        `json:"custodian,omitempty"`
	Description      string                     `json:"description,omitempty"`
	SecurityLabel    []fhirwire.CodeableConcept `json:"securityLabel,omitempty"`
	Content          []Content                  `json:"content,omitempty"`
	Context          *Context                   `json:"context,omitempty"`
}

// Content is one copy of the document: the content stability (static or
// dynamic) in an extension, where it is and in which NRL format.
type Content struct {
	Extension  []fhirwire.Extension `json:"extension,omitempty"`
	Attachment *fhirwire.Attachment `json:"attachment,omitempty"`
	Format     *fhirwire.Coding     `json:"format,omitempty"`
}

// Context is the pointer's clinical context: the practice setting, and the
// holder's Spine ASID as a related identifier.
type Context struct {
	PracticeSetting *fhirwire.CodeableConcept `json:"practiceSetting,omitempty"`
	Related         []fhirwire.Reference      `json:"related,omitempty"`
}

// MarshalJSON writes the DocumentReference with its resourceType first.
func (d DocumentReference) MarshalJSON() ([]byte, error) {
	type plain DocumentReference
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"DocumentReference", plain(d)})
}
