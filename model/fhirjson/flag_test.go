package fhirjson_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirjson"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"
)

func TestBuildFlag(t *testing.T) {
	active := &flagpb.Flag_StatusCode{Value: cpb.FlagStatusCode_ACTIVE}
	fgm := &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: u("http://snomed.info/sct"), Code: c("902961000000107")}}}
	runBuild(t, []buildCase[*flagpb.Flag]{
		{name: "minimal",
			json: `{"resourceType":"Flag","status":"active","code":{"coding":[{"system":"http://snomed.info/sct","code":"902961000000107"}]}}`,
			want: &flagpb.Flag{Status: active, Code: fgm}},
		{name: "every element",
			json: `{"resourceType":"Flag","id":"fgm-9000000009-x","meta":{"versionId":"1"},"status":"entered-in-error",
				"extension":[{"url":"https://fhir.nhs.uk/England/StructureDefinition/Extension-England-FlagRemovalReason","valueString":"wrong patient"}],
				"identifier":[{"value":"x"}],
				"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/flag-category","code":"clinical"}]}],
				"code":{"coding":[{"system":"http://snomed.info/sct","code":"902961000000107"}]},
				"subject":{"reference":"Patient/9000000009"},"period":{"start":"2019-12-10","end":"2020-01-15"},
				"encounter":{"display":"e"},"author":{"identifier":{"system":"` + odsSystem + `","value":"Y12345"}}}`,
			want: &flagpb.Flag{
				Id: &dtpb.Id{Value: "fgm-9000000009-x"}, Meta: &dtpb.Meta{VersionId: &dtpb.Id{Value: "1"}},
				Status: &flagpb.Flag_StatusCode{Value: cpb.FlagStatusCode_ENTERED_IN_ERROR},
				Extension: []*dtpb.Extension{ext("https://fhir.nhs.uk/England/StructureDefinition/Extension-England-FlagRemovalReason",
					&dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: s("wrong patient")}})},
				Identifier: []*dtpb.Identifier{{Value: s("x")}},
				Category:   []*dtpb.CodeableConcept{{Coding: []*dtpb.Coding{{System: u("http://terminology.hl7.org/CodeSystem/flag-category"), Code: c("clinical")}}}},
				Code:       fgm,
				Subject:    &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: "9000000009"}}},
				Period:     &dtpb.Period{Start: day(t, "2019-12-10"), End: day(t, "2020-01-15")},
				Encounter:  &dtpb.Reference{Display: s("e")},
				Author:     &dtpb.Reference{Identifier: &dtpb.Identifier{System: u(odsSystem), Value: s("Y12345")}},
			}},
		{name: "wrong resourceType", json: `{"resourceType":"Patient","status":"active","code":{}}`, wantErr: `Flag.resourceType: is "Patient"`},
		{name: "no status", json: `{"resourceType":"Flag","code":{"text":"x"}}`, wantErr: "Flag.status: missing"},
		{name: "bad status", json: `{"resourceType":"Flag","status":"Active","code":{"text":"x"}}`, wantErr: `Flag.status: "Active" is not a code of FlagStatus`},
		{name: "no code", json: `{"resourceType":"Flag","status":"active"}`, wantErr: "Flag.code: missing"},
		{name: "bad period", json: `{"resourceType":"Flag","status":"active","code":{"text":"x"},"period":{"start":"10/12/2019"}}`, wantErr: "Flag.period.start"},
		{name: "bad id", json: `{"resourceType":"Flag","id":"ra_1","status":"active","code":{"text":"x"}}`, wantErr: "Flag.id"},
	}, fhirjson.BuildFlag)
}

func TestValidFlagStatus(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "active", in: "active", want: true},
		{name: "inactive", in: "inactive", want: true},
		{name: "entered-in-error", in: "entered-in-error", want: true},
		{name: "case matters", in: "Active"},
		{name: "empty", in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fhirjson.ValidFlagStatus(tc.in); got != tc.want {
				t.Errorf("ValidFlagStatus(%q) = %v", tc.in, got)
			}
		})
	}
}

// The STU3 and CareTeam structs print what they decode, with their
// resourceType, so simulators can serve them and clients can send them.
func TestSTU3AndCareTeamRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		into any
	}{
		{name: "STU3 Flag", into: &fhirjson.STU3Flag{},
			in: `{"resourceType":"Flag","id":"5900026175.a","meta":{"versionId":"1"},"contained":[{"resourceType":"Provenance","id":"p","target":[{"reference":"Flag/5900026175.a"}],"recorded":"2021-02-25T10:37:47+00:00","agent":[{"role":[{"text":"r"}],"whoReference":{"reference":"https://sds.spineservices.nhs.uk/STU3/Practitioner/1"},"onBehalfOfReference":{"reference":"https://directory.spineservices.nhs.uk/STU3/Organization/D82106"}}]}],"extension":[{"url":"u","valueString":"v"}],"status":"active","category":{"text":"NRAF"},"code":{"text":"c"},"subject":{"reference":"https://demographics.spineservices.nhs.uk/STU3/Patient/5900026175"}}`},
		{name: "STU3 Consent", into: &fhirjson.STU3Consent{},
			in: `{"resourceType":"Consent","id":"5900026175.c","status":"active","category":[{"text":"NRAF"}],"patient":{"reference":"P"},"policy":[{"authority":"https://www.gov.uk/","uri":"https://x"}],"purpose":[{"code":"RACONSENT"}]}`},
		{name: "CareTeam", into: &fhirjson.CareTeam{},
			in: `{"resourceType":"CareTeam","id":"cpis-9000000009-cpp","status":"active","category":[{"text":"CPP"}],"subject":{"identifier":{"value":"9000000009"}},"period":{"start":"2024-03-01"},"managingOrganization":[{"display":"LA"}],"telecom":[{"system":"phone","value":"01632 960001","rank":1}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tc.in), tc.into); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(tc.into)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			_ = json.Unmarshal([]byte(tc.in), &a)
			_ = json.Unmarshal(out, &b)
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Errorf("round trip differs:\n in %s\nout %s", ja, jb)
			}
			if !strings.HasPrefix(string(out), `{"resourceType":`) {
				t.Errorf("resourceType not first: %s", out)
			}
		})
	}
}
