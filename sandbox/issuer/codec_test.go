package issuer

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestGrantsRoundTrip: every field of a grant survives the JSON a shared
// store keeps, so a field added later without its mirror fails here.
func TestGrantsRoundTrip(t *testing.T) {
	role := DevRole{Name: "clinician", Code: "R8000", Subject: "910000000001", DisplayName: "Dr Dev",
		RoleProfileID: "555254240100", OrgODS: "Y05868", DefaultScope: "user/*.rs"}
	for _, v := range []any{
		&launchGrant{patient: "9000000009", role: role},
		&codeGrant{clientID: "c", redirectURI: "https://app.test/cb", challenge: "ch", scopes: []string{"launch", "openid"},
			patientScoped: true, patient: "9000000009", role: role, openid: true, fhirUser: true, nonce: "n"},
	} {
		rv := reflect.ValueOf(v).Elem()
		for i := range rv.NumField() {
			if rv.Field(i).IsZero() {
				t.Fatalf("%T.%s is zero in the test value: set it", v, rv.Type().Field(i).Name)
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(rv.Type())
		if err := json.Unmarshal(b, back.Interface()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Elem().Interface(), rv.Interface()) {
			t.Errorf("%T: %+v after the round trip, want %+v", v, back.Elem().Interface(), rv.Interface())
		}
	}
}
