// Package flagid makes and reads the facade ids of Flags whose backend can
// only be asked by patient (RA, CP-IS, FGM-IS, OVM): the id carries the
// patient's NHS number so that a read knows whom to ask.
package flagid

import (
	"crypto/sha256"
	"encoding/hex"
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
