package ra_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/internal/recorded"
	"github.com/carerecords/fhir-facade/backends/ra"
	"github.com/carerecords/fhir-facade/backends/upstream"
)

// sandboxNHSNumber is the public sandbox's patient (sandbox/ra
// SandboxNHSNumber).
const sandboxNHSNumber = "5900026175"

// TestAgainstTheSandboxRules: with no role configured, the client still
// speaks what RA's sandbox proxy requires (X-Request-ID and
// NHSD-Session-URID on every request, Content-Type application/fhir+json on
// writes), so the simulator, which applies those rules, answered it
// (testdata/sandbox.json: the cassette holds only requests that carried
// them); and the sandbox's PATIENT_NOT_FOUND, sent as application/json,
// reads as no record.
func TestAgainstTheSandboxRules(t *testing.T) {
	ts := recorded.Server(t, filepath.Join("testdata", "sandbox.json"), map[string]string{"X-Request-ID": recorded.AnyValue, "NHSD-Session-URID": recorded.AnyValue})
	up, err := upstream.New(upstream.Config{Name: ra.Name, BaseURL: ts.URL + basePath, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := ra.New(up, ra.Options{})
	tests := []struct {
		name, nhs string
		flags     int
		consent   bool
	}{
		{name: "the sandbox's patient", nhs: sandboxNHSNumber, flags: 1, consent: true},
		{name: "no record", nhs: "9111231130"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, err := c.Flags(context.Background(), tt.nhs, "active")
			if err != nil || len(flags) != tt.flags {
				t.Errorf("Flags: %d, %v", len(flags), err)
			}
			consent, err := c.Consent(context.Background(), tt.nhs)
			if err != nil || (consent != nil) != tt.consent {
				t.Errorf("Consent: %s, %v", consent, err)
			}
		})
	}
}
