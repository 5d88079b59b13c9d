package ukcore

import (
	"encoding/json"
	"strings"
	"testing"
)

const (
	patientURL       = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
	relatedPersonURL = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-RelatedPerson"
	practitionerURL  = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Practitioner"
	verifURL         = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
	ovmURL           = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-OverseasVisitorChargingCategory"
	england          = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)

// validPatient is the smallest Patient that meets UK Core Patient (synthetic
// NHS number).
const validPatient = `{"resourceType":"Patient","id":"9000000009",
 "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]},
 "identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009",
   "extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
     "valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland","code":"01","display":"Number present and verified"}]}}]}],
 "birthDate":"2010-10-22"}`

const validFlag = `{"resourceType":"Flag","id":"f",
 "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Flag"]},
 "status":"active","code":{"text":"x"},"subject":{"reference":"Patient/9000000009"},
 "extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-OverseasVisitorChargingCategory",
   "valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-OverseasVisitorChargingCategory","code":"A"}]}}]}`

const validImmunization = `{"resourceType":"Immunization","id":"i",
 "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Immunization"]},
 "status":"not-done","statusReason":{"text":"refused"},"vaccineCode":{"text":"flu"},
 "patient":{"reference":"Patient/9000000009"},"occurrenceDateTime":"2024-01-01"}`

const validAllergy = `{"resourceType":"AllergyIntolerance","id":"a",
 "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-AllergyIntolerance"]},
 "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
 "code":{"text":"penicillin"},"patient":{"reference":"Patient/9000000009"}}`

const validMedication = `{"resourceType":"MedicationStatement","id":"m",
 "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-MedicationStatement"]},
 "identifier":[{"system":"https://example.invalid/ids","value":"1"}],
 "status":"active","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/9000000009"}}`

const validOrganization = `{"resourceType":"Organization","id":"o",
 "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Organization"]},
 "identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y12345"}]}`

// validRelatedPerson is a related person as the facade maps PDS's (mappers/pds):
// the relationship's three facts each a concept, the role under PDS's and
// UK Core's code systems.
const validRelatedPerson = `{"resourceType":"RelatedPerson","id":"9000000009-507B7621",
 "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-RelatedPerson"]},
 "patient":{"reference":"Patient/9000000009"},"active":true,
 "relationship":[
  {"coding":[{"system":"https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole","code":"Guardian"},
    {"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole","code":"Guardian","display":"Guardian of patient"}]},
  {"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"PRN"}]},
  {"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"N"}]}],
 "telecom":[{"system":"phone","value":"01632 960587"}]}`

// validPractitioner is the caller's own record as the facade makes it
// (resources.Practitioner).
const validPractitioner = `{"resourceType":"Practitioner","id":"910000000001",
 "meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Practitioner"]},
 "identifier":[{"system":"https://fhir.nhs.uk/Id/sds-user-id","value":"910000000001"}],
 "name":[{"text":"Dr Dev Clinician"}]}`

func relationship(m map[string]any, i int) map[string]any {
	return m["relationship"].([]any)[i].(map[string]any)["coding"].([]any)[0].(map[string]any)
}

// edit decodes a resource, applies f and encodes it again.
func edit(t *testing.T, raw string, f func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	if f != nil {
		f(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func nhsIdentifier(m map[string]any) map[string]any {
	return m["identifier"].([]any)[0].(map[string]any)
}

func verifCoding(m map[string]any) map[string]any {
	ext := nhsIdentifier(m)["extension"].([]any)[0].(map[string]any)
	return ext["valueCodeableConcept"].(map[string]any)["coding"].([]any)[0].(map[string]any)
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name     string
		resource string
		opts     Options
		// want is "rule@path" of the one error expected, "" for none.
		want string
		// warn is "rule@path" of a warning expected.
		warn string
	}{
		{name: "valid patient", resource: validPatient, opts: Options{Require: []string{"Patient"}}},
		{name: "valid flag", resource: validFlag},
		{name: "valid immunization", resource: validImmunization},
		{name: "valid allergy", resource: validAllergy},
		{name: "valid medication statement", resource: validMedication},
		{name: "valid organization", resource: validOrganization},
		{name: "valid related person", resource: validRelatedPerson, opts: Options{Require: []string{"RelatedPerson"}}},
		{name: "valid practitioner", resource: validPractitioner, opts: Options{Require: []string{"Practitioner"}}},
		{
			name: "related person: a v3 RoleCode that is no personal relationship",
			resource: edit(t, validRelatedPerson, func(m map[string]any) {
				relationship(m, 1)["code"] = "GUARD" // an affiliation (RESPRSN), not _PersonalRelationshipRoleType
			}),
			want: "extensible binding@RelatedPerson.relationship[1]",
		},
		{
			name:     "related person: v2 0131 O, which UK Core excludes",
			resource: edit(t, validRelatedPerson, func(m map[string]any) { relationship(m, 2)["code"] = "O" }),
			want:     "extensible binding@RelatedPerson.relationship[2]",
		},
		{
			name: "related person: a personal relationship below another (is-a)",
			resource: edit(t, validRelatedPerson, func(m map[string]any) {
				relationship(m, 1)["code"] = "GRMTH" // grandmother, under GRPRN under FAMMEMB
			}),
		},
		{
			name: "related person: a UK Core additional role it does not have",
			resource: edit(t, validRelatedPerson, func(m map[string]any) {
				m["relationship"].([]any)[0].(map[string]any)["coding"].([]any)[1].(map[string]any)["code"] = "Neighbour"
			}),
			want: "extensible binding@RelatedPerson.relationship[0]",
		},
		{
			name: "related person: only PDS's own role system is a warning",
			resource: edit(t, validRelatedPerson, func(m map[string]any) {
				cc := m["relationship"].([]any)[0].(map[string]any)
				cc["coding"] = cc["coding"].([]any)[:1]
			}),
			warn: "extensible binding@RelatedPerson.relationship[0]",
		},
		{
			name:     "related person: base min, no patient",
			resource: edit(t, validRelatedPerson, func(m map[string]any) { delete(m, "patient") }),
			want:     "cardinality@RelatedPerson.patient",
		},
		{
			name: "practitioner: identifier without system",
			resource: edit(t, validPractitioner, func(m map[string]any) {
				delete(m["identifier"].([]any)[0].(map[string]any), "system")
			}),
			want: "cardinality@Practitioner.identifier[0].system",
		},
		{
			name: "practitioner: identifier without value",
			resource: edit(t, validPractitioner, func(m map[string]any) {
				delete(m["identifier"].([]any)[0].(map[string]any), "value")
			}),
			want: "cardinality@Practitioner.identifier[0].value",
		},
		{
			name:     "declared: practitioner without its profile",
			resource: edit(t, validPractitioner, func(m map[string]any) { delete(m, "meta") }),
			opts:     Options{Require: []string{"Practitioner"}},
			want:     "declared@Practitioner.meta.profile",
		},
		{
			name: "slice max: two NHS numbers",
			resource: edit(t, validPatient, func(m map[string]any) {
				m["identifier"] = append(m["identifier"].([]any), map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000017"})
			}),
			want: "cardinality@Patient.identifier",
		},
		{
			name:     "slice child min: NHS number without a value",
			resource: edit(t, validPatient, func(m map[string]any) { delete(nhsIdentifier(m), "value") }),
			want:     "cardinality@Patient.identifier[0].value",
		},
		{
			name: "organization ODS slice child min",
			resource: edit(t, validOrganization, func(m map[string]any) {
				delete(m["identifier"].([]any)[0].(map[string]any), "value")
			}),
			want: "cardinality@Organization.identifier[0].value",
		},
		{
			name:     "profile min: allergy without code",
			resource: edit(t, validAllergy, func(m map[string]any) { delete(m, "code") }),
			want:     "cardinality@AllergyIntolerance.code",
		},
		{
			name: "profile min: medication identifier without system",
			resource: edit(t, validMedication, func(m map[string]any) {
				delete(m["identifier"].([]any)[0].(map[string]any), "system")
			}),
			want: "cardinality@MedicationStatement.identifier[0].system",
		},
		{
			name:     "base min: flag without subject",
			resource: edit(t, validFlag, func(m map[string]any) { delete(m, "subject") }),
			want:     "cardinality@Flag.subject",
		},
		{
			name: "extension value min",
			resource: edit(t, validPatient, func(m map[string]any) {
				delete(nhsIdentifier(m)["extension"].([]any)[0].(map[string]any), "valueCodeableConcept")
			}),
			want: "cardinality@Patient.identifier[0].extension[0].value",
		},
		{
			name: "extension value type",
			resource: edit(t, validPatient, func(m map[string]any) {
				ext := nhsIdentifier(m)["extension"].([]any)[0].(map[string]any)
				delete(ext, "valueCodeableConcept")
				ext["valueString"] = "01"
			}),
			want: "type@Patient.identifier[0].extension[0].valueString",
		},
		{
			name:     "required binding: code not in the value set",
			resource: edit(t, validPatient, func(m map[string]any) { verifCoding(m)["code"] = "99" }),
			want:     "required binding@Patient.identifier[0].extension[0].valueCodeableConcept",
		},
		{
			name: "required binding: the retired code system PDS sends",
			resource: edit(t, validPatient, func(m map[string]any) {
				verifCoding(m)["system"] = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus"
			}),
			want: "required binding@Patient.identifier[0].extension[0].valueCodeableConcept",
		},
		{
			name: "required binding: NullFlavor UNK is not in the value set (NI is)",
			resource: edit(t, validPatient, func(m map[string]any) {
				c := verifCoding(m)
				c["system"], c["code"] = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK"
			}),
			want: "required binding@Patient.identifier[0].extension[0].valueCodeableConcept",
		},
		{
			name: "required binding: NullFlavor NI is",
			resource: edit(t, validPatient, func(m map[string]any) {
				c := verifCoding(m)
				c["system"], c["code"] = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "NI"
			}),
		},
		{
			name: "R4 required binding on a CodeableConcept",
			resource: edit(t, validAllergy, func(m map[string]any) {
				m["clinicalStatus"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] = "gone"
			}),
			want: "required binding@AllergyIntolerance.clinicalStatus",
		},
		{
			name: "extensible binding: unknown code of the value set's system",
			resource: edit(t, validFlag, func(m map[string]any) {
				m["extension"].([]any)[0].(map[string]any)["valueCodeableConcept"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] = "Z"
			}),
			want: "extensible binding@Flag.extension[0].valueCodeableConcept",
		},
		{
			name: "extensible binding: another system is a warning",
			resource: edit(t, validFlag, func(m map[string]any) {
				m["extension"].([]any)[0].(map[string]any)["valueCodeableConcept"] = map[string]any{
					"coding": []any{map[string]any{"system": "https://example.invalid/ovm", "code": "A"}}}
			}),
			warn: "extensible binding@Flag.extension[0].valueCodeableConcept",
		},
		{
			name: "invariant ukcore-imm-001: not-done without a reason",
			resource: edit(t, validImmunization, func(m map[string]any) {
				delete(m, "statusReason")
			}),
			want: "invariant ukcore-imm-001@Immunization",
		},
		{
			name: "invariant ext-1: value and extensions",
			resource: edit(t, validFlag, func(m map[string]any) {
				m["extension"].([]any)[0].(map[string]any)["extension"] = []any{map[string]any{"url": "x", "valueString": "y"}}
			}),
			want: "invariant ext-1@Flag.extension[0]",
		},
		{
			name:     "declared: patient without its profile",
			resource: edit(t, validPatient, func(m map[string]any) { delete(m, "meta") }),
			opts:     Options{Require: []string{"Patient"}},
			want:     "declared@Patient.meta.profile",
		},
		{
			name: "profile: a UK Core profile not embedded",
			resource: edit(t, validPatient, func(m map[string]any) {
				m["meta"] = map[string]any{"profile": []any{"https://fhir.hl7.org.uk/StructureDefinition/UKCore-Nope"}}
			}),
			want: "profile@Patient.meta.profile",
		},
		{
			name: "profile: of another type",
			resource: edit(t, validFlag, func(m map[string]any) {
				m["meta"] = map[string]any{"profile": []any{patientURL}}
			}),
			want: "profile@Flag.meta.profile",
		},
		{
			name: "composition: careSettingType at most once",
			resource: `{"resourceType":"Composition","meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Composition"]},
 "status":"final","type":{"text":"summary"},"date":"2024-01-01","author":[{"display":"facade"}],"title":"t",
 "extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-CareSettingType","valueCodeableConcept":{"text":"a"}},
  {"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-CareSettingType","valueCodeableConcept":{"text":"b"}}]}`,
			want: "cardinality@Composition.extension",
		},
		{
			name: "bundle entries are checked",
			resource: `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":` +
				edit(t, validPatient, func(m map[string]any) { delete(nhsIdentifier(m), "value") }) + `}]}`,
			want: "cardinality@Bundle.entry[0].resource.identifier[0].value",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Validate([]byte(c.resource), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			var errs, warns []string
			for _, i := range rep.Issues {
				k := i.Rule + "@" + i.Path
				if i.Severity == "error" {
					errs = append(errs, k)
				} else {
					warns = append(warns, k)
				}
				t.Log(i)
			}
			switch {
			case c.want == "" && len(errs) > 0:
				t.Errorf("errors %v, want none", errs)
			case c.want != "" && (len(errs) != 1 || errs[0] != c.want):
				t.Errorf("errors %v, want exactly [%s]", errs, c.want)
			}
			if c.warn != "" && (len(warns) != 1 || warns[0] != c.warn) {
				t.Errorf("warnings %v, want [%s]", warns, c.warn)
			}
		})
	}
}

// TestCheckExtension: an extension checked against its own definition,
// whose url is fixed.
func TestCheckExtension(t *testing.T) {
	for _, c := range []struct {
		url, want string
	}{
		{verifURL, ""},
		{ovmURL, "fixed@Extension.url"},
	} {
		ext := `{"url":"` + c.url + `","valueCodeableConcept":{"coding":[{"system":"` + england + `","code":"01"}]}}`
		rep, err := Check([]byte(ext), verifURL)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, i := range rep.Errors() {
			got = append(got, i.Rule+"@"+i.Path)
		}
		if want := c.want; (want == "" && len(got) > 0) || (want != "" && strings.Join(got, ",") != want) {
			t.Errorf("url %s: errors %v, want %q", c.url, got, want)
		}
	}
}

// TestPattern: pattern[x] (none of the embedded profiles has one) is matched
// as FHIR says: the instance holds at least what the pattern states.
func TestPattern(t *testing.T) {
	r, err := load()
	if err != nil {
		t.Fatal(err)
	}
	e := &element{id: "X.code", name: "code", min: 0, max: 1, types: []typeRef{{code: "CodeableConcept"}},
		pattern: map[string]any{"coding": []any{map[string]any{"system": []any{"http://snomed.info/sct"}, "code": []any{"123"}}}},
		patKey:  "patternCodeableConcept"}
	for _, c := range []struct {
		val  string
		want int
	}{
		{`{"coding":[{"system":"http://snomed.info/sct","code":"123","display":"d"}],"text":"t"}`, 0},
		{`{"coding":[{"system":"http://other","code":"1"},{"system":"http://snomed.info/sct","code":"123"}]}`, 0},
		{`{"coding":[{"system":"http://snomed.info/sct","code":"124"}]}`, 1},
		{`{"text":"t"}`, 1},
	} {
		var val any
		if err := json.Unmarshal([]byte(c.val), &val); err != nil {
			t.Fatal(err)
		}
		rep := &Report{}
		(&run{reg: r, prof: &profile{url: "urn:test"}, rep: rep}).element(e, val, nil, "X.code", "CodeableConcept")
		if len(rep.Issues) != c.want || (c.want > 0 && rep.Issues[0].Rule != "pattern") {
			t.Errorf("%s: issues %v, want %d pattern", c.val, rep.Issues, c.want)
		}
	}
}

// TestUncheckedReported: a binding to a value set that cannot be expanded
// offline is listed, not passed as checked.
func TestUncheckedReported(t *testing.T) {
	res := edit(t, validPatient, func(m map[string]any) {
		m["communication"] = []any{map[string]any{"language": map[string]any{"coding": []any{map[string]any{"system": "urn:ietf:bcp:47", "code": "en"}}}}}
	})
	rep, err := Validate([]byte(res), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors()) > 0 {
		t.Fatalf("errors: %v", rep.Errors())
	}
	found := false
	for _, u := range rep.Unchecked {
		if u.Path == "Patient.communication[0].language" && u.Rule == "required binding" && strings.Contains(u.Reason, "all-languages") {
			found = true
		}
	}
	if !found {
		t.Errorf("the all-languages binding is not listed as unchecked: %v", rep.Unchecked)
	}
}

// TestProfiles: every profile the facade's resources declare is embedded,
// and loads.
func TestProfiles(t *testing.T) {
	for _, rt := range []string{"Patient", "AllergyIntolerance", "MedicationStatement", "Flag", "Immunization", "DocumentReference", "Organization", "Composition",
		"RelatedPerson", "Practitioner"} {
		url, ok := ProfileFor(rt)
		if !ok || url != "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"+rt {
			t.Errorf("ProfileFor(%s) = %q, %v", rt, url, ok)
		}
	}
}

// TestAllChecks lists what cannot be checked offline (go test -v prints it)
// and pins a few entries that must be there.
func TestAllChecks(t *testing.T) {
	list, err := AllChecks()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range list {
		t.Log(u)
	}
	for _, want := range []struct{ profile, path, rule string }{
		{patientURL, "Patient.communication.language", "required binding"},
		{"https://fhir.hl7.org.uk/StructureDefinition/UKCore-DocumentReference", "DocumentReference.type", "extensible binding"},
		{patientURL, "Patient.extension:birthSex", "extension definition"},
		{relatedPersonURL, "RelatedPerson.extension:contactPreference", "extension definition"},
		{relatedPersonURL, "RelatedPerson.extension:copyCorrespondenceIndicator", "extension definition"},
		{relatedPersonURL, "RelatedPerson.communication.language", "required binding"},
		{practitionerURL, "Practitioner.communication", "extensible binding"},
		{practitionerURL, "Practitioner.qualification.issuer", "reference target"},
	} {
		found := false
		for _, u := range list {
			found = found || (u.Profile == want.profile && u.Path == want.path && u.Rule == want.rule)
		}
		if !found {
			t.Errorf("%s %s %s is not listed as unchecked", want.profile, want.path, want.rule)
		}
	}
	for _, u := range list {
		if u.Rule == "invariant ukcore-imm-001" || (u.Path == "Patient.identifier:nhsNumber.extension:nhsNumberVerificationStatus" && u.Rule == "extension definition") ||
			u.Path == "Patient.contact.relationship" || u.Path == "RelatedPerson.relationship" {
			t.Errorf("listed as unchecked but checked: %v", u)
		}
	}
}
