package fhirjson

import (
	"encoding/json"

	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"
)

// OperationOutcome is the R4 OperationOutcome resource, the error body of
// every NHS FHIR API. Spine APIs put their machine code in
// issue[].details.coding[].code.
//
// See: http://hl7.org/fhir/R4/operationoutcome.html#resource
type OperationOutcome struct {
	ResourceType      string                  `json:"resourceType"`
	ID                string                  `json:"id,omitempty"`
	Meta              *Meta                   `json:"meta,omitempty"`
	Text              *Narrative              `json:"text,omitempty"`
	Extension         []Extension             `json:"extension,omitempty"`
	ModifierExtension []Extension             `json:"modifierExtension,omitempty"`
	Issue             []OperationOutcomeIssue `json:"issue,omitempty"`
}

// OperationOutcomeIssue is one issue: severity and code are required codes of
// IssueSeverity and IssueType.
//
// See: http://hl7.org/fhir/R4/operationoutcome-definitions.html#OperationOutcome.issue
type OperationOutcomeIssue struct {
	ID                string           `json:"id,omitempty"`
	Extension         []Extension      `json:"extension,omitempty"`
	ModifierExtension []Extension      `json:"modifierExtension,omitempty"`
	Severity          string           `json:"severity,omitempty"`
	Code              string           `json:"code,omitempty"`
	Details           *CodeableConcept `json:"details,omitempty"`
	Diagnostics       string           `json:"diagnostics,omitempty"`
	Location          []string         `json:"location,omitempty"`
	Expression        []string         `json:"expression,omitempty"`
}

// MarshalJSON writes the OperationOutcome with "resourceType": "OperationOutcome".
func (o OperationOutcome) MarshalJSON() ([]byte, error) {
	type plain OperationOutcome
	o.ResourceType = "OperationOutcome"
	return json.Marshal(plain(o))
}

// BuildOperationOutcome builds the OperationOutcome proto; every issue needs
// a severity and a code.
//
// See: http://hl7.org/fhir/R4/operationoutcome.html
func BuildOperationOutcome(o *OperationOutcome) (*oopb.OperationOutcome, error) {
	if o == nil {
		return nil, nil
	}
	out, err := buildOperationOutcome(o)
	if err != nil {
		return nil, at(err, "OperationOutcome")
	}
	return out, nil
}

func buildOperationOutcome(o *OperationOutcome) (*oopb.OperationOutcome, error) {
	if o.ResourceType != "OperationOutcome" {
		return nil, at(invalid("is %q, want \"OperationOutcome\"", o.ResourceType), "resourceType")
	}
	out := &oopb.OperationOutcome{}
	var err error
	if out.Id, err = BuildID(o.ID); err != nil {
		return nil, at(err, "id")
	}
	if out.Meta, err = BuildMeta(o.Meta); err != nil {
		return nil, at(err, "meta")
	}
	if out.Text, err = BuildNarrative(o.Text); err != nil {
		return nil, at(err, "text")
	}
	if out.Extension, err = BuildExtensions(o.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(o.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if out.Issue, err = buildEach("issue", o.Issue, BuildOperationOutcomeIssue); err != nil {
		return nil, err
	}
	return out, nil
}

// BuildOperationOutcomeIssue builds one issue.
//
// See: http://hl7.org/fhir/R4/operationoutcome-definitions.html#OperationOutcome.issue
func BuildOperationOutcomeIssue(is *OperationOutcomeIssue) (*oopb.OperationOutcome_Issue, error) {
	if is == nil {
		return nil, nil
	}
	out := &oopb.OperationOutcome_Issue{
		Id:          str(is.ID),
		Diagnostics: str(is.Diagnostics),
		Location:    strs(is.Location),
		Expression:  strs(is.Expression),
	}
	var err error
	if out.Extension, err = BuildExtensions(is.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.ModifierExtension, err = BuildExtensions(is.ModifierExtension); err != nil {
		return nil, at(err, "modifierExtension")
	}
	if is.Severity == "" {
		return nil, at(invalid("missing (required)"), "severity")
	}
	sev, err := issueSeverity.lookup(is.Severity)
	if err != nil {
		return nil, at(err, "severity")
	}
	out.Severity = &oopb.OperationOutcome_Issue_SeverityCode{Value: sev}
	if is.Code == "" {
		return nil, at(invalid("missing (required)"), "code")
	}
	typ, err := issueType.lookup(is.Code)
	if err != nil {
		return nil, at(err, "code")
	}
	out.Code = &oopb.OperationOutcome_Issue_CodeType{Value: typ}
	if out.Details, err = BuildCodeableConcept(is.Details); err != nil {
		return nil, at(err, "details")
	}
	return out, nil
}
