package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/carerecords/fhir-facade/auth"
)

// A standalone launch's token ("launch/patient patient/*.rs openid
// fhirUser", with the patient the user picked) is accepted as it is: the
// context scopes grant nothing and choke nothing, the patient/ scopes read
// the patient in context, and fhirUser reads the user's own record.
func TestStandaloneLaunchToken(t *testing.T) {
	f := newFixture(t)
	ec, _, _ := testKeys(t)
	tok := sign(t, esHeader, with(f.claims(), "scope", "launch/patient patient/*.rs openid fhirUser", "patient", "9000000009"), ec)
	p, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if nhs, ok := auth.PatientScoped(p); !ok || nhs != "9000000009" {
		t.Errorf("PatientScoped = %q, %v", nhs, ok)
	}
	if !p.Scopes.Has("launch/patient") || !p.Scopes.Has("fhirUser") || !p.Scopes.Has("openid") || p.Scopes.Has("launch") || len(p.Scopes.Resource) != 1 {
		t.Errorf("scopes %+v", p.Scopes)
	}
	tests := []struct {
		typ   string
		i     auth.Interaction
		allow bool
	}{
		{"Patient", auth.Read, true},
		{"AllergyIntolerance", auth.Search, true},
		{"Patient", auth.Operation, true}, // $summary reads
		{"Flag", auth.Create, false},
		{"Practitioner", auth.Read, true}, // fhirUser
		{"Practitioner", auth.Search, false},
	}
	for _, tt := range tests {
		err := auth.Decide(p, tt.typ, tt.i)
		if (err == nil) != tt.allow {
			t.Errorf("%s %s: %v, want allowed %v", tt.i, tt.typ, err, tt.allow)
		}
	}
}

// Reading the caller's own Practitioner record (UserType) needs a user and
// fhirUser, or a user/ scope reading Practitioner outside a patient context.
func TestDecideUser(t *testing.T) {
	tests := []struct {
		name    string
		scope   string
		patient string
		roles   []string
		i       auth.Interaction
		code    string // "" allowed
	}{
		{name: "openid fhirUser alone", scope: "openid fhirUser", roles: []string{"R8000"}},
		{name: "fhirUser in a patient context", scope: "launch patient/Patient.r openid fhirUser", patient: "9000000009", roles: []string{"R8001"}},
		{name: "user/*.rs", scope: "user/*.rs", roles: []string{"R8000"}},
		{name: "user/Practitioner.r", scope: "user/Practitioner.r", roles: []string{"facade-auditor"}},
		{name: "a role the table does not know is still a user", scope: "openid fhirUser", roles: []string{"R9999"}},
		{name: "patient/*.rs is the patient's data, not the user", scope: "patient/*.rs", patient: "9000000009", roles: []string{"R8000"}, code: auth.CodeInsufficientScope},
		{name: "user/*.rs in a patient context counts for nothing", scope: "user/*.rs", patient: "9000000009", roles: []string{"R8000"}, code: auth.CodeInsufficientScope},
		{name: "user/Patient.rs does not read Practitioner", scope: "user/Patient.rs", roles: []string{"R8000"}, code: auth.CodeInsufficientScope},
		{name: "fhirUser without openid is still the scope", scope: "fhirUser", roles: []string{"R8000"}},
		{name: "application-restricted: no user", scope: "system/*.rs fhirUser", code: auth.CodeAccessDenied},
		{name: "search is not a read of one's own record", scope: "openid fhirUser user/*.rs", roles: []string{"R8000"}, i: auth.Search, code: auth.CodeAccessDenied},
		{name: "nor is an update", scope: "openid fhirUser user/*.cruds", roles: []string{"R8000"}, i: auth.Update, code: auth.CodeAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := principal(t, tt.scope, tt.roles...)
			p.Patient = tt.patient
			i := tt.i
			if i == 0 {
				i = auth.Read
			}
			err := auth.Decide(p, auth.UserType, i)
			var ae *auth.AuthError
			switch {
			case tt.code == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.code != "" && (!errors.As(err, &ae) || ae.Code != tt.code || ae.Status != 403):
				t.Errorf("got %v, want 403 %s", err, tt.code)
			}
		})
	}
}
