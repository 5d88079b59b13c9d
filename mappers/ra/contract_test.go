package ra_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// The public RA sandbox's files, where the RA simulator embeds them (origin
// and licence: sandbox/ra/testdata/real-sandbox/SOURCES.md).
const sandboxRA = "../../sandbox/ra/fixtures/"

// TestContractRealPayloads maps every Flag the public sandbox answers with
// 200 or 201 (the search's entries, a created and an updated flag) with the
// sandbox's consent, and the consent itself, and requires no error.
func TestContractRealPayloads(t *testing.T) {
	consent := resources(t, "consentGET.json")
	if len(consent) != 1 {
		t.Fatalf("%d consents", len(consent))
	}
	c, err := ra.DecodeConsent(consent[0])
	if err != nil {
		t.Fatalf("DecodeConsent: %v", err)
	}
	if _, err := ra.Consent(c, "5900026175"); err != nil {
		t.Fatalf("Consent: %v", err)
	}
	flags := map[string]json.RawMessage{}
	for i, f := range resources(t, "flagGET.json") {
		flags[fmt.Sprintf("flagGET.json#%d", i)] = f
	}
	for _, name := range []string{"flagPOST.json", "flagPUT.json"} {
		raw, err := os.ReadFile(sandboxRA + name)
		if err != nil {
			t.Fatal(err)
		}
		flags[name] = raw
	}
	for name, raw := range flags {
		t.Run(name, func(t *testing.T) {
			f, err := ra.DecodeFlag(raw)
			if err != nil {
				t.Fatalf("DecodeFlag: %v", err)
			}
			if _, err := ra.FlagAt(f, c, "5900026175", goldenNow); err != nil {
				t.Fatalf("Flag: %v", err)
			}
		})
	}
}

// resources returns the entries' resources of one of the sandbox's
// searchsets.
func resources(t *testing.T, name string) []json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(sandboxRA + name)
	if err != nil {
		t.Fatal(err)
	}
	var b fhirjson.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b.Resources()
}
