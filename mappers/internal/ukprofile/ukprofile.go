// Package ukprofile names the UK Core profiles the facade's resources
// declare in meta.profile, and declares them. profiles/ukcore checks that
// each resource meets the profile it declares.
package ukprofile

import (
	"slices"

	"github.com/carerecords/fhir-facade/model/fhirjson"
)

const base = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"

// The UK Core profiles of the resource types the facade maps.
const (
	Patient             = base + "Patient"
	AllergyIntolerance  = base + "AllergyIntolerance"
	MedicationStatement = base + "MedicationStatement"
	Flag                = base + "Flag"
	Immunization        = base + "Immunization"
	DocumentReference   = base + "DocumentReference"
	Organization        = base + "Organization"
	RelatedPerson       = base + "RelatedPerson"
	// Practitioner is the caller's own record (resources.Practitioner),
	// made from the access token, not by a mapper; named here for the same
	// reason as Composition.
	Practitioner = base + "Practitioner"
	// Composition is the $summary document's Composition (server/), not a
	// mapped resource; it is named here so that it and the claims about it
	// come from one place (package declared).
	Composition = base + "Composition"
)

// Declare returns a copy of m (a new Meta if m is nil) whose profile list
// holds url once; m itself is not modified, as it may be the backend's.
func Declare(m *fhirjson.Meta, url string) *fhirjson.Meta {
	out := fhirjson.Meta{}
	if m != nil {
		out = *m
	}
	if !slices.Contains(out.Profile, url) {
		out.Profile = append(slices.Clip(out.Profile), url)
	}
	return &out
}
