package ra_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/ra"
	"github.com/carerecords/fhir-facade/backends/upstream"
	sandboxra "github.com/carerecords/fhir-facade/sandbox/ra"
)

// TestAgainstTheSandboxRules: with no role configured, the client still
// speaks what RA's sandbox proxy requires (X-Request-ID and
// NHSD-Session-URID on every request, Content-Type application/fhir+json on
// writes), so the simulator, which applies those rules, answers it; and the
// sandbox's PATIENT_NOT_FOUND, sent as application/json, reads as no record.
func TestAgainstTheSandboxRules(t *testing.T) {
	ts := httptest.NewServer(sandboxra.New(sandboxra.Options{Open: true}))
	t.Cleanup(ts.Close)
	up, err := upstream.New(upstream.Config{Name: ra.Name, BaseURL: ts.URL + sandboxra.BasePath, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := ra.New(up, ra.Options{})
	tests := []struct {
		name, nhs string
		flags     int
		consent   bool
	}{
		{name: "the sandbox's patient", nhs: sandboxra.SandboxNHSNumber, flags: 1, consent: true},
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
