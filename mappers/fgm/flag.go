// Package fgm maps what the Female Genital Mutilation Information Sharing
// service (FGM-IS) returns onto the facade's FHIR R4 Flag. FGM-IS already
// speaks R4 (UKCore-Flag), so the mapping is a near pass-through: the id is
// made to carry the patient's NHS number (so a read can find the flag again),
// the subject becomes a Patient reference, the flag gets the category
// "clinical" so that clients can filter on it, and a flag whose end date
// has passed is inactive whatever FGM-IS says (see Flag).
//
// See BACKENDS.md §5.2 "Mapping to the facade Flag".
package fgm

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
)

// Codes of an FGM flag.
const (
	// IDPrefix starts the facade id of every FGM-IS flag.
	IDPrefix = "fgm-"
	// CategorySystem and CategoryCode are the category every FGM flag gets.
	CategorySystem = "http://terminology.hl7.org/CodeSystem/flag-category"
	CategoryCode   = "clinical"
	// SNOMEDCode is "Family history of FGM (female genital mutilation)".
	SNOMEDCode = "902961000000107"
	// RemovalReasonURL is the extension FGM-IS puts on a removed flag
	// (project contract, BACKENDS.md §5.1).
	RemovalReasonURL = "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-FlagRemovalReason"
)

// Decode reads one FGM-IS Flag (an entry of its searchset Bundle) with
// encoding/json. It rejects anything whose resourceType is not "Flag".
func Decode(raw []byte) (*fhirjson.Flag, error) {
	var f fhirjson.Flag
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, badPayload(err)
	}
	if f.ResourceType != "Flag" {
		return nil, badPayload(fmt.Errorf("resourceType is %q, want \"Flag\"", f.ResourceType))
	}
	return &f, nil
}

// FlagID is the facade id of the FGM-IS flag backendID of patient nhs:
// "fgm-<nhs>-<backendID>". FGM-IS can only be searched by patient, so the id
// carries the NHS number for a read to search with. A backend id that would
// not fit the FHIR id grammar (64 characters of A-Z a-z 0-9 - .) is replaced
// by "h" and a SHA-256 prefix of it; the read compares ids, so either way
// finds the flag.
func FlagID(nhs, backendID string) string {
	return flagid.New(IDPrefix, nhs, '-', backendID)
}

// ParseFlagID returns the NHS number a facade FGM id carries; ok is false
// when id is not one.
func ParseFlagID(id string) (nhs string, ok bool) {
	return flagid.Patient(IDPrefix, '-', id)
}

// Flag maps an FGM-IS Flag of patient nhs (the patient the facade asked
// about) onto the facade's Flag, as of now:
//
//   - id: FlagID(nhs, id); meta (version, last updated) kept;
//   - subject: Patient/<nhs>, keeping FGM-IS's NHS number identifier; a flag
//     whose subject names another patient is an error (never shown);
//   - category: flag-category "clinical" first, then any FGM-IS sent;
//   - status: kept, except that a flag whose period.end has passed is
//     inactive even if FGM-IS still says active: the rule of every facade
//     Flag (mappers/internal/period), current through the whole of the end
//     day in Europe/London, inactive from the following London midnight
//     (entered-in-error stays entered-in-error);
//   - code, period, author, extensions (removal reason): kept.
//
// Errors are *fhirerr.Error of category BadGateway wrapping a
// *fhirjson.Error with the JSON path (Internal for a zero now: no date to
// judge by is never taken as "current"). The input is not modified, and
// the result depends on now's London date only (callers may memoise a
// mapping for that day).
func Flag(in *fhirjson.Flag, nhs string, now time.Time) (*flagpb.Flag, error) {
	if in == nil {
		return nil, badPayload(errors.New("no Flag"))
	}
	if in.ID == "" {
		return nil, badPayload(&fhirjson.Error{Path: "Flag.id", Err: errors.New("missing")})
	}
	if err := flagid.CheckSubject(in.Subject, nhs, "Flag.subject"); err != nil {
		return nil, badPayload(err)
	}
	f := *in
	end := ""
	if in.Period != nil {
		end = in.Period.End
	}
	status, err := period.FlagStatus(in.Status, end, now)
	if err != nil {
		return nil, period.Refuse(err, "Flag.period.end", badPayload)
	}
	f.Status = status
	f.ID = FlagID(nhs, in.ID)
	f.Contained = nil
	f.Subject = flagid.Subject(nhs)
	f.Category = append([]fhirjson.CodeableConcept{{Coding: []fhirjson.Coding{
		{System: CategorySystem, Code: CategoryCode, Display: "Clinical"},
	}}}, withoutClinical(in.Category)...)
	f.Meta = ukprofile.Declare(f.Meta, ukprofile.Flag)
	out, err := fhirjson.BuildFlag(&f)
	if err != nil {
		return nil, badPayload(err)
	}
	return out, nil
}

// withoutClinical drops a category FGM-IS may already have sent that
// duplicates the one Flag adds.
func withoutClinical(cs []fhirjson.CodeableConcept) []fhirjson.CodeableConcept {
	var out []fhirjson.CodeableConcept
	for _, c := range cs {
		if len(c.Coding) == 1 && c.Coding[0].System == CategorySystem && c.Coding[0].Code == CategoryCode {
			continue
		}
		out = append(out, c)
	}
	return out
}

func badPayload(err error) error {
	return &fhirerr.Error{
		Category: fhirerr.BadGateway,
		Backend:  "fgm",
		Message:  "the FGM information sharing service returned a Flag the facade cannot read",
		Err:      err,
	}
}
