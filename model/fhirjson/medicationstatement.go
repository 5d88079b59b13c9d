package fhirjson

import (
	"encoding/json"
	"math"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"
)

// MedicationStatement is the R4 MedicationStatement resource, with the
// elements the facade fills from the Summary Care Record (mappers/scr):
// medication[x] as a CodeableConcept only, effective[x] as a dateTime only.
//
// See: http://hl7.org/fhir/R4/medicationstatement.html#resource
type MedicationStatement struct {
	ResourceType              string            `json:"resourceType"`
	ID                        string            `json:"id,omitempty"`
	Meta                      *Meta             `json:"meta,omitempty"`
	Extension                 []Extension       `json:"extension,omitempty"`
	Identifier                []Identifier      `json:"identifier,omitempty"`
	Status                    string            `json:"status,omitempty"`
	StatusReason              []CodeableConcept `json:"statusReason,omitempty"`
	Category                  *CodeableConcept  `json:"category,omitempty"`
	MedicationCodeableConcept *CodeableConcept  `json:"medicationCodeableConcept,omitempty"`
	Subject                   *Reference        `json:"subject,omitempty"`
	EffectiveDateTime         string            `json:"effectiveDateTime,omitempty"`
	DateAsserted              string            `json:"dateAsserted,omitempty"`
	InformationSource         *Reference        `json:"informationSource,omitempty"`
	Note                      []Annotation      `json:"note,omitempty"`
	Dosage                    []Dosage          `json:"dosage,omitempty"`
}

// Dosage is how a medication is or should be taken; only the free-text
// parts are modelled.
//
// See: http://hl7.org/fhir/R4/dosage.html#Dosage
type Dosage struct {
	ID                 string      `json:"id,omitempty"`
	Extension          []Extension `json:"extension,omitempty"`
	Sequence           *int64      `json:"sequence,omitempty"`
	Text               string      `json:"text,omitempty"`
	PatientInstruction string      `json:"patientInstruction,omitempty"`
}

// MarshalJSON writes the MedicationStatement with its resourceType.
func (m MedicationStatement) MarshalJSON() ([]byte, error) {
	type plain MedicationStatement
	m.ResourceType = "MedicationStatement"
	return json.Marshal(plain(m))
}

// BuildMedicationStatement builds the MedicationStatement proto. It checks
// resourceType, the id, status (required, a code of
// MedicationStatementStatusCodes), that medication[x] and subject are given
// (both 1..1), and every date. Errors are *Error with paths like
// "MedicationStatement.status".
//
// See: http://hl7.org/fhir/R4/medicationstatement.html
func BuildMedicationStatement(m *MedicationStatement) (*mspb.MedicationStatement, error) {
	if m == nil {
		return nil, nil
	}
	out, err := buildMedicationStatement(m)
	if err != nil {
		return nil, at(err, "MedicationStatement")
	}
	return out, nil
}

func buildMedicationStatement(m *MedicationStatement) (*mspb.MedicationStatement, error) {
	if m.ResourceType != "MedicationStatement" {
		return nil, at(invalid("is %q, want \"MedicationStatement\"", m.ResourceType), "resourceType")
	}
	out := &mspb.MedicationStatement{}
	var err error
	if out.Id, err = BuildID(m.ID); err != nil {
		return nil, at(err, "id")
	}
	if out.Meta, err = BuildMeta(m.Meta); err != nil {
		return nil, at(err, "meta")
	}
	if out.Extension, err = BuildExtensions(m.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.Identifier, err = buildEach("identifier", m.Identifier, BuildIdentifier); err != nil {
		return nil, err
	}
	if m.Status == "" {
		return nil, at(invalid("missing (MedicationStatement.status is 1..1)"), "status")
	}
	st, err := medicationStatementStatus.lookup(m.Status)
	if err != nil {
		return nil, at(err, "status")
	}
	out.Status = &mspb.MedicationStatement_StatusCode{Value: st}
	if out.StatusReason, err = buildEach("statusReason", m.StatusReason, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.Category, err = BuildCodeableConcept(m.Category); err != nil {
		return nil, at(err, "category")
	}
	if m.MedicationCodeableConcept == nil {
		return nil, at(invalid("missing (MedicationStatement.medication[x] is 1..1)"), "medicationCodeableConcept")
	}
	med, err := BuildCodeableConcept(m.MedicationCodeableConcept)
	if err != nil {
		return nil, at(err, "medicationCodeableConcept")
	}
	out.Medication = &mspb.MedicationStatement_MedicationX{Choice: &mspb.MedicationStatement_MedicationX_CodeableConcept{CodeableConcept: med}}
	if m.Subject == nil {
		return nil, at(invalid("missing (MedicationStatement.subject is 1..1)"), "subject")
	}
	if out.Subject, err = BuildReference(m.Subject); err != nil {
		return nil, at(err, "subject")
	}
	if m.EffectiveDateTime != "" {
		dt, err := ParseDateTime(m.EffectiveDateTime)
		if err != nil {
			return nil, at(err, "effectiveDateTime")
		}
		out.Effective = &mspb.MedicationStatement_EffectiveX{Choice: &mspb.MedicationStatement_EffectiveX_DateTime{DateTime: dt}}
	}
	if out.DateAsserted, err = buildDateTime(m.DateAsserted); err != nil {
		return nil, at(err, "dateAsserted")
	}
	if out.InformationSource, err = BuildReference(m.InformationSource); err != nil {
		return nil, at(err, "informationSource")
	}
	if out.Note, err = buildEach("note", m.Note, BuildAnnotation); err != nil {
		return nil, err
	}
	if out.Dosage, err = buildEach("dosage", m.Dosage, BuildDosage); err != nil {
		return nil, err
	}
	return out, nil
}

// BuildDosage builds a Dosage from its free-text parts.
//
// See: http://hl7.org/fhir/R4/dosage.html#Dosage
func BuildDosage(d *Dosage) (*dtpb.Dosage, error) {
	if d == nil {
		return nil, nil
	}
	out := &dtpb.Dosage{Id: str(d.ID), Text: str(d.Text), PatientInstruction: str(d.PatientInstruction)}
	var err error
	if out.Extension, err = BuildExtensions(d.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if d.Sequence != nil {
		v, err := int32Of(*d.Sequence, "integer", math.MinInt32)
		if err != nil {
			return nil, at(err, "sequence")
		}
		out.Sequence = &dtpb.Integer{Value: v}
	}
	return out, nil
}

// medicationStatementStatus is the required binding of MedicationStatement.status.
var medicationStatementStatus = newCodeSet[cpb.MedicationStatementStatusCodes_Value]("MedicationStatementStatusCodes", cpb.MedicationStatementStatusCodes_ACTIVE.Descriptor())
