// Package ovm maps the chargeable statuses of the overseas visitors service
// (OVM, BACKENDS.md §7a, a project contract) onto the facade's FHIR R4
// Flag. The service answers with plain JSON, one object per status: the
// overseas visitor charging category (a single-letter code of the NHS Data
// Dictionary), its start and end dates, and the organisation that recorded
// it. Each status becomes one Flag.
//
// A letter of UK Core's code system UKCore-OverseasVisitorChargingCategory
// (A–F, P, 9: the Data Dictionary's letters; UK Core's definitions are
// embedded in profiles/ukcore) is coded in it, with UK Core's display as
// the meaning; any other letter keeps the facade's own system and is named
// by its letter only (docs/conformance.md has the table). UK Core's
// Extension-UKCore-OverseasVisitorChargingCategory is not used: its context
// is Patient, and a status with its own period and recorder is a Flag.
//
// See BACKENDS.md §7a "Mapping".
package ovm

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/flagid"
	"github.com/carerecords/fhir-facade/mappers/internal/period"
	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/profiles/extensions"
)

// Codes and URLs of the facade's OVM Flag.
const (
	// IDPrefix starts the facade id of every OVM flag.
	IDPrefix = "ovm-"
	// CategorySystem, CategoryCode and CategoryDisplay are the category
	// every OVM flag gets, saying what kind of flag it is.
	CategorySystem  = "urn:carerecords-facade:flag-category"
	CategoryCode    = "overseas-visitor-chargeable-status"
	CategoryDisplay = "Overseas visitor chargeable status"
	// AdminCategorySystem and AdminCategoryCode are the HL7 flag category
	// the same category also carries: a chargeable status is about the
	// patient's dealings with the provider, not a clinical alert.
	AdminCategorySystem = "http://terminology.hl7.org/CodeSystem/flag-category"
	AdminCategoryCode   = "admin"
	// UKCoreChargingCategorySystem is the system of Flag.code's coding for
	// a letter UK Core's code system has (ChargingCategories).
	UKCoreChargingCategorySystem = "https://fhir.hl7.org.uk/CodeSystem/UKCore-OverseasVisitorChargingCategory"
	// ChargingCategorySystem is the system of Flag.code's coding for a
	// letter UK Core's code system does not have, as the service sent it.
	ChargingCategorySystem = "urn:carerecords-facade:overseas-visitor-charging-category"
	// RecordingOrganisationContactURL is the Flag extension
	// (valueContactPoint) carrying the phone number of the organisation
	// that recorded the status: published by the facade (profiles/extensions).
	RecordingOrganisationContactURL = extensions.Prefix + extensions.OVMRecordingOrganisationContact

	odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
)

// ChargingCategories are the concepts of UK Core's code system
// UKCore-OverseasVisitorChargingCategory (version 1.0.0): each letter and
// its display, what the letter means.
var ChargingCategories = map[string]string{
	"A": "Standard NHS-funded patient",
	"B": "Immigration Health Surcharge payee",
	"C": "Charge-exempt Overseas Visitor (European Economic Area)",
	"D": "Chargeable European Economic Area patient",
	"E": "Charge-exempt Overseas Visitor (non-European Economic Area)",
	"F": "Chargeable non-European Economic Area patient",
	"P": "Decision Pending on Overseas Visitor Charging Category",
	"9": "Overseas Visitor Charging Category",
}

// Status is one chargeable status as the service sends it (BACKENDS.md
// §7a). End is nil while the status has no end date.
type Status struct {
	ID               string      `json:"id"`
	ChargingCategory string      `json:"chargingCategory"`
	Start            string      `json:"start"`
	End              *string     `json:"end"`
	RecordedBy       *RecordedBy `json:"recordedBy"`
	LastUpdated      string      `json:"lastUpdated"`
}

// RecordedBy is the organisation that recorded a status: its ODS code,
// name and a contact phone number.
type RecordedBy struct {
	ODS   string `json:"ods"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// Decode reads one status (an element of the answer's "statuses") with
// encoding/json.
func Decode(raw []byte) (*Status, error) {
	var s Status
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, badPayload(err)
	}
	return &s, nil
}

// FlagID is the facade id of the status backendID of patient nhs:
// "ovm-<nhs>-<backendID>". The service can only be asked by patient, so the
// id carries the NHS number for a read to ask with. A backend id that would
// not fit the FHIR id grammar (64 characters of A-Z a-z 0-9 - .) is
// replaced by "h" and a SHA-256 prefix of it; the read compares ids, so
// either way finds the flag.
func FlagID(nhs, backendID string) string {
	return flagid.New(IDPrefix, nhs, '-', backendID)
}

// ParseFlagID returns the NHS number a facade OVM id carries; ok is false
// when id is not one.
func ParseFlagID(id string) (nhs string, ok bool) {
	return flagid.Patient(IDPrefix, '-', id)
}

// Flag maps a status of patient nhs (the patient the facade asked about)
// onto the facade's Flag, as of now:
//
//   - id: FlagID(nhs, id); meta.lastUpdated from lastUpdated (the service
//     keeps no versions, so there is no meta.versionId);
//   - status: active until the end date has passed in England, then
//     inactive: the rule of every facade Flag (mappers/internal/period),
//     current through the whole of the end day in Europe/London whatever
//     now's zone, inactive from the following London midnight;
//   - category: CategorySystem|CategoryCode with the HL7 flag-category
//     "admin" in the same concept;
//   - code: UKCoreChargingCategorySystem|<letter> with UK Core's display,
//     text "Overseas visitor charging category <letter>: <display>"; a
//     letter UK Core does not have: ChargingCategorySystem|<letter>, text
//     "Overseas visitor charging category <letter>";
//   - subject: Patient/<nhs> with the NHS number identifier;
//   - period: start and end;
//   - author: the recording organisation (ODS identifier and name), its
//     phone number in a RecordingOrganisationContactURL extension.
//
// Errors are *fhirerr.Error of category BadGateway, wrapping a
// *fhirjson.Error with the path where one applies (Internal for a zero
// now: no date to judge by is never taken as "current"). The input is not
// modified, and the result depends on now's London date only (callers may
// memoise a mapping for that day).
func Flag(s *Status, nhs string, now time.Time) (*flagpb.Flag, error) {
	if s == nil {
		return nil, badPayload(errors.New("no status"))
	}
	if s.ID == "" {
		return nil, badPayload(&fhirjson.Error{Path: "status.id", Err: errors.New("missing")})
	}
	if !isCategory(s.ChargingCategory) {
		return nil, badPayload(&fhirjson.Error{Path: "status.chargingCategory", Err: fmt.Errorf("%q is not a single-letter charging category", s.ChargingCategory)})
	}
	if s.Start == "" {
		return nil, badPayload(&fhirjson.Error{Path: "status.start", Err: errors.New("missing")})
	}
	if s.End != nil && *s.End < s.Start {
		return nil, badPayload(&fhirjson.Error{Path: "status.end", Err: errors.New("before the start")})
	}
	end := ""
	if s.End != nil {
		end = *s.End
	}
	// The service has no status of its own: a status is what it says
	// until its end date has passed.
	status, err := period.FlagStatus("active", end, now)
	if err != nil {
		return nil, period.Refuse(err, "status.end", badPayload)
	}
	f := &fhirjson.Flag{
		ResourceType: "Flag",
		ID:           FlagID(nhs, s.ID),
		Status:       status,
		Category: []fhirjson.CodeableConcept{{Coding: []fhirjson.Coding{
			{System: CategorySystem, Code: CategoryCode, Display: CategoryDisplay},
			{System: AdminCategorySystem, Code: AdminCategoryCode, Display: "Administrative"},
		}}},
		Code:    chargingCategory(s.ChargingCategory),
		Subject: flagid.Subject(nhs),
		Period:  &fhirjson.Period{Start: s.Start},
	}
	if s.End != nil {
		f.Period.End = *s.End
	}
	if s.LastUpdated != "" {
		f.Meta = &fhirjson.Meta{LastUpdated: s.LastUpdated}
	}
	if o := s.RecordedBy; o != nil && (o.ODS != "" || o.Name != "") {
		f.Author = &fhirjson.Reference{Type: "Organization", Display: o.Name}
		if o.ODS != "" {
			f.Author.Identifier = &fhirjson.Identifier{System: odsSystem, Value: o.ODS}
		}
	}
	if o := s.RecordedBy; o != nil && o.Phone != "" {
		f.Extension = []fhirjson.Extension{{URL: RecordingOrganisationContactURL,
			ValueContactPoint: &fhirjson.ContactPoint{System: "phone", Value: o.Phone, Use: "work"}}}
	}
	f.Meta = ukprofile.Declare(f.Meta, ukprofile.Flag)
	out, err := fhirjson.BuildFlag(f)
	if err != nil {
		return nil, badPayload(err)
	}
	return out, nil
}

// chargingCategory is Flag.code for a charging category letter.
func chargingCategory(letter string) *fhirjson.CodeableConcept {
	text := "Overseas visitor charging category " + letter
	if display, ok := ChargingCategories[letter]; ok {
		return &fhirjson.CodeableConcept{
			Coding: []fhirjson.Coding{{System: UKCoreChargingCategorySystem, Code: letter, Display: display}},
			Text:   text + ": " + display,
		}
	}
	return &fhirjson.CodeableConcept{Coding: []fhirjson.Coding{{System: ChargingCategorySystem, Code: letter}}, Text: text}
}

// isCategory reports whether c is one character, a capital letter or a
// digit: the shape of the Data Dictionary's codes.
func isCategory(c string) bool {
	return len(c) == 1 && (c[0] >= 'A' && c[0] <= 'Z' || c[0] >= '0' && c[0] <= '9')
}

func badPayload(err error) error {
	return &fhirerr.Error{
		Category: fhirerr.BadGateway,
		Backend:  "ovm",
		Message:  "the overseas visitors service returned a chargeable status the facade cannot read",
		Err:      err,
	}
}
