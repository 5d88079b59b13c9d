package pds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Related people: PDS's GET /Patient/{nhs}/RelatedPerson answers a
// searchset of RelatedPerson in its own shape (OpenAPI
// components/schemas/RelatedPerson.yaml), which is R4 but for two things
// RelatedPeople changes:
//
//   - PDS's patient.identifier is the NHS number of the related person (a
//     related person who is also a PDS patient: the specification's
//     "referenced" form), not of the patient they are related to, which
//     R4's RelatedPerson.patient means. It becomes an identifier (NHS number
//     system) of the RelatedPerson, and patient becomes Patient/<the NHS
//     number searched>.
//   - PDS's one relationship CodeableConcept holds up to three codings that
//     are not translations of one concept but three facts (role, type,
//     next of kin): each becomes a CodeableConcept of its own. The type and
//     next-of-kin codes come under the ValueSet URL
//     http://hl7.org/fhir/ValueSet/relatedperson-relationshiptype, which is
//     no code system: the codes that ValueSet takes from v3 RoleCode and v2
//     table 0131 get those systems; any other is kept as sent.
//
// And the id becomes <NHS number>-<PDS id> (RelatedPersonID), so that a
// read, which PDS does not have, can find it again, and so that the id says
// whose related person it is.
//
// Each related person declares UK Core RelatedPerson (meta.profile), whose
// relationship binding is extensible to UKCore-PersonRelationshipType: the
// role PDS codes under NHS England's AdditionalRelatedPersonRole, which UK
// Core's AdditionalPersonRelationshipRole replaced with the same codes, gets
// UK Core's coding beside it in the same concept (UKCoreRoleSystem); the
// v3 RoleCode and v2 0131 codes above are all in the value set.
//
// Kept as sent: active, period, name, telecom, address and every extension
// (copy correspondence, contact rank, contact preference, NHS communication)
// that is valid R4, under the URLs PDS names them by. Nothing else PDS
// documents is left out.

// RelationshipTypeValueSet is the ValueSet URL PDS sends as the system of
// the type and next-of-kin relationship codes.
const RelationshipTypeValueSet = "http://hl7.org/fhir/ValueSet/relatedperson-relationshiptype"

// The code systems of the R4 relatedperson-relationshiptype ValueSet.
const (
	RoleCodeSystem    = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	ContactRoleSystem = "http://terminology.hl7.org/CodeSystem/v2-0131"
)

// The related person's role (guardian, carer, proxy…): PDS sends it under
// NHS England's code system; UKCoreRoleSystem is UK Core's, which has the
// same codes and is the one UKCore-PersonRelationshipType includes.
const (
	PDSRoleSystem    = "https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole"
	UKCoreRoleSystem = "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole"
)

// ukcoreRoles are the codes of UKCoreRoleSystem (version 2.1.0) with its
// displays; profiles/ukcore's copy is held equal by the tests.
var ukcoreRoles = map[string]string{
	"Agent":                     "Agent of patient",
	"Guardian":                  "Guardian of patient",
	"Personal":                  "Personal relationship with the patient",
	"PolygamousPartner":         "Polygamous Partner of patient",
	"Dependant":                 "Dependant of patient",
	"NonDependant":              "Non Dependant of patient",
	"ProxyContact":              "Proxy Contact for patient",
	"ProxyCommunication":        "Proxy Communication for patient",
	"ProxyContactCommunication": "Proxy Contact and Communication for patient",
	"Carer":                     "Carer of patient",
	"NotSpecified":              "Not Specified",
}

// UKCoreRoles are the codes of UKCoreRoleSystem the mapping knows, with
// UK Core's displays (a copy).
func UKCoreRoles() map[string]string { return maps.Clone(ukcoreRoles) }

// relationshipSystems are the codes PDS documents under
// RelationshipTypeValueSet that the R4 ValueSet draws from v3 RoleCode and
// v2 0131, with those systems.
var relationshipSystems = map[string]string{
	"SPS": RoleCodeSystem, "DOMPART": RoleCodeSystem, "PRN": RoleCodeSystem, "PRNFOST": RoleCodeSystem,
	"STPPRN": RoleCodeSystem, "CHILD": RoleCodeSystem, "MTH": RoleCodeSystem, "FTH": RoleCodeSystem,
	"SIS": RoleCodeSystem, "BRO": RoleCodeSystem, "FAMMEMB": RoleCodeSystem, "ONESELF": RoleCodeSystem,
	"N": ContactRoleSystem, "U": ContactRoleSystem,
}

// RelatedPersonID is the facade's id of PDS's related person pdsID of the
// patient nhs.
func RelatedPersonID(nhs, pdsID string) string { return nhs + "-" + pdsID }

// ParseRelatedPersonID splits a facade RelatedPerson id into the patient's
// NHS number and PDS's id; ok is false for anything RelatedPersonID cannot
// have made.
func ParseRelatedPersonID(id string) (nhs, pdsID string, ok bool) {
	nhs, pdsID, found := strings.Cut(id, "-")
	if !found || !nhsnumber.Valid(nhs) || !fhirjson.ValidID(id) || pdsID == "" || strings.Contains(pdsID, "-") {
		return "", "", false
	}
	return nhs, pdsID, true
}

// RelatedPeople is what RelatedPeopleOf read of one PDS answer.
type RelatedPeople struct {
	// People are the related people mapped, in PDS's order.
	People []*rppb.RelatedPerson
	// Problems names, by entry and element (never a value), every entry
	// left out because it could not be read, every extension left out of
	// an entry kept, and a short answer (total above the entries).
	Problems []string
}

// Complete reports whether everything PDS sent or counted was mapped.
func (r *RelatedPeople) Complete() bool { return len(r.Problems) == 0 }

// pdsRelatedBundle is the searchset PDS answers.
type pdsRelatedBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int   `json:"total"`
	Entry        []struct {
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

// pdsRelatedPerson is one RelatedPerson as PDS sends it.
type pdsRelatedPerson struct {
	ResourceType string                     `json:"resourceType"`
	ID           string                     `json:"id"`
	Patient      *fhirjson.Reference        `json:"patient"`
	Active       *bool                      `json:"active"`
	Period       *fhirjson.Period           `json:"period"`
	Name         []fhirjson.HumanName       `json:"name"`
	Telecom      []fhirjson.ContactPoint    `json:"telecom"`
	Address      []fhirjson.Address         `json:"address"`
	Relationship []fhirjson.CodeableConcept `json:"relationship"`
	Extension    []fhirjson.Extension       `json:"extension"`
}

// RelatedPeopleOf decodes PDS's answer to GET /Patient/{nhs}/RelatedPerson
// (nhs a valid NHS number: the patient searched) and maps its related
// people. An empty searchset maps to none. An entry that cannot be read is
// left out and named in Problems, and so is an invalid extension; the
// caller must tell its client the answer is incomplete. An answer that is
// not a searchset Bundle is an error (*fhirerr.Error, BadGateway).
func RelatedPeopleOf(raw []byte, nhs string) (*RelatedPeople, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, relatedBadPayload(errors.New("the patient searched is not a valid NHS number"))
	}
	var b pdsRelatedBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, relatedBadPayload(err)
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" {
		return nil, relatedBadPayload(fmt.Errorf("got a %q %q, want a searchset Bundle", b.ResourceType, b.Type))
	}
	out := &RelatedPeople{People: make([]*rppb.RelatedPerson, 0, len(b.Entry))}
	seen := map[string]bool{}
	for i, e := range b.Entry {
		rp, dropped, err := relatedPerson(e.Resource, nhs)
		entry := "entry[" + strconv.Itoa(i) + "]"
		if err == nil && seen[rp.GetId().GetValue()] {
			err = errors.New("id: a duplicate of another entry's")
		}
		if err != nil {
			out.Problems = append(out.Problems, entry+": "+redacted(err))
			continue
		}
		seen[rp.GetId().GetValue()] = true
		for _, d := range dropped {
			out.Problems = append(out.Problems, entry+"."+d+": an invalid extension, left out")
		}
		out.People = append(out.People, rp)
	}
	if b.Total != nil && *b.Total > len(b.Entry) {
		out.Problems = append(out.Problems, "the answer counts "+strconv.Itoa(*b.Total-len(b.Entry))+" more related people than it holds")
	}
	return out, nil
}

// relatedPerson maps one entry's resource for the patient nhs. dropped
// names the extensions left out (by path); err says why the entry cannot
// be used at all.
func relatedPerson(raw json.RawMessage, nhs string) (rp *rppb.RelatedPerson, dropped []string, err error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil, errors.New("resource: missing")
	}
	var in pdsRelatedPerson
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, nil, fmt.Errorf("resource: not a RelatedPerson: %w", err)
	}
	if in.ResourceType != "RelatedPerson" {
		return nil, nil, errors.New("resource: not a RelatedPerson")
	}
	if in.ID == "" || strings.Contains(in.ID, "-") || !fhirjson.ValidID(RelatedPersonID(nhs, in.ID)) {
		return nil, nil, errors.New("id: missing, or not an id the facade can extend (1-53 of A-Z a-z 0-9 .)")
	}
	out := &rppb.RelatedPerson{Id: &dtpb.Id{Value: RelatedPersonID(nhs, in.ID)}}
	if out.Meta, err = fhirjson.BuildMeta(ukprofile.Declare(nil, ukprofile.RelatedPerson)); err != nil {
		return nil, nil, err
	}
	if out.Patient, err = fhirjson.BuildReference(&fhirjson.Reference{Reference: "Patient/" + nhs}); err != nil {
		return nil, nil, err
	}
	if in.Patient != nil {
		if out.Identifier, err = relatedIdentifier(in.Patient); err != nil {
			return nil, nil, err
		}
	}
	if in.Active != nil {
		out.Active = &dtpb.Boolean{Value: *in.Active}
	}
	if out.Period, err = fhirjson.BuildPeriod(in.Period); err != nil {
		return nil, nil, at("period", err)
	}
	for i := range in.Name {
		n, err := fhirjson.BuildHumanName(&in.Name[i])
		if err != nil {
			return nil, nil, at("name["+strconv.Itoa(i)+"]", err)
		}
		out.Name = append(out.Name, n)
	}
	for i := range in.Telecom {
		c, err := fhirjson.BuildContactPoint(&in.Telecom[i])
		if err != nil {
			return nil, nil, at("telecom["+strconv.Itoa(i)+"]", err)
		}
		out.Telecom = append(out.Telecom, c)
	}
	for i := range in.Address {
		a, err := fhirjson.BuildAddress(&in.Address[i])
		if err != nil {
			return nil, nil, at("address["+strconv.Itoa(i)+"]", err)
		}
		out.Address = append(out.Address, a)
	}
	for i := range in.Relationship {
		ccs, err := relationship(&in.Relationship[i])
		if err != nil {
			return nil, nil, at("relationship["+strconv.Itoa(i)+"]", err)
		}
		out.Relationship = append(out.Relationship, ccs...)
	}
	for i := range in.Extension {
		x, err := fhirjson.BuildExtension(&in.Extension[i])
		if err != nil {
			// An extension the facade cannot carry does not hide the
			// person: it is left out, and the answer says so.
			dropped = append(dropped, "extension["+strconv.Itoa(i)+"]")
			continue
		}
		out.Extension = append(out.Extension, x)
	}
	return out, dropped, nil
}

// relatedIdentifier reads PDS's patient element: the related person's own
// NHS number, when they are a PDS patient; PDS sends an empty object when
// they are not.
func relatedIdentifier(p *fhirjson.Reference) ([]*dtpb.Identifier, error) {
	if p.Identifier == nil || p.Identifier.Value == "" {
		if p.Reference != "" || p.Display != "" {
			return nil, errors.New("patient: neither empty nor an NHS number identifier")
		}
		return nil, nil
	}
	if s := p.Identifier.System; s != "" && s != nhsnumber.System {
		return nil, errors.New("patient.identifier.system: not the NHS number system")
	}
	if !nhsnumber.Valid(p.Identifier.Value) {
		return nil, errors.New("patient.identifier.value: not a valid NHS number")
	}
	id, err := fhirjson.BuildIdentifier(&fhirjson.Identifier{System: nhsnumber.System, Value: p.Identifier.Value})
	if err != nil {
		return nil, err
	}
	return []*dtpb.Identifier{id}, nil
}

// relationship splits PDS's relationship into one CodeableConcept per
// coding, each under its code system (see relationshipSystems), a role
// under PDSRoleSystem with UK Core's coding of it beside it. A concept with
// text is kept whole: its text may describe all its codings.
func relationship(cc *fhirjson.CodeableConcept) ([]*dtpb.CodeableConcept, error) {
	groups := make([][]fhirjson.Coding, len(cc.Coding))
	for i, c := range cc.Coding {
		if sys, ok := relationshipSystems[c.Code]; ok && c.System == RelationshipTypeValueSet {
			c.System = sys
		}
		groups[i] = []fhirjson.Coding{c}
		if display, ok := ukcoreRoles[c.Code]; ok && c.System == PDSRoleSystem {
			groups[i] = append(groups[i], fhirjson.Coding{System: UKCoreRoleSystem, Code: c.Code, Display: display})
		}
	}
	if cc.Text != "" || len(cc.Coding) <= 1 {
		whole := *cc
		whole.Coding = slices.Concat(groups...)
		one, err := fhirjson.BuildCodeableConcept(&whole)
		if err != nil {
			return nil, err
		}
		return []*dtpb.CodeableConcept{one}, nil
	}
	out := make([]*dtpb.CodeableConcept, 0, len(cc.Coding))
	for i, g := range groups {
		one, err := fhirjson.BuildCodeableConcept(&fhirjson.CodeableConcept{Coding: g})
		if err != nil {
			return nil, at("coding["+strconv.Itoa(i)+"]", err)
		}
		if i == 0 {
			// The concept's own id and extensions go with its first coding.
			if one.Id, err = buildElementID(cc.ID); err != nil {
				return nil, err
			}
			if one.Extension, err = fhirjson.BuildExtensions(cc.Extension); err != nil {
				return nil, at("extension", err)
			}
		}
		out = append(out, one)
	}
	return out, nil
}

func buildElementID(id string) (*dtpb.String, error) {
	if id == "" {
		return nil, nil
	}
	return &dtpb.String{Value: id}, nil
}

// at prefixes the path of a builder's error with the element it was
// building.
func at(path string, err error) error {
	var fe *fhirjson.Error
	if errors.As(err, &fe) {
		if fe.Path == "" || strings.HasPrefix(fe.Path, "[") {
			fe.Path = path + fe.Path
		} else {
			fe.Path = path + "." + fe.Path
		}
		return fe
	}
	return fmt.Errorf("%s: %w", path, err)
}

// redacted describes err by its path, without the value a builder's error
// may quote (patient data).
func redacted(err error) string {
	var fe *fhirjson.Error
	if errors.As(err, &fe) {
		if fe.Path == "" {
			return "an invalid value"
		}
		return fe.Path + ": an invalid value"
	}
	if s := err.Error(); !strings.Contains(s, "\"") {
		return s
	}
	return "unreadable"
}

func relatedBadPayload(err error) error {
	return &fhirerr.Error{
		Category: fhirerr.BadGateway,
		Backend:  "pds",
		Message:  "the Personal Demographics Service returned related people the facade cannot read",
		Err:      err,
	}
}
