package fhirjson

import (
	"encoding/json"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"
)

// AllergyIntolerance is the R4 AllergyIntolerance resource, with the elements
// the facade fills from the Summary Care Record (mappers/scr). Elements it
// never sets (encounter, recorder, asserter, onset[x] other than dateTime …)
// are not modelled.
//
// See: http://hl7.org/fhir/R4/allergyintolerance.html#resource
type AllergyIntolerance struct {
	ResourceType       string                       `json:"resourceType"`
	ID                 string                       `json:"id,omitempty"`
	Meta               *Meta                        `json:"meta,omitempty"`
	Extension          []Extension                  `json:"extension,omitempty"`
	Identifier         []Identifier                 `json:"identifier,omitempty"`
	ClinicalStatus     *CodeableConcept             `json:"clinicalStatus,omitempty"`
	VerificationStatus *CodeableConcept             `json:"verificationStatus,omitempty"`
	Type               string                       `json:"type,omitempty"`
	Category           []string                     `json:"category,omitempty"`
	Criticality        string                       `json:"criticality,omitempty"`
	Code               *CodeableConcept             `json:"code,omitempty"`
	Patient            *Reference                   `json:"patient,omitempty"`
	OnsetDateTime      string                       `json:"onsetDateTime,omitempty"`
	RecordedDate       string                       `json:"recordedDate,omitempty"`
	Asserter           *Reference                   `json:"asserter,omitempty"`
	Note               []Annotation                 `json:"note,omitempty"`
	Reaction           []AllergyIntoleranceReaction `json:"reaction,omitempty"`
}

// AllergyIntoleranceReaction is one adverse reaction event; manifestation is
// mandatory (1..*) in R4.
//
// See: http://hl7.org/fhir/R4/allergyintolerance-definitions.html#AllergyIntolerance.reaction
type AllergyIntoleranceReaction struct {
	ID            string            `json:"id,omitempty"`
	Extension     []Extension       `json:"extension,omitempty"`
	Substance     *CodeableConcept  `json:"substance,omitempty"`
	Manifestation []CodeableConcept `json:"manifestation,omitempty"`
	Description   string            `json:"description,omitempty"`
	Onset         string            `json:"onset,omitempty"`
	Severity      string            `json:"severity,omitempty"`
	Note          []Annotation      `json:"note,omitempty"`
}

// MarshalJSON writes the AllergyIntolerance with its resourceType.
func (a AllergyIntolerance) MarshalJSON() ([]byte, error) {
	type plain AllergyIntolerance
	a.ResourceType = "AllergyIntolerance"
	return json.Marshal(plain(a))
}

// BuildAllergyIntolerance builds the AllergyIntolerance proto. It checks
// resourceType, the id, the required codes (type, category, criticality,
// reaction.severity), every date, that the patient is given (1..1) and that
// every reaction has a manifestation (1..*). Errors are *Error with paths
// like "AllergyIntolerance.reaction[0].severity".
//
// See: http://hl7.org/fhir/R4/allergyintolerance.html
func BuildAllergyIntolerance(a *AllergyIntolerance) (*aipb.AllergyIntolerance, error) {
	if a == nil {
		return nil, nil
	}
	out, err := buildAllergyIntolerance(a)
	if err != nil {
		return nil, at(err, "AllergyIntolerance")
	}
	return out, nil
}

func buildAllergyIntolerance(a *AllergyIntolerance) (*aipb.AllergyIntolerance, error) {
	if a.ResourceType != "AllergyIntolerance" {
		return nil, at(invalid("is %q, want \"AllergyIntolerance\"", a.ResourceType), "resourceType")
	}
	out := &aipb.AllergyIntolerance{}
	var err error
	if out.Id, err = BuildID(a.ID); err != nil {
		return nil, at(err, "id")
	}
	if out.Meta, err = BuildMeta(a.Meta); err != nil {
		return nil, at(err, "meta")
	}
	if out.Extension, err = BuildExtensions(a.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.Identifier, err = buildEach("identifier", a.Identifier, BuildIdentifier); err != nil {
		return nil, err
	}
	if out.ClinicalStatus, err = BuildCodeableConcept(a.ClinicalStatus); err != nil {
		return nil, at(err, "clinicalStatus")
	}
	if out.VerificationStatus, err = BuildCodeableConcept(a.VerificationStatus); err != nil {
		return nil, at(err, "verificationStatus")
	}
	if a.Type != "" {
		v, err := allergyType.lookup(a.Type)
		if err != nil {
			return nil, at(err, "type")
		}
		out.Type = &aipb.AllergyIntolerance_TypeCode{Value: v}
	}
	for i, c := range a.Category {
		v, err := allergyCategory.lookup(c)
		if err != nil {
			return nil, atIndex(err, "category", i)
		}
		out.Category = append(out.Category, &aipb.AllergyIntolerance_CategoryCode{Value: v})
	}
	if a.Criticality != "" {
		v, err := allergyCriticality.lookup(a.Criticality)
		if err != nil {
			return nil, at(err, "criticality")
		}
		out.Criticality = &aipb.AllergyIntolerance_CriticalityCode{Value: v}
	}
	if out.Code, err = BuildCodeableConcept(a.Code); err != nil {
		return nil, at(err, "code")
	}
	if a.Patient == nil {
		return nil, at(invalid("missing (AllergyIntolerance.patient is 1..1)"), "patient")
	}
	if out.Patient, err = BuildReference(a.Patient); err != nil {
		return nil, at(err, "patient")
	}
	if a.OnsetDateTime != "" {
		dt, err := ParseDateTime(a.OnsetDateTime)
		if err != nil {
			return nil, at(err, "onsetDateTime")
		}
		out.Onset = &aipb.AllergyIntolerance_OnsetX{Choice: &aipb.AllergyIntolerance_OnsetX_DateTime{DateTime: dt}}
	}
	if out.RecordedDate, err = buildDateTime(a.RecordedDate); err != nil {
		return nil, at(err, "recordedDate")
	}
	if out.Asserter, err = BuildReference(a.Asserter); err != nil {
		return nil, at(err, "asserter")
	}
	if out.Note, err = buildEach("note", a.Note, BuildAnnotation); err != nil {
		return nil, err
	}
	if out.Reaction, err = buildEach("reaction", a.Reaction, buildAllergyReaction); err != nil {
		return nil, err
	}
	return out, nil
}

func buildAllergyReaction(r *AllergyIntoleranceReaction) (*aipb.AllergyIntolerance_Reaction, error) {
	out := &aipb.AllergyIntolerance_Reaction{Id: str(r.ID), Description: str(r.Description)}
	var err error
	if out.Extension, err = BuildExtensions(r.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.Substance, err = BuildCodeableConcept(r.Substance); err != nil {
		return nil, at(err, "substance")
	}
	if len(r.Manifestation) == 0 {
		return nil, at(invalid("missing (reaction.manifestation is 1..*)"), "manifestation")
	}
	if out.Manifestation, err = buildEach("manifestation", r.Manifestation, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.Onset, err = buildDateTime(r.Onset); err != nil {
		return nil, at(err, "onset")
	}
	if r.Severity != "" {
		v, err := allergySeverity.lookup(r.Severity)
		if err != nil {
			return nil, at(err, "severity")
		}
		out.Severity = &aipb.AllergyIntolerance_Reaction_SeverityCode{Value: v}
	}
	if out.Note, err = buildEach("note", r.Note, BuildAnnotation); err != nil {
		return nil, err
	}
	return out, nil
}

// The value sets with a required binding on AllergyIntolerance.
var (
	allergyType        = newCodeSet[cpb.AllergyIntoleranceTypeCode_Value]("AllergyIntoleranceType", cpb.AllergyIntoleranceTypeCode_ALLERGY.Descriptor())
	allergyCategory    = newCodeSet[cpb.AllergyIntoleranceCategoryCode_Value]("AllergyIntoleranceCategory", cpb.AllergyIntoleranceCategoryCode_FOOD.Descriptor())
	allergyCriticality = newCodeSet[cpb.AllergyIntoleranceCriticalityCode_Value]("AllergyIntoleranceCriticality", cpb.AllergyIntoleranceCriticalityCode_LOW.Descriptor())
	allergySeverity    = newCodeSet[cpb.AllergyIntoleranceSeverityCode_Value]("AllergyIntoleranceSeverity", cpb.AllergyIntoleranceSeverityCode_MILD.Descriptor())
)
