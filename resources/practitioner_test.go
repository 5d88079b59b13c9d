package resources_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/profiles/ukcore"
	"github.com/carerecords/fhir-facade/resources"
)

// The Practitioner provider serves the caller's own record, made from the
// token, declaring and meeting UK Core Practitioner, and 404 for any other
// id or a caller who is no user.
func TestPractitionerIsTheCaller(t *testing.T) {
	clinician := request.Caller{Subject: "910000000001", Name: "Dr Dev Clinician", Roles: []string{"R8000"}, RoleProfileID: "555254240100", OrgODS: "Y05868"}
	tests := []struct {
		name      string
		caller    *request.Caller
		id        string
		wantJSON  string // "" for 404
		wantFound bool
	}{
		{name: "own record", caller: &clinician, id: "910000000001", wantFound: true,
			wantJSON: `{"resourceType":"Practitioner","id":"910000000001","meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Practitioner"]},` +
				`"identifier":[{"system":"https://fhir.nhs.uk/Id/sds-user-id","value":"910000000001"}],"name":[{"text":"Dr Dev Clinician"}]}`},
		{name: "a subject that is no SDS user id, without a name", caller: &request.Caller{Subject: "user-7", Roles: []string{"R8001"}}, id: "user-7", wantFound: true,
			wantJSON: `{"resourceType":"Practitioner","id":"user-7","meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Practitioner"]}}`},
		{name: "another user's id", caller: &clinician, id: "910000000002"},
		{name: "no caller (authentication off)", id: "910000000001"},
		{name: "application-restricted token: its subject is a client", caller: &request.Caller{Subject: "facade-dev"}, id: "facade-dev"},
	}
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.caller != nil {
				ctx = request.With(ctx, &request.Info{Caller: tt.caller})
			}
			res, err := resources.NewPractitioner().Read(ctx, tt.id)
			if !tt.wantFound {
				if fhirerr.CategoryOf(err) != fhirerr.NotFound {
					t.Fatalf("got %v, %v; want not found", res, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.MarshalResource(res.Message)
			if err != nil {
				t.Fatal(err)
			}
			if err := profiles.Validate(b); err != nil {
				t.Errorf("does not validate: %v", err)
			}
			rep, err := ukcore.Validate(b, ukcore.Options{Require: []string{"Practitioner"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, issue := range rep.Issues {
				t.Errorf("UK Core: %v", issue)
			}
			var got, want any
			_ = json.Unmarshal(b, &got)
			_ = json.Unmarshal([]byte(tt.wantJSON), &want)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) || res.Type != "Practitioner" || res.ID != tt.id || res.RenderKey != "" {
				t.Errorf("got %s (%s/%s, render key %q)\nwant %s", gb, res.Type, res.ID, res.RenderKey, wb)
			}
		})
	}
}
