package ra

import (
	"fmt"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	consentpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Author is who records an RA change, as the contained Provenance says it:
// the user (SDS user id and name), their SDS job role, and the organisation
// (ODS code and name) they act for.
type Author struct {
	UserID, UserName      string
	RoleCode, RoleDisplay string
	OrgODS, OrgName       string
}

// Change is the provenance of one write: a fresh id for its Provenance, the
// time, and who. Mappers are pure, so the caller supplies all three.
type Change struct {
	ProvenanceID string
	Recorded     time.Time
	Author       Author
}

// Default policy under which RA consent is recorded (as in RA's examples).
const (
	PolicyAuthority = "https://www.gov.uk/"
	PolicyURI       = "https://www.gov.uk/government/uploads/system/uploads/attachment_data/file/535024/data-security-review.pdf"
)

// unprocessable is a rejection of what the client sent: a well-formed
// Flag that RA would not take (422).
func unprocessable(expr, format string, args ...any) error {
	return &fhirerr.Error{Category: fhirerr.Unprocessable, Expression: expr, Message: fmt.Sprintf(format, args...)}
}

// Subject returns the NHS number of the patient an R4 Flag is about:
// subject must be Patient/<nhs> (relative or absolute) or an NHS number
// identifier, with a valid NHS number.
func Subject(f *flagpb.Flag) (string, error) {
	s := f.GetSubject()
	var nhs string
	switch {
	case s.GetPatientId() != nil:
		nhs = s.GetPatientId().GetValue()
	case s.GetUri() != nil:
		u := s.GetUri().GetValue()
		i := strings.LastIndex(u, "Patient/")
		if i < 0 {
			return "", unprocessable("Flag.subject", "an RA flag's subject must be a Patient (Patient/<NHS number>)")
		}
		nhs = u[i+len("Patient/"):]
	case s.GetIdentifier() != nil:
		id := s.GetIdentifier()
		if sys := id.GetSystem().GetValue(); sys != "" && sys != nhsnumber.System {
			return "", unprocessable("Flag.subject.identifier", "an RA flag's subject identifier must be an NHS number ("+nhsnumber.System+")")
		}
		nhs = id.GetValue().GetValue()
	case s == nil:
		return "", unprocessable("Flag.subject", "an RA flag needs its subject: Patient/<NHS number>")
	default:
		return "", unprocessable("Flag.subject", "an RA flag's subject must be a Patient (Patient/<NHS number>)")
	}
	if !nhsnumber.Valid(nhs) {
		return "", unprocessable("Flag.subject", "the subject must be a valid NHS number (10 digits with a correct check digit)")
	}
	return nhs, nil
}

// ToSTU3 validates an R4 Flag a client sent and translates it into the RA
// Flag to send: to create an adjustment when prev is nil, else to update prev
// (the flag's current RA version). Nothing is sent by ToSTU3; every rule RA
// would enforce is checked here first, so that a rejected write is rejected
// before any call. The rules (each failure a 422 naming the element):
//
//   - subject: Patient/<valid NHS number> (see Subject); for an update, the
//     same patient as before;
//   - category: exactly one RARecord-FlagCategory-1|NRAF coding, and at
//     most one RARecord-AdjustmentCategory-1 coding (a 3-digit code);
//     nothing else;
//   - code: at least one SNOMED CT coding (a 6–18 digit concept id), no
//     coding from another system;
//   - status: a create is active; an update is active or inactive (RA's
//     removal of an adjustment), and an inactive flag carries the removal
//     reason extension (RemovalReasonURL: removalReason DoesntApply or
//     Error, optional supportingComment); entered-in-error is not an RA
//     status; a removed adjustment cannot be changed again;
//   - author, when given on a create, names the organisation by ODS code:
//     it is the Provenance's on-behalf-of organisation (an update's author
//     is the flag's creator, and ignored).
//
// period, identifier and encounter are ignored: RA derives the period from
// its Provenance. The result carries a contained Provenance from ch.
func ToSTU3(in *flagpb.Flag, prev *fhirjson.STU3Flag, ch Change) (*fhirjson.STU3Flag, error) {
	nhs, err := Subject(in)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		if err := checkPatient(prev.Subject, nhs, "Flag.subject"); err != nil {
			return nil, unprocessable("Flag.subject", "an RA flag cannot be moved to another patient")
		}
		if prev.Status != "active" {
			return nil, unprocessable("Flag.status", "this reasonable adjustment has been removed and cannot be changed; record a new one instead")
		}
	}
	status, err := writeStatus(in, prev != nil)
	if err != nil {
		return nil, err
	}
	nraf, adjustment, err := categories(in)
	if err != nil {
		return nil, err
	}
	code, err := snomedCode(in)
	if err != nil {
		return nil, err
	}
	removal, err := removalReason(in, status)
	if err != nil {
		return nil, err
	}
	author := ch.Author
	if prev == nil {
		// The flag's author is its creator's organisation: it says on
		// whose behalf the flag is created, not who changes it later.
		if ods, name, ok, err := authorOrg(in); err != nil {
			return nil, err
		} else if ok {
			author.OrgODS, author.OrgName = ods, name
		}
	}

	out := &fhirjson.STU3Flag{
		ResourceType: "Flag",
		Meta:         &fhirjson.Meta{Profile: []string{FlagProfile}},
		Status:       status,
		Category:     &fhirjson.CodeableConcept{Coding: []fhirjson.Coding{nraf}},
		Code:         code,
		Subject:      &fhirjson.Reference{Reference: PatientBase + nhs},
	}
	target := ""
	if prev != nil {
		out.ID = prev.ID
		target = "Flag/" + prev.ID
		if prev.Meta != nil {
			out.Meta.VersionID = prev.Meta.VersionID
		}
		out.Contained = append(out.Contained, prev.Contained...)
		for _, e := range prev.Extension {
			if e.URL == ProvenanceURL {
				e.Extension = append([]fhirjson.Extension(nil), e.Extension...)
				out.Extension = append(out.Extension, e)
			}
		}
	}
	out.Contained = append(out.Contained, provenance(ch.ProvenanceID, ch.Recorded, author, target))
	sub := "created"
	if prev != nil {
		sub = "updated"
	}
	out.Extension = append(out.Extension, fhirjson.Extension{URL: ProvenanceURL, Extension: []fhirjson.Extension{
		{URL: sub, ValueReference: &fhirjson.Reference{Reference: "#" + ch.ProvenanceID}},
	}})
	if adjustment != nil {
		out.Extension = append(out.Extension, fhirjson.Extension{URL: AdjustmentCategoryURL,
			ValueCodeableConcept: &fhirjson.CodeableConcept{Coding: []fhirjson.Coding{*adjustment}}})
	}
	if removal != nil {
		out.Extension = append(out.Extension, *removal)
	}
	return out, nil
}

func writeStatus(in *flagpb.Flag, update bool) (string, error) {
	switch in.GetStatus().GetValue() {
	case cpb.FlagStatusCode_ACTIVE:
		return "active", nil
	case cpb.FlagStatusCode_INACTIVE:
		if !update {
			return "", unprocessable("Flag.status", "a new RA flag must be active")
		}
		return "inactive", nil
	case cpb.FlagStatusCode_ENTERED_IN_ERROR:
		return "", unprocessable("Flag.status", "RA records a removal as status 'inactive' with a removal reason (Error or DoesntApply), not 'entered-in-error'")
	}
	return "", unprocessable("Flag.status", "an RA flag needs a status")
}

// categories checks Flag.category: the NRAF coding, and at most one
// adjustment category.
func categories(in *flagpb.Flag) (nraf fhirjson.Coding, adjustment *fhirjson.Coding, err error) {
	found := false
	for i, cc := range in.GetCategory() {
		for j, c := range cc.GetCoding() {
			path := fmt.Sprintf("Flag.category[%d].coding[%d]", i, j)
			cd := coding(c)
			switch {
			case cd.System == FlagCategorySystem && cd.Code == FlagCategoryCode:
				if found {
					return nraf, nil, unprocessable(path, "an RA flag has one NRAF category")
				}
				found = true
				nraf = fhirjson.Coding{System: FlagCategorySystem, Code: FlagCategoryCode, Display: FlagCategoryDisplay}
			case cd.System == AdjustmentCategorySystem:
				if adjustment != nil {
					return nraf, nil, unprocessable(path, "an RA flag has at most one adjustment category")
				}
				if !digits(cd.Code, 3, 3) {
					return nraf, nil, unprocessable(path, "an adjustment category is a 3-digit code of "+AdjustmentCategorySystem)
				}
				adjustment = &cd
			default:
				return nraf, nil, unprocessable(path, "an RA flag's category is "+FlagCategorySystem+"|"+FlagCategoryCode+
					", optionally with an adjustment category of "+AdjustmentCategorySystem+"; this coding is neither")
			}
		}
	}
	if !found {
		return nraf, nil, unprocessable("Flag.category", "an RA flag needs the category "+FlagCategorySystem+"|"+FlagCategoryCode)
	}
	return nraf, adjustment, nil
}

// snomedCode checks Flag.code: SNOMED CT codings only, at least one.
func snomedCode(in *flagpb.Flag) (*fhirjson.CodeableConcept, error) {
	cc := in.GetCode()
	out := &fhirjson.CodeableConcept{Text: cc.GetText().GetValue()}
	for j, c := range cc.GetCoding() {
		cd := coding(c)
		path := fmt.Sprintf("Flag.code.coding[%d]", j)
		if !isSNOMED(cd.System) {
			return nil, unprocessable(path, "an RA adjustment is coded in SNOMED CT ("+SNOMED+")")
		}
		if !digits(cd.Code, 6, 18) {
			return nil, unprocessable(path, "a SNOMED CT concept id is 6 to 18 digits")
		}
		cd.System = SNOMED
		out.Coding = append(out.Coding, cd)
	}
	if len(out.Coding) == 0 {
		return nil, unprocessable("Flag.code", "an RA adjustment needs a SNOMED CT code ("+SNOMED+")")
	}
	return out, nil
}

// removalReason checks the removal reason extension: required on an
// inactive flag, not allowed on an active one.
func removalReason(in *flagpb.Flag, status string) (*fhirjson.Extension, error) {
	var ext *dtpb.Extension
	for _, e := range in.GetExtension() {
		if e.GetUrl().GetValue() == RemovalReasonURL {
			ext = e
		}
	}
	if ext == nil {
		if status == "inactive" {
			return nil, unprocessable("Flag.extension", "removing an RA adjustment (status inactive) needs a removal reason: extension "+RemovalReasonURL+
				" with removalReason (DoesntApply or Error) and an optional supportingComment")
		}
		return nil, nil
	}
	if status != "inactive" {
		return nil, unprocessable("Flag.extension", "a removal reason is given only when the adjustment is removed (status inactive)")
	}
	out := &fhirjson.Extension{URL: RemovalReasonURL}
	var reason string
	for _, sub := range ext.GetExtension() {
		switch sub.GetUrl().GetValue() {
		case "removalReason":
			for _, c := range sub.GetValue().GetCodeableConcept().GetCoding() {
				cd := coding(c)
				if display, ok := RemovalReasons[cd.Code]; ok && cd.System == RemovalReasonSystem {
					reason = cd.Code
					out.Extension = append(out.Extension, fhirjson.Extension{URL: "removalReason", ValueCodeableConcept: &fhirjson.CodeableConcept{
						Coding: []fhirjson.Coding{{System: RemovalReasonSystem, Code: cd.Code, Display: display}}}})
					break
				}
			}
		case "supportingComment":
			if s := sub.GetValue().GetStringValue().GetValue(); s != "" {
				out.Extension = append(out.Extension, fhirjson.Extension{URL: "supportingComment", ValueString: s})
			}
		}
	}
	if reason == "" {
		return nil, unprocessable("Flag.extension", "the removal reason must be a removalReason coding of "+RemovalReasonSystem+" (DoesntApply or Error)")
	}
	return out, nil
}

// authorOrg reads the organisation a client names as the flag's author:
// an ODS code identifier, or Organization/<ODS code>.
func authorOrg(in *flagpb.Flag) (ods, name string, ok bool, err error) {
	a := in.GetAuthor()
	if a == nil {
		return "", "", false, nil
	}
	name = a.GetDisplay().GetValue()
	switch {
	case a.GetOrganizationId() != nil:
		ods = a.GetOrganizationId().GetValue()
	case a.GetIdentifier() != nil && a.GetIdentifier().GetSystem().GetValue() == ODSSystem:
		ods = a.GetIdentifier().GetValue().GetValue()
	default:
		return "", "", false, unprocessable("Flag.author", "an RA flag's author is the organisation recording it, by ODS code: Organization/<ODS code> or identifier "+ODSSystem)
	}
	if ods == "" {
		return "", "", false, unprocessable("Flag.author", "the author's ODS code is empty")
	}
	return ods, name, true, nil
}

// provenance is the contained Provenance of a write.
func provenance(id string, at time.Time, a Author, target string) fhirjson.STU3Provenance {
	p := fhirjson.STU3Provenance{
		ResourceType: "Provenance",
		ID:           id,
		Meta:         &fhirjson.Meta{Profile: []string{ProvenanceProfile}},
		Recorded:     at.UTC().Format("2006-01-02T15:04:05+00:00"),
	}
	if target != "" {
		p.Target = []fhirjson.Reference{{Reference: target}}
	}
	agent := fhirjson.STU3ProvenanceAgent{}
	if a.RoleCode != "" {
		agent.Role = []fhirjson.CodeableConcept{{Coding: []fhirjson.Coding{{System: SDSJobRoleSystem, Code: a.RoleCode, Display: a.RoleDisplay}}}}
	}
	if a.UserID != "" {
		agent.WhoReference = &fhirjson.Reference{Reference: PractitionerBase + a.UserID, Display: a.UserName}
	}
	if a.OrgODS != "" {
		agent.OnBehalfOfReference = &fhirjson.Reference{Reference: OrganizationBase + a.OrgODS, Display: a.OrgName}
	}
	p.Agent = []fhirjson.STU3ProvenanceAgent{agent}
	return p
}

// ContainedConsent returns the Consent a client's Flag contains (the
// patient's consent to record reasonable adjustments), or nil. Any other
// contained resource is rejected.
func ContainedConsent(in *flagpb.Flag) (*consentpb.Consent, error) {
	var out *consentpb.Consent
	for i, a := range in.GetContained() {
		path := fmt.Sprintf("Flag.contained[%d]", i)
		cr := &bcrpb.ContainedResource{}
		if err := a.UnmarshalTo(cr); err != nil {
			return nil, unprocessable(path, "the contained resource could not be read")
		}
		c := cr.GetConsent()
		if c == nil {
			return nil, unprocessable(path, "an RA flag may contain only the patient's Consent")
		}
		if out != nil {
			return nil, unprocessable(path, "an RA flag contains at most one Consent")
		}
		out = c
	}
	return out, nil
}

// NewConsent validates the Consent a client sent with a flag for a patient
// who has no RA record yet, and translates it into the RA Consent that
// creates the record. c must be active and about patient nhs; its proxy role
// (extension ProxyRoleURL, a 3-digit RARecord-ProxyRole-1 code saying who
// consented) defaults to 001 "Patient consent"; its policy, if any, is
// kept, else RA's. A nil c is a 422: RA keeps no adjustments without
// consent.
func NewConsent(c *consentpb.Consent, nhs string, ch Change) (*fhirjson.STU3Consent, error) {
	if c == nil {
		return nil, unprocessable("Flag.contained", "this patient has no Reasonable Adjustment record yet: send the patient's consent "+
			"to record and share reasonable adjustments as a contained Consent (status active) with the first flag")
	}
	if c.GetStatus().GetValue() != cpb.ConsentStateCode_ACTIVE {
		return nil, unprocessable("Flag.contained[0].status", "the consent must be active")
	}
	if p := c.GetPatient(); p != nil {
		got := p.GetPatientId().GetValue()
		if got == "" && p.GetIdentifier() != nil {
			got = p.GetIdentifier().GetValue().GetValue()
		}
		if got != nhs {
			return nil, unprocessable("Flag.contained[0].patient", "the consent must be the flag's patient's")
		}
	}
	role := fhirjson.Coding{System: ProxyRoleSystem, Code: "001", Display: "Patient consent"}
	for _, e := range c.GetExtension() {
		if e.GetUrl().GetValue() != ProxyRoleURL {
			continue
		}
		cs := e.GetValue().GetCodeableConcept().GetCoding()
		if len(cs) == 0 || cs[0].GetSystem().GetValue() != ProxyRoleSystem || !digits(cs[0].GetCode().GetValue(), 3, 3) {
			return nil, unprocessable("Flag.contained[0].extension", "the proxy role is a 3-digit code of "+ProxyRoleSystem)
		}
		role = coding(cs[0])
	}
	out := &fhirjson.STU3Consent{
		ResourceType: "Consent",
		Meta:         &fhirjson.Meta{Profile: []string{ConsentProfile}},
		Contained:    []fhirjson.STU3Provenance{provenance(ch.ProvenanceID, ch.Recorded, ch.Author, "")},
		Extension: []fhirjson.Extension{
			{URL: ProxyRoleURL, ValueCodeableConcept: &fhirjson.CodeableConcept{Coding: []fhirjson.Coding{role}}},
			{URL: ProvenanceURL, Extension: []fhirjson.Extension{{URL: "created", ValueReference: &fhirjson.Reference{Reference: "#" + ch.ProvenanceID}}}},
		},
		Status:   "active",
		Category: []fhirjson.CodeableConcept{{Coding: []fhirjson.Coding{{System: FlagCategorySystem, Code: FlagCategoryCode, Display: FlagCategoryDisplay}}}},
		Patient:  &fhirjson.Reference{Reference: PatientBase + nhs},
		Purpose: []fhirjson.Coding{{System: ConsentPurposeSystem, Code: "RACONSENT",
			Display: "Reasonable Adjustments - Consent to record Reasonable Adjustments"}},
	}
	for _, p := range c.GetPolicy() {
		if p.GetUri().GetValue() != "" || p.GetAuthority().GetValue() != "" {
			out.Policy = append(out.Policy, fhirjson.STU3ConsentPolicy{Authority: p.GetAuthority().GetValue(), URI: p.GetUri().GetValue()})
		}
	}
	if len(out.Policy) == 0 {
		out.Policy = []fhirjson.STU3ConsentPolicy{{Authority: PolicyAuthority, URI: PolicyURI}}
	}
	return out, nil
}

func coding(c *dtpb.Coding) fhirjson.Coding {
	return fhirjson.Coding{System: c.GetSystem().GetValue(), Code: c.GetCode().GetValue(), Display: c.GetDisplay().GetValue()}
}

// digits reports whether s is min to max ASCII digits.
func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
