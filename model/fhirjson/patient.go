package fhirjson

import (
	"encoding/json"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
)

// Patient is the R4 Patient resource as FHIR JSON spells it. ResourceType
// must be "Patient" for BuildPatient; MarshalJSON always writes it.
// BirthDateElement and GenderElement hold the primitive extensions
// "_birthDate" and "_gender" (the spec's patient-birthTime lives there).
//
// See: http://hl7.org/fhir/R4/patient.html#resource
type Patient struct {
	ResourceType         string                 `json:"resourceType"`
	ID                   string                 `json:"id,omitempty"`
	Meta                 *Meta                  `json:"meta,omitempty"`
	ImplicitRules        string                 `json:"implicitRules,omitempty"`
	Language             string                 `json:"language,omitempty"`
	Text                 *Narrative             `json:"text,omitempty"`
	Extension            []Extension            `json:"extension,omitempty"`
	ModifierExtension    []Extension            `json:"modifierExtension,omitempty"`
	Identifier           []Identifier           `json:"identifier,omitempty"`
	Active               *bool                  `json:"active,omitempty"`
	Name                 []HumanName            `json:"name,omitempty"`
	Telecom              []ContactPoint         `json:"telecom,omitempty"`
	Gender               string                 `json:"gender,omitempty"`
	GenderElement        *Element               `json:"_gender,omitempty"`
	BirthDate            string                 `json:"birthDate,omitempty"`
	BirthDateElement     *Element               `json:"_birthDate,omitempty"`
	DeceasedBoolean      *bool                  `json:"deceasedBoolean,omitempty"`
	DeceasedDateTime     string                 `json:"deceasedDateTime,omitempty"`
	Address              []Address              `json:"address,omitempty"`
	MaritalStatus        *CodeableConcept       `json:"maritalStatus,omitempty"`
	MultipleBirthBoolean *bool                  `json:"multipleBirthBoolean,omitempty"`
	MultipleBirthInteger *int64                 `json:"multipleBirthInteger,omitempty"`
	Photo                []Attachment           `json:"photo,omitempty"`
	Contact              []PatientContact       `json:"contact,omitempty"`
	Communication        []PatientCommunication `json:"communication,omitempty"`
	GeneralPractitioner  []Reference            `json:"generalPractitioner,omitempty"`
	ManagingOrganization *Reference             `json:"managingOrganization,omitempty"`
	Link                 []PatientLink          `json:"link,omitempty"`
}

// PatientContact is a contact party (guardian, next of kin…) of a patient.
//
// See: http://hl7.org/fhir/R4/patient-definitions.html#Patient.contact
type PatientContact struct {
	ID                string            `json:"id,omitempty"`
	Extension         []Extension       `json:"extension,omitempty"`
	ModifierExtension []Extension       `json:"modifierExtension,omitempty"`
	Relationship      []CodeableConcept `json:"relationship,omitempty"`
	Name              *HumanName        `json:"name,omitempty"`
	Telecom           []ContactPoint    `json:"telecom,omitempty"`
	Address           *Address          `json:"address,omitempty"`
	Gender            string            `json:"gender,omitempty"`
	Organization      *Reference        `json:"organization,omitempty"`
	Period            *Period           `json:"period,omitempty"`
}

// PatientCommunication is a language the patient can communicate in.
//
// See: http://hl7.org/fhir/R4/patient-definitions.html#Patient.communication
type PatientCommunication struct {
	ID                string           `json:"id,omitempty"`
	Extension         []Extension      `json:"extension,omitempty"`
	ModifierExtension []Extension      `json:"modifierExtension,omitempty"`
	Language          *CodeableConcept `json:"language,omitempty"`
	Preferred         *bool            `json:"preferred,omitempty"`
}

// PatientLink links to another Patient or RelatedPerson of the same person.
//
// See: http://hl7.org/fhir/R4/patient-definitions.html#Patient.link
type PatientLink struct {
	ID                string      `json:"id,omitempty"`
	Extension         []Extension `json:"extension,omitempty"`
	ModifierExtension []Extension `json:"modifierExtension,omitempty"`
	Other             *Reference  `json:"other,omitempty"`
	Type              string      `json:"type,omitempty"`
}

// MarshalJSON writes the Patient with "resourceType": "Patient".
func (p Patient) MarshalJSON() ([]byte, error) {
	type plain Patient // no MarshalJSON method: no recursion
	p.ResourceType = "Patient"
	return json.Marshal(plain(p))
}

// BuildPatient builds the Patient proto. It checks resourceType, the id
// grammar, every enumerated code (gender, name/address/telecom use…), every
// date, and that at most one of each choice (deceased[x], multipleBirth[x]) is
// set. Errors are *Error with paths like "Patient.name[0].use".
//
// See: http://hl7.org/fhir/R4/patient.html
func BuildPatient(p *Patient) (*patpb.Patient, error) {
	if p == nil {
		return nil, nil
	}
	out, err := buildPatient(p)
	if err != nil {
		return nil, at(err, "Patient")
	}
	return out, nil
}

func buildPatient(p *Patient) (*patpb.Patient, error) {
	if p.ResourceType != "Patient" {
		return nil, at(invalid("is %q, want \"Patient\"", p.ResourceType), "resourceType")
	}
	out := &patpb.Patient{Language: code(p.Language), ImplicitRules: uri(p.ImplicitRules)}
	var err error
	if out.Id, err = BuildID(p.ID); err != nil {
		return nil, at(err, "id")
	}
	if out.Meta, err = BuildMeta(p.Meta); err != nil {
		return nil, at(err, "meta")
	}
	if out.Text, err = BuildNarrative(p.Text); err != nil {
		return nil, at(err, "text")
	}
	if out.Extension, err = BuildExtensions(p.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(p.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Identifier, err = buildEach("identifier", p.Identifier, BuildIdentifier); err != nil {
		return nil, err
	}
	if p.Active != nil {
		out.Active = &dtpb.Boolean{Value: *p.Active}
	}
	if out.Name, err = buildEach("name", p.Name, BuildHumanName); err != nil {
		return nil, err
	}
	if out.Telecom, err = buildEach("telecom", p.Telecom, BuildContactPoint); err != nil {
		return nil, err
	}
	if out.Gender, err = buildGender(p.Gender, p.GenderElement); err != nil {
		return nil, err
	}
	if out.BirthDate, err = buildBirthDate(p.BirthDate, p.BirthDateElement); err != nil {
		return nil, err
	}
	if out.Deceased, err = buildDeceased(p); err != nil {
		return nil, err
	}
	if out.Address, err = buildEach("address", p.Address, BuildAddress); err != nil {
		return nil, err
	}
	if out.MaritalStatus, err = BuildCodeableConcept(p.MaritalStatus); err != nil {
		return nil, at(err, "maritalStatus")
	}
	if out.MultipleBirth, err = buildMultipleBirth(p); err != nil {
		return nil, err
	}
	if out.Photo, err = buildEach("photo", p.Photo, BuildAttachment); err != nil {
		return nil, err
	}
	if out.Contact, err = buildEach("contact", p.Contact, BuildPatientContact); err != nil {
		return nil, err
	}
	if out.Communication, err = buildEach("communication", p.Communication, BuildPatientCommunication); err != nil {
		return nil, err
	}
	if out.GeneralPractitioner, err = buildEach("generalPractitioner", p.GeneralPractitioner, BuildReference); err != nil {
		return nil, err
	}
	if out.ManagingOrganization, err = BuildReference(p.ManagingOrganization); err != nil {
		return nil, at(err, "managingOrganization")
	}
	if out.Link, err = buildEach("link", p.Link, BuildPatientLink); err != nil {
		return nil, err
	}
	return out, nil
}

func buildGender(g string, e *Element) (*patpb.Patient_GenderCode, error) {
	if g == "" {
		if e != nil {
			return nil, at(invalid("extensions on a missing gender are not supported"), "_gender")
		}
		return nil, nil
	}
	v, err := administrativeGender.lookup(g)
	if err != nil {
		return nil, at(err, "gender")
	}
	out := &patpb.Patient_GenderCode{Value: v}
	if out.Id, out.Extension, err = buildElement(e); err != nil {
		return nil, at(err, "_gender")
	}
	return out, nil
}

func buildBirthDate(s string, e *Element) (*dtpb.Date, error) {
	if s == "" {
		if e != nil {
			return nil, at(invalid("extensions on a missing birthDate are not supported"), "_birthDate")
		}
		return nil, nil
	}
	d, err := ParseDate(s)
	if err != nil {
		return nil, at(err, "birthDate")
	}
	if d.Id, d.Extension, err = buildElement(e); err != nil {
		return nil, at(err, "_birthDate")
	}
	return d, nil
}

func buildDeceased(p *Patient) (*patpb.Patient_DeceasedX, error) {
	switch {
	case p.DeceasedBoolean != nil && p.DeceasedDateTime != "":
		return nil, at(invalid("both deceasedBoolean and deceasedDateTime are set"), "deceased[x]")
	case p.DeceasedBoolean != nil:
		return &patpb.Patient_DeceasedX{Choice: &patpb.Patient_DeceasedX_Boolean{Boolean: &dtpb.Boolean{Value: *p.DeceasedBoolean}}}, nil
	case p.DeceasedDateTime != "":
		dt, err := ParseDateTime(p.DeceasedDateTime)
		if err != nil {
			return nil, at(err, "deceasedDateTime")
		}
		return &patpb.Patient_DeceasedX{Choice: &patpb.Patient_DeceasedX_DateTime{DateTime: dt}}, nil
	}
	return nil, nil
}

func buildMultipleBirth(p *Patient) (*patpb.Patient_MultipleBirthX, error) {
	switch {
	case p.MultipleBirthBoolean != nil && p.MultipleBirthInteger != nil:
		return nil, at(invalid("both multipleBirthBoolean and multipleBirthInteger are set"), "multipleBirth[x]")
	case p.MultipleBirthBoolean != nil:
		return &patpb.Patient_MultipleBirthX{Choice: &patpb.Patient_MultipleBirthX_Boolean{Boolean: &dtpb.Boolean{Value: *p.MultipleBirthBoolean}}}, nil
	case p.MultipleBirthInteger != nil:
		v, err := int32Of(*p.MultipleBirthInteger, "integer", -1<<31)
		if err != nil {
			return nil, at(err, "multipleBirthInteger")
		}
		return &patpb.Patient_MultipleBirthX{Choice: &patpb.Patient_MultipleBirthX_Integer{Integer: &dtpb.Integer{Value: v}}}, nil
	}
	return nil, nil
}

// BuildPatientContact builds one Patient.contact; gender must be a code of
// AdministrativeGender.
//
// See: http://hl7.org/fhir/R4/patient-definitions.html#Patient.contact
func BuildPatientContact(c *PatientContact) (*patpb.Patient_Contact, error) {
	if c == nil {
		return nil, nil
	}
	out := &patpb.Patient_Contact{Id: str(c.ID)}
	var err error
	if out.Extension, err = BuildExtensions(c.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(c.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Relationship, err = buildEach("relationship", c.Relationship, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.Name, err = BuildHumanName(c.Name); err != nil {
		return nil, at(err, "name")
	}
	if out.Telecom, err = buildEach("telecom", c.Telecom, BuildContactPoint); err != nil {
		return nil, err
	}
	if out.Address, err = BuildAddress(c.Address); err != nil {
		return nil, at(err, "address")
	}
	if c.Gender != "" {
		v, err := administrativeGender.lookup(c.Gender)
		if err != nil {
			return nil, at(err, "gender")
		}
		out.Gender = &patpb.Patient_Contact_GenderCode{Value: v}
	}
	if out.Organization, err = BuildReference(c.Organization); err != nil {
		return nil, at(err, "organization")
	}
	if out.Period, err = BuildPeriod(c.Period); err != nil {
		return nil, at(err, "period")
	}
	return out, nil
}

// BuildPatientCommunication builds one Patient.communication.
//
// See: http://hl7.org/fhir/R4/patient-definitions.html#Patient.communication
func BuildPatientCommunication(c *PatientCommunication) (*patpb.Patient_Communication, error) {
	if c == nil {
		return nil, nil
	}
	out := &patpb.Patient_Communication{Id: str(c.ID)}
	var err error
	if out.Extension, err = BuildExtensions(c.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(c.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Language, err = BuildCodeableConcept(c.Language); err != nil {
		return nil, at(err, "language")
	}
	if c.Preferred != nil {
		out.Preferred = &dtpb.Boolean{Value: *c.Preferred}
	}
	return out, nil
}

// BuildPatientLink builds one Patient.link; type must be a code of LinkType.
//
// See: http://hl7.org/fhir/R4/patient-definitions.html#Patient.link
func BuildPatientLink(l *PatientLink) (*patpb.Patient_Link, error) {
	if l == nil {
		return nil, nil
	}
	out := &patpb.Patient_Link{Id: str(l.ID)}
	var err error
	if out.Extension, err = BuildExtensions(l.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(l.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Other, err = BuildReference(l.Other); err != nil {
		return nil, at(err, "other")
	}
	if l.Type != "" {
		v, err := linkType.lookup(l.Type)
		if err != nil {
			return nil, at(err, "type")
		}
		out.Type = &patpb.Patient_Link_TypeCode{Value: v}
	}
	return out, nil
}
