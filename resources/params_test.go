package resources_test

import (
	"net/url"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

func TestPatientNHSNumber(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  string
		ok    bool
		err   bool
	}{
		{name: "bare", query: "patient=9000000009", want: "9000000009", ok: true},
		{name: "relative reference", query: "patient=Patient/9000000009", want: "9000000009", ok: true},
		{name: "absolute reference", query: "patient=https://x.example/fhir/Patient/9000000009", want: "9000000009", ok: true},
		{name: "identifier", query: "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", want: "9000000009", ok: true},
		{name: "identifier without system", query: "patient:identifier=9000000009", want: "9000000009", ok: true},
		{name: "type modifier", query: "patient:Patient=9000000009", want: "9000000009", ok: true},
		{name: "absent", query: "other=1", ok: false},
		{name: "bad check digit", query: "patient=9000000000", ok: true, err: true},
		{name: "wrong type", query: "patient=Group/9000000009", ok: true, err: true},
		{name: "wrong identifier system", query: "patient:identifier=urn:x|9000000009", ok: true, err: true},
		{name: "given twice", query: "patient=9000000009&patient:identifier=9000000009", ok: true, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, ok, err := resources.PatientNHSNumber(q, "patient")
			if (err != nil) != tt.err || ok != tt.ok || got != tt.want {
				t.Fatalf("got %q %v %v, want %q %v err=%v", got, ok, err, tt.want, tt.ok, tt.err)
			}
			if err != nil && fhirerr.CategoryOf(err) != fhirerr.Invalid {
				t.Errorf("category %v", fhirerr.CategoryOf(err))
			}
		})
	}
	if _, err := resources.RequirePatient(url.Values{}, "subject"); fhirerr.CategoryOf(err) != fhirerr.Invalid {
		t.Errorf("RequirePatient without a patient: %v", err)
	}
}

func TestTokens(t *testing.T) {
	toks := resources.ParseTokens("http://snomed.info/sct|123, |abc,plain,")
	if len(toks) != 3 {
		t.Fatalf("%+v", toks)
	}
	tests := []struct {
		name         string
		tok          resources.Token
		system, code string
		want         bool
	}{
		{name: "system and code", tok: toks[0], system: "http://snomed.info/sct", code: "123", want: true},
		{name: "wrong system", tok: toks[0], system: "http://loinc.org", code: "123", want: false},
		{name: "empty system required", tok: toks[1], system: "", code: "abc", want: true},
		{name: "empty system but coded", tok: toks[1], system: "urn:x", code: "abc", want: false},
		{name: "any system", tok: toks[2], system: "urn:y", code: "plain", want: true},
		{name: "wrong code", tok: toks[2], system: "urn:y", code: "other", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tok.Matches(tt.system, tt.code); got != tt.want {
				t.Errorf("Matches = %v", got)
			}
		})
	}
}
