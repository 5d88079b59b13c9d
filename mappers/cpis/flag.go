// Package cpis maps what Child Protection – Information Sharing (CP-IS)
// returns onto the facade's FHIR R4 Flag. CP-IS answers with one CareTeam
// per plan (a child protection plan, a looked-after child, an unborn child
// protection plan), naming the responsible local authority and its phone
// numbers (BACKENDS.md §4.1, a project contract). Each CareTeam becomes one
// Flag of category "safety" whose code is the plan type and whose author is
// the local authority, with the authority's phone numbers in extensions; a
// plan whose end date has passed is inactive whatever CP-IS says (see Flag).
//
// See BACKENDS.md §4.2 "Mapping to the facade Flag".
package cpis

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/flagid"
	"github.com/carerecords/fhir-facade/mappers/internal/period"
	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/profiles/extensions"
)

// Codes and URLs of the CP-IS contract and of the facade's Flag.
const (
	// IDPrefix starts the facade id of every CP-IS flag.
	IDPrefix = "cpis-"
	// PlanTypeSystem is the code system of the plan types (CPP, LAC, UCPP).
	PlanTypeSystem = "https://carerecords-facade.invalid/fhir/CodeSystem/cpis-plan-type"
	// ContactTypeURL is the extension on a local authority phone number
	// saying which it is: "office-hours" or "emergency-duty".
	// The CP-IS contract names it so; the facade publishes its definition
	// (profiles/extensions).
	ContactTypeURL = extensions.Prefix + extensions.CPISContactType
	// LocalAuthorityContactURL is the Flag extension (valueContactPoint)
	// carrying one phone number of the responsible local authority, with its
	// ContactTypeURL extension; published by the facade (profiles/extensions).
	LocalAuthorityContactURL = extensions.Prefix + extensions.CPISLocalAuthorityContact
	// CategorySystem and CategoryCode are the category every CP-IS flag gets.
	CategorySystem = "http://terminology.hl7.org/CodeSystem/flag-category"
	CategoryCode   = "safety"
)

// PlanTypes are the plan type codes and their names.
var PlanTypes = map[string]string{
	"CPP":  "Child Protection Plan",
	"LAC":  "Looked After Child",
	"UCPP": "Unborn Child Protection Plan",
}

// Decode reads one CP-IS CareTeam (an entry of its searchset Bundle) with
// encoding/json. It rejects anything whose resourceType is not "CareTeam".
func Decode(raw []byte) (*fhirjson.CareTeam, error) {
	var c fhirjson.CareTeam
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, badPayload(err)
	}
	if c.ResourceType != "CareTeam" {
		return nil, badPayload(fmt.Errorf("resourceType is %q, want \"CareTeam\"", c.ResourceType))
	}
	return &c, nil
}

// FlagID is the facade id of the CP-IS CareTeam backendID of patient nhs.
// CP-IS ids are already "cpis-<nhs>-<plan>" (the contract) and are kept;
// any other id becomes "cpis-<nhs>-<backendID>" (or "cpis-<nhs>-h<hash>"
// when that would not be a FHIR id), so that the id always carries the NHS
// number a read needs to search CP-IS with.
func FlagID(nhs, backendID string) string {
	if strings.HasPrefix(backendID, IDPrefix+nhs+"-") && len(backendID) > len(IDPrefix)+11 {
		if fhirjson.ValidID(backendID) {
			return backendID
		}
	}
	return flagid.New(IDPrefix, nhs, '-', backendID)
}

// ParseFlagID returns the NHS number a facade CP-IS id carries; ok is false
// when id is not one.
func ParseFlagID(id string) (nhs string, ok bool) {
	return flagid.Patient(IDPrefix, '-', id)
}

// Flag maps a CP-IS CareTeam of patient nhs (the patient the facade asked
// about) onto the facade's Flag, as of now:
//
//   - id: FlagID(nhs, id); meta kept;
//   - status: active → active, entered-in-error → entered-in-error, any
//     other CareTeam status (inactive, suspended, proposed) → inactive;
//     and a plan whose period.end has passed is inactive even if CP-IS
//     still says active: the rule of every facade Flag
//     (mappers/internal/period), current through the whole of the end day
//     in Europe/London, inactive from the following London midnight. A
//     child protection plan shown as current after it ended would tell an
//     emergency clinician that social care is involved when it no longer
//     is, and send them to the wrong local authority;
//   - category: flag-category "safety";
//   - code: the plan type coding, with its name as text;
//   - subject: Patient/<nhs> with the NHS number identifier (for an unborn
//     child protection plan, the mother); a CareTeam naming another patient
//     is an error (never shown);
//   - period: the plan's start and end;
//   - author: the responsible local authority (identifier and name);
//   - one LocalAuthorityContactURL extension per phone number of the local
//     authority, keeping its contact type (office-hours, emergency-duty).
//
// Errors are *fhirerr.Error of category BadGateway wrapping a
// *fhirjson.Error with the JSON path (Internal for a zero now: no date to
// judge by is never taken as "current"). The input is not modified, and
// the result depends on now's London date only (callers may memoise a
// mapping for that day).
func Flag(ct *fhirjson.CareTeam, nhs string, now time.Time) (*flagpb.Flag, error) {
	if ct == nil {
		return nil, badPayload(errors.New("no CareTeam"))
	}
	if ct.ID == "" {
		return nil, badPayload(&fhirjson.Error{Path: "CareTeam.id", Err: errors.New("missing")})
	}
	if err := flagid.CheckSubject(ct.Subject, nhs, "CareTeam.subject"); err != nil {
		return nil, badPayload(err)
	}
	status, err := flagStatus(ct.Status)
	if err != nil {
		return nil, badPayload(err)
	}
	end := ""
	if ct.Period != nil {
		end = ct.Period.End
	}
	if status, err = period.FlagStatus(status, end, now); err != nil {
		return nil, period.Refuse(err, "CareTeam.period.end", badPayload)
	}
	plan, err := planType(ct.Category)
	if err != nil {
		return nil, badPayload(err)
	}
	f := &fhirjson.Flag{
		ResourceType: "Flag",
		ID:           FlagID(nhs, ct.ID),
		Meta:         ukprofile.Declare(ct.Meta, ukprofile.Flag),
		Status:       status,
		Category: []fhirjson.CodeableConcept{{Coding: []fhirjson.Coding{
			{System: CategorySystem, Code: CategoryCode, Display: "Safety"},
		}}},
		Code:    &fhirjson.CodeableConcept{Coding: []fhirjson.Coding{plan}, Text: planText(plan)},
		Subject: flagid.Subject(nhs),
		Period:  ct.Period,
	}
	if len(ct.ManagingOrganization) > 0 {
		la := ct.ManagingOrganization[0]
		f.Author = &fhirjson.Reference{Type: "Organization", Identifier: la.Identifier, Display: la.Display, Reference: la.Reference}
	}
	for i := range ct.Telecom {
		f.Extension = append(f.Extension, fhirjson.Extension{URL: LocalAuthorityContactURL, ValueContactPoint: &ct.Telecom[i]})
	}
	out, err := fhirjson.BuildFlag(f)
	if err != nil {
		return nil, badPayload(err)
	}
	return out, nil
}

func flagStatus(s string) (string, error) {
	switch s {
	case "active", "entered-in-error":
		return s, nil
	case "inactive", "suspended", "proposed":
		return "inactive", nil
	case "":
		return "", &fhirjson.Error{Path: "CareTeam.status", Err: errors.New("missing")}
	}
	return "", &fhirjson.Error{Path: "CareTeam.status", Err: fmt.Errorf("%q is not a code of CareTeamStatus", s)}
}

// planType finds the plan type coding among the CareTeam's categories.
func planType(cats []fhirjson.CodeableConcept) (fhirjson.Coding, error) {
	for _, c := range cats {
		for _, cd := range c.Coding {
			if cd.System == PlanTypeSystem && cd.Code != "" {
				return cd, nil
			}
		}
	}
	return fhirjson.Coding{}, &fhirjson.Error{Path: "CareTeam.category", Err: errors.New("no plan type coding (" + PlanTypeSystem + ")")}
}

func planText(c fhirjson.Coding) string {
	if name, ok := PlanTypes[c.Code]; ok {
		return name
	}
	return c.Display
}

func badPayload(err error) error {
	return &fhirerr.Error{
		Category: fhirerr.BadGateway,
		Backend:  "cpis",
		Message:  "the child protection information sharing service returned a plan the facade cannot read",
		Err:      err,
	}
}
