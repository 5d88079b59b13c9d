package fhirjson

import (
	"encoding/json"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
)

// DocumentReference is the R4 DocumentReference resource as FHIR JSON spells
// it: the shape of the National Record Locator's pointers. ResourceType must
// be "DocumentReference" for BuildDocumentReference; MarshalJSON always
// writes it.
//
// See: http://hl7.org/fhir/R4/documentreference.html#resource
type DocumentReference struct {
	ResourceType      string                       `json:"resourceType"`
	ID                string                       `json:"id,omitempty"`
	Meta              *Meta                        `json:"meta,omitempty"`
	ImplicitRules     string                       `json:"implicitRules,omitempty"`
	Language          string                       `json:"language,omitempty"`
	Text              *Narrative                   `json:"text,omitempty"`
	Extension         []Extension                  `json:"extension,omitempty"`
	ModifierExtension []Extension                  `json:"modifierExtension,omitempty"`
	MasterIdentifier  *Identifier                  `json:"masterIdentifier,omitempty"`
	Identifier        []Identifier                 `json:"identifier,omitempty"`
	Status            string                       `json:"status,omitempty"`
	DocStatus         string                       `json:"docStatus,omitempty"`
	Type              *CodeableConcept             `json:"type,omitempty"`
	Category          []CodeableConcept            `json:"category,omitempty"`
	Subject           *Reference                   `json:"subject,omitempty"`
	Date              string                       `json:"date,omitempty"`
	Author            []Reference                  `json:"author,omitempty"`
	Authenticator     *Reference                   `json:"authenticator,omitempty"`
	Custodian         *Reference                   `json:"custodian,omitempty"`
	RelatesTo         []DocumentReferenceRelatesTo `json:"relatesTo,omitempty"`
	Description       string                       `json:"description,omitempty"`
	SecurityLabel     []CodeableConcept            `json:"securityLabel,omitempty"`
	Content           []DocumentReferenceContent   `json:"content,omitempty"`
	Context           *DocumentReferenceContext    `json:"context,omitempty"`
}

// DocumentReferenceRelatesTo is a relationship to another document
// (replaces, transforms, signs, appends).
//
// See: http://hl7.org/fhir/R4/documentreference-definitions.html#DocumentReference.relatesTo
type DocumentReferenceRelatesTo struct {
	ID                string      `json:"id,omitempty"`
	Extension         []Extension `json:"extension,omitempty"`
	ModifierExtension []Extension `json:"modifierExtension,omitempty"`
	Code              string      `json:"code,omitempty"`
	Target            *Reference  `json:"target,omitempty"`
}

// DocumentReferenceContent is one way to get the document: where it is
// (Attachment.url) and in which format. NRL puts the content stability
// (static/dynamic) in an extension here.
//
// See: http://hl7.org/fhir/R4/documentreference-definitions.html#DocumentReference.content
type DocumentReferenceContent struct {
	ID                string      `json:"id,omitempty"`
	Extension         []Extension `json:"extension,omitempty"`
	ModifierExtension []Extension `json:"modifierExtension,omitempty"`
	Attachment        *Attachment `json:"attachment,omitempty"`
	Format            *Coding     `json:"format,omitempty"`
}

// DocumentReferenceContext is the clinical context of the document: the
// encounter, events, period, kind of facility and practice setting.
//
// See: http://hl7.org/fhir/R4/documentreference-definitions.html#DocumentReference.context
type DocumentReferenceContext struct {
	ID                string            `json:"id,omitempty"`
	Extension         []Extension       `json:"extension,omitempty"`
	ModifierExtension []Extension       `json:"modifierExtension,omitempty"`
	Encounter         []Reference       `json:"encounter,omitempty"`
	Event             []CodeableConcept `json:"event,omitempty"`
	Period            *Period           `json:"period,omitempty"`
	FacilityType      *CodeableConcept  `json:"facilityType,omitempty"`
	PracticeSetting   *CodeableConcept  `json:"practiceSetting,omitempty"`
	SourcePatientInfo *Reference        `json:"sourcePatientInfo,omitempty"`
	Related           []Reference       `json:"related,omitempty"`
}

// MarshalJSON writes the DocumentReference with "resourceType": "DocumentReference".
func (d DocumentReference) MarshalJSON() ([]byte, error) {
	type plain DocumentReference // no MarshalJSON method: no recursion
	d.ResourceType = "DocumentReference"
	return json.Marshal(plain(d))
}

// The value sets with a required binding on DocumentReference.
var (
	docRefStatus       = newCodeSet[cpb.DocumentReferenceStatusCode_Value]("DocumentReferenceStatus", cpb.DocumentReferenceStatusCode_CURRENT.Descriptor())
	docRefDocStatus    = newCodeSet[cpb.CompositionStatusCode_Value]("CompositionStatus", cpb.CompositionStatusCode_FINAL.Descriptor())
	docRefRelationship = newCodeSet[cpb.DocumentRelationshipTypeCode_Value]("DocumentRelationshipType", cpb.DocumentRelationshipTypeCode_REPLACES.Descriptor())
)

// BuildDocumentReference builds the DocumentReference proto. It checks
// resourceType, the id grammar, status, docStatus and relatesTo.code against
// their required value sets, date as an instant (R4: seconds and a time zone
// are required), and every nested datatype. Errors are *Error with paths like
// "DocumentReference.content[0].attachment.creation".
//
// See: http://hl7.org/fhir/R4/documentreference.html
func BuildDocumentReference(d *DocumentReference) (*drpb.DocumentReference, error) {
	if d == nil {
		return nil, nil
	}
	out, err := buildDocumentReference(d)
	if err != nil {
		return nil, at(err, "DocumentReference")
	}
	return out, nil
}

func buildDocumentReference(d *DocumentReference) (*drpb.DocumentReference, error) {
	if d.ResourceType != "DocumentReference" {
		return nil, at(invalid("is %q, want \"DocumentReference\"", d.ResourceType), "resourceType")
	}
	out := &drpb.DocumentReference{Language: code(d.Language), ImplicitRules: uri(d.ImplicitRules), Description: str(d.Description)}
	var err error
	if out.Id, err = BuildID(d.ID); err != nil {
		return nil, at(err, "id")
	}
	if out.Meta, err = BuildMeta(d.Meta); err != nil {
		return nil, at(err, "meta")
	}
	if out.Text, err = BuildNarrative(d.Text); err != nil {
		return nil, at(err, "text")
	}
	if out.Extension, err = BuildExtensions(d.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(d.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.MasterIdentifier, err = BuildIdentifier(d.MasterIdentifier); err != nil {
		return nil, at(err, "masterIdentifier")
	}
	if out.Identifier, err = buildEach("identifier", d.Identifier, BuildIdentifier); err != nil {
		return nil, err
	}
	if d.Status != "" {
		v, err := docRefStatus.lookup(d.Status)
		if err != nil {
			return nil, at(err, "status")
		}
		out.Status = &drpb.DocumentReference_StatusCode{Value: v}
	}
	if d.DocStatus != "" {
		v, err := docRefDocStatus.lookup(d.DocStatus)
		if err != nil {
			return nil, at(err, "docStatus")
		}
		out.DocStatus = &drpb.DocumentReference_DocStatusCode{Value: v}
	}
	if out.Type, err = BuildCodeableConcept(d.Type); err != nil {
		return nil, at(err, "type")
	}
	if out.Category, err = buildEach("category", d.Category, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.Subject, err = BuildReference(d.Subject); err != nil {
		return nil, at(err, "subject")
	}
	if d.Date != "" {
		if out.Date, err = ParseInstant(d.Date); err != nil {
			return nil, at(err, "date")
		}
	}
	if out.Author, err = buildEach("author", d.Author, BuildReference); err != nil {
		return nil, err
	}
	if out.Authenticator, err = BuildReference(d.Authenticator); err != nil {
		return nil, at(err, "authenticator")
	}
	if out.Custodian, err = BuildReference(d.Custodian); err != nil {
		return nil, at(err, "custodian")
	}
	if out.RelatesTo, err = buildEach("relatesTo", d.RelatesTo, BuildDocumentReferenceRelatesTo); err != nil {
		return nil, err
	}
	if out.SecurityLabel, err = buildEach("securityLabel", d.SecurityLabel, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.Content, err = buildEach("content", d.Content, BuildDocumentReferenceContent); err != nil {
		return nil, err
	}
	if out.Context, err = BuildDocumentReferenceContext(d.Context); err != nil {
		return nil, at(err, "context")
	}
	return out, nil
}

// BuildDocumentReferenceRelatesTo builds a relatesTo; code must be a code of
// DocumentRelationshipType.
//
// See: http://hl7.org/fhir/R4/documentreference-definitions.html#DocumentReference.relatesTo
func BuildDocumentReferenceRelatesTo(r *DocumentReferenceRelatesTo) (*drpb.DocumentReference_RelatesTo, error) {
	if r == nil {
		return nil, nil
	}
	out := &drpb.DocumentReference_RelatesTo{Id: str(r.ID)}
	var err error
	if out.Extension, err = BuildExtensions(r.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(r.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if r.Code != "" {
		v, err := docRefRelationship.lookup(r.Code)
		if err != nil {
			return nil, at(err, "code")
		}
		out.Code = &drpb.DocumentReference_RelatesTo_CodeType{Value: v}
	}
	if out.Target, err = BuildReference(r.Target); err != nil {
		return nil, at(err, "target")
	}
	return out, nil
}

// BuildDocumentReferenceContent builds one content entry: its attachment and
// format.
//
// See: http://hl7.org/fhir/R4/documentreference-definitions.html#DocumentReference.content
func BuildDocumentReferenceContent(c *DocumentReferenceContent) (*drpb.DocumentReference_Content, error) {
	if c == nil {
		return nil, nil
	}
	out := &drpb.DocumentReference_Content{Id: str(c.ID)}
	var err error
	if out.Extension, err = BuildExtensions(c.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(c.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Attachment, err = BuildAttachment(c.Attachment); err != nil {
		return nil, at(err, "attachment")
	}
	if out.Format, err = BuildCoding(c.Format); err != nil {
		return nil, at(err, "format")
	}
	return out, nil
}

// BuildDocumentReferenceContext builds the clinical context.
//
// See: http://hl7.org/fhir/R4/documentreference-definitions.html#DocumentReference.context
func BuildDocumentReferenceContext(c *DocumentReferenceContext) (*drpb.DocumentReference_Context, error) {
	if c == nil {
		return nil, nil
	}
	out := &drpb.DocumentReference_Context{Id: str(c.ID)}
	var err error
	if out.Extension, err = BuildExtensions(c.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(c.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Encounter, err = buildEach("encounter", c.Encounter, BuildReference); err != nil {
		return nil, err
	}
	if out.Event, err = buildEach("event", c.Event, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.Period, err = BuildPeriod(c.Period); err != nil {
		return nil, at(err, "period")
	}
	if out.FacilityType, err = BuildCodeableConcept(c.FacilityType); err != nil {
		return nil, at(err, "facilityType")
	}
	if out.PracticeSetting, err = BuildCodeableConcept(c.PracticeSetting); err != nil {
		return nil, at(err, "practiceSetting")
	}
	if out.SourcePatientInfo, err = BuildReference(c.SourcePatientInfo); err != nil {
		return nil, at(err, "sourcePatientInfo")
	}
	if out.Related, err = buildEach("related", c.Related, BuildReference); err != nil {
		return nil, err
	}
	return out, nil
}
