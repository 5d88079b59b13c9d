package fhirjson

import (
	"encoding/json"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	impb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"
)

// Immunization is the R4 Immunization resource as FHIR JSON spells it: the
// shape of the Immunisation History API's records (BACKENDS.md §7). Every
// element of the base resource is modelled except contained resources, so a
// record passes through without loss. ResourceType must be "Immunization"
// for BuildImmunization; MarshalJSON always writes it.
//
// See: http://hl7.org/fhir/R4/immunization.html#resource
type Immunization struct {
	ResourceType       string                        `json:"resourceType"`
	ID                 string                        `json:"id,omitempty"`
	Meta               *Meta                         `json:"meta,omitempty"`
	ImplicitRules      string                        `json:"implicitRules,omitempty"`
	Language           string                        `json:"language,omitempty"`
	Text               *Narrative                    `json:"text,omitempty"`
	Extension          []Extension                   `json:"extension,omitempty"`
	ModifierExtension  []Extension                   `json:"modifierExtension,omitempty"`
	Identifier         []Identifier                  `json:"identifier,omitempty"`
	Status             string                        `json:"status,omitempty"`
	StatusReason       *CodeableConcept              `json:"statusReason,omitempty"`
	VaccineCode        *CodeableConcept              `json:"vaccineCode,omitempty"`
	Patient            *Reference                    `json:"patient,omitempty"`
	Encounter          *Reference                    `json:"encounter,omitempty"`
	OccurrenceDateTime string                        `json:"occurrenceDateTime,omitempty"`
	OccurrenceString   string                        `json:"occurrenceString,omitempty"`
	Recorded           string                        `json:"recorded,omitempty"`
	PrimarySource      *bool                         `json:"primarySource,omitempty"`
	ReportOrigin       *CodeableConcept              `json:"reportOrigin,omitempty"`
	Location           *Reference                    `json:"location,omitempty"`
	Manufacturer       *Reference                    `json:"manufacturer,omitempty"`
	LotNumber          string                        `json:"lotNumber,omitempty"`
	ExpirationDate     string                        `json:"expirationDate,omitempty"`
	Site               *CodeableConcept              `json:"site,omitempty"`
	Route              *CodeableConcept              `json:"route,omitempty"`
	DoseQuantity       *Quantity                     `json:"doseQuantity,omitempty"`
	Performer          []ImmunizationPerformer       `json:"performer,omitempty"`
	Note               []Annotation                  `json:"note,omitempty"`
	ReasonCode         []CodeableConcept             `json:"reasonCode,omitempty"`
	ReasonReference    []Reference                   `json:"reasonReference,omitempty"`
	IsSubpotent        *bool                         `json:"isSubpotent,omitempty"`
	SubpotentReason    []CodeableConcept             `json:"subpotentReason,omitempty"`
	Education          []ImmunizationEducation       `json:"education,omitempty"`
	ProgramEligibility []CodeableConcept             `json:"programEligibility,omitempty"`
	FundingSource      *CodeableConcept              `json:"fundingSource,omitempty"`
	Reaction           []ImmunizationReaction        `json:"reaction,omitempty"`
	ProtocolApplied    []ImmunizationProtocolApplied `json:"protocolApplied,omitempty"`
}

// ImmunizationPerformer says who performed the immunisation event, and in
// what function. The Immunisation History API names the vaccinating
// organisation by its ODS code.
//
// See: http://hl7.org/fhir/R4/immunization-definitions.html#Immunization.performer
type ImmunizationPerformer struct {
	ID                string           `json:"id,omitempty"`
	Extension         []Extension      `json:"extension,omitempty"`
	ModifierExtension []Extension      `json:"modifierExtension,omitempty"`
	Function          *CodeableConcept `json:"function,omitempty"`
	Actor             *Reference       `json:"actor,omitempty"`
}

// ImmunizationEducation is educational material given to the patient.
//
// See: http://hl7.org/fhir/R4/immunization-definitions.html#Immunization.education
type ImmunizationEducation struct {
	ID                string      `json:"id,omitempty"`
	Extension         []Extension `json:"extension,omitempty"`
	ModifierExtension []Extension `json:"modifierExtension,omitempty"`
	DocumentType      string      `json:"documentType,omitempty"`
	Reference         string      `json:"reference,omitempty"`
	PublicationDate   string      `json:"publicationDate,omitempty"`
	PresentationDate  string      `json:"presentationDate,omitempty"`
}

// ImmunizationReaction is a reaction that followed the immunisation.
//
// See: http://hl7.org/fhir/R4/immunization-definitions.html#Immunization.reaction
type ImmunizationReaction struct {
	ID                string      `json:"id,omitempty"`
	Extension         []Extension `json:"extension,omitempty"`
	ModifierExtension []Extension `json:"modifierExtension,omitempty"`
	Date              string      `json:"date,omitempty"`
	Detail            *Reference  `json:"detail,omitempty"`
	Reported          *bool       `json:"reported,omitempty"`
}

// ImmunizationProtocolApplied is the protocol followed: the series, the
// target diseases and the dose number (the API sends doseNumberPositiveInt).
//
// See: http://hl7.org/fhir/R4/immunization-definitions.html#Immunization.protocolApplied
type ImmunizationProtocolApplied struct {
	ID                     string            `json:"id,omitempty"`
	Extension              []Extension       `json:"extension,omitempty"`
	ModifierExtension      []Extension       `json:"modifierExtension,omitempty"`
	Series                 string            `json:"series,omitempty"`
	Authority              *Reference        `json:"authority,omitempty"`
	TargetDisease          []CodeableConcept `json:"targetDisease,omitempty"`
	DoseNumberPositiveInt  *int64            `json:"doseNumberPositiveInt,omitempty"`
	DoseNumberString       string            `json:"doseNumberString,omitempty"`
	SeriesDosesPositiveInt *int64            `json:"seriesDosesPositiveInt,omitempty"`
	SeriesDosesString      string            `json:"seriesDosesString,omitempty"`
}

// MarshalJSON writes the Immunization with "resourceType": "Immunization".
func (m Immunization) MarshalJSON() ([]byte, error) {
	type plain Immunization // no MarshalJSON method: no recursion
	m.ResourceType = "Immunization"
	return json.Marshal(plain(m))
}

// immunizationStatus is the required binding of Immunization.status.
var immunizationStatus = newCodeSet[vspb.ImmunizationStatusCodesValueSet_Value]("ImmunizationStatusCodes", vspb.ImmunizationStatusCodesValueSet_COMPLETED.Descriptor())

// BuildImmunization builds the Immunization proto. It checks resourceType,
// the id, status (required, a code of ImmunizationStatusCodes), that
// vaccineCode, patient and occurrence[x] are given (all 1..1, and at most
// one occurrence[x]), every date, doseQuantity as a SimpleQuantity (no
// comparator), the choice types of protocolApplied, and every nested
// datatype. Errors are *Error with paths like
// "Immunization.protocolApplied[0].doseNumberPositiveInt".
//
// See: http://hl7.org/fhir/R4/immunization.html
func BuildImmunization(m *Immunization) (*impb.Immunization, error) {
	if m == nil {
		return nil, nil
	}
	out, err := buildImmunization(m)
	if err != nil {
		return nil, at(err, "Immunization")
	}
	return out, nil
}

func buildImmunization(m *Immunization) (*impb.Immunization, error) {
	if m.ResourceType != "Immunization" {
		return nil, at(invalid("is %q, want \"Immunization\"", m.ResourceType), "resourceType")
	}
	out := &impb.Immunization{Language: code(m.Language), ImplicitRules: uri(m.ImplicitRules), LotNumber: str(m.LotNumber)}
	var err error
	if out.Id, err = BuildID(m.ID); err != nil {
		return nil, at(err, "id")
	}
	if out.Meta, err = BuildMeta(m.Meta); err != nil {
		return nil, at(err, "meta")
	}
	if out.Text, err = BuildNarrative(m.Text); err != nil {
		return nil, at(err, "text")
	}
	if out.Extension, err = BuildExtensions(m.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(m.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Identifier, err = buildEach("identifier", m.Identifier, BuildIdentifier); err != nil {
		return nil, err
	}
	if m.Status == "" {
		return nil, at(invalid("missing (Immunization.status is 1..1)"), "status")
	}
	st, err := immunizationStatus.lookup(m.Status)
	if err != nil {
		return nil, at(err, "status")
	}
	out.Status = &impb.Immunization_StatusCode{Value: st}
	if out.StatusReason, err = BuildCodeableConcept(m.StatusReason); err != nil {
		return nil, at(err, "statusReason")
	}
	if m.VaccineCode == nil {
		return nil, at(invalid("missing (Immunization.vaccineCode is 1..1)"), "vaccineCode")
	}
	if out.VaccineCode, err = BuildCodeableConcept(m.VaccineCode); err != nil {
		return nil, at(err, "vaccineCode")
	}
	if m.Patient == nil {
		return nil, at(invalid("missing (Immunization.patient is 1..1)"), "patient")
	}
	if out.Patient, err = BuildReference(m.Patient); err != nil {
		return nil, at(err, "patient")
	}
	if out.Encounter, err = BuildReference(m.Encounter); err != nil {
		return nil, at(err, "encounter")
	}
	switch {
	case m.OccurrenceDateTime != "" && m.OccurrenceString != "":
		return nil, at(invalid("both occurrenceDateTime and occurrenceString are set"), "occurrence[x]")
	case m.OccurrenceDateTime != "":
		dt, err := ParseDateTime(m.OccurrenceDateTime)
		if err != nil {
			return nil, at(err, "occurrenceDateTime")
		}
		out.Occurrence = &impb.Immunization_OccurrenceX{Choice: &impb.Immunization_OccurrenceX_DateTime{DateTime: dt}}
	case m.OccurrenceString != "":
		out.Occurrence = &impb.Immunization_OccurrenceX{Choice: &impb.Immunization_OccurrenceX_StringValue{StringValue: &dtpb.String{Value: m.OccurrenceString}}}
	default:
		return nil, at(invalid("missing (Immunization.occurrence[x] is 1..1)"), "occurrence[x]")
	}
	if out.Recorded, err = buildDateTime(m.Recorded); err != nil {
		return nil, at(err, "recorded")
	}
	out.PrimarySource = boolean(m.PrimarySource)
	if out.ReportOrigin, err = BuildCodeableConcept(m.ReportOrigin); err != nil {
		return nil, at(err, "reportOrigin")
	}
	if out.Location, err = BuildReference(m.Location); err != nil {
		return nil, at(err, "location")
	}
	if out.Manufacturer, err = BuildReference(m.Manufacturer); err != nil {
		return nil, at(err, "manufacturer")
	}
	if m.ExpirationDate != "" {
		if out.ExpirationDate, err = ParseDate(m.ExpirationDate); err != nil {
			return nil, at(err, "expirationDate")
		}
	}
	if out.Site, err = BuildCodeableConcept(m.Site); err != nil {
		return nil, at(err, "site")
	}
	if out.Route, err = BuildCodeableConcept(m.Route); err != nil {
		return nil, at(err, "route")
	}
	if out.DoseQuantity, err = BuildSimpleQuantity(m.DoseQuantity); err != nil {
		return nil, at(err, "doseQuantity")
	}
	if out.Performer, err = buildEach("performer", m.Performer, BuildImmunizationPerformer); err != nil {
		return nil, err
	}
	if out.Note, err = buildEach("note", m.Note, BuildAnnotation); err != nil {
		return nil, err
	}
	if out.ReasonCode, err = buildEach("reasonCode", m.ReasonCode, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.ReasonReference, err = buildEach("reasonReference", m.ReasonReference, BuildReference); err != nil {
		return nil, err
	}
	out.IsSubpotent = boolean(m.IsSubpotent)
	if out.SubpotentReason, err = buildEach("subpotentReason", m.SubpotentReason, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.Education, err = buildEach("education", m.Education, BuildImmunizationEducation); err != nil {
		return nil, err
	}
	if out.ProgramEligibility, err = buildEach("programEligibility", m.ProgramEligibility, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if out.FundingSource, err = BuildCodeableConcept(m.FundingSource); err != nil {
		return nil, at(err, "fundingSource")
	}
	if out.Reaction, err = buildEach("reaction", m.Reaction, BuildImmunizationReaction); err != nil {
		return nil, err
	}
	if out.ProtocolApplied, err = buildEach("protocolApplied", m.ProtocolApplied, BuildImmunizationProtocolApplied); err != nil {
		return nil, err
	}
	return out, nil
}

func boolean(b *bool) *dtpb.Boolean {
	if b == nil {
		return nil
	}
	return &dtpb.Boolean{Value: *b}
}

// BuildSimpleQuantity builds a SimpleQuantity: a Quantity without a
// comparator (R4 constraint sqty-1).
//
// See: http://hl7.org/fhir/R4/datatypes.html#SimpleQuantity
func BuildSimpleQuantity(q *Quantity) (*dtpb.SimpleQuantity, error) {
	if q == nil {
		return nil, nil
	}
	if q.Comparator != "" {
		return nil, at(invalid("a SimpleQuantity has no comparator (sqty-1)"), "comparator")
	}
	out := &dtpb.SimpleQuantity{Id: str(q.ID), Unit: str(q.Unit), System: uri(q.System), Code: code(q.Code)}
	var err error
	if out.Extension, err = BuildExtensions(q.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.Value, err = BuildDecimal(q.Value); err != nil {
		return nil, at(err, "value")
	}
	return out, nil
}

// BuildImmunizationPerformer builds one performer; actor is required (1..1).
//
// See: http://hl7.org/fhir/R4/immunization-definitions.html#Immunization.performer
func BuildImmunizationPerformer(p *ImmunizationPerformer) (*impb.Immunization_Performer, error) {
	if p == nil {
		return nil, nil
	}
	out := &impb.Immunization_Performer{Id: str(p.ID)}
	var err error
	if out.Extension, err = BuildExtensions(p.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(p.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Function, err = BuildCodeableConcept(p.Function); err != nil {
		return nil, at(err, "function")
	}
	if p.Actor == nil {
		return nil, at(invalid("missing (Immunization.performer.actor is 1..1)"), "actor")
	}
	if out.Actor, err = BuildReference(p.Actor); err != nil {
		return nil, at(err, "actor")
	}
	return out, nil
}

// BuildImmunizationEducation builds one education entry; its dates are
// dateTimes.
//
// See: http://hl7.org/fhir/R4/immunization-definitions.html#Immunization.education
func BuildImmunizationEducation(e *ImmunizationEducation) (*impb.Immunization_Education, error) {
	if e == nil {
		return nil, nil
	}
	out := &impb.Immunization_Education{Id: str(e.ID), DocumentType: str(e.DocumentType), Reference: uri(e.Reference)}
	var err error
	if out.Extension, err = BuildExtensions(e.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(e.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.PublicationDate, err = buildDateTime(e.PublicationDate); err != nil {
		return nil, at(err, "publicationDate")
	}
	if out.PresentationDate, err = buildDateTime(e.PresentationDate); err != nil {
		return nil, at(err, "presentationDate")
	}
	return out, nil
}

// BuildImmunizationReaction builds one reaction.
//
// See: http://hl7.org/fhir/R4/immunization-definitions.html#Immunization.reaction
func BuildImmunizationReaction(r *ImmunizationReaction) (*impb.Immunization_Reaction, error) {
	if r == nil {
		return nil, nil
	}
	out := &impb.Immunization_Reaction{Id: str(r.ID), Reported: boolean(r.Reported)}
	var err error
	if out.Extension, err = BuildExtensions(r.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(r.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Date, err = buildDateTime(r.Date); err != nil {
		return nil, at(err, "date")
	}
	if out.Detail, err = BuildReference(r.Detail); err != nil {
		return nil, at(err, "detail")
	}
	return out, nil
}

// BuildImmunizationProtocolApplied builds one protocolApplied entry. Dose
// number (1..1) and series doses are each a positiveInt or a string, not
// both.
//
// See: http://hl7.org/fhir/R4/immunization-definitions.html#Immunization.protocolApplied
func BuildImmunizationProtocolApplied(p *ImmunizationProtocolApplied) (*impb.Immunization_ProtocolApplied, error) {
	if p == nil {
		return nil, nil
	}
	out := &impb.Immunization_ProtocolApplied{Id: str(p.ID), Series: str(p.Series)}
	var err error
	if out.Extension, err = BuildExtensions(p.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(p.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Authority, err = BuildReference(p.Authority); err != nil {
		return nil, at(err, "authority")
	}
	if out.TargetDisease, err = buildEach("targetDisease", p.TargetDisease, BuildCodeableConcept); err != nil {
		return nil, err
	}
	switch {
	case p.DoseNumberPositiveInt != nil && p.DoseNumberString != "":
		return nil, at(invalid("both doseNumberPositiveInt and doseNumberString are set"), "doseNumber[x]")
	case p.DoseNumberPositiveInt != nil:
		n, err := buildPositiveInt(p.DoseNumberPositiveInt)
		if err != nil {
			return nil, at(err, "doseNumberPositiveInt")
		}
		out.DoseNumber = &impb.Immunization_ProtocolApplied_DoseNumberX{Choice: &impb.Immunization_ProtocolApplied_DoseNumberX_PositiveInt{PositiveInt: n}}
	case p.DoseNumberString != "":
		out.DoseNumber = &impb.Immunization_ProtocolApplied_DoseNumberX{Choice: &impb.Immunization_ProtocolApplied_DoseNumberX_StringValue{StringValue: &dtpb.String{Value: p.DoseNumberString}}}
	default:
		return nil, at(invalid("missing (Immunization.protocolApplied.doseNumber[x] is 1..1)"), "doseNumber[x]")
	}
	switch {
	case p.SeriesDosesPositiveInt != nil && p.SeriesDosesString != "":
		return nil, at(invalid("both seriesDosesPositiveInt and seriesDosesString are set"), "seriesDoses[x]")
	case p.SeriesDosesPositiveInt != nil:
		n, err := buildPositiveInt(p.SeriesDosesPositiveInt)
		if err != nil {
			return nil, at(err, "seriesDosesPositiveInt")
		}
		out.SeriesDoses = &impb.Immunization_ProtocolApplied_SeriesDosesX{Choice: &impb.Immunization_ProtocolApplied_SeriesDosesX_PositiveInt{PositiveInt: n}}
	case p.SeriesDosesString != "":
		out.SeriesDoses = &impb.Immunization_ProtocolApplied_SeriesDosesX{Choice: &impb.Immunization_ProtocolApplied_SeriesDosesX_StringValue{StringValue: &dtpb.String{Value: p.SeriesDosesString}}}
	}
	return out, nil
}
