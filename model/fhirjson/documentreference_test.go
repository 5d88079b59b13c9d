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
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// nrlPointerFull uses every DocumentReference element the struct models.
const nrlPointerFull = `{"resourceType":"DocumentReference","id":"Y05868-1634567890",
 "meta":{"lastUpdated":"2024-03-20T00:00:01.000Z","profile":["http://fhir.nhs.net/StructureDefinition/nrls-documentreference-1-0"]},
 "language":"en-GB","implicitRules":"http://example.org/rules",
 "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Crisis plan</div>"},
 "extension":[{"url":"http://example.org/x","valueString":"x"}],
 "masterIdentifier":{"system":"urn:ietf:rfc:3986","value":"urn:oid:1.3.6.1.4.1.21367.2005.3.7"},
 "identifier":[{"system":"urn:ietf:rfc:3986","value":"urn:oid:1.3.6.1.4.1.21367.2005.3.7.1234"}],
 "status":"current","docStatus":"preliminary",
 "type":{"coding":[{"system":"http://snomed.info/sct","code":"736253002","display":"Mental health crisis plan"}]},
 "category":[{"coding":[{"system":"http://snomed.info/sct","code":"734163000","display":"Care plan"}]}],
 "subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"4409815415"}},
 "date":"2022-12-20T09:45:41+11:00",
 "author":[{"identifier":{"value":"Practitioner/A985657ZA"}}],
 "authenticator":{"identifier":{"value":"Organization/Y05868"}},
 "custodian":{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y05868"}},
 "relatesTo":[{"code":"replaces","target":{"identifier":{"value":"Y05868-1634567000"}}}],
 "description":"Physical",
 "securityLabel":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"V","display":"very restricted"}]}],
 "content":[{"attachment":{"contentType":"application/pdf","language":"en-US","url":"https://spine-proxy.national.ncrs.nhs.uk/p1.nhs.uk/MentalHealthCrisisPlan.pdf","size":3654,"hash":"2jmj7l5rSw0yVb/vlWAYkK/YBwk=","title":"Physical","creation":"2022-12-20T09:45:41+11:00"},
   "format":{"system":"https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode","code":"urn:nhs-ic:unstructured","display":"Unstructured document"},
   "extension":[{"url":"https://fhir.nhs.uk/England/StructureDefinition/Extension-England-ContentStability","valueCodeableConcept":{"coding":[{"system":"https://fhir.nhs.uk/England/CodeSystem/England-NRLContentStability","code":"static","display":"static"}]}}]}],
 "context":{"encounter":[{"identifier":{"value":"Encounter/4409815415"}}],
   "event":[{"coding":[{"system":"http://snomed.info/sct","code":"305625009","display":"Seen by mental health counselor"}]}],
   "period":{"start":"2022-12-20T09:00:41+11:00","end":"2022-12-20T09:45:41+11:00"},
   "facilityType":{"coding":[{"system":"http://snomed.info/sct","code":"390826005"}]},
   "practiceSetting":{"coding":[{"system":"http://snomed.info/sct","code":"390826005"}]},
   "sourcePatientInfo":{"identifier":{"value":"Patient/4409815415"}},
   "related":[{"identifier":{"system":"https://fhir.nhs.uk/Id/nhsSpineASID","value":"012345678910"}}]}}`

// TestDocumentReferenceRoundTrip decodes NRL pointers strictly (every member
// is modelled), builds the proto, prints it with jsonformat, and expects the
// same JSON back; encoding/json prints the struct back unchanged too.
func TestDocumentReferenceRoundTrip(t *testing.T) {
	cases := map[string][]byte{"full": []byte(nrlPointerFull)}
	files, _ := filepath.Glob(refdata + "/nrl-examples/*.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = raw
	}
	if len(cases) < 7 {
		t.Fatalf("only %d cases under %s", len(cases), refdata)
	}
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			var d fhirjson.DocumentReference
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("decode: %v", err)
			}
			msg, err := fhirjson.BuildDocumentReference(&d)
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
			again, err := json.Marshal(d)
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

func TestBuildDocumentReference(t *testing.T) {
	runBuild(t, []buildCase[*drpb.DocumentReference]{
		{name: "minimal", json: `{"resourceType":"DocumentReference","id":"Y05868-1","status":"current"}`,
			want: &drpb.DocumentReference{Id: &dtpb.Id{Value: "Y05868-1"},
				Status: &drpb.DocumentReference_StatusCode{Value: cpb.DocumentReferenceStatusCode_CURRENT}}},
		{name: "entered in error", json: `{"resourceType":"DocumentReference","status":"entered-in-error","docStatus":"amended"}`,
			want: &drpb.DocumentReference{
				Status:    &drpb.DocumentReference_StatusCode{Value: cpb.DocumentReferenceStatusCode_ENTERED_IN_ERROR},
				DocStatus: &drpb.DocumentReference_DocStatusCode{Value: cpb.CompositionStatusCode_AMENDED}}},
		{name: "wrong resource type", json: `{"resourceType":"Patient"}`, wantErr: "DocumentReference.resourceType"},
		{name: "bad id", json: `{"resourceType":"DocumentReference","id":"Y05868_1"}`, wantErr: "DocumentReference.id"},
		{name: "bad status", json: `{"resourceType":"DocumentReference","status":"active"}`, wantErr: "DocumentReference.status"},
		{name: "bad docStatus", json: `{"resourceType":"DocumentReference","docStatus":"draft"}`, wantErr: "DocumentReference.docStatus"},
		{name: "date without time zone", json: `{"resourceType":"DocumentReference","date":"2022-12-20T09:45:41"}`, wantErr: "DocumentReference.date"},
		{name: "date of day precision (date is an instant)", json: `{"resourceType":"DocumentReference","date":"2022-12-20"}`, wantErr: "DocumentReference.date"},
		{name: "bad relatesTo code", json: `{"resourceType":"DocumentReference","relatesTo":[{"code":"supersedes"}]}`, wantErr: "DocumentReference.relatesTo[0].code"},
		{name: "bad attachment creation", json: `{"resourceType":"DocumentReference","content":[{"attachment":{"creation":"yesterday"}}]}`, wantErr: "DocumentReference.content[0].attachment.creation"},
		{name: "bad attachment hash", json: `{"resourceType":"DocumentReference","content":[{"attachment":{"hash":"not base64!"}}]}`, wantErr: "DocumentReference.content[0].attachment.hash"},
		{name: "bad content extension", json: `{"resourceType":"DocumentReference","content":[{"extension":[{"url":"x"}]}]}`, wantErr: "DocumentReference.content[0].extension[0]"},
		{name: "bad context period", json: `{"resourceType":"DocumentReference","context":{"period":{"start":"2022-13-01"}}}`, wantErr: "DocumentReference.context.period.start"},
		{name: "bad category", json: `{"resourceType":"DocumentReference","category":[{},{"coding":[{"extension":[{"url":""}]}]}]}`, wantErr: "DocumentReference.category[1].coding[0].extension"},
	}, fhirjson.BuildDocumentReference)
}

func TestDocumentReferenceMarshalJSONWritesResourceType(t *testing.T) {
	b, err := json.Marshal(fhirjson.DocumentReference{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"resourceType":"DocumentReference","id":"x"}` {
		t.Errorf("got %s", b)
	}
}
