package fhirjson_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"
)

// roundTrip decodes in into T strictly, builds the proto, prints it with
// jsonformat and checks the result equals in as generic JSON: every element
// is modelled, built and printed back unchanged.
func roundTrip[T any, P proto.Message](t *testing.T, in string, build func(*T) (P, error)) {
	t.Helper()
	v := new(T)
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	msg, err := build(v)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.MarshalResource(msg)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %s\nwant %s", out, in)
	}
	// encoding/json prints the struct back to the same JSON too.
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back any
	_ = json.Unmarshal(again, &back)
	if !reflect.DeepEqual(back, want) {
		t.Errorf("struct round trip differs:\n got %s\nwant %s", again, in)
	}
}

const allergyFull = `{"resourceType":"AllergyIntolerance","id":"9000000009-fa60be641f3411eba2a8000c29a364eb-a1",
 "meta":{"lastUpdated":"2020-11-17T01:00:00Z","source":"urn:uuid:fa60be64-1f34-11eb-a2a8-000c29a364eb"},
 "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
 "verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"confirmed"}]},
 "type":"allergy","category":["medication"],"criticality":"high",
 "code":{"text":"Allergy to penicillin"},
 "patient":{"reference":"Patient/9000000009","identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}},
 "onsetDateTime":"2020-05-12","recordedDate":"2020-05","note":[{"text":"Problem; First"}],
 "reaction":[{"manifestation":[{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}],"text":"not recorded"}],"severity":"severe"}]}`

func TestAllergyIntoleranceRoundTrip(t *testing.T) {
	roundTrip(t, allergyFull, fhirjson.BuildAllergyIntolerance)
	roundTrip(t, `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/9000000009"}}`, fhirjson.BuildAllergyIntolerance)
}

func TestMedicationStatementRoundTrip(t *testing.T) {
	roundTrip(t, `{"resourceType":"MedicationStatement","id":"x-mr1","meta":{"source":"urn:uuid:fa60be64-1f34-11eb-a2a8-000c29a364eb"},
	 "status":"active","category":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/medication-statement-category","code":"community","display":"Community"}]},
	 "medicationCodeableConcept":{"text":"Paracetamol 250mg/5ml oral suspension"},
	 "subject":{"reference":"Patient/9000000009"},"effectiveDateTime":"2020-05-12","dateAsserted":"2020-11-17T01:00:00Z",
	 "informationSource":{"type":"Organization","identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"B82617"},"display":"The Surgery"},
	 "note":[{"text":"Quantity: 40 ml"}],"dosage":[{"sequence":1,"text":"One 5ml Spoonful Every 4 To 6 Hours"}]}`, fhirjson.BuildMedicationStatement)
}

func TestBuildSCRResourceErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func([]byte) error
		json  string
		want  string
	}{
		{name: "allergy wrong type", build: buildAllergy, json: `{"resourceType":"Patient","patient":{"reference":"Patient/1"}}`, want: "AllergyIntolerance.resourceType"},
		{name: "allergy no patient", build: buildAllergy, json: `{"resourceType":"AllergyIntolerance"}`, want: "AllergyIntolerance.patient"},
		{name: "allergy bad criticality", build: buildAllergy, json: `{"resourceType":"AllergyIntolerance","criticality":"severe","patient":{"reference":"Patient/1"}}`, want: "AllergyIntolerance.criticality"},
		{name: "allergy bad category", build: buildAllergy, json: `{"resourceType":"AllergyIntolerance","category":["food","drug"],"patient":{"reference":"Patient/1"}}`, want: "AllergyIntolerance.category[1]"},
		{name: "allergy bad severity", build: buildAllergy, json: `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},"reaction":[{"manifestation":[{"text":"rash"}],"severity":"high"}]}`, want: "AllergyIntolerance.reaction[0].severity"},
		{name: "allergy reaction without manifestation", build: buildAllergy, json: `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},"reaction":[{"severity":"mild"}]}`, want: "AllergyIntolerance.reaction[0].manifestation"},
		{name: "allergy bad date", build: buildAllergy, json: `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},"recordedDate":"12-May-2020"}`, want: "AllergyIntolerance.recordedDate"},
		{name: "allergy bad id", build: buildAllergy, json: `{"resourceType":"AllergyIntolerance","id":"a b","patient":{"reference":"Patient/1"}}`, want: "AllergyIntolerance.id"},
		{name: "medication no status", build: buildMedication, json: `{"resourceType":"MedicationStatement","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/1"}}`, want: "MedicationStatement.status"},
		{name: "medication bad status", build: buildMedication, json: `{"resourceType":"MedicationStatement","status":"discontinued","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/1"}}`, want: "MedicationStatement.status"},
		{name: "medication no medication", build: buildMedication, json: `{"resourceType":"MedicationStatement","status":"active","subject":{"reference":"Patient/1"}}`, want: "MedicationStatement.medicationCodeableConcept"},
		{name: "medication no subject", build: buildMedication, json: `{"resourceType":"MedicationStatement","status":"active","medicationCodeableConcept":{"text":"x"}}`, want: "MedicationStatement.subject"},
		{name: "medication bad effective", build: buildMedication, json: `{"resourceType":"MedicationStatement","status":"active","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/1"},"effectiveDateTime":"2020-13-01"}`, want: "MedicationStatement.effectiveDateTime"},
		{name: "medication bad dosage sequence", build: buildMedication, json: `{"resourceType":"MedicationStatement","status":"active","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/1"},"dosage":[{"sequence":3000000000}]}`, want: "MedicationStatement.dosage[0].sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
			var fe *fhirjson.Error
			if !asError(err, &fe) {
				t.Errorf("error %T is not a *fhirjson.Error", err)
			}
		})
	}
	if out, err := fhirjson.BuildAllergyIntolerance(nil); out != nil || err != nil {
		t.Error("nil AllergyIntolerance should build to nil")
	}
	if out, err := fhirjson.BuildMedicationStatement(nil); out != nil || err != nil {
		t.Error("nil MedicationStatement should build to nil")
	}
}

func buildAllergy(raw []byte) error {
	var a fhirjson.AllergyIntolerance
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&a); err != nil {
		return err
	}
	_, err := fhirjson.BuildAllergyIntolerance(&a)
	return err
}

func buildMedication(raw []byte) error {
	var m fhirjson.MedicationStatement
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&m); err != nil {
		return err
	}
	_, err := fhirjson.BuildMedicationStatement(&m)
	return err
}

func asError(err error, target **fhirjson.Error) bool {
	e, ok := err.(*fhirjson.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestDecodeSCRBundle decodes the SCR API's GET /Bundle example into the
// decode-only structs and checks what the SCR mapper relies on.
func TestDecodeSCRBundle(t *testing.T) {
	raw := readRefdata(t, "/scr/GetScrBundle.json")
	var b fhirjson.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	var comp fhirjson.Composition
	roles := 0
	for _, e := range b.Entry {
		switch rt, _ := fhirjson.ResourceType(e.Resource); rt {
		case "Composition":
			if err := json.Unmarshal(e.Resource, &comp); err != nil {
				t.Fatal(err)
			}
		case "PractitionerRole":
			var pr fhirjson.PractitionerRole
			if err := json.Unmarshal(e.Resource, &pr); err != nil {
				t.Fatal(err)
			}
			roles++
		case "Organization":
			var o fhirjson.Organization
			if err := json.Unmarshal(e.Resource, &o); err != nil {
				t.Fatal(err)
			}
		}
	}
	if comp.ID != "BF4180FD-C403-4EF7-A4AB-E07303AF5477" || comp.Date == "" || len(comp.Author) != 1 || len(comp.Section) != 15 || roles == 0 {
		t.Fatalf("composition %+v, %d roles", comp, roles)
	}
	if s := comp.Section[1]; s.Code.Coding[0].Code != "AllergiesHeader" || !strings.Contains(s.Text.Div, `<table`) {
		t.Errorf("section 1: %+v", s)
	}
}

func readRefdata(t *testing.T, rel string) []byte {
	t.Helper()
	raw, err := os.ReadFile(refdata + rel)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
