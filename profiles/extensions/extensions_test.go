package extensions_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/profiles/extensions"
)

// TestDefinitions: every embedded definition is a valid R4
// StructureDefinition of an Extension (complex-type, constraint on
// Extension, a context, a differential fixing Extension.url to its own
// canonical and requiring one value), one per id constant.
func TestDefinitions(t *testing.T) {
	if err := extensions.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{extensions.ContactNHSNumber, extensions.CPISContactType, extensions.CPISLocalAuthorityContact, extensions.OVMRecordingOrganisationContact}
	if got := extensions.IDs(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("ids %v, want %v", got, want)
	}
	for _, id := range want {
		raw, ok := extensions.Definition(id)
		if !ok {
			t.Fatalf("%s: no definition", id)
		}
		if err := profiles.Validate(raw); err != nil {
			t.Errorf("%s: not valid R4: %v", id, err)
		}
		var sd struct {
			ID, URL, Kind, Type, BaseDefinition, Derivation, FHIRVersion string
			Context                                                      []struct{ Type, Expression string }
			Differential                                                 struct {
				Element []map[string]any
			}
		}
		if err := json.Unmarshal(raw, &sd); err != nil {
			t.Fatal(err)
		}
		if sd.ID != id || sd.URL != extensions.Prefix+id || sd.Kind != "complex-type" || sd.Type != "Extension" ||
			sd.BaseDefinition != "http://hl7.org/fhir/StructureDefinition/Extension" || sd.Derivation != "constraint" || sd.FHIRVersion != "4.0.1" {
			t.Errorf("%s: %+v", id, sd)
		}
		if len(sd.Context) == 0 || sd.Context[0].Type != "element" {
			t.Errorf("%s: context %+v", id, sd.Context)
		}
		fixed, value := false, false
		for _, e := range sd.Differential.Element {
			switch e["path"] {
			case "Extension.url":
				fixed = e["fixedUri"] == sd.URL
			case "Extension.value[x]":
				value = e["min"] == float64(1) && len(e["type"].([]any)) == 1
			}
		}
		if !fixed || !value {
			t.Errorf("%s: differential fixes url %v, requires one value type %v", id, fixed, value)
		}
	}
}

func TestRebaseAndID(t *testing.T) {
	const base = "https://facade.example.nhs.uk/fhir"
	in := `{"extension":[{"url":"` + extensions.Prefix + `cpis-local-authority-contact","valueContactPoint":{"extension":[{"url":"` +
		extensions.Prefix + `cpis-contact-type","valueCode":"office-hours"}]}}],"code":{"coding":[{"system":"https://carerecords-facade.invalid/fhir/CodeSystem/cpis-plan-type"}]}}`
	got := string(extensions.Rebase([]byte(in), base+"/"))
	want := strings.ReplaceAll(in, `"`+extensions.Prefix, `"`+base+"/StructureDefinition/")
	if got != want || strings.Contains(got, extensions.Prefix) || !strings.Contains(got, "CodeSystem/cpis-plan-type") {
		t.Errorf("Rebase:\n got %s\nwant %s", got, want)
	}
	if b := []byte(`{"a":1}`); &extensions.Rebase(b, base)[0] != &b[0] {
		t.Error("Rebase copied a body without placeholders")
	}
	for _, c := range []struct {
		url, id string
		ok      bool
	}{
		{extensions.Prefix + "cpis-contact-type", "cpis-contact-type", true},
		{extensions.Canonical(base, "contact-nhs-number"), "contact-nhs-number", true},
		{"http://127.0.0.1:4567/fhir/StructureDefinition/ovm-recording-organisation-contact", "ovm-recording-organisation-contact", true},
		{base + "/StructureDefinition/unknown", "", false},
		{"http://hl7.org/fhir/StructureDefinition/cpis-contact-type", "", false},
		{"cpis-contact-type", "", false},
	} {
		id, ok := extensions.ID(c.url)
		if id != c.id || ok != c.ok {
			t.Errorf("ID(%s) = %q, %v; want %q, %v", c.url, id, ok, c.id, c.ok)
		}
	}
}
