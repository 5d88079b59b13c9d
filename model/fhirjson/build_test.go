package fhirjson_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirjson"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
)

type buildCase[P proto.Message] struct {
	name    string
	json    string // input, decoded into the builder's struct
	want    P
	wantErr string // substring of the error, path included
}

// runBuild decodes each case's JSON (strictly, so a typo in a test cannot
// pass silently) and checks the builder's result.
func runBuild[T any, P proto.Message](t *testing.T, tests []buildCase[P], build func(*T) (P, error)) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := new(T)
			dec := json.NewDecoder(bytes.NewReader([]byte(tc.json)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(in); err != nil {
				t.Fatalf("test input: %v", err)
			}
			got, err := build(in)
			checkResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

// Shorthands for expected protos.
func s(v string) *dtpb.String { return &dtpb.String{Value: v} }
func u(v string) *dtpb.Uri    { return &dtpb.Uri{Value: v} }
func c(v string) *dtpb.Code   { return &dtpb.Code{Value: v} }

func day(t *testing.T, v string) *dtpb.DateTime {
	t.Helper()
	d, err := fhirjson.ParseDateTime(v)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

func TestBuildCoding(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.Coding]{
		{name: "full", json: `{"id":"c1","system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","version":"1","code":"R","display":"restricted","userSelected":false}`,
			want: &dtpb.Coding{Id: s("c1"), System: u("http://terminology.hl7.org/CodeSystem/v3-Confidentiality"), Version: s("1"), Code: c("R"), Display: s("restricted"), UserSelected: &dtpb.Boolean{Value: false}}},
		{name: "empty", json: `{}`, want: &dtpb.Coding{}},
		{name: "bad extension", json: `{"code":"x","extension":[{"valueString":"no url"}]}`, wantErr: "extension[0]: extension without url"},
	}, fhirjson.BuildCoding)
}

func TestBuildCodeableConcept(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.CodeableConcept]{
		{name: "codings and text", json: `{"coding":[{"system":"http://snomed.info/sct","code":"1"},{"code":"2"}],"text":"two"}`,
			want: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: u("http://snomed.info/sct"), Code: c("1")}, {Code: c("2")}}, Text: s("two")}},
		{name: "error in second coding", json: `{"coding":[{"code":"1"},{"extension":[{"url":"x"}]}]}`,
			wantErr: "coding[1].extension[0]: extension x has neither"},
	}, fhirjson.BuildCodeableConcept)
}

func TestBuildPeriod(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.Period]{
		{name: "dates", json: `{"start":"2020-01-01","end":"2021-12-31"}`, want: &dtpb.Period{Start: day(t, "2020-01-01"), End: day(t, "2021-12-31")}},
		{name: "open end", json: `{"start":"2020-01-01T00:00:00+00:00"}`, want: &dtpb.Period{Start: day(t, "2020-01-01T00:00:00Z")}},
		{name: "bad start", json: `{"start":"2020-02-30"}`, wantErr: `start: invalid dateTime "2020-02-30"`},
		{name: "bad end", json: `{"end":"31/12/2021"}`, wantErr: `end: invalid dateTime`},
	}, fhirjson.BuildPeriod)
}

func TestBuildIdentifier(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.Identifier]{
		{name: "NHS number with verification status",
			json: `{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009","extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus","valueCodeableConcept":{"coding":[{"code":"01"}]}}]}`,
			want: &dtpb.Identifier{
				System: u("https://fhir.nhs.uk/Id/nhs-number"), Value: s("9000000009"),
				Extension: []*dtpb.Extension{{
					Url: u("https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"),
					Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_CodeableConcept{CodeableConcept: &dtpb.CodeableConcept{
						Coding: []*dtpb.Coding{{Code: c("01")}}}}},
				}},
			}},
		{name: "use, type, period, assigner",
			json: `{"use":"official","type":{"text":"ODS"},"system":"` + odsSystem + `","value":"Y12345","period":{"start":"2020"},"assigner":{"display":"NHS England"}}`,
			want: &dtpb.Identifier{
				Use:  &dtpb.Identifier_UseCode{Value: cpb.IdentifierUseCode_OFFICIAL},
				Type: &dtpb.CodeableConcept{Text: s("ODS")}, System: u(odsSystem), Value: s("Y12345"),
				Period: &dtpb.Period{Start: day(t, "2020")}, Assigner: &dtpb.Reference{Display: s("NHS England")},
			}},
		{name: "bad use", json: `{"use":"Official"}`, wantErr: `use: "Official" is not a code of IdentifierUse (want one of official, old, secondary, temp, usual)`},
		{name: "bad period", json: `{"period":{"start":"2020-1-1"}}`, wantErr: "period.start: invalid dateTime"},
		{name: "bad assigner", json: `{"assigner":{"identifier":{"use":"x"}}}`, wantErr: "assigner.identifier.use:"},
	}, fhirjson.BuildIdentifier)
}

func TestBuildReference(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.Reference]{
		{name: "logical ODS reference as PDS sends it",
			json: `{"id":"254406A3","type":"Organization","identifier":{"system":"` + odsSystem + `","value":"Y12345"}}`,
			want: &dtpb.Reference{Id: s("254406A3"), Type: u("Organization"), Identifier: &dtpb.Identifier{System: u(odsSystem), Value: s("Y12345")}}},
		{name: "relative reference becomes typed id", json: `{"reference":"Organization/1","display":"ACME"}`,
			want: &dtpb.Reference{Reference: &dtpb.Reference_OrganizationId{OrganizationId: &dtpb.ReferenceId{Value: "1"}}, Display: s("ACME")}},
		{name: "versioned reference", json: `{"reference":"Patient/9000000009/_history/2"}`,
			want: &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: "9000000009", History: &dtpb.Id{Value: "2"}}}}},
		{name: "fragment", json: `{"reference":"#org1"}`,
			want: &dtpb.Reference{Reference: &dtpb.Reference_Fragment{Fragment: s("org1")}}},
		{name: "absolute URL stays a uri", json: `{"reference":"https://directory.spineservices.nhs.uk/STU3/Organization/Y12345"}`,
			want: &dtpb.Reference{Reference: &dtpb.Reference_Uri{Uri: s("https://directory.spineservices.nhs.uk/STU3/Organization/Y12345")}}},
		{name: "unknown type stays a uri", json: `{"reference":"Spaceship/1"}`,
			want: &dtpb.Reference{Reference: &dtpb.Reference_Uri{Uri: s("Spaceship/1")}}},
		{name: "bad identifier", json: `{"identifier":{"period":{"end":"never"}}}`, wantErr: "identifier.period.end: invalid dateTime"},
	}, fhirjson.BuildReference)
}

func TestBuildHumanName(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.HumanName]{
		{name: "PDS usual name",
			json: `{"id":"123","use":"usual","period":{"start":"2020-01-01","end":"2021-12-31"},"given":["Jane","Anne"],"family":"Smith","prefix":["Mrs"],"suffix":["MBE"]}`,
			want: &dtpb.HumanName{
				Id: s("123"), Use: &dtpb.HumanName_UseCode{Value: cpb.NameUseCode_USUAL},
				Period: &dtpb.Period{Start: day(t, "2020-01-01"), End: day(t, "2021-12-31")},
				Given:  []*dtpb.String{s("Jane"), s("Anne")}, Family: s("Smith"), Prefix: []*dtpb.String{s("Mrs")}, Suffix: []*dtpb.String{s("MBE")},
			}},
		{name: "text only, nickname", json: `{"use":"nickname","text":"Jim"}`,
			want: &dtpb.HumanName{Use: &dtpb.HumanName_UseCode{Value: cpb.NameUseCode_NICKNAME}, Text: s("Jim")}},
		{name: "primitive extensions on family and given",
			json: `{"family":"du Marché","_family":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/humanname-own-prefix","valueString":"VV"}]},"given":["A","B"],"_given":[null,{"id":"g2"}]}`,
			want: &dtpb.HumanName{
				Family: &dtpb.String{Value: "du Marché", Extension: []*dtpb.Extension{{
					Url:   u("http://hl7.org/fhir/StructureDefinition/humanname-own-prefix"),
					Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: s("VV")}},
				}}},
				Given: []*dtpb.String{s("A"), {Value: "B", Id: s("g2")}},
			}},
		{name: "maiden", json: `{"use":"maiden","family":"X"}`, want: &dtpb.HumanName{Use: &dtpb.HumanName_UseCode{Value: cpb.NameUseCode_MAIDEN}, Family: s("X")}},
		{name: "bad use", json: `{"use":"preferred"}`, wantErr: `use: "preferred" is not a code of NameUse`},
		{name: "_given length mismatch", json: `{"given":["A"],"_given":[null,null]}`, wantErr: "_given: 2 entries for 1 given names"},
		{name: "_family without family", json: `{"_family":{"id":"x"}}`, wantErr: "_family: extensions on a missing family name"},
		{name: "bad period", json: `{"period":{"start":"2020-01-01T10:00:00"}}`, wantErr: "period.start: invalid dateTime \"2020-01-01T10:00:00\": a time needs a time zone"},
	}, fhirjson.BuildHumanName)
}

func TestBuildAddress(t *testing.T) {
	paf := `{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AddressKey","extension":[{"url":"type","valueCoding":{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-AddressKeyType","code":"PAF"}},{"url":"value","valueString":"12345678"}]}`
	runBuild(t, []buildCase[*dtpb.Address]{
		{name: "PDS home address with PAF key",
			json: `{"id":"456","use":"home","line":["1 Trevelyan Square","Boar Lane"],"postalCode":"LS1 6AE","extension":[` + paf + `]}`,
			want: &dtpb.Address{
				Id: s("456"), Use: &dtpb.Address_UseCode{Value: cpb.AddressUseCode_HOME},
				Line: []*dtpb.String{s("1 Trevelyan Square"), s("Boar Lane")}, PostalCode: s("LS1 6AE"),
				Extension: []*dtpb.Extension{{
					Url: u("https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AddressKey"),
					Extension: []*dtpb.Extension{
						{Url: u("type"), Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: &dtpb.Coding{
							System: u("https://fhir.hl7.org.uk/CodeSystem/UKCore-AddressKeyType"), Code: c("PAF")}}}},
						{Url: u("value"), Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: s("12345678")}}},
					},
				}},
			}},
		{name: "all parts", json: `{"use":"temp","type":"both","text":"t","city":"Leeds","district":"West Yorkshire","state":"England","country":"GBR","period":{"start":"2020"}}`,
			want: &dtpb.Address{
				Use: &dtpb.Address_UseCode{Value: cpb.AddressUseCode_TEMP}, Type: &dtpb.Address_TypeCode{Value: cpb.AddressTypeCode_BOTH},
				Text: s("t"), City: s("Leeds"), District: s("West Yorkshire"), State: s("England"), Country: s("GBR"),
				Period: &dtpb.Period{Start: day(t, "2020")},
			}},
		{name: "bad use", json: `{"use":"HOME"}`, wantErr: `use: "HOME" is not a code of AddressUse`},
		{name: "bad type", json: `{"type":"mailing"}`, wantErr: `type: "mailing" is not a code of AddressType`},
		{name: "bad nested extension", json: `{"extension":[{"url":"k","extension":[{"url":"type","valueCoding":{"code":"PAF"},"valueString":"x"}]}]}`,
			wantErr: "extension[0].extension[0]: extension type has more than one value[x]"},
	}, fhirjson.BuildAddress)
}

func TestBuildContactPoint(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.ContactPoint]{
		{name: "phone", json: `{"id":"789","system":"phone","value":"01632960587","use":"home","rank":1,"period":{"start":"2020-01-01"}}`,
			want: &dtpb.ContactPoint{
				Id: s("789"), System: &dtpb.ContactPoint_SystemCode{Value: cpb.ContactPointSystemCode_PHONE}, Value: s("01632960587"),
				Use: &dtpb.ContactPoint_UseCode{Value: cpb.ContactPointUseCode_HOME}, Rank: &dtpb.PositiveInt{Value: 1},
				Period: &dtpb.Period{Start: day(t, "2020-01-01")},
			}},
		{name: "other system with extension", json: `{"system":"other","value":"01632960587","use":"mobile","extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-OtherContactSystem","valueCoding":{"code":"textphone"}}]}`,
			want: &dtpb.ContactPoint{
				System: &dtpb.ContactPoint_SystemCode{Value: cpb.ContactPointSystemCode_OTHER}, Value: s("01632960587"),
				Use: &dtpb.ContactPoint_UseCode{Value: cpb.ContactPointUseCode_MOBILE},
				Extension: []*dtpb.Extension{{
					Url:   u("https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-OtherContactSystem"),
					Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: &dtpb.Coding{Code: c("textphone")}}},
				}},
			}},
		{name: "bad system", json: `{"system":"mobile"}`, wantErr: `system: "mobile" is not a code of ContactPointSystem`},
		{name: "bad use", json: `{"use":"personal"}`, wantErr: `use: "personal" is not a code of ContactPointUse`},
		{name: "rank 0", json: `{"rank":0}`, wantErr: "rank: 0 is out of range for positiveInt"},
	}, fhirjson.BuildContactPoint)
}

func TestBuildMeta(t *testing.T) {
	lu, err := fhirjson.ParseInstant("2021-06-01T09:15:30+00:00")
	if err != nil {
		t.Fatal(err)
	}
	runBuild(t, []buildCase[*dtpb.Meta]{
		{name: "PDS meta", json: `{"versionId":"2","security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"U","display":"unrestricted"}]}`,
			want: &dtpb.Meta{VersionId: &dtpb.Id{Value: "2"}, Security: []*dtpb.Coding{{
				System: u("http://terminology.hl7.org/CodeSystem/v3-Confidentiality"), Code: c("U"), Display: s("unrestricted")}}}},
		{name: "everything", json: `{"lastUpdated":"2021-06-01T09:15:30+00:00","source":"#pds","profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"],"tag":[{"code":"t"}]}`,
			want: &dtpb.Meta{LastUpdated: lu, Source: u("#pds"),
				Profile: []*dtpb.Canonical{{Value: "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"}}, Tag: []*dtpb.Coding{{Code: c("t")}}}},
		{name: "bad versionId", json: `{"versionId":"W/\"2\""}`, wantErr: `versionId: "W/\"2\"" is not a valid id`},
		{name: "date is not an instant", json: `{"lastUpdated":"2021-06-01"}`, wantErr: "lastUpdated: invalid instant"},
		{name: "bad security coding", json: `{"security":[{"code":"U"},{"extension":[{}]}]}`, wantErr: "security[1].extension[0]: extension without url"},
	}, fhirjson.BuildMeta)
}

func TestBuildNarrative(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.Narrative]{
		{name: "generated", json: `{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Jane</div>"}`,
			want: &dtpb.Narrative{Status: &dtpb.Narrative_StatusCode{Value: cpb.NarrativeStatusCode_GENERATED},
				Div: &dtpb.Xhtml{Value: `<div xmlns="http://www.w3.org/1999/xhtml">Jane</div>`}}},
		{name: "bad status", json: `{"status":"final"}`, wantErr: `status: "final" is not a code of NarrativeStatus`},
	}, fhirjson.BuildNarrative)
}

func TestBuildQuantity(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.Quantity]{
		{name: "decimal precision kept", json: `{"value":1.50,"comparator":"<=","unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}`,
			want: &dtpb.Quantity{Value: &dtpb.Decimal{Value: "1.50"}, Comparator: &dtpb.Quantity_ComparatorCode{Value: cpb.QuantityComparatorCode_LESS_THAN_OR_EQUAL_TO},
				Unit: s("kg"), System: u("http://unitsofmeasure.org"), Code: c("kg")}},
		{name: "exponent", json: `{"value":-1.2e3}`, want: &dtpb.Quantity{Value: &dtpb.Decimal{Value: "-1.2e3"}}},
		{name: "bad comparator", json: `{"comparator":"=="}`, wantErr: `comparator: "==" is not a code of QuantityComparator`},
	}, fhirjson.BuildQuantity)
}

func TestBuildAttachment(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.Attachment]{
		{name: "inline data", json: `{"contentType":"image/gif","language":"en","data":"R0lGOA==","size":4,"hash":"AAEC","title":"photo","creation":"2020-01-01","url":"http://x/y"}`,
			want: &dtpb.Attachment{ContentType: &dtpb.Attachment_ContentTypeCode{Value: "image/gif"}, Language: c("en"),
				Data: &dtpb.Base64Binary{Value: []byte("GIF8")}, Size: &dtpb.UnsignedInt{Value: 4}, Hash: &dtpb.Base64Binary{Value: []byte{0, 1, 2}},
				Title: s("photo"), Creation: day(t, "2020-01-01"), Url: &dtpb.Url{Value: "http://x/y"}}},
		{name: "bad base64", json: `{"data":"not base64!"}`, wantErr: "data: invalid base64Binary"},
		{name: "negative size", json: `{"size":-1}`, wantErr: "size: -1 is out of range for unsignedInt"},
		{name: "bad creation", json: `{"creation":"yesterday"}`, wantErr: "creation: invalid dateTime"},
	}, fhirjson.BuildAttachment)
}

func TestBuildAnnotation(t *testing.T) {
	runBuild(t, []buildCase[*dtpb.Annotation]{
		{name: "author string", json: `{"authorString":"Dr X","time":"2020-01-01","text":"*note*"}`,
			want: &dtpb.Annotation{Author: &dtpb.Annotation_AuthorX{Choice: &dtpb.Annotation_AuthorX_StringValue{StringValue: s("Dr X")}},
				Time: day(t, "2020-01-01"), Text: &dtpb.Markdown{Value: "*note*"}}},
		{name: "author reference", json: `{"authorReference":{"reference":"Practitioner/p1"},"text":"n"}`,
			want: &dtpb.Annotation{Author: &dtpb.Annotation_AuthorX{Choice: &dtpb.Annotation_AuthorX_Reference{Reference: &dtpb.Reference{
				Reference: &dtpb.Reference_PractitionerId{PractitionerId: &dtpb.ReferenceId{Value: "p1"}}}}}, Text: &dtpb.Markdown{Value: "n"}}},
		{name: "both authors", json: `{"authorString":"a","authorReference":{"display":"b"}}`, wantErr: "both authorReference and authorString"},
	}, fhirjson.BuildAnnotation)
}

func ext(url string, choice *dtpb.Extension_ValueX) *dtpb.Extension {
	return &dtpb.Extension{Url: u(url), Value: choice}
}

func TestBuildExtension(t *testing.T) {
	dt := day(t, "2010-10-22T00:00:00Z")
	d, _ := fhirjson.ParseDate("2010-10-22")
	in, _ := fhirjson.ParseInstant("2010-10-22T00:00:00Z")
	tm, _ := fhirjson.ParseTime("10:00:00")
	runBuild(t, []buildCase[*dtpb.Extension]{
		{name: "valueString", json: `{"url":"x","valueString":"Not after 7pm"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: s("Not after 7pm")}})},
		{name: "valueCode", json: `{"url":"x","valueCode":"fr"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Code{Code: c("fr")}})},
		{name: "valueBoolean false", json: `{"url":"x","valueBoolean":false}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Boolean{Boolean: &dtpb.Boolean{}}})},
		{name: "valueInteger", json: `{"url":"x","valueInteger":-3}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Integer{Integer: &dtpb.Integer{Value: -3}}})},
		{name: "valuePositiveInt", json: `{"url":"x","valuePositiveInt":2}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_PositiveInt{PositiveInt: &dtpb.PositiveInt{Value: 2}}})},
		{name: "valueUnsignedInt", json: `{"url":"x","valueUnsignedInt":0}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_UnsignedInt{UnsignedInt: &dtpb.UnsignedInt{}}})},
		{name: "valueDecimal", json: `{"url":"x","valueDecimal":0.10}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Decimal{Decimal: &dtpb.Decimal{Value: "0.10"}}})},
		{name: "valueDateTime", json: `{"url":"systemEffectiveDate","valueDateTime":"2010-10-22T00:00:00+00:00"}`, want: ext("systemEffectiveDate", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_DateTime{DateTime: dt}})},
		{name: "valueDate", json: `{"url":"x","valueDate":"2010-10-22"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Date{Date: d}})},
		{name: "valueInstant", json: `{"url":"x","valueInstant":"2010-10-22T00:00:00Z"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Instant{Instant: in}})},
		{name: "valueTime", json: `{"url":"x","valueTime":"10:00:00"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Time{Time: tm}})},
		{name: "valueUri", json: `{"url":"x","valueUri":"urn:a"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Uri{Uri: u("urn:a")}})},
		{name: "valueUrl", json: `{"url":"x","valueUrl":"http://a"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Url{Url: &dtpb.Url{Value: "http://a"}}})},
		{name: "valueId", json: `{"url":"x","valueId":"a-1"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Id{Id: &dtpb.Id{Value: "a-1"}}})},
		{name: "valueCanonical", json: `{"url":"x","valueCanonical":"http://a|1"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Canonical{Canonical: &dtpb.Canonical{Value: "http://a|1"}}})},
		{name: "valueMarkdown", json: `{"url":"x","valueMarkdown":"*a*"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Markdown{Markdown: &dtpb.Markdown{Value: "*a*"}}})},
		{name: "valueOid", json: `{"url":"x","valueOid":"urn:oid:1.2"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Oid{Oid: &dtpb.Oid{Value: "urn:oid:1.2"}}})},
		{name: "valueUuid", json: `{"url":"x","valueUuid":"urn:uuid:1"}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Uuid{Uuid: &dtpb.Uuid{Value: "urn:uuid:1"}}})},
		{name: "valueBase64Binary", json: `{"url":"x","valueBase64Binary":"AAE="}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Base64Binary{Base64Binary: &dtpb.Base64Binary{Value: []byte{0, 1}}}})},
		{name: "valueCoding", json: `{"url":"x","valueCoding":{"code":"PAF"}}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: &dtpb.Coding{Code: c("PAF")}}})},
		{name: "valueCodeableConcept", json: `{"url":"x","valueCodeableConcept":{"text":"t"}}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_CodeableConcept{CodeableConcept: &dtpb.CodeableConcept{Text: s("t")}}})},
		{name: "valueReference", json: `{"url":"x","valueReference":{"identifier":{"system":"` + odsSystem + `","value":"Y12345"}}}`,
			want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Reference{Reference: &dtpb.Reference{Identifier: &dtpb.Identifier{System: u(odsSystem), Value: s("Y12345")}}}})},
		{name: "valueIdentifier", json: `{"url":"x","valueIdentifier":{"value":"1"}}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Identifier{Identifier: &dtpb.Identifier{Value: s("1")}}})},
		{name: "valuePeriod", json: `{"url":"effectiveTime","valuePeriod":{"start":"2020-01-01T00:00:00+00:00"}}`,
			want: ext("effectiveTime", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Period{Period: &dtpb.Period{Start: day(t, "2020-01-01T00:00:00Z")}}})},
		{name: "valueAddress", json: `{"url":"x","valueAddress":{"city":"Manchester","country":"GBR"}}`,
			want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Address{Address: &dtpb.Address{City: s("Manchester"), Country: s("GBR")}}})},
		{name: "valueContactPoint", json: `{"url":"x","valueContactPoint":{"system":"email"}}`,
			want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_ContactPoint{ContactPoint: &dtpb.ContactPoint{System: &dtpb.ContactPoint_SystemCode{Value: cpb.ContactPointSystemCode_EMAIL}}}})},
		{name: "valueHumanName", json: `{"url":"x","valueHumanName":{"family":"F"}}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_HumanName{HumanName: &dtpb.HumanName{Family: s("F")}}})},
		{name: "valueQuantity", json: `{"url":"x","valueQuantity":{"value":3}}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Quantity{Quantity: &dtpb.Quantity{Value: &dtpb.Decimal{Value: "3"}}}})},
		{name: "valueAttachment", json: `{"url":"x","valueAttachment":{"title":"t"}}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Attachment{Attachment: &dtpb.Attachment{Title: s("t")}}})},
		{name: "valueAnnotation", json: `{"url":"x","valueAnnotation":{"text":"t"}}`, want: ext("x", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Annotation{Annotation: &dtpb.Annotation{Text: &dtpb.Markdown{Value: "t"}}}})},
		{name: "nested", json: `{"id":"e1","url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication","extension":[{"url":"interpreterRequired","valueBoolean":true}]}`,
			want: &dtpb.Extension{Id: s("e1"), Url: u("https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication"),
				Extension: []*dtpb.Extension{ext("interpreterRequired", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: true}}})}}},
		{name: "no url", json: `{"valueString":"a"}`, wantErr: "extension without url"},
		{name: "no value", json: `{"url":"x"}`, wantErr: "extension x has neither a (supported) value[x] nor nested extensions"},
		{name: "two values", json: `{"url":"x","valueString":"a","valueCode":"b"}`, wantErr: "extension x has more than one value[x]"},
		{name: "value and nested", json: `{"url":"x","valueString":"a","extension":[{"url":"y","valueString":"b"}]}`, wantErr: "(ext-1)"},
		{name: "bad nested date", json: `{"url":"x","extension":[{"url":"a","valueString":"ok"},{"url":"b","valueDateTime":"2010-10-22T25:00:00Z"}]}`,
			wantErr: "extension[1].valueDateTime: invalid dateTime"},
		{name: "integer out of range", json: `{"url":"x","valueInteger":2147483648}`, wantErr: "valueInteger: 2147483648 is out of range for integer"},
		{name: "bad id", json: `{"url":"x","valueId":"a b"}`, wantErr: `valueId: "a b" is not a valid id`},
		{name: "bad code in complex value", json: `{"url":"x","valueContactPoint":{"use":"x"}}`, wantErr: `valueContactPoint.use: "x" is not a code of ContactPointUse`},
	}, fhirjson.BuildExtension)
}

func TestBuildDecimal(t *testing.T) {
	tests := []struct {
		name    string
		in      json.Number
		want    *dtpb.Decimal
		wantErr string
	}{
		{name: "trailing zeros kept", in: "1.50", want: &dtpb.Decimal{Value: "1.50"}},
		{name: "absent", in: "", want: nil},
		{name: "leading zero", in: "01", wantErr: `"01" is not a valid decimal`},
		{name: "NaN", in: "NaN", wantErr: `"NaN" is not a valid decimal`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fhirjson.BuildDecimal(tc.in)
			checkResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestBuildID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *dtpb.Id
		wantErr string
	}{
		{name: "NHS number", in: "9000000009", want: &dtpb.Id{Value: "9000000009"}},
		{name: "all allowed characters", in: "aZ0-.", want: &dtpb.Id{Value: "aZ0-."}},
		{name: "64 characters", in: strings.Repeat("a", 64), want: &dtpb.Id{Value: strings.Repeat("a", 64)}},
		{name: "65 characters", in: strings.Repeat("a", 65), wantErr: "is not a valid id"},
		{name: "underscore", in: "a_b", wantErr: `"a_b" is not a valid id`},
		{name: "slash", in: "Patient/1", wantErr: "is not a valid id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fhirjson.BuildID(tc.in)
			checkResult(t, got, err, tc.want, tc.wantErr)
		})
	}
}
