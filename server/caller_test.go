package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// What a verified token's requests carry is made once from its principal:
// the caller providers and the audit trail see, the cache partition, the
// headers forwarded to the national services, and the types its fan-outs
// may ask.
func TestNewCaller(t *testing.T) {
	s := &Server{cfg: Config{Auth: &Auth{}}}
	tests := []struct {
		name      string
		p         auth.Principal
		partition string
		forward   http.Header
		scope     string
		flags     bool // may search Flag
	}{
		{name: "clinician",
			p:         auth.Principal{Subject: "910000000001", Name: "Dr Dev", Roles: []string{"R8000"}, RoleProfileID: "555254240100", OrgODS: "Y05868", ClientID: "c", Issuer: "https://iss"},
			partition: "R8000|Y05868||https://iss",
			forward:   http.Header{"Nhsd-Session-Urid": {"555254240100"}, "Nhsd-End-User-Organisation-Ods": {"Y05868"}},
			scope:     "user/*.rs", flags: true},
		{name: "patient-bound, two roles",
			p:         auth.Principal{Subject: "u", Roles: []string{"R8000", "R8001"}, Patient: "9000000009", Issuer: "https://iss"},
			partition: "R8000 R8001||9000000009|https://iss",
			forward:   http.Header{},
			scope:     "patient/Patient.rs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.p.Scopes, err = auth.ParseScopes(tt.scope); err != nil {
				t.Fatal(err)
			}
			c := s.newCaller(tt.p)
			want := request.Caller{Subject: tt.p.Subject, Name: tt.p.Name, Roles: tt.p.Roles, RoleProfileID: tt.p.RoleProfileID,
				OrgODS: tt.p.OrgODS, Patient: tt.p.Patient, ClientID: tt.p.ClientID, Issuer: tt.p.Issuer}
			if c.info.Subject != want.Subject || c.info.Name != want.Name || len(c.info.Roles) != len(want.Roles) || c.info.RoleProfileID != want.RoleProfileID ||
				c.info.OrgODS != want.OrgODS || c.info.Patient != want.Patient || c.info.ClientID != want.ClientID || c.info.Issuer != want.Issuer {
				t.Errorf("caller %+v, want %+v", *c.info, want)
			}
			if c.partition != tt.partition {
				t.Errorf("partition %q, want %q", c.partition, tt.partition)
			}
			if len(c.forward) != len(tt.forward) {
				t.Errorf("forward %v, want %v", c.forward, tt.forward)
			}
			for k := range tt.forward {
				if c.forward.Get(k) != tt.forward.Get(k) {
					t.Errorf("forward %v, want %v", c.forward, tt.forward)
				}
			}
			// The default policy decides, with the token's scopes.
			if got := c.searchable("Flag"); got != tt.flags {
				t.Errorf("searchable(Flag) = %v, want %v", got, tt.flags)
			}
		})
	}
}

// authenticate puts the caller into the request's value, and a refusal
// leaves none there (a batch entry's value starts with its batch's).
func TestAuthenticateFillsTheRequestValue(t *testing.T) {
	s := &Server{cfg: Config{Auth: &Auth{Verifier: &auth.Verifier{}, Realm: "fhir"}}}
	ri := &request.Info{Caller: &request.Caller{Subject: "the batch's caller"}}
	r := httptest.NewRequest(http.MethodGet, "/fhir/Patient/9000000009", nil).WithContext(request.With(context.Background(), ri))
	if c, err := s.authenticate(r, ri); err == nil || c != nil {
		t.Fatalf("a request without a token authenticated: %v, %v", c, err)
	}
	if ri.Caller != nil || ri.CachePartition != "" || ri.Forward != nil || ri.Allowed != nil {
		t.Errorf("a refused request's value holds a caller: %+v", ri)
	}
	s.cfg.Auth = nil
	if c, err := s.authenticate(r, ri); err != nil || c != nil {
		t.Errorf("without Auth: %v, %v", c, err)
	}
}

// The Practitioner provider serves the policy's user type: the two are
// kept apart (providers do not import auth), so held equal here.
func TestPractitionerIsTheUserType(t *testing.T) {
	if got := resources.NewPractitioner().ResourceType(); got != auth.UserType {
		t.Errorf("Practitioner provider serves %q, the policy decides %q", got, auth.UserType)
	}
}
