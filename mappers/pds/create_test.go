package pds_test

import (
	"encoding/json"
	"testing"

	pdsmap "github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

func createPatient() *fhirjson.Patient {
	return &fhirjson.Patient{
		ResourceType: "Patient",
		Name:         []fhirjson.HumanName{{Family: "Test", Given: []string{"Ada"}}},
		Gender:       "female", BirthDate: "1990-03-04",
		Address: []fhirjson.Address{{Line: []string{"1 Test Street"}, City: "Leeds", PostalCode: "LS1 6AE", Period: &fhirjson.Period{Start: "2020-01-01"}}},
		Extension: []fhirjson.Extension{{URL: pdsmap.RegisteringAuthorityURL, Extension: []fhirjson.Extension{
			{URL: "organisationIdentifier", ValueString: "RGS"}}}},
	}
}

func TestCreateRequest(t *testing.T) {
	yes := true
	tests := []struct {
		name     string
		edit     func(p *fhirjson.Patient)
		category fhirerr.Category
		expr     string
	}{
		{name: "valid"},
		{name: "NHS number", edit: func(p *fhirjson.Patient) {
			p.Identifier = []fhirjson.Identifier{{System: "https://fhir.nhs.uk/Id/nhs-number", Value: "9000000009"}}
		}, category: fhirerr.Invalid, expr: "Patient.identifier"},
		{name: "no name", edit: func(p *fhirjson.Patient) { p.Name = nil }, category: fhirerr.Required, expr: "Patient.name"},
		{name: "two names", edit: func(p *fhirjson.Patient) { p.Name = append(p.Name, p.Name[0]) }, category: fhirerr.Invalid, expr: "Patient.name"},
		{name: "no family", edit: func(p *fhirjson.Patient) { p.Name[0].Family = "" }, category: fhirerr.Required, expr: "Patient.name[0].family"},
		{name: "no given", edit: func(p *fhirjson.Patient) { p.Name[0].Given = nil }, category: fhirerr.Required, expr: "Patient.name[0].given"},
		{name: "gender other", edit: func(p *fhirjson.Patient) { p.Gender = "other" }, category: fhirerr.Invalid, expr: "Patient.gender"},
		{name: "no gender", edit: func(p *fhirjson.Patient) { p.Gender = "" }, category: fhirerr.Required, expr: "Patient.gender"},
		{name: "birth year only", edit: func(p *fhirjson.Patient) { p.BirthDate = "1990" }, category: fhirerr.Invalid, expr: "Patient.birthDate"},
		{name: "no address", edit: func(p *fhirjson.Patient) { p.Address = nil }, category: fhirerr.Required, expr: "Patient.address"},
		{name: "address without period", edit: func(p *fhirjson.Patient) { p.Address[0].Period = nil }, category: fhirerr.Required, expr: "Patient.address[0].period.start"},
		{name: "no registering authority", edit: func(p *fhirjson.Patient) { p.Extension = nil }, category: fhirerr.Required, expr: "Patient.extension"},
		{name: "deceased", edit: func(p *fhirjson.Patient) { p.DeceasedBoolean = &yes }, category: fhirerr.Invalid, expr: "Patient.deceased[x]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := createPatient()
			if tt.edit != nil {
				tt.edit(p)
			}
			b, err := pdsmap.CreateRequest(p)
			if tt.expr == "" {
				if err != nil {
					t.Fatal(err)
				}
				var got map[string]any
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				addr := got["address"].([]any)[0].(map[string]any)
				if len(addr["line"].([]any)) != 2 || addr["use"] != "home" || got["name"].([]any)[0].(map[string]any)["use"] != "usual" {
					t.Errorf("request %s", b)
				}
				return
			}
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != tt.category || fe.Expression != tt.expr {
				t.Fatalf("err = %#v, want %v at %s", err, tt.category, tt.expr)
			}
		})
	}
}
