package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/profiles/ukcore"
)

// ukcoreRequired are the resource types the facade serves that have a UK Core
// profile: each must declare it in meta.profile. Composition is not
// required here: a document NRL points to is served as it was stored
// (Binary), and its Composition is its producer's; $summary's declares
// UKCore-Composition (TestCapabilityProfilesAreTrue), and one that declares
// it is checked all the same.
var ukcoreRequired = ukcore.Options{Require: []string{
	"Patient", "AllergyIntolerance", "MedicationStatement", "Flag", "Immunization", "DocumentReference", "Organization",
	"RelatedPerson", "Practitioner",
}}

// checkUKCore validates a FHIR resource the facade answered with (and every
// resource a Bundle or contained carries) against the UK Core profiles it
// declares, and fails a type above that declares none. The error names each
// broken rule's profile, path and rule.
func checkUKCore(raw []byte) error {
	noteDeclared(raw) // for TestCapabilityProfilesAreTrue, TestExtensionURLsResolve
	rep, err := ukcore.Validate(raw, ukcoreRequired)
	if err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("response does not meet UK Core: %w", err)
	}
	return nil
}

// TestUKCoreEveryType: each resource type with a UK Core profile, as the
// facade serves it for the sandbox's patient 9000000009 (and, for
// Practitioner, to the dev clinician get's token names), declares its
// profile and meets it (call checks every answer; this makes sure each type
// was seen), and the check does fail an answer that drops the declaration.
func TestUKCoreEveryType(t *testing.T) {
	const nhs = "9000000009"
	seen := map[string]bool{}
	answers := []response{get(t, "/Patient/"+nhs), get(t, "/Practitioner/"+sampleIDs["Practitioner"])}
	for typ, param := range map[string]string{"AllergyIntolerance": "patient", "MedicationStatement": "patient",
		"Flag": "patient", "Immunization": "patient", "DocumentReference": "subject", "RelatedPerson": "patient"} {
		answers = append(answers, get(t, "/"+typ+"?"+param+"="+nhs))
	}
	for _, a := range answers {
		if a.status != 200 {
			t.Fatalf("%d %.300s", a.status, a.raw)
		}
		var resources []map[string]any
		if a.body["resourceType"] == "Bundle" {
			matches, _ := entries(t, a)
			for _, m := range matches {
				resources = append(resources, m["resource"].(map[string]any))
			}
		} else {
			resources = append(resources, a.body)
		}
		for _, res := range resources {
			typ := res["resourceType"].(string)
			want, _ := ukcore.ProfileFor(typ)
			meta, _ := res["meta"].(map[string]any)
			profiles, _ := meta["profile"].([]any)
			if len(profiles) != 1 || profiles[0] != want {
				t.Errorf("%s/%v: meta.profile %v, want [%s]", typ, res["id"], profiles, want)
			}
			seen[typ] = true
			delete(meta, "profile")
			raw, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkUKCore(raw); err == nil || !strings.Contains(err.Error(), "declared at "+typ+".meta.profile") {
				t.Errorf("%s without its profile: checkUKCore says %v, want a declared error", typ, err)
			}
		}
	}
	for _, typ := range []string{"Patient", "AllergyIntolerance", "MedicationStatement", "Flag", "Immunization", "DocumentReference",
		"RelatedPerson", "Practitioner"} {
		if !seen[typ] {
			t.Errorf("no %s was served for %s: its UK Core conformance went unchecked", typ, nhs)
		}
	}
}
