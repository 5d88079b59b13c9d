package fhirjson

import (
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestEnumCode(t *testing.T) {
	tests := []struct {
		in   protoreflect.Enum
		want string
	}{
		{cpb.FlagStatusCode_ACTIVE, "active"},
		{cpb.FlagStatusCode_ENTERED_IN_ERROR, "entered-in-error"},
		{cpb.MedicationStatementStatusCodes_NOT_TAKEN, "not-taken"},
		{cpb.MedicationStatementStatusCodes_ON_HOLD, "on-hold"},
		{cpb.FlagStatusCode_Value(99), ""},
	}
	for _, tt := range tests {
		if got := EnumCode(tt.in); got != tt.want {
			t.Errorf("EnumCode(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
