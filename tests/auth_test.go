package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		authz     string // "" sends no Authorization at all
		status    int
		challenge string
	}{
		{name: "no token", path: "/Patient/9000000009", authz: "none", status: 401, challenge: `Bearer realm="carerecords-facade"`},
		{name: "garbage token", path: "/Patient/9000000009", authz: "Bearer not.a.jwt", status: 401, challenge: `error="invalid_token"`},
		{name: "basic auth", path: "/Patient/9000000009", authz: "Basic dXNlcjpwYXNz", status: 401},
		{name: "capability statement is public", path: "/metadata", authz: "none", status: 200},
		{name: "operation definitions are public", path: "/OperationDefinition/Patient-summary", authz: "none", status: 200},
		{name: "extension definitions are public", path: "/StructureDefinition/cpis-contact-type", authz: "none", status: 200},
		{name: "valid token", path: "/Patient/9000000009", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			switch tt.authz {
			case "":
			case "none":
				hdr["Authorization"] = "" // the transport adds none for an explicit empty header? see below
			default:
				hdr["Authorization"] = tt.authz
			}
			req, _ := http.NewRequest("GET", env.url+tt.path, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			var res *http.Response
			var err error
			if tt.authz == "none" {
				res, err = http.DefaultTransport.RoundTrip(req) // bypass the token helper
			} else {
				res, err = http.DefaultClient.Do(req)
			}
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if got := res.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want it to contain %q", got, tt.challenge)
			}
		})
	}
}

func TestRolesAndScopes(t *testing.T) {
	patientToken, err := env.app.DevToken("clinician", "9000000009")
	if err != nil {
		t.Fatal(err)
	}
	ptok := "Bearer " + patientToken
	tests := []struct {
		name   string
		method string
		path   string
		authz  string
		body   string
		status int
	}{
		{name: "admin edits demographics but sees no clinical data", method: "GET", path: "/AllergyIntolerance?patient=9000000009", authz: bearer("admin"), status: 403},
		{name: "admin reads Patient", method: "GET", path: "/Patient/9000000009", authz: bearer("admin"), status: 200},
		{name: "clinician may not edit demographics", method: "PATCH", path: "/Patient/9000000009", authz: bearer("clinician"), body: `[{"op":"replace","path":"/gender","value":"male"}]`, status: 403},
		{name: "clinician may not read the audit trail", method: "GET", path: "/AuditEvent?patient=9000000009", authz: bearer("clinician"), status: 403},
		{name: "auditor reads no patient data", method: "GET", path: "/Patient/9000000009", authz: bearer("auditor"), status: 403},
		{name: "auditor searches the audit trail", method: "GET", path: "/AuditEvent?patient=9000000009", authz: bearer("auditor"), status: 200},
		{name: "patient token: own record", method: "GET", path: "/Patient/9000000009", authz: ptok, status: 200},
		{name: "patient token: own flags", method: "GET", path: "/Flag?patient=9000000009", authz: ptok, status: 200},
		{name: "patient token: own summary", method: "GET", path: "/Patient/9000000009/$summary", authz: ptok, status: 200},
		{name: "patient token: someone else", method: "GET", path: "/Patient/9000000017", authz: ptok, status: 403},
		{name: "patient token: someone else's flags", method: "GET", path: "/Flag?patient=9000000017", authz: ptok, status: 403},
		{name: "patient token: search without the patient", method: "GET", path: "/Patient?family=Smith&birthdate=eq2010-10-22", authz: ptok, status: 403},
		{name: "patient token: someone else's summary", method: "GET", path: "/Patient/9000000017/$summary", authz: ptok, status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": tt.authz}
			if tt.method == "PATCH" {
				hdr["Content-Type"] = "application/json-patch+json"
				hdr["If-Match"] = `W/"2"`
			}
			r := call(t, tt.method, tt.path, hdr, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.status == 403 && outcomeIssue(t, r)["code"] != "forbidden" {
				t.Errorf("issue %v", outcomeIssue(t, r))
			}
		})
	}
}

// $summary leaves out what the caller's scopes do not cover, and says so.
func TestSummaryRespectsPermissions(t *testing.T) {
	c, err := env.app.Issuer.DevClaims(issuer.DevClientID, "clinician", "", []string{"user/Patient.rs", "user/Flag.rs"}, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := env.app.Issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	r := call(t, "GET", "/Patient/9000000009/$summary", map[string]string{"Authorization": "Bearer " + tok}, "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	matches, outcomes := entries(t, r)
	for _, m := range matches {
		if typ := m["resource"].(map[string]any)["resourceType"]; typ != "Patient" && typ != "Flag" {
			t.Errorf("a Patient+Flag token's summary holds a %v", typ)
		}
	}
	b, _ := json.Marshal(outcomes)
	if !strings.Contains(string(b), "AllergyIntolerance") || !strings.Contains(string(b), "suppressed") {
		t.Errorf("the withheld sources are not named: %s", b)
	}
}

func TestSMARTDiscovery(t *testing.T) {
	for _, path := range []string{env.root + "/.well-known/smart-configuration", env.url + "/.well-known/smart-configuration"} {
		res, err := http.DefaultTransport.RoundTrip(mustRequest(t, path))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		_ = json.NewDecoder(res.Body).Decode(&doc)
		res.Body.Close()
		if res.StatusCode != 200 || doc["token_endpoint"] == nil || doc["capabilities"] == nil {
			t.Errorf("%s: %d %v", path, res.StatusCode, doc)
		}
	}
	r := get(t, "/metadata")
	sec, _ := json.Marshal(r.body["rest"].([]any)[0].(map[string]any)["security"])
	if !strings.Contains(string(sec), "SMART-on-FHIR") || !strings.Contains(string(sec), "oauth-uris") {
		t.Errorf("CapabilityStatement security: %s", sec)
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
