package pds

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// RegisteringAuthorityURL is the extension PDS requires on a create: who
// registers the patient (a type code and the organisation's ODS code).
const RegisteringAuthorityURL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-RegisteringAuthority"

var fullDate = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// createRequest is PDS's PatientCreateRequest (OpenAPI
// components/schemas/PatientCreateRequest.yaml).
type createRequest struct {
	ResourceType string                  `json:"resourceType"`
	Name         []fhirjson.HumanName    `json:"name"`
	Gender       string                  `json:"gender"`
	BirthDate    string                  `json:"birthDate"`
	Address      []fhirjson.Address      `json:"address"`
	Telecom      []fhirjson.ContactPoint `json:"telecom,omitempty"`
	Extension    []fhirjson.Extension    `json:"extension"`
}

// CreateRequest builds the body of PDS's POST /Patient from a FHIR Patient a
// client wants created, checking first everything PDS would refuse, so an
// invalid request never reaches it:
//
//   - no NHS number (a patient who has one has a record: search for it);
//   - exactly one name, with a family and at least one given name (use
//     "usual" when none is given);
//   - gender male, female or unknown (PDS does not create "other");
//   - a full birth date;
//   - at least one address, each with a period start; city and district
//     become address lines, as PDS holds them;
//   - telecoms as sent;
//   - the Registering Authority extension (RegisteringAuthorityURL), and any
//     other extensions, passed on;
//   - nothing PDS's create does not take (deceased, contacts, GP, marital
//     status, multiple birth, communication, links …): those are refused
//     with the element named, to be PATCHed once the record exists.
//
// Errors are *fhirerr.Error of category Invalid (or Required) with the
// element's FHIRPath in Expression.
func CreateRequest(p *fhirjson.Patient) (json.RawMessage, error) {
	if p == nil {
		return nil, invalid(fhirerr.Required, "Patient", "no Patient")
	}
	for _, id := range p.Identifier {
		if id.System == "https://fhir.nhs.uk/Id/nhs-number" {
			return nil, invalid(fhirerr.Invalid, "Patient.identifier",
				"the patient already has an NHS number, so PDS holds a record: read or search for it instead of creating one")
		}
	}
	for _, x := range []struct {
		el  string
		set bool
	}{
		{"deceased[x]", p.DeceasedBoolean != nil || p.DeceasedDateTime != ""},
		{"contact", len(p.Contact) > 0},
		{"generalPractitioner", len(p.GeneralPractitioner) > 0},
		{"managingOrganization", p.ManagingOrganization != nil},
		{"maritalStatus", p.MaritalStatus != nil},
		{"multipleBirth[x]", p.MultipleBirthBoolean != nil || p.MultipleBirthInteger != nil},
		{"communication", len(p.Communication) > 0},
		{"photo", len(p.Photo) > 0},
		{"link", len(p.Link) > 0},
		{"modifierExtension", len(p.ModifierExtension) > 0},
	} {
		if x.set {
			return nil, invalid(fhirerr.Invalid, "Patient."+x.el,
				"PDS does not take "+x.el+" when creating a record: create the patient without it, then PATCH it")
		}
	}
	req := createRequest{ResourceType: "Patient", Gender: p.Gender, BirthDate: p.BirthDate}

	switch {
	case len(p.Name) == 0:
		return nil, invalid(fhirerr.Required, "Patient.name", "a name is required")
	case len(p.Name) > 1:
		return nil, invalid(fhirerr.Invalid, "Patient.name", "PDS creates a record with exactly one name")
	}
	n := p.Name[0]
	if n.Family == "" {
		return nil, invalid(fhirerr.Required, "Patient.name[0].family", "a family name is required")
	}
	if len(n.Given) == 0 {
		return nil, invalid(fhirerr.Required, "Patient.name[0].given", "at least one given name is required")
	}
	if n.Use == "" {
		n.Use = "usual"
	}
	n.Text = ""
	req.Name = []fhirjson.HumanName{n}

	switch p.Gender {
	case "male", "female", "unknown":
	case "":
		return nil, invalid(fhirerr.Required, "Patient.gender", "gender is required (male, female or unknown)")
	default:
		return nil, invalid(fhirerr.Invalid, "Patient.gender", "PDS creates records of gender male, female or unknown only")
	}
	switch {
	case p.BirthDate == "":
		return nil, invalid(fhirerr.Required, "Patient.birthDate", "the birth date is required")
	case !fullDate.MatchString(p.BirthDate):
		return nil, invalid(fhirerr.Invalid, "Patient.birthDate", "the birth date must be a full date (YYYY-MM-DD)")
	}

	if len(p.Address) == 0 {
		return nil, invalid(fhirerr.Required, "Patient.address", "an address is required")
	}
	for i, a := range p.Address {
		path := fmt.Sprintf("Patient.address[%d]", i)
		if a.Period == nil || a.Period.Start == "" {
			return nil, invalid(fhirerr.Required, path+".period.start", "each address needs the date it applies from (period.start)")
		}
		if a.PostalCode == "" && len(a.Line) == 0 {
			return nil, invalid(fhirerr.Required, path, "an address needs lines or a postcode")
		}
		out := fhirjson.Address{Extension: a.Extension, Use: a.Use, Line: a.Line, PostalCode: a.PostalCode, Period: a.Period}
		for _, l := range []string{a.City, a.District} {
			if l != "" {
				out.Line = append(append([]string(nil), out.Line...), l)
			}
		}
		if out.Use == "" {
			out.Use = "home"
		}
		req.Address = append(req.Address, out)
	}
	for _, t := range p.Telecom {
		req.Telecom = append(req.Telecom, fhirjson.ContactPoint{Extension: t.Extension, System: t.System, Value: t.Value, Use: t.Use, Period: t.Period})
	}
	hasRA := false
	for _, e := range p.Extension {
		hasRA = hasRA || e.URL == RegisteringAuthorityURL
	}
	if !hasRA {
		return nil, invalid(fhirerr.Required, "Patient.extension",
			"PDS needs the registering authority: an extension "+RegisteringAuthorityURL+
				" with registeringAuthorityType and organisationIdentifier (the ODS code)")
	}
	req.Extension = p.Extension
	b, err := json.Marshal(req)
	if err != nil {
		return nil, invalid(fhirerr.Invalid, "Patient", "the Patient could not be encoded")
	}
	return b, nil
}

func invalid(c fhirerr.Category, expr, msg string) error {
	return &fhirerr.Error{Category: c, Expression: expr, Message: msg}
}
