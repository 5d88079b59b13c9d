// Package declared tells the packages outside mappers/ which UK Core
// profile the facade's resources of each type declare in meta.profile: the
// constants the mappers declare them with (mappers/internal/ukprofile), so
// that the CapabilityStatement's claims and the $summary Composition's
// declaration are never stated a second time.
package declared

import "github.com/carerecords/fhir-facade/mappers/internal/ukprofile"

// Composition is the UK Core profile the $summary document's Composition
// declares.
const Composition = ukprofile.Composition

// Profiles maps each resource type the facade serves, and that has a UK
// Core profile, to the profile every served resource of that type declares:
// those the mappers make, and Practitioner (the caller's own record, which
// resources.Practitioner makes from the token). Organization is absent: no
// mapper makes one.
func Profiles() map[string]string {
	return map[string]string{
		"Patient":             ukprofile.Patient,
		"AllergyIntolerance":  ukprofile.AllergyIntolerance,
		"MedicationStatement": ukprofile.MedicationStatement,
		"Flag":                ukprofile.Flag,
		"Immunization":        ukprofile.Immunization,
		"DocumentReference":   ukprofile.DocumentReference,
		"RelatedPerson":       ukprofile.RelatedPerson,
		"Practitioner":        ukprofile.Practitioner,
	}
}

// Profile is the UK Core profile resources of type typ declare, if any.
func Profile(typ string) (string, bool) {
	p, ok := Profiles()[typ]
	return p, ok
}
