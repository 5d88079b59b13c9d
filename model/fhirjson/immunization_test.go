package fhirjson_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	impb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// immunizationCases returns the HL7 R4 Immunization examples and every
// Immunization of the Immunisation History API's response example.
func immunizationCases(t *testing.T) map[string][]byte {
	t.Helper()
	cases := map[string][]byte{}
	files, _ := filepath.Glob(refdata + "/hl7-r4-examples/Immunization-*.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = raw
	}
	raw, err := os.ReadFile(refdata + "/imms/Immunization.json")
	if err != nil {
		t.Fatal(err)
	}
	var b fhirjson.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	for i, e := range b.Entry {
		if rt, _ := fhirjson.ResourceType(e.Resource); rt == "Immunization" {
			cases["imms-example-entry-"+string(rune('0'+i))] = e.Resource
		}
	}
	if len(cases) < 7 {
		t.Fatalf("only %d cases under %s", len(cases), refdata)
	}
	return cases
}

// TestImmunizationRoundTrip decodes every example strictly (every member is
// modelled), builds the proto, prints it with jsonformat and expects the
// same JSON back; encoding/json prints the struct back unchanged too.
func TestImmunizationRoundTrip(t *testing.T) {
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range immunizationCases(t) {
		t.Run(name, func(t *testing.T) {
			var im fhirjson.Immunization
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&im); err != nil {
				t.Fatalf("decode: %v", err)
			}
			msg, err := fhirjson.BuildImmunization(&im)
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			out, err := m.MarshalResource(msg)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var got, want, back any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("jsonformat round trip differs:\n got %s\nwant %s", out, raw)
			}
			again, err := json.Marshal(im)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("encoding/json round trip differs:\n got %s\nwant %s", again, raw)
			}
		})
	}
}

func TestBuildImmunization(t *testing.T) {
	const base = `"resourceType":"Immunization","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/9000000009"}`
	completed := &impb.Immunization_StatusCode{Value: vspb.ImmunizationStatusCodesValueSet_COMPLETED}
	runBuild(t, []buildCase[*impb.Immunization]{
		{name: "minimal", json: `{` + base + `,"occurrenceString":"Spring 2021"}`,
			want: &impb.Immunization{Status: completed, VaccineCode: &dtpb.CodeableConcept{Text: s("x")},
				Patient:    &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: "9000000009"}}},
				Occurrence: &impb.Immunization_OccurrenceX{Choice: &impb.Immunization_OccurrenceX_StringValue{StringValue: s("Spring 2021")}}}},
		{name: "dose number as a string", json: `{` + base + `,"occurrenceDateTime":"2021-03-01","protocolApplied":[{"doseNumberString":"booster","seriesDosesPositiveInt":3}]}`,
			want: &impb.Immunization{Status: completed, VaccineCode: &dtpb.CodeableConcept{Text: s("x")},
				Patient:    &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: "9000000009"}}},
				Occurrence: &impb.Immunization_OccurrenceX{Choice: &impb.Immunization_OccurrenceX_DateTime{DateTime: day(t, "2021-03-01")}},
				ProtocolApplied: []*impb.Immunization_ProtocolApplied{{
					DoseNumber:  &impb.Immunization_ProtocolApplied_DoseNumberX{Choice: &impb.Immunization_ProtocolApplied_DoseNumberX_StringValue{StringValue: s("booster")}},
					SeriesDoses: &impb.Immunization_ProtocolApplied_SeriesDosesX{Choice: &impb.Immunization_ProtocolApplied_SeriesDosesX_PositiveInt{PositiveInt: &dtpb.PositiveInt{Value: 3}}},
				}}}},
		{name: "wrong resource type", json: `{"resourceType":"Patient"}`, wantErr: "Immunization.resourceType"},
		{name: "no status", json: `{"resourceType":"Immunization"}`, wantErr: "Immunization.status: missing"},
		{name: "bad status", json: `{"resourceType":"Immunization","status":"done"}`, wantErr: "Immunization.status"},
		{name: "no vaccine code", json: `{"resourceType":"Immunization","status":"not-done"}`, wantErr: "Immunization.vaccineCode: missing"},
		{name: "no patient", json: `{"resourceType":"Immunization","status":"entered-in-error","vaccineCode":{}}`, wantErr: "Immunization.patient: missing"},
		{name: "no occurrence", json: `{` + base + `}`, wantErr: "Immunization.occurrence[x]: missing"},
		{name: "two occurrences", json: `{` + base + `,"occurrenceDateTime":"2021","occurrenceString":"2021"}`, wantErr: "Immunization.occurrence[x]: both"},
		{name: "bad occurrence", json: `{` + base + `,"occurrenceDateTime":"10-Dec-2020"}`, wantErr: "Immunization.occurrenceDateTime"},
		{name: "bad expiration date", json: `{` + base + `,"occurrenceDateTime":"2021","expirationDate":"2021-04-29T00:00:00Z"}`, wantErr: "Immunization.expirationDate"},
		{name: "dose with comparator", json: `{` + base + `,"occurrenceDateTime":"2021","doseQuantity":{"value":1,"comparator":"<"}}`, wantErr: "Immunization.doseQuantity.comparator"},
		{name: "performer without actor", json: `{` + base + `,"occurrenceDateTime":"2021","performer":[{"function":{"text":"AP"}}]}`, wantErr: "Immunization.performer[0].actor: missing"},
		{name: "dose number zero", json: `{` + base + `,"occurrenceDateTime":"2021","protocolApplied":[{"doseNumberPositiveInt":0}]}`, wantErr: "Immunization.protocolApplied[0].doseNumberPositiveInt"},
		{name: "no dose number", json: `{` + base + `,"occurrenceDateTime":"2021","protocolApplied":[{"series":"x"}]}`, wantErr: "Immunization.protocolApplied[0].doseNumber[x]: missing"},
		{name: "bad reaction date", json: `{` + base + `,"occurrenceDateTime":"2021","reaction":[{"date":"soon"}]}`, wantErr: "Immunization.reaction[0].date"},
		{name: "bad education date", json: `{` + base + `,"occurrenceDateTime":"2021","education":[{"publicationDate":"soon"}]}`, wantErr: "Immunization.education[0].publicationDate"},
	}, fhirjson.BuildImmunization)
}

func TestImmunizationMarshalJSONWritesResourceType(t *testing.T) {
	b, err := json.Marshal(fhirjson.Immunization{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"resourceType":"Immunization","id":"x"}` {
		t.Errorf("got %s", b)
	}
}
