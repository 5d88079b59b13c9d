package profiles_test

import (
	"testing"

	"github.com/carerecords/fhir-facade/profiles"
)

// The published R4 schema rejects fhirVersion "4.0.1"; the errata fix that,
// without accepting versions that do not exist.
func TestErrataFHIRVersion(t *testing.T) {
	tests := []struct {
		name    string
		version string
		valid   bool
	}{
		{name: "R4 technical correction", version: "4.0.1", valid: true},
		{name: "R4 ballot", version: "4.0.0", valid: true},
		{name: "not a FHIR version", version: "4.0.9", valid: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := `{"resourceType":"CapabilityStatement","status":"active","date":"2026-11-25","kind":"instance",
				"fhirVersion":"` + tt.version + `","format":["json"]}`
			err := profiles.Validate([]byte(cs))
			if (err == nil) != tt.valid {
				t.Errorf("Validate(fhirVersion %s) = %v, want valid=%v", tt.version, err, tt.valid)
			}
		})
	}
}
