// Package ra maps between the Reasonable Adjustment Flag API (RA, FHIR STU3,
// BACKENDS.md §3) and the facade's FHIR R4 Flag, both ways:
//
//   - FlagAt (read): one RA Flag (one reasonable adjustment) with the
//     patient's RA Consent becomes one R4 Flag carrying the consent as a
//     contained R4 Consent (referenced by the core flag-detail extension);
//     Flag does the same for RA's answer to a write;
//   - ToSTU3 and NewConsent (write): an R4 Flag sent by a client is
//     validated and becomes the STU3 Flag (and, for a patient without an RA
//     record, the STU3 Consent) that RA takes, each with a contained
//     Provenance saying who recorded it.
//
// The package is pure: the caller supplies the clock and the ids.
package ra

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/anypb"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	consentpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/flagid"
	"github.com/carerecords/fhir-facade/mappers/internal/period"
	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// Code systems, extensions and profiles of the RA record (STU3).
const (
	// IDPrefix starts the facade id of every RA flag.
	IDPrefix = "ra-"

	FlagCategorySystem       = "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1"
	FlagCategoryCode         = "NRAF"
	FlagCategoryDisplay      = "National Reasonable Adjustments Flag"
	AdjustmentCategorySystem = "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1"
	AdjustmentCategoryURL    = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-AdjustmentCategory-1"
	ProvenanceURL            = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-Provenance-1"
	RemovalReasonURL         = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-RemovalReason-1"
	RemovalReasonSystem      = "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-RemovalReason-1"
	ProxyRoleURL             = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-ProxyRole-1"
	ProxyRoleSystem          = "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-ProxyRole-1"
	ConsentPurposeSystem     = "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-ConsentPurpose-1"
	SDSJobRoleSystem         = "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1"

	FlagProfile       = "https://fhir.nhs.uk/STU3/StructureDefinition/RARecord-Flag-1"
	ConsentProfile    = "https://fhir.nhs.uk/STU3/StructureDefinition/RARecord-Consent-1"
	ProvenanceProfile = "https://fhir.nhs.uk/STU3/StructureDefinition/RARecord-Provenance-1"

	// Bases of the absolute references RA uses for patients, organisations
	// (ODS) and practitioners (SDS).
	PatientBase      = "https://demographics.spineservices.nhs.uk/STU3/Patient/"
	OrganizationBase = "https://directory.spineservices.nhs.uk/STU3/Organization/"
	PractitionerBase = "https://sds.spineservices.nhs.uk/STU3/Practitioner/"

	// SNOMED is the SNOMED CT system; RA's own examples sometimes write it
	// with https, which the facade normalises.
	SNOMED = "http://snomed.info/sct"
	// FlagDetailURL is the core R4 extension by which a facade RA Flag
	// references its contained Consent.
	FlagDetailURL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
	// ODSSystem identifies organisations by ODS code.
	ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
	// ConsentScopeSystem is the R4 consent scope code system.
	ConsentScopeSystem = "http://terminology.hl7.org/CodeSystem/consentscope"
)

// RemovalReasons are the codes of RARecord-RemovalReason-1 and their displays.
var RemovalReasons = map[string]string{
	"DoesntApply": "The Reasonable Adjustment Flag no longer applies to the patient",
	"Error":       "The Reasonable Adjustment Flag was created in error",
}

// DecodeFlag reads one RA Flag (an entry of its searchset, or the answer to
// a create or update) with encoding/json.
func DecodeFlag(raw []byte) (*fhirjson.STU3Flag, error) {
	var f fhirjson.STU3Flag
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, badPayload("Flag", err)
	}
	if f.ResourceType != "Flag" {
		return nil, badPayload("Flag", fmt.Errorf("resourceType is %q, want \"Flag\"", f.ResourceType))
	}
	return &f, nil
}

// DecodeConsent reads one RA Consent with encoding/json.
func DecodeConsent(raw []byte) (*fhirjson.STU3Consent, error) {
	var c fhirjson.STU3Consent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, badPayload("Consent", err)
	}
	if c.ResourceType != "Consent" {
		return nil, badPayload("Consent", fmt.Errorf("resourceType is %q, want \"Consent\"", c.ResourceType))
	}
	return &c, nil
}

// FlagID is the facade id of the RA flag backendID of patient nhs. RA ids
// are "<nhs>.<uuid>", which give "ra-<nhs>.<uuid>"; any other id becomes
// "ra-<nhs>.<backendID>" (or "ra-<nhs>.h<hash>" when that would not be a
// FHIR id), so the id always carries the NHS number a read needs.
func FlagID(nhs, backendID string) string {
	if strings.HasPrefix(backendID, nhs+".") && len(backendID) > len(nhs)+1 {
		if fhirjson.ValidID(IDPrefix + backendID) {
			return IDPrefix + backendID
		}
	}
	return flagid.New(IDPrefix, nhs, '.', backendID)
}

// ParseFlagID returns the NHS number a facade RA id carries; ok is false
// when id is not one.
func ParseFlagID(id string) (nhs string, ok bool) {
	return flagid.Patient(IDPrefix, '.', id)
}

// FlagAt maps an RA Flag of patient nhs (the patient the facade asked
// about), with the patient's RA Consent (nil if RA sent none), onto the
// facade's Flag, as of now:
//
//   - id: FlagID(nhs, id); meta.versionId and lastUpdated kept (the STU3
//     profile is dropped);
//   - status: kept (active, inactive, entered-in-error), except that an
//     active flag whose period.end has passed is inactive: the rule of
//     every facade Flag (mappers/internal/period), current through the
//     whole of the end day in Europe/London, inactive from the following
//     London midnight. RA's contract gives a current adjustment no end, so
//     this only applies if RA ever sends one;
//   - category: the NRAF coding first, then the adjustment category
//     (Extension-RARecord-AdjustmentCategory-1) as a second category;
//   - code: kept, with https://snomed.info/sct normalised to http;
//   - subject: Patient/<nhs> with the NHS number identifier; a flag naming
//     another patient is an error (never shown);
//   - period.start: when the adjustment was recorded (its "created"
//     Provenance); period.end, for a flag no longer active, when it was
//     last changed, and for an active one RA's own period.end if it sends
//     one;
//   - author: the organisation it was recorded on behalf of (ODS code);
//   - the removal reason extension of a removed flag is kept;
//   - the Consent, mapped to R4, is contained and referenced by a
//     flag-detail extension.
//
// Errors are *fhirerr.Error of category BadGateway wrapping a
// *fhirjson.Error with the JSON path (Internal for a zero now: no date to
// judge by is never taken as "current"). The inputs are not modified, and
// the result depends on now's London date only (callers may memoise a
// mapping for that day).
func FlagAt(in *fhirjson.STU3Flag, consent *fhirjson.STU3Consent, nhs string, now time.Time) (*flagpb.Flag, error) {
	return flag(in, consent, nhs, now, true)
}

// Flag is FlagAt without the end-date rule: the status is RA's. It is for
// RA's answer to a write the facade has just made (the flag as the client
// wrote it); reads and searches use FlagAt.
func Flag(in *fhirjson.STU3Flag, consent *fhirjson.STU3Consent, nhs string) (*flagpb.Flag, error) {
	return flag(in, consent, nhs, time.Time{}, false)
}

func flag(in *fhirjson.STU3Flag, consent *fhirjson.STU3Consent, nhs string, now time.Time, judge bool) (*flagpb.Flag, error) {
	if in == nil {
		return nil, badPayload("Flag", errors.New("no Flag"))
	}
	if in.ID == "" {
		return nil, badPayload("Flag", &fhirjson.Error{Path: "Flag.id", Err: errors.New("missing")})
	}
	if err := checkPatient(in.Subject, nhs, "Flag.subject"); err != nil {
		return nil, badPayload("Flag", err)
	}
	f := &fhirjson.Flag{
		ResourceType: "Flag",
		ID:           FlagID(nhs, in.ID),
		Status:       in.Status,
		Code:         normaliseSNOMED(in.Code),
		Subject:      flagid.Subject(nhs),
	}
	if in.Meta != nil && (in.Meta.VersionID != "" || in.Meta.LastUpdated != "") {
		f.Meta = &fhirjson.Meta{VersionID: in.Meta.VersionID, LastUpdated: in.Meta.LastUpdated}
	}
	if in.Category != nil {
		f.Category = append(f.Category, *in.Category)
	}
	for _, e := range in.Extension {
		switch e.URL {
		case AdjustmentCategoryURL:
			if e.ValueCodeableConcept != nil {
				f.Category = append(f.Category, *e.ValueCodeableConcept)
			}
		case RemovalReasonURL:
			f.Extension = append(f.Extension, e)
		}
	}
	prov := provenances(in.Contained, in.Extension)
	if created := prov.created(); created != nil {
		f.Period = &fhirjson.Period{Start: created.Recorded}
		f.Author = onBehalfOf(created)
	} else if in.Meta != nil && in.Meta.LastUpdated != "" {
		f.Period = &fhirjson.Period{Start: in.Meta.LastUpdated}
	}
	if in.Status != "active" && f.Period != nil {
		// A removed adjustment ended when it was last changed: its latest
		// Provenance, else its last update (never before it started).
		end := ""
		if last := prov.latest(); last != nil && len(prov.all) > 1 {
			end = last.Recorded
		} else if in.Meta != nil {
			end = in.Meta.LastUpdated
		}
		if end != "" && !before(end, f.Period.Start) {
			f.Period.End = end
		}
	}
	if in.Status == "active" && in.Period != nil && in.Period.End != "" {
		if f.Period == nil {
			f.Period = &fhirjson.Period{}
		}
		f.Period.End = in.Period.End
	}
	if judge {
		end := ""
		if f.Period != nil {
			end = f.Period.End
		}
		status, err := period.FlagStatus(in.Status, end, now)
		if err != nil {
			return nil, period.Refuse(err, "Flag.period.end", func(err error) error { return badPayload("Flag", err) })
		}
		f.Status = status
	}
	var contained *consentpb.Consent
	if consent != nil {
		c, err := Consent(consent, nhs)
		if err != nil {
			return nil, err
		}
		contained = c
		f.Extension = append(f.Extension, fhirjson.Extension{URL: FlagDetailURL, ValueReference: &fhirjson.Reference{
			Reference: "#" + c.GetId().GetValue(), Display: "Consent to record and share reasonable adjustments",
		}})
	}
	f.Meta = ukprofile.Declare(f.Meta, ukprofile.Flag)
	out, err := fhirjson.BuildFlag(f)
	if err != nil {
		return nil, badPayload("Flag", err)
	}
	if contained != nil {
		a, err := anypb.New(&bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Consent{Consent: contained}})
		if err != nil {
			return nil, badPayload("Consent", err)
		}
		out.Contained = []*anypb.Any{a}
	}
	return out, nil
}

// consentStates are the codes of ConsentState (the same in STU3 and R4).
var consentStates = map[string]cpb.ConsentStateCode_Value{
	"draft": cpb.ConsentStateCode_DRAFT, "proposed": cpb.ConsentStateCode_PROPOSED,
	"active": cpb.ConsentStateCode_ACTIVE, "rejected": cpb.ConsentStateCode_REJECTED,
	"inactive": cpb.ConsentStateCode_INACTIVE, "entered-in-error": cpb.ConsentStateCode_ENTERED_IN_ERROR,
}

// Consent maps the RA Consent of patient nhs onto an R4 Consent to be
// contained in the patient's flags: id kept; status kept; scope
// "patient-privacy"; category (NRAF) kept; patient Patient/<nhs>; dateTime
// and organization from its Provenance; policy kept (or, when RA names
// none, a policyRule saying what the consent is for); purpose in
// provision.purpose; the proxy role extension (who gave consent) kept.
func Consent(in *fhirjson.STU3Consent, nhs string) (*consentpb.Consent, error) {
	if in.ID == "" {
		return nil, badPayload("Consent", &fhirjson.Error{Path: "Consent.id", Err: errors.New("missing")})
	}
	if err := checkPatient(in.Patient, nhs, "Consent.patient"); err != nil {
		return nil, badPayload("Consent", err)
	}
	id, err := fhirjson.BuildID(in.ID)
	if err != nil {
		return nil, badPayload("Consent", &fhirjson.Error{Path: "Consent.id", Err: err})
	}
	st, ok := consentStates[in.Status]
	if !ok {
		return nil, badPayload("Consent", &fhirjson.Error{Path: "Consent.status", Err: fmt.Errorf("%q is not a code of ConsentState", in.Status)})
	}
	out := &consentpb.Consent{
		Id:     id,
		Status: &consentpb.Consent_StatusCode{Value: st},
		Scope: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{
			System: &dtpb.Uri{Value: ConsentScopeSystem}, Code: &dtpb.Code{Value: "patient-privacy"}, Display: &dtpb.String{Value: "Privacy Consent"},
		}}},
	}
	build := func(path string, fn func() error) error {
		if err := fn(); err != nil {
			var fe *fhirjson.Error
			if errors.As(err, &fe) {
				fe.Path = strings.TrimSuffix(path+"."+fe.Path, ".")
				return badPayload("Consent", fe)
			}
			return badPayload("Consent", &fhirjson.Error{Path: path, Err: err})
		}
		return nil
	}
	for _, e := range in.Extension {
		if e.URL != ProxyRoleURL {
			continue
		}
		if err := build("Consent.extension", func() error {
			x, err := fhirjson.BuildExtension(&e)
			out.Extension = append(out.Extension, x)
			return err
		}); err != nil {
			return nil, err
		}
	}
	for i := range in.Category {
		if err := build(fmt.Sprintf("Consent.category[%d]", i), func() error {
			c, err := fhirjson.BuildCodeableConcept(&in.Category[i])
			out.Category = append(out.Category, c)
			return err
		}); err != nil {
			return nil, err
		}
	}
	if len(out.Category) == 0 {
		out.Category = []*dtpb.CodeableConcept{{Coding: []*dtpb.Coding{{
			System: &dtpb.Uri{Value: FlagCategorySystem}, Code: &dtpb.Code{Value: FlagCategoryCode}, Display: &dtpb.String{Value: FlagCategoryDisplay},
		}}}}
	}
	if err := build("Consent.patient", func() error {
		var err error
		out.Patient, err = fhirjson.BuildReference(flagid.Subject(nhs))
		return err
	}); err != nil {
		return nil, err
	}
	prov := provenances(in.Contained, in.Extension)
	when := in.DateTime
	var org *fhirjson.Reference
	if created := prov.created(); created != nil {
		if when == "" {
			when = created.Recorded
		}
		org = onBehalfOf(created)
	}
	if when != "" {
		if err := build("Consent.dateTime", func() error {
			var err error
			out.DateTime, err = fhirjson.ParseDateTime(when)
			return err
		}); err != nil {
			return nil, err
		}
	}
	if org != nil {
		if err := build("Consent.organization", func() error {
			r, err := fhirjson.BuildReference(org)
			out.Organization = []*dtpb.Reference{r}
			return err
		}); err != nil {
			return nil, err
		}
	}
	for _, p := range in.Policy {
		cp := &consentpb.Consent_Policy{}
		if p.Authority != "" {
			cp.Authority = &dtpb.Uri{Value: p.Authority}
		}
		if p.URI != "" {
			cp.Uri = &dtpb.Uri{Value: p.URI}
		}
		out.Policy = append(out.Policy, cp)
	}
	if len(out.Policy) == 0 {
		// R4 requires a policy or a policyRule (ppc-1).
		out.PolicyRule = &dtpb.CodeableConcept{Text: &dtpb.String{Value: "Consent to record and share reasonable adjustments (Reasonable Adjustment Flag)"}}
	}
	if len(in.Purpose) > 0 {
		prov := &consentpb.Consent_Provision{}
		for i := range in.Purpose {
			if err := build(fmt.Sprintf("Consent.purpose[%d]", i), func() error {
				c, err := fhirjson.BuildCoding(&in.Purpose[i])
				prov.Purpose = append(prov.Purpose, c)
				return err
			}); err != nil {
				return nil, err
			}
		}
		out.Provision = prov
	}
	return out, nil
}

// provenanceSet is the contained Provenances of an RA resource and which of
// them the Provenance extension names as created and updated. RA's own
// payloads repeat Provenances and extensions, and spell the sub-extension
// "created" or "Created": all tolerated.
type provenanceSet struct {
	all       []*fhirjson.STU3Provenance
	byID      map[string]*fhirjson.STU3Provenance
	createdID string
}

func provenances(contained []fhirjson.STU3Provenance, exts []fhirjson.Extension) provenanceSet {
	s := provenanceSet{byID: map[string]*fhirjson.STU3Provenance{}}
	for i := range contained {
		p := &contained[i]
		if _, dup := s.byID[p.ID]; dup {
			continue
		}
		s.byID[p.ID] = p
		s.all = append(s.all, p)
	}
	for _, e := range exts {
		if e.URL != ProvenanceURL {
			continue
		}
		for _, sub := range e.Extension {
			if strings.EqualFold(sub.URL, "created") && sub.ValueReference != nil && s.createdID == "" {
				s.createdID = strings.TrimPrefix(sub.ValueReference.Reference, "#")
			}
		}
	}
	return s
}

// created is the Provenance of the resource's creation: the one the
// extension names, else the earliest.
func (s provenanceSet) created() *fhirjson.STU3Provenance {
	if p, ok := s.byID[s.createdID]; ok {
		return p
	}
	var first *fhirjson.STU3Provenance
	for _, p := range s.all {
		if first == nil || before(p.Recorded, first.Recorded) {
			first = p
		}
	}
	return first
}

// latest is the most recently recorded Provenance.
func (s provenanceSet) latest() *fhirjson.STU3Provenance {
	var last *fhirjson.STU3Provenance
	for _, p := range s.all {
		if last == nil || before(last.Recorded, p.Recorded) {
			last = p
		}
	}
	return last
}

// before compares two dateTimes; unparseable ones sort first.
func before(a, b string) bool {
	ta, errA := fhirjson.ParseDateTime(a)
	tb, errB := fhirjson.ParseDateTime(b)
	switch {
	case errA != nil:
		return errB == nil
	case errB != nil:
		return false
	}
	return ta.GetValueUs() < tb.GetValueUs()
}

// onBehalfOf is the organisation a Provenance's first agent acted for, as a
// logical reference by ODS code (RA sends an absolute directory URL ending
// in the ODS code).
func onBehalfOf(p *fhirjson.STU3Provenance) *fhirjson.Reference {
	for _, a := range p.Agent {
		r := a.OnBehalfOfReference
		if r == nil {
			continue
		}
		out := &fhirjson.Reference{Type: "Organization", Display: r.Display, Identifier: r.Identifier}
		if i := strings.LastIndex(r.Reference, "/Organization/"); i >= 0 && out.Identifier == nil {
			if ods := r.Reference[i+len("/Organization/"):]; ods != "" {
				out.Identifier = &fhirjson.Identifier{System: ODSSystem, Value: ods}
			}
		}
		if out.Identifier == nil && out.Display == "" {
			continue
		}
		return out
	}
	return nil
}

// checkPatient makes sure an RA reference (an absolute or relative Patient
// URL ending in the NHS number, or an NHS number identifier) names patient
// nhs. An absent reference is accepted.
func checkPatient(r *fhirjson.Reference, nhs, path string) error {
	if r == nil {
		return nil
	}
	var got string
	switch {
	case r.Reference != "":
		i := strings.LastIndex(r.Reference, "Patient/")
		if i < 0 {
			return &fhirjson.Error{Path: path, Err: errors.New("is not a Patient reference")}
		}
		got = r.Reference[i+len("Patient/"):]
	case r.Identifier != nil:
		got = r.Identifier.Value
	default:
		return nil
	}
	if got != nhs {
		return &fhirjson.Error{Path: path, Err: errors.New("names another patient than the one asked for")}
	}
	return nil
}

// normaliseSNOMED returns c with the SNOMED system spelled http (RA's
// examples use https). c is not modified.
func normaliseSNOMED(c *fhirjson.CodeableConcept) *fhirjson.CodeableConcept {
	if c == nil {
		return nil
	}
	out := *c
	out.Coding = make([]fhirjson.Coding, len(c.Coding))
	for i, cd := range c.Coding {
		if isSNOMED(cd.System) {
			cd.System = SNOMED
		}
		out.Coding[i] = cd
	}
	return &out
}

func isSNOMED(system string) bool {
	return system == SNOMED || system == "https://snomed.info/sct"
}

func badPayload(what string, err error) error {
	return &fhirerr.Error{
		Category: fhirerr.BadGateway,
		Backend:  "ra",
		Message:  "the Reasonable Adjustment Flag service returned a " + what + " the facade cannot read",
		Err:      err,
	}
}
