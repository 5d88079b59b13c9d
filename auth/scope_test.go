package auth_test

import (
	"errors"
	"testing"

	"github.com/carerecords/fhir-facade/auth"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  auth.Scope
		wantS string // canonical String()
	}{
		{name: "v2 read search", in: "patient/Observation.rs", want: auth.Scope{Context: auth.PatientContext, ResourceType: "Observation", Permissions: auth.PermRead | auth.PermSearch}, wantS: "patient/Observation.rs"},
		{name: "v2 all letters wildcard", in: "user/*.cruds", want: auth.Scope{Context: auth.UserContext, ResourceType: "*", Permissions: auth.PermAll}, wantS: "user/*.cruds"},
		{name: "v2 system read", in: "system/Patient.r", want: auth.Scope{Context: auth.SystemContext, ResourceType: "Patient", Permissions: auth.PermRead}, wantS: "system/Patient.r"},
		{name: "v2 create update", in: "user/Flag.cu", want: auth.Scope{Context: auth.UserContext, ResourceType: "Flag", Permissions: auth.PermCreate | auth.PermUpdate}, wantS: "user/Flag.cu"},
		{name: "v2 with query", in: "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", want: auth.Scope{Context: auth.PatientContext, ResourceType: "Observation", Permissions: auth.PermRead | auth.PermSearch, Query: "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}, wantS: "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"},
		{name: "v1 read", in: "user/Patient.read", want: auth.Scope{Context: auth.UserContext, ResourceType: "Patient", Permissions: auth.PermRead | auth.PermSearch}, wantS: "user/Patient.rs"},
		{name: "v1 write", in: "patient/*.write", want: auth.Scope{Context: auth.PatientContext, ResourceType: "*", Permissions: auth.PermCreate | auth.PermUpdate | auth.PermDelete}, wantS: "patient/*.cud"},
		{name: "v1 star star", in: "user/*.*", want: auth.Scope{Context: auth.UserContext, ResourceType: "*", Permissions: auth.PermAll}, wantS: "user/*.cruds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.ParseScope(tt.in)
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseScope(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.wantS {
				t.Errorf("String() = %q, want %q", s, tt.wantS)
			}
		})
	}
}

func TestParseScopeRefused(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "unknown letter", in: "user/Patient.rx"},
		{name: "letters out of order", in: "user/Patient.sr"},
		{name: "letter repeated", in: "user/Patient.rr"},
		{name: "upper-case letter", in: "user/Patient.R"},
		{name: "no permissions", in: "user/Patient."},
		{name: "no dot", in: "user/Patient"},
		{name: "lower-case type", in: "user/patient.rs"},
		{name: "type with digit", in: "user/Pat1ent.rs"},
		{name: "empty type", in: "user/.rs"},
		{name: "unknown context", in: "admin/Patient.rs"},
		{name: "v1 with query", in: "user/Patient.read?x=1"},
		{name: "empty query", in: "user/Patient.rs?"},
		{name: "v1 misspelt", in: "user/Patient.reads"},
		{name: "two dots", in: "user/Patient.r.s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := auth.ParseScope(tt.in); !errors.Is(err, auth.ErrScope) {
				t.Errorf("ParseScope(%q) = %+v, %v; want ErrScope", tt.in, got, err)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantRes   int
		wantOther []string
		wantErr   bool
	}{
		{name: "empty", in: ""},
		{name: "mixed", in: "openid fhirUser launch/patient user/*.rs user/Flag.cu", wantRes: 2, wantOther: []string{"openid", "fhirUser", "launch/patient"}},
		{name: "extra spaces", in: "  user/Patient.rs   system/*.rs ", wantRes: 2},
		{name: "bare star star has no context", in: "*.*", wantOther: []string{"*.*"}},
		{name: "one bad scope refuses all", in: "user/Patient.rs user/Flag.xyz", wantErr: true},
		{name: "quote not allowed", in: `user/Patient.rs "x`, wantErr: true},
		{name: "non-ASCII not allowed", in: "user/Patient.rs café", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.ParseScopes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseScopes(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, auth.ErrScope) {
					t.Errorf("error %v is not ErrScope", err)
				}
				return
			}
			if len(got.Resource) != tt.wantRes {
				t.Errorf("%d resource scopes, want %d: %v", len(got.Resource), tt.wantRes, got.Resource)
			}
			if len(got.Other) != len(tt.wantOther) {
				t.Fatalf("Other = %q, want %q", got.Other, tt.wantOther)
			}
			for i := range got.Other {
				if got.Other[i] != tt.wantOther[i] {
					t.Errorf("Other = %q, want %q", got.Other, tt.wantOther)
				}
			}
		})
	}
}

func TestParseScopesTooMany(t *testing.T) {
	s := ""
	for i := 0; i <= auth.MaxScopes; i++ {
		s += "openid "
	}
	if _, err := auth.ParseScopes(s); !errors.Is(err, auth.ErrScope) {
		t.Errorf("%d scopes: err = %v, want ErrScope", auth.MaxScopes+1, err)
	}
}

func TestScopesAllows(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		typ   string
		i     auth.Interaction
		want  bool
	}{
		{name: "read needs r", scope: "user/Patient.r", typ: "Patient", i: auth.Read, want: true},
		{name: "vread needs r", scope: "user/Patient.r", typ: "Patient", i: auth.VRead, want: true},
		{name: "search needs s", scope: "user/Patient.r", typ: "Patient", i: auth.Search, want: false},
		{name: "search with s", scope: "user/Patient.s", typ: "Patient", i: auth.Search, want: true},
		{name: "create needs c", scope: "user/Flag.rs", typ: "Flag", i: auth.Create, want: false},
		{name: "create with c", scope: "user/Flag.c", typ: "Flag", i: auth.Create, want: true},
		{name: "update needs u", scope: "user/Flag.u", typ: "Flag", i: auth.Update, want: true},
		{name: "patch needs u", scope: "user/Patient.u", typ: "Patient", i: auth.Patch, want: true},
		{name: "patch without u", scope: "user/Patient.crds", typ: "Patient", i: auth.Patch, want: false},
		{name: "delete needs d", scope: "user/Flag.d", typ: "Flag", i: auth.Delete, want: true},
		{name: "operation needs r", scope: "user/Patient.r", typ: "Patient", i: auth.Operation, want: true},
		{name: "operation with s only", scope: "user/Patient.s", typ: "Patient", i: auth.Operation, want: false},
		{name: "wildcard type", scope: "user/*.rs", typ: "AllergyIntolerance", i: auth.Search, want: true},
		{name: "other type", scope: "user/Patient.rs", typ: "Flag", i: auth.Read, want: false},
		{name: "v1 read searches", scope: "user/Patient.read", typ: "Patient", i: auth.Search, want: true},
		{name: "v1 read does not write", scope: "user/Patient.read", typ: "Patient", i: auth.Patch, want: false},
		{name: "v1 write does not read", scope: "user/Flag.write", typ: "Flag", i: auth.Read, want: false},
		{name: "query scope grants nothing", scope: "user/Flag.rs?category=safety", typ: "Flag", i: auth.Search, want: false},
		{name: "bare star star grants nothing", scope: "*.*", typ: "Patient", i: auth.Read, want: false},
		{name: "invalid interaction", scope: "user/*.cruds", typ: "Patient", i: auth.Interaction(99), want: false},
		{name: "empty type", scope: "user/*.cruds", typ: "", i: auth.Read, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := auth.ParseScopes(tt.scope)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Allows(tt.typ, tt.i); got != tt.want {
				t.Errorf("%q Allows(%s, %v) = %v, want %v", tt.scope, tt.typ, tt.i, got, tt.want)
			}
		})
	}
}

func TestInteractionString(t *testing.T) {
	for _, tt := range []struct {
		name string
		i    auth.Interaction
		want string
	}{
		{name: "read", i: auth.Read, want: "read"},
		{name: "patch", i: auth.Patch, want: "patch"},
		{name: "operation", i: auth.Operation, want: "operation"},
		{name: "invalid", i: auth.Interaction(0), want: "Interaction(0)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.i.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
