package tests

import (
	"net/http"
	"strings"
	"testing"
	"time"

	sandboxpds "github.com/carerecords/fhir-facade/sandbox/pds"
)

// TestBackendFailures makes the PDS simulator misbehave and checks that the
// facade answers with the right status and OperationOutcome, and never leaks
// the backend's address or body.
func TestBackendFailures(t *testing.T) {
	html := "<html><body><h1>503 Service Temporarily Unavailable</h1>stack at internal.host:8443</body></html>"
	tests := []struct {
		name       string
		fault      sandboxpds.Fault
		status     int
		code       string
		retryAfter string
	}{
		{name: "throttled", fault: sandboxpds.Fault{Status: 429, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled","details":{"coding":[{"system":"https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode","code":"TOO_MANY_REQUESTS"}]}}]}`, ContentType: "application/fhir+json", Header: http.Header{"Retry-After": {"7"}}}, status: 429, code: "throttled", retryAfter: "7"},
		{name: "unavailable html", fault: sandboxpds.Fault{Status: 503, Body: html, ContentType: "text/html"}, status: 504, code: "timeout"},
		{name: "server error html", fault: sandboxpds.Fault{Status: 500, Body: html, ContentType: "text/html"}, status: 502, code: "exception"},
		{name: "bad gateway", fault: sandboxpds.Fault{Status: 502, Body: "upstream connect error", ContentType: "text/plain"}, status: 502, code: "exception"},
		{name: "spine timeout", fault: sandboxpds.Fault{Status: 408, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout","details":{"coding":[{"code":"UNABLE_TO_CALL_SERVICE"}]}}]}`, ContentType: "application/fhir+json"}, status: 504, code: "timeout"},
		{name: "facade credentials refused", fault: sandboxpds.Fault{Status: 401, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","details":{"coding":[{"code":"ACCESS_DENIED"}]}}]}`, ContentType: "application/fhir+json"}, status: 502, code: "exception"},
		{name: "garbage 200", fault: sandboxpds.Fault{Status: 200, Body: "not json at all", ContentType: "application/fhir+json"}, status: 502, code: "exception"},
		{name: "slow beyond the timeout", fault: sandboxpds.Fault{Delay: backendTimeout + 500*time.Millisecond, Status: 200, Body: "{}", ContentType: "application/fhir+json"}, status: 504, code: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fault
			env.app.Sandbox.PDS.SetFault(&f)
			defer env.app.Sandbox.PDS.SetFault(nil)
			for _, path := range []string{"/Patient/9000000009", "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22"} {
				r := get(t, path)
				if r.status != tt.status {
					t.Fatalf("%s: status %d, want %d: %s", path, r.status, tt.status, r.raw)
				}
				is := outcomeIssue(t, r)
				if is["code"] != tt.code {
					t.Errorf("%s: issue.code %v, want %s", path, is["code"], tt.code)
				}
				if got := r.header.Get("Retry-After"); tt.retryAfter != "" && got != tt.retryAfter {
					t.Errorf("%s: Retry-After %q, want %q", path, got, tt.retryAfter)
				}
				body := string(r.raw)
				for _, leak := range []string{"127.0.0.1", "internal.host", "<html", "personal-demographics", "goroutine"} {
					if strings.Contains(body, leak) {
						t.Errorf("%s: body leaks %q: %s", path, leak, body)
					}
				}
			}
		})
	}
	// Once the fault is cleared the facade recovers.
	if r := get(t, "/Patient/9000000009"); r.status != 200 {
		t.Errorf("after faults: %d", r.status)
	}
}

// A payload the mapper rejects is a 502, and the offending value (patient
// data) appears neither in the answer nor in the logs.
func TestUnmappablePayloadIsNotLogged(t *testing.T) {
	body := `{"resourceType":"Patient","id":"9000000009","meta":{"versionId":"3"},"name":[{"family":"Zebedee"}],"birthDate":"1999-99-99"}`
	env.app.Sandbox.PDS.SetFault(&sandboxpds.Fault{Status: 200, Body: body, ContentType: "application/fhir+json", Header: http.Header{"Etag": {`W/"3"`}}})
	defer env.app.Sandbox.PDS.SetFault(nil)
	r := get(t, "/Patient/9000000009")
	if r.status != 502 || outcomeIssue(t, r)["code"] != "exception" {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	for where, text := range map[string]string{"answer": string(r.raw), "logs": env.logs.String()} {
		for _, secret := range []string{"1999-99-99", "Zebedee"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s carry %q", where, secret)
			}
		}
	}
	if !strings.Contains(env.logs.String(), "Patient.birthDate") {
		t.Error("the log does not say which element was wrong")
	}
}
