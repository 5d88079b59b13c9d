package redact_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/carerecords/fhir-facade/model/redact"
	"github.com/carerecords/fhir-facade/profiles"
	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Synthetic data only: NHS numbers from the 9000000xxx test range, ODS codes
// of the Y/FA test ranges, Ofcom drama phone numbers, ZZ99 postcodes.

const patientJSON = `{
  "resourceType": "Patient",
  "id": "9000000009",
  "meta": {"versionId": "2", "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R", "display": "restricted"}]},
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Jane Smith, 1 Trevelyan Square, Boar Lane, Leeds ZZ99 1AA</div>"},
  "extension": [
    {"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy",
     "valueReference": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "FA123"}, "display": "Boar Lane Pharmacy"}},
    {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
     "valueAddress": {"city": "Wakefield", "country": "GBR"}},
    {"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication",
     "extension": [{"url": "language", "valueCodeableConcept": {"coding": [{"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-HumanLanguage", "code": "en", "display": "English"}]}}]}
  ],
  "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
  "name": [{"use": "usual", "family": "Smith", "given": ["Jane"], "prefix": ["Mrs"]}],
  "gender": "female",
  "birthDate": "2010-10-22",
  "address": [{"use": "home", "line": ["1 Trevelyan Square", "Boar Lane"], "city": "Leeds", "postalCode": "ZZ99 1AA"}],
  "telecom": [{"system": "phone", "value": "01632 960587", "use": "home"}, {"system": "email", "value": "jane.smith@example.com"}],
  "contact": [
    {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"}]}],
     "name": {"family": "Smith", "given": ["John"]},
     "telecom": [{"system": "phone", "value": "01632 960588"}],
     "address": {"line": ["2 Trevelyan Square"], "city": "Leeds", "postalCode": "ZZ99 1AB"}},
    {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "S"}]}],
     "organization": {"reference": "Organization/Y12345", "display": "Trevelyan Social Services"}}
  ],
  "generalPractitioner": [{"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}, "display": "Trevelyan Medical Centre"}],
  "managingOrganization": {"reference": "Organization/Y12345"}
}`

const allergyJSON = `{
  "resourceType": "AllergyIntolerance",
  "id": "scr-9000000009-a1",
  "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
  "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
  "code": {"coding": [{"system": "http://snomed.info/sct", "code": "294505008", "display": "Amoxicillin allergy"}]},
  "patient": {"reference": "Patient/9000000009", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
  "recordedDate": "2021-03-04",
  "recorder": {"reference": "Practitioner/G8123456", "display": "Dr A Jones, Trevelyan Medical Centre"},
  "asserter": {"reference": "Patient/9000000009"},
  "reaction": [{"manifestation": [{"coding": [{"system": "http://snomed.info/sct", "code": "271807003", "display": "Rash"}]}]}]
}`

const medicationJSON = `{
  "resourceType": "MedicationStatement",
  "id": "scr-9000000009-m1",
  "meta": {"lastUpdated": "2024-01-02T10:00:00Z"},
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Amoxicillin, prescribed at Trevelyan Medical Centre, Leeds</div>"},
  "contained": [
    {"resourceType": "Organization", "id": "org1", "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}],
     "name": "Trevelyan Medical Centre", "address": [{"line": ["Trevelyan Square"], "city": "Leeds", "postalCode": "ZZ99 2AA"}]},
    {"resourceType": "Medication", "id": "med1", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "323509004", "display": "Amoxicillin 500mg capsules"}]},
     "manufacturer": {"reference": "#org1"}}
  ],
  "status": "active",
  "medicationReference": {"reference": "#med1", "display": "Amoxicillin 500mg capsules"},
  "subject": {"reference": "Patient/9000000009", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
  "effectivePeriod": {"start": "2024-01-02"},
  "dateAsserted": "2024-01-02",
  "informationSource": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}, "display": "Trevelyan Medical Centre, Leeds"},
  "derivedFrom": [{"reference": "#org1"}],
  "note": [{"authorReference": {"reference": "Practitioner/G8123456", "display": "Dr A Jones"}, "text": "Three times a day for a week"}],
  "dosage": [{"text": "One capsule three times a day"}]
}`

const immunizationJSON = `{
  "resourceType": "Immunization",
  "id": "9000000009-90640007.747583-127",
  "status": "completed",
  "vaccineCode": {"coding": [{"system": "http://snomed.info/sct", "code": "39114911000001105", "display": "COVID-19 Vaccine AstraZeneca"}]},
  "patient": {"reference": "Patient/9000000009", "type": "Patient", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
  "occurrenceDateTime": "2020-12-10T13:00:08.476Z",
  "primarySource": true,
  "location": {"identifier": {"system": "urn:iso:std:iso:3166", "value": "GB"}, "display": "Elland Road Vaccination Centre"},
  "manufacturer": {"display": "AstraZeneca Ltd"},
  "lotNumber": "R04X",
  "performer": [
    {"function": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0443", "code": "AP"}]},
     "actor": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RX809"}, "display": "Elland Road Pharmacy, Leeds"}},
    {"actor": {"reference": "https://fhir.example.nhs.uk/R4/Practitioner/G8123456/_history/1"}},
    {"actor": {"identifier": {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "555021935107"}, "display": "Nurse B Brown"}}
  ],
  "protocolApplied": [{"doseNumberPositiveInt": 1}]
}`

const cpisFlagJSON = `{
  "resourceType": "Flag",
  "id": "cpis-9000000009-cpp",
  "extension": [{"url": "https://carerecords-facade.invalid/fhir/StructureDefinition/cpis-local-authority-contact",
    "valueContactPoint": {"extension": [{"url": "https://carerecords-facade.invalid/fhir/StructureDefinition/cpis-contact-type", "valueCode": "office-hours"}],
      "system": "phone", "value": "01632 960001", "use": "work"}}],
  "status": "active",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "safety"}]}],
  "code": {"text": "Child Protection Plan"},
  "subject": {"reference": "Patient/9000000009", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
  "period": {"start": "2024-03-01"},
  "author": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LA001"}, "display": "Leeds City Council Children's Social Care"}
}`

const locationFlagJSON = `{
  "resourceType": "Flag",
  "id": "location-flag",
  "status": "active",
  "code": {"text": "Lone worker risk at this address"},
  "subject": {"reference": "Location/L1", "display": "1 Trevelyan Square, Leeds"}
}`

const raFlagJSON = `{
  "resourceType": "Flag",
  "id": "ra-9000000009-1",
  "contained": [{"resourceType": "Consent", "id": "consent1", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "https://fhir.nhs.uk/CodeSystem/NHSDigital-FlagCategory", "code": "NRAF"}]}],
    "patient": {"reference": "Patient/9000000009"},
    "performer": [{"reference": "RelatedPerson/rp1", "display": "John Smith, 2 Trevelyan Square"}],
    "organization": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}}],
    "policyRule": {"text": "Consent to record reasonable adjustments"}}],
  "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/flag-detail", "valueReference": {"reference": "#consent1", "display": "Consent to record and share reasonable adjustments"}}],
  "status": "active",
  "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1240651000000107", "display": "Requires easy read"}]},
  "subject": {"reference": "Patient/9000000009"},
  "author": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}}
}`

const documentJSON = `{
  "resourceType": "DocumentReference",
  "id": "Y05868-99999-99999-999999",
  "status": "current",
  "type": {"coding": [{"system": "http://snomed.info/sct", "code": "736253002", "display": "Mental health crisis plan"}]},
  "subject": {"reference": "Patient/9000000009", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
  "author": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y05868"}, "display": "Leeds Mental Health Trust"}],
  "custodian": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y05868"}},
  "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/Y05868-99999-99999-999999", "title": "Mental health crisis plan"}}],
  "context": {
    "related": [{"reference": "Organization/Y05868"}, {"reference": "DocumentReference/Y05868-1", "display": "Previous crisis plan"}],
    "sourcePatientInfo": {"reference": "Patient/9000000009"}
  }
}`

const compositionJSON = `{
  "resourceType": "Composition",
  "id": "summary-9000000009",
  "status": "final",
  "type": {"coding": [{"system": "http://loinc.org", "code": "60591-5", "display": "Patient summary Document"}]},
  "subject": {"reference": "Patient/9000000009"},
  "date": "2024-01-02T10:00:00Z",
  "author": [{"reference": "Organization/Y12345", "display": "Trevelyan Medical Centre"}],
  "title": "Patient summary",
  "attester": [{"mode": "legal", "party": {"reference": "PractitionerRole/R1", "display": "Dr A Jones"}}],
  "custodian": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}},
  "section": [
    {"title": "Medication Summary",
     "code": {"coding": [{"system": "http://loinc.org", "code": "10160-0"}]},
     "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Amoxicillin, from Trevelyan Medical Centre, Leeds</div>"},
     "entry": [{"reference": "MedicationStatement/scr-9000000009-m1"}]},
    {"title": "Practice",
     "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p id=\"Practice\">Trevelyan Medical Centre.</p></div>"},
     "entry": [{"reference": "Organization/Y12345"}]}
  ]
}`

const careTeamJSON = `{
  "resourceType": "CareTeam",
  "id": "cpis-9000000009-team",
  "status": "active",
  "subject": {"reference": "Patient/9000000009"},
  "participant": [{"member": {"reference": "Organization/LA001", "display": "Leeds City Council"}}, {"member": {"reference": "Patient/9000000009"}}],
  "managingOrganization": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LA001"}}],
  "telecom": [{"system": "phone", "value": "01632 960001"}]
}`

// cleanJSON has nothing that locates the patient: it must come back as it was.
const cleanJSON = `{
  "resourceType": "Immunization",
  "id": "clean-1",
  "status": "completed",
  "vaccineCode": {"coding": [{"system": "http://snomed.info/sct", "code": "39114911000001105"}]},
  "patient": {"reference": "Patient/9000000009"},
  "occurrenceDateTime": "2021-01-10",
  "reasonReference": [{"display": "Occupational exposure"}]
}`

// Words that must not survive: practice, pharmacy and place names, ODS and
// SDS codes, postcodes, phone numbers.
var locatingWords = []string{
	"Trevelyan", "Boar Lane", "Leeds", "Wakefield", "Elland", "ZZ99", "01632", "example.com",
	"Y12345", "FA123", "RX809", "LA001", "Y05868\"", "G8123456", "555021935107", "R1\"",
}

var cases = []struct {
	name        string
	json        string
	wantRemoved bool
	keep        []string // must still be in the output
	masked      int      // data-absent-reason markers expected
}{
	{name: "Patient", json: patientJSON, wantRemoved: true,
		keep: []string{`"9000000009"`, `"Jane"`, `"John"`, `"R"`, "NHSCommunication", `"2010-10-22"`}},
	{name: "AllergyIntolerance", json: allergyJSON, wantRemoved: true,
		keep: []string{`"Patient/9000000009"`, "Amoxicillin allergy", `"asserter"`}},
	{name: "MedicationStatement", json: medicationJSON, wantRemoved: true,
		keep: []string{`"Patient/9000000009"`, `"#med1"`, `"Medication"`, "Three times a day", "One capsule"}},
	{name: "Immunization", json: immunizationJSON, wantRemoved: true, masked: 3,
		keep: []string{`"Patient/9000000009"`, `"R04X"`, `"AP"`, `"2020-12-10T13:00:08.476Z"`}},
	{name: "Flag CPIS", json: cpisFlagJSON, wantRemoved: true,
		keep: []string{`"Patient/9000000009"`, "Child Protection Plan"}},
	{name: "Flag about a Location", json: locationFlagJSON, wantRemoved: true, masked: 1,
		keep: []string{"Lone worker"}},
	{name: "Flag RA with contained Consent", json: raFlagJSON, wantRemoved: true,
		keep: []string{`"#consent1"`, `"Consent"`, `"Patient/9000000009"`, "Consent to record reasonable adjustments"}},
	{name: "DocumentReference", json: documentJSON, wantRemoved: true,
		keep: []string{`"Patient/9000000009"`, `"DocumentReference/Y05868-1"`, `"Binary/Y05868-99999-99999-999999"`}},
	{name: "Composition", json: compositionJSON, wantRemoved: true, masked: 1,
		keep: []string{`"Patient/9000000009"`, `"MedicationStatement/scr-9000000009-m1"`, `"withheld"`, `"Practice"`}},
	{name: "CareTeam", json: careTeamJSON, wantRemoved: true,
		keep: []string{`"Patient/9000000009"`}},
	{name: "nothing to remove", json: cleanJSON, wantRemoved: false,
		keep: []string{`"Patient/9000000009"`, "Occupational exposure"}},
}

func TestLocating(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := parse(t, []byte(tc.json))
			if err := profiles.Validate(render(t, in)); err != nil {
				t.Fatalf("the input is not valid R4: %v", err)
			}
			before := proto.Clone(in)

			out, removed := redact.Locating(in)

			if removed != tc.wantRemoved {
				t.Errorf("removed = %v, want %v", removed, tc.wantRemoved)
			}
			if !proto.Equal(in, before) {
				t.Error("the input was modified")
			}
			got := render(t, out)
			s := string(got)
			check(t, got, removed)
			for _, w := range locatingWords {
				if strings.Contains(s, w) {
					t.Errorf("output still contains %q:\n%s", w, s)
				}
			}
			for _, w := range tc.keep {
				if !strings.Contains(s, w) {
					t.Errorf("output lost %s:\n%s", w, s)
				}
			}
			if n := strings.Count(s, redact.DataAbsentReasonURL); n != tc.masked {
				t.Errorf("%d masked elements, want %d:\n%s", n, tc.masked, s)
			}
			if !tc.wantRemoved && !proto.Equal(out, in) {
				t.Errorf("nothing to remove, but the output differs:\n%s", s)
			}
		})
	}
}

// TestLocatingMasksRequired checks the masked elements are exactly where
// the R4 base requires an element: Immunization.performer.actor,
// Flag.subject, Composition.author.
func TestLocatingMasksRequired(t *testing.T) {
	masked := map[string]any{"extension": []any{map[string]any{"url": redact.DataAbsentReasonURL, "valueCode": "masked"}}}
	tests := []struct {
		name string
		json string
		path func(doc map[string]any) any
		want any
	}{
		{name: "Immunization.performer.actor", json: immunizationJSON,
			path: func(d map[string]any) any { return d["performer"].([]any)[0].(map[string]any)["actor"] }, want: masked},
		{name: "Immunization.performer count", json: immunizationJSON,
			path: func(d map[string]any) any { return float64(len(d["performer"].([]any))) }, want: float64(3)},
		{name: "Immunization.location removed", json: immunizationJSON,
			path: func(d map[string]any) any { return d["location"] }, want: nil},
		{name: "Immunization.manufacturer removed", json: immunizationJSON,
			path: func(d map[string]any) any { return d["manufacturer"] }, want: nil},
		{name: "Flag.subject", json: locationFlagJSON,
			path: func(d map[string]any) any { return d["subject"] }, want: masked},
		{name: "Composition.author", json: compositionJSON,
			path: func(d map[string]any) any { return d["author"] }, want: []any{masked}},
		{name: "Composition.custodian removed", json: compositionJSON,
			path: func(d map[string]any) any { return d["custodian"] }, want: nil},
		{name: "Composition.attester.party removed", json: compositionJSON,
			path: func(d map[string]any) any { return d["attester"] }, want: []any{map[string]any{"mode": "legal"}}},
		{name: "MedicationStatement.informationSource removed", json: medicationJSON,
			path: func(d map[string]any) any { return d["informationSource"] }, want: nil},
		{name: "MedicationStatement.derivedFrom removed", json: medicationJSON,
			path: func(d map[string]any) any { return d["derivedFrom"] }, want: nil},
		{name: "MedicationStatement keeps only the Medication contained", json: medicationJSON,
			path: func(d map[string]any) any { return float64(len(d["contained"].([]any))) }, want: float64(1)},
		{name: "Patient.contact without a name removed", json: patientJSON,
			path: func(d map[string]any) any { return float64(len(d["contact"].([]any))) }, want: float64(1)},
		{name: "Patient.extension without the emptied ones", json: patientJSON,
			path: func(d map[string]any) any { return float64(len(d["extension"].([]any))) }, want: float64(1)},
		{name: "Flag.extension with a ContactPoint removed", json: cpisFlagJSON,
			path: func(d map[string]any) any { return d["extension"] }, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := redact.Locating(parse(t, []byte(tc.json)))
			var doc map[string]any
			if err := json.Unmarshal(render(t, out), &doc); err != nil {
				t.Fatal(err)
			}
			got := tc.path(doc)
			if g, w := fmt.Sprint(got), fmt.Sprint(tc.want); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

// TestLocatingLabels checks the REDACTED label: on the resource, once even
// when redacted twice, and on a contained resource that lost something.
func TestLocatingLabels(t *testing.T) {
	out, _ := redact.Locating(parse(t, []byte(raFlagJSON)))
	again, removed := redact.Locating(out)
	if removed {
		t.Errorf("a redacted resource redacted again reports a removal:\n%s", render(t, again))
	}
	if !proto.Equal(out, again) {
		t.Errorf("redacting twice changed the output:\n%s\n%s", render(t, out), render(t, again))
	}
	var doc struct {
		Meta      struct{ Security []map[string]string }
		Contained []struct {
			Meta struct{ Security []map[string]string }
		}
	}
	if err := json.Unmarshal(render(t, again), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"system": redact.SecuritySystem, "code": "REDACTED", "display": "redacted"}
	for name, sec := range map[string][]map[string]string{"Flag": doc.Meta.Security, "contained Consent": doc.Contained[0].Meta.Security} {
		if len(sec) != 1 || fmt.Sprint(sec[0]) != fmt.Sprint(want) {
			t.Errorf("%s meta.security = %v, want [%v]", name, sec, want)
		}
	}
}

// TestLocatingReferences runs the reference rule on one reference at a
// time, held in elements that do and do not admit a locating type.
func TestLocatingReferences(t *testing.T) {
	tests := []struct {
		name     string
		element  string // a MedicationStatement element holding a Reference
		ref      string
		wantKept bool
	}{
		{"patient subject", "subject", `{"reference": "Patient/9000000009"}`, true},
		{"patient subject by absolute URL", "subject", `{"reference": "https://fhir.example.nhs.uk/R4/Patient/9000000009"}`, true},
		{"display-only subject (Patient|Group)", "subject", `{"display": "Jane Smith"}`, true},
		{"subject with an ODS identifier", "subject", `{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}}`, false},
		{"patient informationSource", "informationSource", `{"reference": "Patient/9000000009"}`, true},
		{"related person informationSource", "informationSource", `{"reference": "RelatedPerson/rp1"}`, false},
		{"display-only informationSource", "informationSource", `{"display": "Dr A Jones"}`, false},
		{"typed informationSource", "informationSource", `{"type": "http://hl7.org/fhir/StructureDefinition/PractitionerRole", "display": "GP"}`, false},
		{"patient type but organisation URL", "informationSource", `{"reference": "https://x.example/Organization/Y1", "type": "Patient"}`, false},
		{"urn:uuid informationSource", "informationSource", `{"reference": "urn:uuid:6b1c1e9e-2f7a-4c33-9a51-1b0f5a0c8a11"}`, false},
		{"conditional organisation", "informationSource", `{"reference": "Organization?identifier=Y12345"}`, false},
		{"SDS user id", "informationSource", `{"identifier": {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "555021935107"}}`, false},
		{"reason to a Condition", "reasonReference", `{"reference": "Condition/c1", "display": "Chest infection"}`, true},
		{"reason display only (no locating target admitted)", "reasonReference", `{"display": "Chest infection"}`, true},
		{"partOf a Procedure", "partOf", `{"reference": "Procedure/p1"}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			value := tc.ref
			if tc.element == "reasonReference" || tc.element == "partOf" {
				value = "[" + value + "]"
			}
			subject := `"subject": {"reference": "Patient/9000000009"},`
			if tc.element == "subject" {
				subject = ""
			}
			src := `{"resourceType": "MedicationStatement", "status": "active", ` + subject +
				`"medicationCodeableConcept": {"text": "Amoxicillin"}, "` + tc.element + `": ` + value + `}`
			out, _ := redact.Locating(parse(t, []byte(src)))
			got := render(t, out)
			var doc map[string]any
			if err := json.Unmarshal(got, &doc); err != nil {
				t.Fatal(err)
			}
			kept := !strings.Contains(string(got), redact.DataAbsentReasonURL) && doc[tc.element] != nil
			if kept != tc.wantKept {
				t.Errorf("kept = %v, want %v:\n%s", kept, tc.wantKept, got)
			}
			check(t, got, !kept)
		})
	}
}

// TestLocatingBundle checks a Bundle passed whole: an entry of a locating
// type goes with its fullUrl, and each redacted entry is labelled.
func TestLocatingBundle(t *testing.T) {
	src := `{"resourceType": "Bundle", "type": "searchset", "entry": [
		{"fullUrl": "https://fhir.example.nhs.uk/R4/Immunization/i1", "resource": ` + immunizationJSON + `, "search": {"mode": "match"}},
		{"fullUrl": "https://fhir.example.nhs.uk/R4/Organization/Y12345", "resource": {"resourceType": "Organization", "id": "Y12345", "name": "Trevelyan Medical Centre"}, "search": {"mode": "include"}},
		{"fullUrl": "https://fhir.example.nhs.uk/R4/Immunization/clean-1", "resource": ` + cleanJSON + `}]}`
	out, removed := redact.Locating(parse(t, []byte(src)))
	got := render(t, out)
	if !removed {
		t.Error("nothing removed")
	}
	check(t, got, true)
	var doc struct {
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		}
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	var urls []string
	var labels []bool
	for _, e := range doc.Entry {
		urls = append(urls, e.FullURL)
		labels = append(labels, labelled(e.Resource))
	}
	if g, w := fmt.Sprint(urls), "[https://fhir.example.nhs.uk/R4/Immunization/i1 https://fhir.example.nhs.uk/R4/Immunization/clean-1]"; g != w {
		t.Errorf("entries %s, want %s", g, w)
	}
	if g, w := fmt.Sprint(labels), "[true false]"; g != w {
		t.Errorf("entry labels %s, want %s", g, w)
	}
}

// TestLocatingOtherMessages checks messages that are not whole resources:
// a lone Address is emptied, a nil message is nil.
func TestLocatingOtherMessages(t *testing.T) {
	if out, removed := redact.Locating(nil); out != nil || removed {
		t.Errorf("Locating(nil) = %v, %v", out, removed)
	}
	pat := parse(t, []byte(patientJSON))
	addr := pat.ProtoReflect().Get(pat.ProtoReflect().Descriptor().Fields().ByName("address")).List().Get(0).Message().Interface()
	out, removed := redact.Locating(addr)
	if !removed || proto.Size(out) != 0 {
		t.Errorf("Locating(Address) = %v, %v; want an empty Address", out, removed)
	}
	if proto.Size(addr) == 0 {
		t.Error("the Address passed in was emptied")
	}
}

// TestLocatingCorpus crawls every resource of the facade's mapper goldens
// and of the HL7 R4 examples: none keeps a locating detail, each that was
// valid stays valid, and none is modified.
func TestLocatingCorpus(t *testing.T) {
	files := corpus(t)
	if len(files) == 0 {
		t.Skip("no corpus files")
	}
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resourcesIn(raw) {
			in, err := unmarshal(r)
			if err != nil {
				continue // not R4 as jsonformat reads it (e.g. an STU3 input)
			}
			n++
			name := fmt.Sprintf("%s#%d", filepath.Base(f), i)
			valid := profiles.Validate(render(t, in)) == nil
			before := proto.Clone(in)
			out, removed := redact.Locating(in)
			if !proto.Equal(in, before) {
				t.Errorf("%s: the input was modified", name)
			}
			got := render(t, out)
			for _, l := range leaks(got) {
				t.Errorf("%s: %s", name, l)
			}
			if valid {
				if err := profiles.Validate(got); err != nil {
					t.Errorf("%s: no longer valid R4: %v\n%s", name, err, got)
				}
			}
			if removed && !labelled(got) {
				t.Errorf("%s: redacted without the REDACTED label", name)
			}
		}
	}
	t.Logf("%d resources from %d files", n, len(files))
}

// corpus lists the JSON files crawled by TestLocatingCorpus.
func corpus(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, g := range []string{
		"../../mappers/*/testdata/*.golden.json",
		// The repository's own copies of the HL7 R4 examples and the NRL
		// examples (see each folder's SOURCES.md).
		"../../profiles/testdata/hl7-r4-examples/*.json",
		"../../model/fhirjson/testdata/hl7-r4-examples/*.json",
		"../../model/fhirjson/testdata/nrl-examples/*.json",
		"../../sandbox/fgm/testdata/*.json",
	} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// resourcesIn returns the resources of a file: the file itself, the
// resources of a golden's "resources" list, and a Bundle's entries.
func resourcesIn(raw []byte) []json.RawMessage {
	var doc struct {
		ResourceType string            `json:"resourceType"`
		Resources    []json.RawMessage `json:"resources"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	out := doc.Resources
	if doc.ResourceType != "" {
		out = append(out, raw)
	}
	for _, e := range doc.Entry {
		if len(e.Resource) > 0 {
			out = append(out, e.Resource)
		}
	}
	return out
}

// check fails t when the rendered resource leaks, is not valid R4, or was
// redacted without saying so.
func check(t *testing.T, got []byte, removed bool) {
	t.Helper()
	for _, l := range leaks(got) {
		t.Errorf("%s in\n%s", l, got)
	}
	if err := profiles.Validate(got); err != nil {
		t.Errorf("not valid R4: %v\n%s", err, got)
	}
	if removed != labelled(got) {
		t.Errorf("removed = %v but REDACTED label = %v:\n%s", removed, labelled(got), got)
	}
}

var locatingTypes = []string{"Organization", "Location", "Practitioner", "PractitionerRole", "HealthcareService", "RelatedPerson"}

// leaks lists what in a rendered resource could locate the patient,
// independently of the package's own walk: it reads the JSON.
func leaks(rendered []byte) []string {
	var doc any
	if err := json.Unmarshal(rendered, &doc); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var out []string
	var walk func(v any, path string, root bool)
	walk = func(v any, path string, root bool) {
		switch x := v.(type) {
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s[%d]", path, i), false)
			}
		case map[string]any:
			for k, c := range x {
				p := path + "." + k
				s, _ := c.(string)
				switch {
				case k == "address" || k == "telecom" || k == "valueAddress" || k == "valueContactPoint" ||
					k == "generalPractitioner" || k == "managingOrganization":
					out = append(out, "locating element "+p)
				case k == "text" && isNarrative(c):
					out = append(out, "narrative "+p)
				case k == "system" && redact.LocatingSystem(s):
					out = append(out, "ODS/SDS identifier "+p)
				case k == "reference" && namesLocatingType(s):
					out = append(out, "reference "+p+" = "+s)
				case k == "type" && redact.LocatingType(s[strings.LastIndexByte(s, '/')+1:]):
					out = append(out, "reference type "+p+" = "+s)
				case k == "resourceType" && !root && redact.LocatingType(s):
					out = append(out, "contained "+s+" at "+path)
				case k == "url" && s == "http://hl7.org/fhir/StructureDefinition/geolocation":
					out = append(out, "geolocation "+p)
				}
				walk(c, p, false)
			}
		}
	}
	walk(doc, "", true)
	sort.Strings(out)
	return out
}

func isNarrative(v any) bool {
	m, ok := v.(map[string]any)
	_, div := m["div"]
	return ok && div
}

func namesLocatingType(ref string) bool {
	for seg := range strings.FieldsFuncSeq(ref, func(r rune) bool { return r == '/' || r == '?' }) {
		for _, t := range locatingTypes {
			if seg == t {
				return true
			}
		}
	}
	return false
}

// labelled reports whether the top-level resource carries REDACTED.
func labelled(rendered []byte) bool {
	var doc struct {
		Meta struct{ Security []map[string]string }
	}
	if json.Unmarshal(rendered, &doc) != nil {
		return false
	}
	for _, c := range doc.Meta.Security {
		if c["system"] == redact.SecuritySystem && c["code"] == redact.SecurityCode {
			return true
		}
	}
	return false
}

var (
	jsonOnce sync.Once
	um       *jsonformat.Unmarshaller
	ma       *jsonformat.Marshaller
	jsonErr  error
)

func codecs() (*jsonformat.Unmarshaller, *jsonformat.Marshaller, error) {
	jsonOnce.Do(func() {
		um, jsonErr = jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
		if jsonErr == nil {
			ma, jsonErr = jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
		}
	})
	return um, ma, jsonErr
}

// unmarshal parses FHIR R4 JSON into the resource proto (unwrapped from
// the ContainedResource jsonformat returns).
func unmarshal(raw []byte) (proto.Message, error) {
	u, _, err := codecs()
	if err != nil {
		return nil, err
	}
	cr, err := u.Unmarshal(raw)
	if err != nil {
		return nil, err
	}
	m := cr.ProtoReflect()
	which := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if which == nil || which.Kind() != protoreflect.MessageKind {
		return nil, fmt.Errorf("no resource")
	}
	return m.Get(which).Message().Interface(), nil
}

func parse(t testing.TB, raw []byte) proto.Message {
	t.Helper()
	m, err := unmarshal(raw)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return m
}

func render(t testing.TB, m proto.Message) []byte {
	t.Helper()
	_, mr, err := codecs()
	if err != nil {
		t.Fatal(err)
	}
	b, err := mr.MarshalResource(m)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return b
}
