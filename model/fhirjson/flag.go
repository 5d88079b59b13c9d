package fhirjson

import (
	"encoding/json"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"
)

// Flag is the R4 Flag resource as FHIR JSON spells it: FGM-IS sends it as
// is, and the RA and CP-IS mappers build one from their own payloads.
// ResourceType must be "Flag" for BuildFlag; MarshalJSON always writes it.
// Contained resources are kept raw and not built (see package doc).
//
// See: http://hl7.org/fhir/R4/flag.html#resource
type Flag struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id,omitempty"`
	Meta              *Meta             `json:"meta,omitempty"`
	ImplicitRules     string            `json:"implicitRules,omitempty"`
	Language          string            `json:"language,omitempty"`
	Text              *Narrative        `json:"text,omitempty"`
	Contained         []json.RawMessage `json:"contained,omitempty"`
	Extension         []Extension       `json:"extension,omitempty"`
	ModifierExtension []Extension       `json:"modifierExtension,omitempty"`
	Identifier        []Identifier      `json:"identifier,omitempty"`
	Status            string            `json:"status,omitempty"`
	Category          []CodeableConcept `json:"category,omitempty"`
	Code              *CodeableConcept  `json:"code,omitempty"`
	Subject           *Reference        `json:"subject,omitempty"`
	Period            *Period           `json:"period,omitempty"`
	Encounter         *Reference        `json:"encounter,omitempty"`
	Author            *Reference        `json:"author,omitempty"`
}

// MarshalJSON writes the Flag with "resourceType": "Flag".
func (f Flag) MarshalJSON() ([]byte, error) {
	type plain Flag
	f.ResourceType = "Flag"
	return json.Marshal(plain(f))
}

// flagStatus is the required value set of Flag.status.
var flagStatus = newCodeSet[cpb.FlagStatusCode_Value]("FlagStatus", cpb.FlagStatusCode_ACTIVE.Descriptor())

// ValidFlagStatus reports whether s is a code of FlagStatus (active,
// inactive, entered-in-error).
func ValidFlagStatus(s string) bool {
	_, err := flagStatus.lookup(s)
	return err == nil
}

// BuildFlag builds the Flag proto. It checks resourceType, the id grammar,
// the status code (required: a Flag without a status is an error, as FHIR's
// cardinality 1..1 says), that code is present (1..1), every date and every
// reference. Contained resources are not built: the caller adds them to the
// proto. Errors are *Error with paths like "Flag.period.start".
//
// See: http://hl7.org/fhir/R4/flag.html
func BuildFlag(f *Flag) (*flagpb.Flag, error) {
	if f == nil {
		return nil, nil
	}
	out, err := buildFlag(f)
	if err != nil {
		return nil, at(err, "Flag")
	}
	return out, nil
}

func buildFlag(f *Flag) (*flagpb.Flag, error) {
	if f.ResourceType != "Flag" {
		return nil, at(invalid("is %q, want \"Flag\"", f.ResourceType), "resourceType")
	}
	out := &flagpb.Flag{Language: code(f.Language), ImplicitRules: uri(f.ImplicitRules)}
	var err error
	if out.Id, err = BuildID(f.ID); err != nil {
		return nil, at(err, "id")
	}
	if out.Meta, err = BuildMeta(f.Meta); err != nil {
		return nil, at(err, "meta")
	}
	if out.Text, err = BuildNarrative(f.Text); err != nil {
		return nil, at(err, "text")
	}
	if out.Extension, err = BuildExtensions(f.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(f.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Identifier, err = buildEach("identifier", f.Identifier, BuildIdentifier); err != nil {
		return nil, err
	}
	if f.Status == "" {
		return nil, at(invalid("missing (Flag.status is required)"), "status")
	}
	st, err := flagStatus.lookup(f.Status)
	if err != nil {
		return nil, at(err, "status")
	}
	out.Status = &flagpb.Flag_StatusCode{Value: st}
	if out.Category, err = buildEach("category", f.Category, BuildCodeableConcept); err != nil {
		return nil, err
	}
	if f.Code == nil {
		return nil, at(invalid("missing (Flag.code is required)"), "code")
	}
	if out.Code, err = BuildCodeableConcept(f.Code); err != nil {
		return nil, at(err, "code")
	}
	if out.Subject, err = BuildReference(f.Subject); err != nil {
		return nil, at(err, "subject")
	}
	if out.Period, err = BuildPeriod(f.Period); err != nil {
		return nil, at(err, "period")
	}
	if out.Encounter, err = BuildReference(f.Encounter); err != nil {
		return nil, at(err, "encounter")
	}
	if out.Author, err = BuildReference(f.Author); err != nil {
		return nil, at(err, "author")
	}
	return out, nil
}
