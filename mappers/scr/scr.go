// Package scr maps what the Summary Care Record API returns (GET /Bundle:
// a Composition whose allergy and medication sections are XHTML tables, see
// BACKENDS.md §2) onto the facade's FHIR R4 AllergyIntolerance and
// MedicationStatement. It is pure: bytes in, protos out.
//
// The tables are parsed with encoding/xml (ParseTable); markup the mapper
// does not understand is an error naming the section, row and column, never
// a panic or a silently dropped row. The API carries no codes for allergies
// or medicines, so the resources carry code.text / medicationCodeableConcept
// text only: the facade never invents a code.
//
// Mapping, per row of each table:
//
//	Allergies (AllergiesHeader) → AllergyIntolerance
//	  Description            → code.text
//	  Date                   → recordedDate and onsetDateTime
//	  Certainty              → verificationStatus (confirmed, unconfirmed,
//	                           refuted, entered-in-error) when recognisable
//	  Severity               → reaction.severity (mild, moderate, severe) or
//	                           criticality (low, high, unable-to-assess) when
//	                           recognisable
//	  Supporting Information → note
//	  clinicalStatus is active (the SCR lists the allergies current in the
//	  GP record; it has no resolved state), except for entered-in-error.
//	Acute / Repeat / Discontinued Repeat Medications → MedicationStatement
//	  Medication Item        → medicationCodeableConcept.text
//	  Dosage Instructions    → dosage[0].text
//	  Quantity               → note ("Quantity: 112 tablet": a supply
//	                           quantity, which MedicationStatement has no
//	                           element for)
//	  Date                   → effectiveDateTime ("Prescribed: …",
//	                           "Last Issued: …"); the label goes in a note
//	  Type                   → note
//	  status: acute → active while the supply could still be
//	  running, then completed, or unknown without a readable issue date
//	  (AcuteStatus, judged on the day of the request in England, with
//	  statusReason saying it is the facade's inference); repeat → active
//	  (a current repeat is a current authorisation, whenever last issued);
//	  discontinued → stopped. README.md gives the clinical reasoning;
//	  category is community; dateAsserted is the summary's date;
//	  informationSource is the Composition author's organisation.
//
// A value the mapper cannot interpret (an unknown certainty, an unreadable
// date, a column it does not know) is kept as a note, "<Column>: <text>", so
// nothing the clinician could see in the SCR is lost. The single row "No
// relevant information available for this category." maps to no resource.
// Every resource has meta.source "urn:uuid:<SCR UUID>" and an id derived
// from the NHS number, the SCR UUID and the row (ID).
package scr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"
	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Section codes (Composition.section.code.coding[0].code, no system) and
// the table id each section's table carries.
const (
	SectionTitle        = "Title"
	SectionAllergies    = "AllergiesHeader"
	SectionAcute        = "AcuteMedsHeader"
	SectionRepeat       = "RepeatMedsHeader"
	SectionDiscontinued = "DiscRepeatMedsHeader"
)

// sections lists the sections mapped, in the order resources are returned.
var sections = []struct {
	code    string
	tableID string
	kind    Kind
}{
	{SectionAllergies, "Allergies", KindAllergy},
	{SectionAcute, "AcuteMeds", KindAcute},
	{SectionRepeat, "RepeatMeds", KindRepeat},
	{SectionDiscontinued, "DiscRepeatMeds", KindDiscontinued},
}

// Systems used in the mapped resources.
const (
	AllergyClinicalSystem     = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
	AllergyVerificationSystem = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
	MedicationCategorySystem  = "http://terminology.hl7.org/CodeSystem/medication-statement-category"
	DataAbsentReasonURL       = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
	ODSSystem                 = "https://fhir.nhs.uk/Id/ods-organization-code"
)

// Record is one patient's summary, mapped.
type Record struct {
	// Found is false when the Bundle held no Composition: the SCR API's
	// answer to a UUID that is no longer the latest.
	Found bool
	// CompositionID is the Composition's id, as sent.
	CompositionID string
	// LastUpdated is when the summary was last updated (Composition
	// meta.lastUpdated, else its date), or the zero time.
	LastUpdated time.Time
	Allergies   []*aipb.AllergyIntolerance
	Medications []*mspb.MedicationStatement
}

// MapAt decodes a GET /Bundle payload for the patient nhs and the summary
// scrUUID (from GET /DocumentReference) and maps its allergy and medication
// sections, judging acute medications' status (AcuteStatus) on now's date
// in England: the day of the request, so that an old summary does not keep
// a long-finished acute issue active. The result depends on now's London
// date only (callers may memoise a mapping for that day). Errors are
// *fhirerr.Error of category BadGateway whose message names the section,
// row and column at fault and no patient data.
func MapAt(raw []byte, nhs, scrUUID string, now time.Time) (*Record, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, badPayload(errors.New("the NHS number asked for is not valid"))
	}
	key, err := UUIDKey(scrUUID)
	if err != nil {
		return nil, badPayload(err)
	}
	b, err := decode(raw)
	if err != nil {
		return nil, badPayload(err)
	}
	rec := &Record{}
	if b.composition == nil {
		return rec, nil
	}
	c := b.composition
	rec.Found, rec.CompositionID = true, c.ID
	if err := b.checkPatient(nhs); err != nil {
		return nil, badPayload(err)
	}
	ctx := &mapContext{
		now:    now,
		nhs:    nhs,
		uuid:   key,
		source: "urn:uuid:" + key[0:8] + "-" + key[8:12] + "-" + key[12:16] + "-" + key[16:20] + "-" + key[20:],
	}
	if c.Meta != nil && c.Meta.LastUpdated != "" {
		if _, err := fhirjson.ParseInstant(c.Meta.LastUpdated); err == nil {
			ctx.lastUpdated = c.Meta.LastUpdated
		}
	}
	if c.Date != "" {
		if _, err := fhirjson.ParseDateTime(c.Date); err == nil {
			ctx.asserted = c.Date
			if ctx.lastUpdated == "" {
				if _, err := fhirjson.ParseInstant(c.Date); err == nil {
					ctx.lastUpdated = c.Date
				}
			}
		}
	}
	if ctx.lastUpdated != "" {
		rec.LastUpdated, _ = time.Parse(time.RFC3339Nano, ctx.lastUpdated)
	}
	ctx.informant = b.informationSource()

	seen := map[string]bool{}
	for _, s := range c.Section {
		code := sectionCode(s)
		if seen[code] && code != "" {
			for _, want := range sections {
				if want.code == code {
					return nil, badPayload(&TableError{Section: code, Row: -1, Reason: "the section appears twice"})
				}
			}
		}
		seen[code] = true
	}
	for _, want := range sections {
		s := findSection(c.Section, want.code)
		if s == nil {
			continue // the summary does not carry this category
		}
		div := ""
		if s.Text != nil {
			div = s.Text.Div
		}
		if strings.TrimSpace(div) == "" {
			return nil, badPayload(&TableError{Section: want.code, Row: -1, Reason: "the section has no narrative"})
		}
		t, err := ParseTable(want.code, want.tableID, div)
		if err != nil {
			return nil, badPayload(err)
		}
		if want.kind == KindAllergy {
			as, err := ctx.allergies(t)
			if err != nil {
				return nil, badPayload(err)
			}
			rec.Allergies = append(rec.Allergies, as...)
			continue
		}
		ms, err := ctx.medications(t, want.kind)
		if err != nil {
			return nil, badPayload(err)
		}
		rec.Medications = append(rec.Medications, ms...)
	}
	return rec, nil
}

// Map is MapAt with no date to judge by: every acute medication's status
// is unknown (never active by default). The facade serves MapAt.
func Map(raw []byte, nhs, scrUUID string) (*Record, error) {
	return MapAt(raw, nhs, scrUUID, time.Time{})
}

func sectionCode(s fhirjson.CompositionSection) string {
	if s.Code == nil || len(s.Code.Coding) == 0 {
		return ""
	}
	return s.Code.Coding[0].Code
}

func findSection(ss []fhirjson.CompositionSection, code string) *fhirjson.CompositionSection {
	for i := range ss {
		if sectionCode(ss[i]) == code {
			return &ss[i]
		}
	}
	return nil
}

// bundle is the decoded GET /Bundle: the Composition and the resources the
// mapper follows references into, by "Type/id".
type bundle struct {
	composition *fhirjson.Composition
	roles       map[string]*fhirjson.PractitionerRole
	orgs        map[string]*fhirjson.Organization
	patients    map[string][]string // "Patient/id" → NHS numbers
}

func decode(raw []byte) (*bundle, error) {
	var b fhirjson.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, errors.New("the payload is not JSON")
	}
	if b.ResourceType != "Bundle" {
		return nil, errors.New("the payload is not a Bundle")
	}
	out := &bundle{roles: map[string]*fhirjson.PractitionerRole{}, orgs: map[string]*fhirjson.Organization{}, patients: map[string][]string{}}
	for i, e := range b.Entry {
		rt, err := fhirjson.ResourceType(e.Resource)
		if err != nil {
			return nil, fmt.Errorf("entry %d has no resource", i)
		}
		switch rt {
		case "Composition":
			if out.composition != nil {
				return nil, errors.New("the Bundle holds more than one Composition")
			}
			var c fhirjson.Composition
			if err := json.Unmarshal(e.Resource, &c); err != nil {
				return nil, fmt.Errorf("entry %d: the Composition cannot be read", i)
			}
			out.composition = &c
		case "PractitionerRole":
			var r fhirjson.PractitionerRole
			if err := json.Unmarshal(e.Resource, &r); err == nil && r.ID != "" {
				out.roles["PractitionerRole/"+r.ID] = &r
			}
		case "Organization":
			var o fhirjson.Organization
			if err := json.Unmarshal(e.Resource, &o); err == nil && o.ID != "" {
				out.orgs["Organization/"+o.ID] = &o
			}
		case "Patient":
			var p struct {
				ID         string                `json:"id"`
				Identifier []fhirjson.Identifier `json:"identifier"`
			}
			if err := json.Unmarshal(e.Resource, &p); err != nil {
				return nil, fmt.Errorf("entry %d: the Patient cannot be read", i)
			}
			for _, id := range p.Identifier {
				if id.System == nhsnumber.System {
					out.patients["Patient/"+p.ID] = append(out.patients["Patient/"+p.ID], id.Value)
				}
			}
		}
	}
	return out, nil
}

// checkPatient refuses a summary about someone else: the Composition's
// subject, when the Bundle carries it with an NHS number, must be nhs.
func (b *bundle) checkPatient(nhs string) error {
	if b.composition.Subject == nil {
		return nil
	}
	for _, got := range b.patients[b.composition.Subject.Reference] {
		if got != nhs {
			return errors.New("the summary is about another patient than the one asked for")
		}
	}
	return nil
}

// informationSource is the organisation that authored the summary: the
// Composition author's organisation (a PractitionerRole's organization, or
// an Organization author) as a logical reference, with its ODS code and
// name where the Bundle gives them; else the practice named in the Title
// section. nil when neither is known.
func (b *bundle) informationSource() *fhirjson.Reference {
	for _, a := range b.composition.Author {
		ref := a.Reference
		if r := b.roles[ref]; r != nil && r.Organization != nil {
			ref = r.Organization.Reference
		}
		o := b.orgs[ref]
		if o == nil {
			continue
		}
		out := &fhirjson.Reference{Type: "Organization", Display: o.Name}
		for _, id := range o.Identifier {
			if id.System == ODSSystem && id.Value != "" {
				out.Identifier = &fhirjson.Identifier{System: ODSSystem, Value: id.Value}
				break
			}
		}
		if out.Identifier != nil || out.Display != "" {
			return out
		}
	}
	if s := findSection(b.composition.Section, SectionTitle); s != nil && s.Text != nil {
		if practice := paragraph(s.Text.Div, "Practice"); practice != "" {
			return &fhirjson.Reference{Type: "Organization", Display: strings.TrimSuffix(practice, ".")}
		}
	}
	return nil
}

// paragraph returns the text of the element with the given id among the
// children of the Title section's div, or "" (the Title section is not
// data: unreadable markup there only loses the fallback).
func paragraph(div, id string) string {
	root, err := parseXHTML(SectionTitle, div)
	if err != nil {
		return ""
	}
	for _, c := range root.children {
		if v, _ := c.attr("id"); c.name != "" && v == id {
			t, _ := inlineText(c)
			return t
		}
	}
	return ""
}

func badPayload(err error) error {
	msg := "the Summary Care Record returned a summary the facade cannot read"
	var te *TableError
	if errors.As(err, &te) {
		msg += " (" + te.Error() + ")"
	}
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: "scr", Message: msg, Err: err}
}
