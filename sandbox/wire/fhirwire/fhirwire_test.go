package fhirwire_test

import (
	"encoding/json"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// The bytes the simulators' searchsets are made of: resourceType first,
// total the number of entries (0 written, no entry member when none), an
// entry's search only when given, empty elements left out.
func TestBundleBytes(t *testing.T) {
	one := 1
	for _, tc := range []struct {
		name string
		b    fhirwire.Bundle
		want string
	}{
		{"empty searchset", fhirwire.Searchset("b1", "http://x/Flag?p=1", nil),
			`{"resourceType":"Bundle","id":"b1","type":"searchset","total":0,"link":[{"relation":"self","url":"http://x/Flag?p=1"}]}`},
		{"one match", fhirwire.Searchset("b2", "s", []fhirwire.BundleEntry{fhirwire.Match("http://x/Flag/f", json.RawMessage(`{"resourceType":"Flag"}`))}),
			`{"resourceType":"Bundle","id":"b2","type":"searchset","total":1,"link":[{"relation":"self","url":"s"}],"entry":[{"fullUrl":"http://x/Flag/f","resource":{"resourceType":"Flag"},"search":{"mode":"match"}}]}`},
		{"RA's: meta, no search", fhirwire.Bundle{ID: "b3", Meta: &fhirwire.Meta{Profile: []string{"http://hl7.org/fhir/bundle"}}, Type: "searchset", Total: &one,
			Entry: []fhirwire.BundleEntry{{FullURL: "u", Resource: json.RawMessage(`{}`)}}},
			`{"resourceType":"Bundle","id":"b3","meta":{"profile":["http://hl7.org/fhir/bundle"]},"type":"searchset","total":1,"entry":[{"fullUrl":"u","resource":{}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// Datatypes as the services write them: an extension's url first, nested
// extensions before a value; a reference by identifier; a ranked phone.
func TestDatatypeBytes(t *testing.T) {
	two := 2
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"nested extension", fhirwire.Extension{URL: "u", Extension: []fhirwire.Extension{{URL: "created", ValueReference: &fhirwire.Reference{Reference: "#p"}}}},
			`{"url":"u","extension":[{"url":"created","valueReference":{"reference":"#p"}}]}`},
		{"coded extension", fhirwire.Extension{URL: "u", ValueCodeableConcept: &fhirwire.CodeableConcept{Coding: []fhirwire.Coding{{System: "s", Code: "c", Display: "d"}}, Text: "t"}},
			`{"url":"u","valueCodeableConcept":{"coding":[{"system":"s","code":"c","display":"d"}],"text":"t"}}`},
		{"logical reference", fhirwire.Reference{Identifier: &fhirwire.Identifier{System: "https://fhir.nhs.uk/Id/ods-organization-code", Value: "LA001"}, Display: "Council"},
			`{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"LA001"},"display":"Council"}`},
		{"ranked phone", fhirwire.ContactPoint{Extension: []fhirwire.Extension{{URL: "t", ValueCode: "emergency-duty"}}, System: "phone", Value: "01632 960999", Use: "work", Rank: &two},
			`{"extension":[{"url":"t","valueCode":"emergency-duty"}],"system":"phone","value":"01632 960999","use":"work","rank":2}`},
		{"open period", fhirwire.Period{Start: "2024-03-01"}, `{"start":"2024-03-01"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
