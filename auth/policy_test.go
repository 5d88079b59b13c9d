package auth_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/auth"
)

var (
	allTypes = []string{"Patient", "AllergyIntolerance", "MedicationStatement", "Flag",
		"DocumentReference", "Binary", "Immunization", "AuditEvent", "Observation"}
	allInteractions = []auth.Interaction{auth.Read, auth.VRead, auth.Search, auth.Create,
		auth.Update, auth.Patch, auth.Delete, auth.Operation, auth.CreateOperation}
	clinical = []string{"Patient", "AllergyIntolerance", "MedicationStatement", "Flag",
		"DocumentReference", "Binary", "Immunization"}
)

// allowSet lists "Type interaction" pairs.
func allowSet(types []string, is ...auth.Interaction) map[string]bool {
	m := map[string]bool{}
	for _, t := range types {
		for _, i := range is {
			m[t+" "+i.String()] = true
		}
	}
	return m
}

func union(ms ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

func principal(t *testing.T, scope string, roles ...string) auth.Principal {
	t.Helper()
	s, err := auth.ParseScopes(scope)
	if err != nil {
		t.Fatal(err)
	}
	return auth.Principal{Subject: "u1", Roles: roles, Scopes: s}
}

// TestPolicyMatrix checks every role of the default table against every
// interaction on every type, with scopes that grant everything, so only the
// role table decides.
func TestPolicyMatrix(t *testing.T) {
	clinicalAllowed := union(
		allowSet(clinical, auth.Read, auth.VRead, auth.Search),
		allowSet([]string{"Patient"}, auth.Operation),
		allowSet([]string{"Flag"}, auth.Create, auth.Update),
	)
	birthNotifierAllowed := union(clinicalAllowed, allowSet([]string{"Patient"}, auth.CreateOperation))
	tests := []struct {
		name    string
		scope   string
		roles   []string
		patient string
		allowed map[string]bool
	}{
		{name: "clinical practitioner R8000", scope: "user/*.cruds", roles: []string{"R8000"}, allowed: birthNotifierAllowed},
		{name: "nurse R8001", scope: "user/*.cruds", roles: []string{"R8001"}, allowed: birthNotifierAllowed},
		{name: "nurse manager R8002", scope: "user/*.cruds", roles: []string{"R8002"}, allowed: clinicalAllowed},
		{name: "health professional R8003", scope: "user/*.cruds", roles: []string{"R8003"}, allowed: birthNotifierAllowed},
		{name: "admin R8008", scope: "user/*.cruds", roles: []string{"R8008"},
			allowed: allowSet([]string{"Patient"}, auth.Read, auth.VRead, auth.Search, auth.Patch, auth.Create)},
		{name: "auditor", scope: "user/*.cruds", roles: []string{"facade-auditor"},
			allowed: allowSet([]string{"AuditEvent"}, auth.Search)},
		{name: "admin and auditor", scope: "user/*.cruds", roles: []string{"R8008", "facade-auditor"},
			allowed: union(allowSet([]string{"Patient"}, auth.Read, auth.VRead, auth.Search, auth.Patch, auth.Create), allowSet([]string{"AuditEvent"}, auth.Search))},
		{name: "unknown role", scope: "user/*.cruds", roles: []string{"R9999"}, allowed: nil},
		{name: "no role", scope: "user/*.cruds", allowed: nil},
		{name: "system token", scope: "system/*.cruds",
			allowed: union(allowSet(clinical, auth.Read, auth.VRead, auth.Search), allowSet([]string{"Patient"}, auth.Operation))},
		{name: "system token with an auditor role claim", scope: "system/*.cruds", roles: []string{"facade-auditor"},
			allowed: union(allowSet(clinical, auth.Read, auth.VRead, auth.Search), allowSet([]string{"Patient"}, auth.Operation))},
		{name: "clinician in patient context", scope: "patient/*.cruds", roles: []string{"R8000"}, patient: "9000000009", allowed: birthNotifierAllowed},
		{name: "clinician in patient context with user scopes only", scope: "user/*.cruds system/*.rs", roles: []string{"R8000"}, patient: "9000000009", allowed: nil},
		{name: "patient scopes without patient context", scope: "patient/*.cruds", roles: []string{"R8000"}, allowed: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := principal(t, tt.scope, tt.roles...)
			p.Patient = tt.patient
			for _, typ := range allTypes {
				for _, i := range allInteractions {
					err := auth.Decide(p, typ, i)
					want := tt.allowed[typ+" "+i.String()]
					if (err == nil) != want {
						t.Errorf("Decide(%s %v) = %v, want allowed=%v", typ, i, err, want)
					}
					if err != nil {
						var ae *auth.AuthError
						if !errors.As(err, &ae) || ae.Status != 403 {
							t.Errorf("Decide(%s %v) error %v is not a 403 AuthError", typ, i, err)
						}
					}
				}
			}
		})
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		scope      string
		roles      []string
		patient    string
		typ        string
		i          auth.Interaction
		wantCode   string // "" = allowed
		wantReason auth.Reason
	}{
		{name: "clinician reads allergies", scope: "user/*.rs", roles: []string{"R8000"}, typ: "AllergyIntolerance", i: auth.Search},
		{name: "admin cannot read AllergyIntolerance", scope: "user/*.rs", roles: []string{"R8008"}, typ: "AllergyIntolerance", i: auth.Read, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "admin patches Patient", scope: "user/Patient.rus", roles: []string{"R8008"}, typ: "Patient", i: auth.Patch},
		{name: "admin cannot PUT Patient", scope: "user/Patient.rus", roles: []string{"R8008"}, typ: "Patient", i: auth.Update, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "clinician cannot PATCH Patient", scope: "user/*.cruds", roles: []string{"R8000"}, typ: "Patient", i: auth.Patch, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "clinician creates RA flag", scope: "user/*.rs user/Flag.cu", roles: []string{"R8000"}, typ: "Flag", i: auth.Create},
		{name: "clinician without write scope", scope: "user/*.rs", roles: []string{"R8000"}, typ: "Flag", i: auth.Create, wantCode: auth.CodeInsufficientScope, wantReason: auth.ReasonInsufficientScope},
		{name: "clinician cannot delete a flag", scope: "user/*.cruds", roles: []string{"R8000"}, typ: "Flag", i: auth.Delete, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "auditor searches AuditEvent", scope: "user/AuditEvent.s", roles: []string{"facade-auditor"}, typ: "AuditEvent", i: auth.Search},
		{name: "auditor cannot read AuditEvent by id", scope: "user/AuditEvent.rs", roles: []string{"facade-auditor"}, typ: "AuditEvent", i: auth.Read, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "auditor cannot read Patient", scope: "user/*.rs", roles: []string{"facade-auditor"}, typ: "Patient", i: auth.Read, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "clinician cannot search AuditEvent", scope: "user/*.rs", roles: []string{"R8000"}, typ: "AuditEvent", i: auth.Search, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "system token reads", scope: "system/*.rs", typ: "Patient", i: auth.Read},
		{name: "system token cannot write", scope: "system/*.cruds", typ: "Flag", i: auth.Create, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "system token with a clinician role still cannot write", scope: "system/*.cruds", roles: []string{"R8000"}, typ: "Flag", i: auth.Create, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "system token cannot patch Patient", scope: "system/Patient.u", typ: "Patient", i: auth.Patch, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "patient token reads with patient scope", scope: "patient/*.rs", roles: []string{"R8000"}, patient: "9000000009", typ: "Patient", i: auth.Read},
		{name: "patient token limited to patient scopes", scope: "user/*.rs", roles: []string{"R8000"}, patient: "9000000009", typ: "Patient", i: auth.Read, wantCode: auth.CodeInsufficientScope, wantReason: auth.ReasonPatientContext},
		{name: "patient token ignores system scopes", scope: "system/*.rs", patient: "9000000009", typ: "Patient", i: auth.Read, wantCode: auth.CodeInsufficientScope, wantReason: auth.ReasonPatientContext},
		{name: "patient scope needs a patient context", scope: "patient/*.rs", roles: []string{"R8000"}, typ: "Patient", i: auth.Read, wantCode: auth.CodeInsufficientScope, wantReason: auth.ReasonPatientContext},
		{name: "patient scope needs a role", scope: "patient/*.rs", patient: "9000000009", typ: "Patient", i: auth.Read, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "user scope without role", scope: "user/*.rs", typ: "Patient", i: auth.Read, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "no scopes", scope: "openid", roles: []string{"R8000"}, typ: "Patient", i: auth.Read, wantCode: auth.CodeInsufficientScope, wantReason: auth.ReasonInsufficientScope},
		{name: "query scope grants nothing", scope: "user/Flag.rs?category=safety", roles: []string{"R8000"}, typ: "Flag", i: auth.Search, wantCode: auth.CodeInsufficientScope, wantReason: auth.ReasonInsufficientScope},
		{name: "summary operation", scope: "user/Patient.r", roles: []string{"R8001"}, typ: "Patient", i: auth.Operation},
		{name: "invalid interaction", scope: "user/*.cruds", roles: []string{"R8000"}, typ: "Patient", i: auth.Interaction(0), wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
		{name: "ill-formed type", scope: "user/*.cruds", roles: []string{"R8000"}, typ: "<script>", i: auth.Read, wantCode: auth.CodeAccessDenied, wantReason: auth.ReasonRole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := principal(t, tt.scope, tt.roles...)
			p.Patient = tt.patient
			err := auth.Decide(p, tt.typ, tt.i)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Decide = %v, want allowed", err)
				}
				return
			}
			var ae *auth.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Decide = %v, want *AuthError %s", err, tt.wantCode)
			}
			if ae.Status != 403 || ae.Code != tt.wantCode || ae.Reason != tt.wantReason {
				t.Errorf("Decide = %d %s %s, want 403 %s %s", ae.Status, ae.Code, ae.Reason, tt.wantCode, tt.wantReason)
			}
			if ae.Description == "" || strings.Contains(ae.Description, "<script>") || strings.Contains(ae.Description, "9000000009") {
				t.Errorf("Description %q is empty or unsafe", ae.Description)
			}
		})
	}
}

func TestNewPolicyRefuses(t *testing.T) {
	tests := []struct {
		name   string
		roles  []auth.Role
		system []auth.Grant
	}{
		{name: "duplicate role", roles: []auth.Role{{Code: "R1"}, {Code: "R1"}}},
		{name: "empty code", roles: []auth.Role{{Code: ""}}},
		{name: "bad type", roles: []auth.Role{{Code: "R1", Grants: []auth.Grant{{Types: []string{"patient"}, Interactions: []auth.Interaction{auth.Read}}}}}},
		{name: "bad interaction", system: []auth.Grant{{Types: []string{"Patient"}, Interactions: []auth.Interaction{42}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := auth.NewPolicy(tt.roles, tt.system); err == nil {
				t.Error("NewPolicy succeeded, want an error")
			}
		})
	}
}

func TestCustomPolicy(t *testing.T) {
	// A deployment may map a local role onto the demographics grant.
	pol, err := auth.NewPolicy(append(auth.DefaultRoles(), auth.Role{Code: "R8010", Name: "Clerical",
		Grants: []auth.Grant{{Types: []string{"Patient"}, Interactions: []auth.Interaction{auth.Read, auth.Search, auth.Patch}}}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := principal(t, "user/Patient.rus system/*.rs", "R8010")
	if err := pol.Decide(p, "Patient", auth.Patch); err != nil {
		t.Errorf("R8010 patch: %v", err)
	}
	if !pol.RoleAllows("R8010", "Patient", auth.Search) || pol.RoleAllows("R8010", "Flag", auth.Read) {
		t.Error("RoleAllows disagrees with the table")
	}
	// No system grants: system scopes grant nothing.
	if err := pol.Decide(principal(t, "system/*.rs"), "Patient", auth.Read); err == nil {
		t.Error("system read allowed by a policy without system grants")
	}
	var zero *auth.Policy
	if err := zero.Decide(p, "Patient", auth.Read); err == nil {
		t.Error("nil Policy allowed a read")
	}
}

func ExampleDecide() {
	scopes, _ := auth.ParseScopes("user/*.rs user/Flag.cu")
	clinician := auth.Principal{Subject: "555021935107", Roles: []string{auth.RoleClinicalPractitioner}, Scopes: scopes}
	fmt.Println(auth.Decide(clinician, "Flag", auth.Create))
	fmt.Println(auth.Decide(clinician, "AuditEvent", auth.Search))
	fmt.Println(auth.Decide(clinician, "Patient", auth.Patch))
	// Output:
	// <nil>
	// auth: role: the caller's role does not permit search on AuditEvent
	// auth: insufficient_scope: the token's scopes do not permit patch on Patient
}
