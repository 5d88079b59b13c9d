// Package pds maps what the Personal Demographics Service returns onto the
// facade's FHIR R4 Patient. PDS already speaks R4 (with UK Core extensions),
// so the mapping is a near pass-through; what it adds is validation (via
// model/fhirjson's builders) and the restricted-patient rule.
//
// See docs/backends.md, "PDS".
package pds

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
)

// ConfidentialitySystem is the code system of the security label PDS puts in
// Patient.meta.security: U (unrestricted), R (restricted), V (very
// restricted), REDACTED (invalidated; never returned by a read).
const ConfidentialitySystem = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

// Extensions PDS removes from a restricted patient because they locate the
// patient (the pharmacies they use, their place of birth); Patient removes
// them too.
var locatingExtensions = map[string]bool{
	"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy":              true,
	"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-PreferredDispenserOrganization": true,
	"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicalApplianceSupplier":       true,
	"http://hl7.org/fhir/StructureDefinition/patient-birthPlace":                                  true,
}

// Decode reads a PDS Patient payload with encoding/json. It rejects anything
// that is not JSON or whose resourceType is not "Patient" (a search can
// answer with an OperationOutcome; use fhirjson.ResourceType to tell first).
// Unknown members are ignored.
func Decode(raw []byte) (*fhirjson.Patient, error) {
	var p fhirjson.Patient
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, badPayload(err)
	}
	if p.ResourceType != "Patient" {
		return nil, badPayload(fmt.Errorf("resourceType is %q, want \"Patient\"", p.ResourceType))
	}
	return &p, nil
}

// Patient maps a PDS Patient onto the facade's Patient proto. Everything PDS
// sends is kept: id (the NHS number), identifiers with their verification
// status extension, meta (versionId is the ETag), every extension, names,
// telecom, addresses, GP and managing organisation (logical ODS
// identifiers), contacts, deceased[x], multipleBirth[x], communication…
//
// UK Core: the Patient declares UK Core Patient in meta.profile, and the NHS
// number's verification status is translated into UK Core's value set
// (VerificationStatus): PDS names a code system UK Core has retired.
//
// Defence in depth: when meta.security says the patient is restricted (R),
// very restricted (V) or redacted, Patient drops address, telecom, contact,
// generalPractitioner, managingOrganization and the pharmacy and birth place
// extensions even if the payload carries them, so the facade can never show
// them. A missing id is an error: PDS always sends the NHS number.
//
// Errors are *fhirerr.Error of category BadGateway (PDS answered something
// the facade cannot use) wrapping a *fhirjson.Error with the JSON path.
func Patient(p *fhirjson.Patient) (*patpb.Patient, error) {
	if p == nil {
		return nil, badPayload(errors.New("no Patient"))
	}
	if p.ID == "" {
		return nil, badPayload(&fhirjson.Error{Path: "Patient.id", Err: errors.New("missing (PDS always sends the NHS number)")})
	}
	if Restricted(p) {
		p = withoutLocation(p)
	}
	q := *p
	q.Identifier = withVerificationStatus(p.Identifier)
	q.Meta = ukprofile.Declare(p.Meta, ukprofile.Patient)
	out, err := fhirjson.BuildPatient(&q)
	if err != nil {
		return nil, badPayload(err)
	}
	return out, nil
}

// Restricted reports whether p carries a v3-Confidentiality security label
// that hides the patient's location: R, V or REDACTED. A label with that code
// but no system counts too.
func Restricted(p *fhirjson.Patient) bool {
	if p.Meta == nil {
		return false
	}
	for _, c := range p.Meta.Security {
		if RestrictedLabel(c.System, c.Code) {
			return true
		}
	}
	return false
}

// RestrictedLabel reports whether a security label (system, code) marks a
// record whose patient's location must be hidden: a v3-Confidentiality (or
// system-less) R, V or REDACTED.
func RestrictedLabel(system, code string) bool {
	if system != ConfidentialitySystem && system != "" {
		return false
	}
	switch code {
	case "R", "V", "REDACTED":
		return true
	}
	return false
}

// withoutLocation returns a shallow copy of p without the location-sensitive
// elements; p itself is not modified.
func withoutLocation(p *fhirjson.Patient) *fhirjson.Patient {
	q := *p
	q.Address = nil
	q.Telecom = nil
	q.Contact = nil
	q.GeneralPractitioner = nil
	q.ManagingOrganization = nil
	q.Extension = nil
	for _, e := range p.Extension {
		if !locatingExtensions[e.URL] {
			q.Extension = append(q.Extension, e)
		}
	}
	return &q
}

func badPayload(err error) error {
	return &fhirerr.Error{
		Category: fhirerr.BadGateway,
		Backend:  "pds",
		Message:  "the Personal Demographics Service returned a Patient the facade cannot read",
		Err:      err,
	}
}
