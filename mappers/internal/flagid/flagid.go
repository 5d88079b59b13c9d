// Package flagid holds what the Flag mappers (RA, CP-IS, FGM-IS, OVM) do
// alike about the patient a flag belongs to: the facade ids, which carry the
// patient's NHS number because those backends can only be asked by patient,
// so that a read knows whom to ask; the subject every facade Flag has; and
// the check that a backend's answer names the patient it was asked about.
package flagid

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// New returns prefix + nhs + sep + backendID. A backend id that would not
// fit the FHIR id grammar (64 characters of A-Z a-z 0-9 - .) is replaced by
// "h" and a SHA-256 prefix of it; a read compares ids, so either way finds
// the flag.
func New(prefix, nhs string, sep byte, backendID string) string {
	id := prefix + nhs + string(sep) + backendID
	if fhirjson.ValidID(id) {
		return id
	}
	sum := sha256.Sum256([]byte(backendID))
	return prefix + nhs + string(sep) + "h" + hex.EncodeToString(sum[:])[:40]
}

// Patient returns the NHS number an id made by New with prefix and sep
// carries; ok is false when id is not one.
func Patient(prefix string, sep byte, id string) (nhs string, ok bool) {
	rest, found := strings.CutPrefix(id, prefix)
	if !found || len(rest) < 12 || rest[10] != sep || !nhsnumber.Valid(rest[:10]) {
		return "", false
	}
	return rest[:10], true
}

// Subject is the facade Flag's subject: the Patient, by reference and by NHS
// number.
func Subject(nhs string) *fhirjson.Reference {
	return &fhirjson.Reference{Reference: "Patient/" + nhs, Identifier: &fhirjson.Identifier{System: nhsnumber.System, Value: nhs}}
}

// CheckSubject refuses a backend record whose subject (at path, for the
// error) names a patient other than nhs, by NHS number or by a Patient
// reference; a record without a recognisable subject passes.
func CheckSubject(r *fhirjson.Reference, nhs, path string) error {
	if r == nil {
		return nil
	}
	var got string
	switch {
	case r.Identifier != nil && (r.Identifier.System == nhsnumber.System || r.Identifier.System == ""):
		got = r.Identifier.Value
	case strings.Contains(r.Reference, "Patient/"):
		got = r.Reference[strings.LastIndex(r.Reference, "/")+1:]
	default:
		return nil
	}
	if got != nhs {
		return &fhirjson.Error{Path: path, Err: errors.New("names another patient than the one asked for")}
	}
	return nil
}
