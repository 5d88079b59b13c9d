package fhirjson_test

import (
	"encoding/json"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirjson"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
)

func date(t *testing.T, v string) *dtpb.Date {
	t.Helper()
	d, err := fhirjson.ParseDate(v)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildPatient(t *testing.T) {
	birthTime := date(t, "1974-12-25")
	birthTime.Extension = []*dtpb.Extension{ext("http://hl7.org/fhir/StructureDefinition/patient-birthTime",
		&dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_DateTime{DateTime: day(t, "1974-12-25T14:35:45-05:00")}})}
	runBuild(t, []buildCase[*patpb.Patient]{
		{name: "minimal", json: `{"resourceType":"Patient","id":"9000000033"}`, want: &patpb.Patient{Id: &dtpb.Id{Value: "9000000033"}}},
		{name: "scalars and choices",
			json: `{"resourceType":"Patient","id":"p","active":true,"gender":"female","birthDate":"2010-10-22","deceasedBoolean":false,"multipleBirthInteger":2,"language":"en-GB","implicitRules":"http://x"}`,
			want: &patpb.Patient{
				Id: &dtpb.Id{Value: "p"}, Active: &dtpb.Boolean{Value: true}, Language: c("en-GB"), ImplicitRules: u("http://x"),
				Gender:        &patpb.Patient_GenderCode{Value: cpb.AdministrativeGenderCode_FEMALE},
				BirthDate:     date(t, "2010-10-22"),
				Deceased:      &patpb.Patient_DeceasedX{Choice: &patpb.Patient_DeceasedX_Boolean{Boolean: &dtpb.Boolean{}}},
				MultipleBirth: &patpb.Patient_MultipleBirthX{Choice: &patpb.Patient_MultipleBirthX_Integer{Integer: &dtpb.Integer{Value: 2}}},
			}},
		{name: "deceasedDateTime and multipleBirthBoolean",
			json: `{"resourceType":"Patient","deceasedDateTime":"2010-10-22T00:00:00+00:00","multipleBirthBoolean":true}`,
			want: &patpb.Patient{
				Deceased:      &patpb.Patient_DeceasedX{Choice: &patpb.Patient_DeceasedX_DateTime{DateTime: day(t, "2010-10-22T00:00:00Z")}},
				MultipleBirth: &patpb.Patient_MultipleBirthX{Choice: &patpb.Patient_MultipleBirthX_Boolean{Boolean: &dtpb.Boolean{Value: true}}},
			}},
		{name: "birthTime on _birthDate",
			json: `{"resourceType":"Patient","birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]}}`,
			want: &patpb.Patient{BirthDate: birthTime}},
		{name: "contact, communication, link, GP",
			json: `{"resourceType":"Patient",
				"contact":[{"id":"C123","relationship":[{"text":"Emergency Contact"}],"name":{"family":"Smith"},"telecom":[{"system":"phone","value":"01632960587"}],"address":{"city":"Leeds"},"gender":"male","organization":{"display":"Org"},"period":{"start":"2020-01-01"}}],
				"communication":[{"language":{"text":"French"},"preferred":true}],
				"link":[{"other":{"reference":"Patient/9000000017"},"type":"replaced-by"}],
				"generalPractitioner":[{"type":"Organization","identifier":{"system":"` + odsSystem + `","value":"Y12345"}}],
				"managingOrganization":{"identifier":{"value":"Y12345"}},
				"maritalStatus":{"text":"married"},
				"photo":[{"title":"p"}],
				"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`,
			want: &patpb.Patient{
				Contact: []*patpb.Patient_Contact{{
					Id: s("C123"), Relationship: []*dtpb.CodeableConcept{{Text: s("Emergency Contact")}}, Name: &dtpb.HumanName{Family: s("Smith")},
					Telecom: []*dtpb.ContactPoint{{System: &dtpb.ContactPoint_SystemCode{Value: cpb.ContactPointSystemCode_PHONE}, Value: s("01632960587")}},
					Address: &dtpb.Address{City: s("Leeds")}, Gender: &patpb.Patient_Contact_GenderCode{Value: cpb.AdministrativeGenderCode_MALE},
					Organization: &dtpb.Reference{Display: s("Org")}, Period: &dtpb.Period{Start: day(t, "2020-01-01")},
				}},
				Communication: []*patpb.Patient_Communication{{Language: &dtpb.CodeableConcept{Text: s("French")}, Preferred: &dtpb.Boolean{Value: true}}},
				Link: []*patpb.Patient_Link{{
					Other: &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: "9000000017"}}},
					Type:  &patpb.Patient_Link_TypeCode{Value: cpb.LinkTypeCode_REPLACED_BY},
				}},
				GeneralPractitioner:  []*dtpb.Reference{{Type: u("Organization"), Identifier: &dtpb.Identifier{System: u(odsSystem), Value: s("Y12345")}}},
				ManagingOrganization: &dtpb.Reference{Identifier: &dtpb.Identifier{Value: s("Y12345")}},
				MaritalStatus:        &dtpb.CodeableConcept{Text: s("married")},
				Photo:                []*dtpb.Attachment{{Title: s("p")}},
				Text:                 &dtpb.Narrative{Status: &dtpb.Narrative_StatusCode{Value: cpb.NarrativeStatusCode_GENERATED}, Div: &dtpb.Xhtml{Value: `<div xmlns="http://www.w3.org/1999/xhtml">x</div>`}},
			}},
		{name: "missing resourceType", json: `{"id":"1"}`, wantErr: `Patient.resourceType: is "", want "Patient"`},
		{name: "wrong resourceType", json: `{"resourceType":"OperationOutcome"}`, wantErr: `Patient.resourceType: is "OperationOutcome"`},
		{name: "bad id", json: `{"resourceType":"Patient","id":"9000 000 009"}`, wantErr: `Patient.id: "9000 000 009" is not a valid id`},
		{name: "bad gender", json: `{"resourceType":"Patient","gender":"F"}`, wantErr: `Patient.gender: "F" is not a code of AdministrativeGender (want one of female, male, other, unknown)`},
		{name: "bad birthDate", json: `{"resourceType":"Patient","birthDate":"22/10/2010"}`, wantErr: `Patient.birthDate: invalid date "22/10/2010"`},
		{name: "birthDate with time", json: `{"resourceType":"Patient","birthDate":"2010-10-22T00:00:00Z"}`, wantErr: "Patient.birthDate: invalid date"},
		{name: "bad deceasedDateTime", json: `{"resourceType":"Patient","deceasedDateTime":"2010-10-22T00:00:00"}`, wantErr: "Patient.deceasedDateTime: invalid dateTime"},
		{name: "two deceased", json: `{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2010"}`, wantErr: "Patient.deceased[x]: both"},
		{name: "two multipleBirth", json: `{"resourceType":"Patient","multipleBirthBoolean":true,"multipleBirthInteger":1}`, wantErr: "Patient.multipleBirth[x]: both"},
		{name: "bad telecom system", json: `{"resourceType":"Patient","telecom":[{"system":"phone"},{"system":"fax"},{"system":"tty"}]}`, wantErr: `Patient.telecom[2].system: "tty"`},
		{name: "bad name use", json: `{"resourceType":"Patient","name":[{"use":"legal"}]}`, wantErr: `Patient.name[0].use: "legal" is not a code of NameUse`},
		{name: "bad address period", json: `{"resourceType":"Patient","address":[{"period":{"start":"2020-01-01","end":"2021-02-29"}}]}`, wantErr: "Patient.address[0].period.end: invalid dateTime"},
		{name: "bad identifier extension", json: `{"resourceType":"Patient","identifier":[{"extension":[{"url":"x","valueCodeableConcept":{"coding":[{"extension":[{"url":"y"}]}]}}]}]}`,
			wantErr: "Patient.identifier[0].extension[0].valueCodeableConcept.coding[0].extension[0]: extension y has neither"},
		{name: "bad patient extension", json: `{"resourceType":"Patient","extension":[{"url":"a","valueString":"ok"},{"url":"b","extension":[{"url":"c","valuePeriod":{"start":"x"}}]}]}`,
			wantErr: "Patient.extension[1].extension[0].valuePeriod.start: invalid dateTime"},
		{name: "bad modifierExtension", json: `{"resourceType":"Patient","modifierExtension":[{"url":"x"}]}`, wantErr: "Patient.modifierExtension[0]: extension x has neither"},
		{name: "bad meta", json: `{"resourceType":"Patient","meta":{"versionId":"two words"}}`, wantErr: "Patient.meta.versionId:"},
		{name: "bad contact gender", json: `{"resourceType":"Patient","contact":[{"gender":"M"}]}`, wantErr: `Patient.contact[0].gender: "M"`},
		{name: "bad contact telecom", json: `{"resourceType":"Patient","contact":[{"telecom":[{"use":"x"}]}]}`, wantErr: `Patient.contact[0].telecom[0].use: "x"`},
		{name: "bad GP identifier period", json: `{"resourceType":"Patient","generalPractitioner":[{"identifier":{"period":{"start":"2020-01-01T00:00"}}}]}`,
			wantErr: "Patient.generalPractitioner[0].identifier.period.start: invalid dateTime"},
		{name: "bad link type", json: `{"resourceType":"Patient","link":[{"type":"replaced_by"}]}`, wantErr: `Patient.link[0].type: "replaced_by" is not a code of LinkType`},
		{name: "bad communication", json: `{"resourceType":"Patient","communication":[{"language":{"coding":[{"extension":[{}]}]}}]}`,
			wantErr: "Patient.communication[0].language.coding[0].extension[0]: extension without url"},
		{name: "_gender without gender", json: `{"resourceType":"Patient","_gender":{"id":"g"}}`, wantErr: "Patient._gender: extensions on a missing gender"},
		{name: "multipleBirthInteger out of range", json: `{"resourceType":"Patient","multipleBirthInteger":9999999999}`, wantErr: "Patient.multipleBirthInteger: 9999999999 is out of range"},
		{name: "bad photo", json: `{"resourceType":"Patient","photo":[{"data":"%%%"}]}`, wantErr: "Patient.photo[0].data: invalid base64Binary"},
	}, fhirjson.BuildPatient)
}

func TestPatientMarshalJSONWritesResourceType(t *testing.T) {
	b, err := json.Marshal(fhirjson.Patient{ID: "9000000009"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resourceType":"Patient","id":"9000000009"}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	b, err = json.Marshal(&fhirjson.OperationOutcome{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resourceType":"OperationOutcome"}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestBuildOperationOutcome(t *testing.T) {
	runBuild(t, []buildCase[*oopb.OperationOutcome]{
		{name: "PDS not found",
			json: `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"not-found","details":{"coding":[{"system":"https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode","version":"1","code":"RESOURCE_NOT_FOUND","display":"Resource not found"}]},"diagnostics":"d","expression":["Patient.id"],"location":["/Patient"]}]}`,
			want: &oopb.OperationOutcome{Issue: []*oopb.OperationOutcome_Issue{{
				Severity: &oopb.OperationOutcome_Issue_SeverityCode{Value: cpb.IssueSeverityCode_INFORMATION},
				Code:     &oopb.OperationOutcome_Issue_CodeType{Value: cpb.IssueTypeCode_NOT_FOUND},
				Details: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: u("https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"),
					Version: s("1"), Code: c("RESOURCE_NOT_FOUND"), Display: s("Resource not found")}}},
				Diagnostics: s("d"), Expression: []*dtpb.String{s("Patient.id")}, Location: []*dtpb.String{s("/Patient")},
			}}}},
		{name: "multiple-matches", json: `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"multiple-matches"}]}`,
			want: &oopb.OperationOutcome{Issue: []*oopb.OperationOutcome_Issue{{
				Severity: &oopb.OperationOutcome_Issue_SeverityCode{Value: cpb.IssueSeverityCode_INFORMATION},
				Code:     &oopb.OperationOutcome_Issue_CodeType{Value: cpb.IssueTypeCode_MULTIPLE_MATCHES},
			}}}},
		{name: "wrong resourceType", json: `{"resourceType":"Patient"}`, wantErr: `OperationOutcome.resourceType: is "Patient"`},
		{name: "missing severity", json: `{"resourceType":"OperationOutcome","issue":[{"code":"value"}]}`, wantErr: "OperationOutcome.issue[0].severity: missing"},
		{name: "missing code", json: `{"resourceType":"OperationOutcome","issue":[{"severity":"error"}]}`, wantErr: "OperationOutcome.issue[0].code: missing"},
		{name: "bad severity", json: `{"resourceType":"OperationOutcome","issue":[{"severity":"ERROR","code":"value"}]}`,
			wantErr: `OperationOutcome.issue[0].severity: "ERROR" is not a code of IssueSeverity (want one of error, fatal, information, warning)`},
		{name: "bad code", json: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"VALUE"}]}`, wantErr: `OperationOutcome.issue[0].code: "VALUE" is not a code of IssueType`},
	}, fhirjson.BuildOperationOutcome)
}

func TestResourceType(t *testing.T) {
	for in, want := range map[string]string{
		`{"resourceType":"Bundle","type":"searchset"}`:                    "Bundle",
		`{"issue":[],"resourceType":"OperationOutcome"}`:                  "OperationOutcome",
		`{"resourceType":"Patient","id":"9000000009","name":[{"use":1}]}`: "Patient", // the rest is not checked
		`{}`:         "",
		`not json`:   "",
		`{"id":"x"}`: "",
	} {
		got, err := fhirjson.ResourceType([]byte(in))
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ResourceType(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}
