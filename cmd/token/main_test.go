package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/auth/issuer"
)

// facade stands in for the running facade: the dev issuer's token endpoint
// on loopback, and a key file.
func facade(t *testing.T) (*issuer.Issuer, *httptest.Server, string) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	keyFile := filepath.Join(t.TempDir(), "issuer-key.json")
	iss, err := issuer.New(issuer.Config{URL: srv.URL + "/oauth", Audience: srv.URL + "/fhir", KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST "+issuer.TokenPath, iss.TokenHandler())
	return iss, srv, keyFile
}

func TestRun(t *testing.T) {
	t.Setenv("TOKEN_CLIENT_SECRET", "")
	t.Setenv("FACADE_URL", "")
	iss, srv, keyFile := facade(t)
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{iss.IssuerConfig()}, Audience: iss.Audience()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantErr   string // in stderr
		wantRole  string
		wantScope string
		wantPat   string
	}{
		{name: "endpoint clinician", args: []string{"-url", srv.URL, "-role", "clinician", "-scope", "user/*.rs user/Flag.cu"}, wantRole: "R8000", wantScope: "user/*.rs user/Flag.cu"},
		{name: "endpoint default role and scope", args: []string{"-url", srv.URL}, wantRole: "R8000", wantScope: "user/*.rs user/Flag.cu user/Patient.c"},
		{name: "endpoint patient context", args: []string{"-url", srv.URL, "-patient", "9000000009"}, wantRole: "R8000", wantScope: "patient/*.rs", wantPat: "9000000009"},
		{name: "endpoint system token", args: []string{"-url", srv.URL, "-role", ""}, wantScope: "system/*.rs"},
		{name: "key file admin", args: []string{"-key-file", keyFile, "-role", "admin"}, wantRole: "R8008", wantScope: "user/Patient.crus"},
		{name: "key file auditor with scope", args: []string{"-key-file", keyFile, "-role", "auditor", "-scope", "user/AuditEvent.s"}, wantRole: "facade-auditor", wantScope: "user/AuditEvent.s"},
		{name: "endpoint unknown role", args: []string{"-url", srv.URL, "-role", "superuser"}, wantCode: 1, wantErr: "invalid_request"},
		{name: "endpoint bad secret", args: []string{"-url", srv.URL, "-client-secret", "nope"}, wantCode: 1, wantErr: "invalid_client"},
		{name: "endpoint wrong path", args: []string{"-url", srv.URL, "-path", "/nope"}, wantCode: 1, wantErr: "404"},
		{name: "key file unknown role", args: []string{"-key-file", keyFile, "-role", "superuser"}, wantCode: 1, wantErr: "unknown role"},
		{name: "key file missing", args: []string{"-key-file", filepath.Join(t.TempDir(), "none")}, wantCode: 1, wantErr: "key file"},
		{name: "bad flag", args: []string{"-nope"}, wantCode: 2},
		{name: "stray argument", args: []string{"clinician"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if tt.wantCode != 0 {
				if stdout.Len() != 0 {
					t.Errorf("stdout on failure: %q", stdout.String())
				}
				if !strings.Contains(stderr.String(), tt.wantErr) {
					t.Errorf("stderr %q, want it to mention %q", stderr.String(), tt.wantErr)
				}
				return
			}
			out := stdout.String()
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || stderr.Len() != 0 {
				t.Fatalf("stdout %q, stderr %q: want only the token and a newline", out, stderr.String())
			}
			p, err := v.Verify(context.Background(), strings.TrimSpace(out))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.wantRole != "" && !p.HasRole(tt.wantRole) || tt.wantRole == "" && len(p.Roles) != 0 {
				t.Errorf("roles %q, want %q", p.Roles, tt.wantRole)
			}
			if got := p.Scopes.String(); got != tt.wantScope {
				t.Errorf("scope %q, want %q", got, tt.wantScope)
			}
			if p.Patient != tt.wantPat {
				t.Errorf("patient %q, want %q", p.Patient, tt.wantPat)
			}
		})
	}
}
