package issuer_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

const aud = "http://127.0.0.1:8080/fhir"

var epoch = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func now() time.Time { return epoch }

func newIssuer(t *testing.T, cfg issuer.Config) *issuer.Issuer {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = "http://127.0.0.1:8080/oauth"
	}
	if cfg.Audience == "" {
		cfg.Audience = aud
	}
	if cfg.Now == nil {
		cfg.Now = now
	}
	i, err := issuer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func verifier(t *testing.T, ics ...auth.IssuerConfig) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Issuers: ics, Audience: aud, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNewGeneratesAFreshKey(t *testing.T) {
	a, b := newIssuer(t, issuer.Config{}), newIssuer(t, issuer.Config{})
	if a.KeyID() == b.KeyID() {
		t.Error("two issuers share a key")
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(a.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 || doc.Keys[0]["kid"] != a.KeyID() || doc.Keys[0]["kty"] != "EC" || doc.Keys[0]["alg"] != "ES256" {
		t.Errorf("JWKS = %s", a.JWKS())
	}
	if _, ok := doc.Keys[0]["d"]; ok {
		t.Error("the JWKS publishes the private key")
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  issuer.Config
	}{
		{name: "no URL", cfg: issuer.Config{Audience: aud}},
		{name: "relative URL", cfg: issuer.Config{URL: "/oauth", Audience: aud}},
		{name: "no audience", cfg: issuer.Config{URL: "http://127.0.0.1/oauth"}},
		{name: "TTL too long", cfg: issuer.Config{URL: "http://127.0.0.1/oauth", Audience: aud, TTL: 48 * time.Hour}},
		{name: "client without secret", cfg: issuer.Config{URL: "http://127.0.0.1/oauth", Audience: aud, Clients: []issuer.Client{{ID: "a"}}}},
		{name: "duplicate client", cfg: issuer.Config{URL: "http://127.0.0.1/oauth", Audience: aud, Clients: []issuer.Client{{ID: "a", Secret: "s"}, {ID: "a", Secret: "t"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := issuer.New(tt.cfg); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}

func TestMint(t *testing.T) {
	iss := newIssuer(t, issuer.Config{})
	v := verifier(t, iss.IssuerConfig())
	tests := []struct {
		name    string
		claims  issuer.Claims
		wantErr bool
		check   func(t *testing.T, p auth.Principal)
	}{
		{name: "clinician", claims: issuer.Claims{Subject: "910000000001", Name: "Dr A", Roles: []string{"R8000"}, RoleProfileID: "555254240100", OrgODS: "Y05868", Scopes: []string{"user/*.rs", "user/Flag.cu"}},
			check: func(t *testing.T, p auth.Principal) {
				if p.Subject != "910000000001" || p.Name != "Dr A" || !p.HasRole("R8000") || p.RoleProfileID != "555254240100" || p.OrgODS != "Y05868" || p.Issuer != iss.URL() || p.TokenID == "" {
					t.Errorf("principal = %+v", p)
				}
				if !p.ExpiresAt.Equal(epoch.Add(issuer.DefaultTTL)) {
					t.Errorf("expires %v", p.ExpiresAt)
				}
				if err := auth.Decide(p, "Flag", auth.Create); err != nil {
					t.Errorf("Decide: %v", err)
				}
			}},
		{name: "patient context and TTL", claims: issuer.Claims{Subject: "u", Roles: []string{"R8000"}, Scopes: []string{"patient/*.rs"}, Patient: "9000000009", TTL: 5 * time.Minute},
			check: func(t *testing.T, p auth.Principal) {
				if nhs, ok := auth.PatientScoped(p); !ok || nhs != "9000000009" {
					t.Errorf("PatientScoped = %q %v", nhs, ok)
				}
				if !p.ExpiresAt.Equal(epoch.Add(5 * time.Minute)) {
					t.Errorf("expires %v", p.ExpiresAt)
				}
			}},
		{name: "other audience is refused by this verifier", claims: issuer.Claims{Subject: "u", Audience: "https://elsewhere.test"},
			check: nil, wantErr: false},
		{name: "no subject", claims: issuer.Claims{Scopes: []string{"user/*.rs"}}, wantErr: true},
		{name: "malformed scope", claims: issuer.Claims{Subject: "u", Scopes: []string{"user/*.xyz"}}, wantErr: true},
		{name: "patient not an NHS number", claims: issuer.Claims{Subject: "u", Patient: "1234567890"}, wantErr: true},
		{name: "TTL too long", claims: issuer.Claims{Subject: "u", TTL: 24 * time.Hour}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := iss.Mint(tt.claims)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Mint error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			p, err := v.Verify(context.Background(), tok)
			if tt.claims.Audience != "" {
				var ae *auth.AuthError
				if !errors.As(err, &ae) || ae.Reason != auth.ReasonAudience {
					t.Errorf("Verify = %v, want an audience error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

// The verifier can fetch the issuer's JWKS over HTTP, as it would a real one's.
func TestJWKSHandler(t *testing.T) {
	var iss *issuer.Issuer
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	iss = newIssuer(t, issuer.Config{URL: srv.URL + "/oauth"})
	mux.Handle(issuer.JWKSPath, iss.JWKSHandler())

	res, err := http.Get(srv.URL + issuer.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET JWKS: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	res, err = http.Post(srv.URL+issuer.JWKSPath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST JWKS: %d, want 405", res.StatusCode)
	}

	v := verifier(t, auth.IssuerConfig{Issuer: iss.URL(), JWKSURL: srv.URL + issuer.JWKSPath})
	tok, err := iss.Mint(issuer.Claims{Subject: "u", Scopes: []string{"system/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("Verify over HTTP JWKS: %v", err)
	}
}

func TestTokenEndpoint(t *testing.T) {
	iss := newIssuer(t, issuer.Config{Clients: []issuer.Client{
		{ID: "app", Secret: "s3cret", DefaultScope: "system/*.rs"},
		{ID: "ui", Secret: "pw", DefaultScope: "user/*.rs"},
	}})
	v := verifier(t, iss.IssuerConfig())
	tests := []struct {
		name       string
		method     string
		ctype      string
		form       string
		basic      [2]string
		wantStatus int
		wantError  string
		check      func(t *testing.T, p auth.Principal, res issuer.TokenResponse)
	}{
		{name: "good client, form credentials, default scope", form: "grant_type=client_credentials&client_id=app&client_secret=s3cret", wantStatus: 200,
			check: func(t *testing.T, p auth.Principal, res issuer.TokenResponse) {
				if p.Subject != "app" || p.ClientID != "app" || len(p.Roles) != 0 || res.Scope != "system/*.rs" {
					t.Errorf("principal %+v, scope %q", p, res.Scope)
				}
				if err := auth.Decide(p, "Patient", auth.Read); err != nil {
					t.Errorf("system read: %v", err)
				}
				if err := auth.Decide(p, "Flag", auth.Create); err == nil {
					t.Error("system token may write")
				}
			}},
		{name: "good client, HTTP Basic, clinician", form: "grant_type=client_credentials&role=clinician&scope=user/*.rs+user/Flag.cu", basic: [2]string{"app", "s3cret"}, wantStatus: 200,
			check: func(t *testing.T, p auth.Principal, res issuer.TokenResponse) {
				if !p.HasRole(auth.RoleClinicalPractitioner) || p.RoleProfileID == "" || p.OrgODS == "" || p.Subject == "app" || res.Scope != "user/*.rs user/Flag.cu" {
					t.Errorf("principal %+v, scope %q", p, res.Scope)
				}
				if err := auth.Decide(p, "Flag", auth.Create); err != nil {
					t.Errorf("clinician create Flag: %v", err)
				}
			}},
		{name: "role by code, patient context", form: "grant_type=client_credentials&client_id=ui&client_secret=pw&role=R8001&patient=9000000009&scope=patient/*.rs", wantStatus: 200,
			check: func(t *testing.T, p auth.Principal, _ issuer.TokenResponse) {
				if nhs, ok := auth.PatientScoped(p); !ok || nhs != "9000000009" || !p.HasRole("R8001") {
					t.Errorf("principal %+v", p)
				}
			}},
		{name: "admin", form: "grant_type=client_credentials&client_id=ui&client_secret=pw&role=admin&scope=user/Patient.rus", wantStatus: 200,
			check: func(t *testing.T, p auth.Principal, _ issuer.TokenResponse) {
				if err := auth.Decide(p, "Patient", auth.Patch); err != nil {
					t.Errorf("admin patch: %v", err)
				}
			}},
		{name: "auditor", form: "grant_type=client_credentials&client_id=ui&client_secret=pw&role=auditor&scope=user/AuditEvent.s", wantStatus: 200,
			check: func(t *testing.T, p auth.Principal, _ issuer.TokenResponse) {
				if err := auth.Decide(p, "AuditEvent", auth.Search); err != nil {
					t.Errorf("auditor search: %v", err)
				}
			}},
		{name: "role's default scope", form: "grant_type=client_credentials&client_id=ui&client_secret=pw&role=admin", wantStatus: 200,
			check: func(t *testing.T, p auth.Principal, res issuer.TokenResponse) {
				if res.Scope != "user/Patient.crus" || !p.HasRole(auth.RoleAdminClinicalSupport) {
					t.Errorf("scope %q, roles %q", res.Scope, p.Roles)
				}
			}},
		{name: "patient's default scope", form: "grant_type=client_credentials&client_id=ui&client_secret=pw&role=clinician&patient=9000000009", wantStatus: 200,
			check: func(t *testing.T, p auth.Principal, res issuer.TokenResponse) {
				if res.Scope != "patient/*.rs" || p.Patient != "9000000009" {
					t.Errorf("scope %q, patient %q", res.Scope, p.Patient)
				}
			}},
		{name: "content type with charset", ctype: "application/x-www-form-urlencoded; charset=UTF-8", form: "grant_type=client_credentials&client_id=app&client_secret=s3cret", wantStatus: 200},
		{name: "bad secret", form: "grant_type=client_credentials&client_id=app&client_secret=nope", wantStatus: 401, wantError: "invalid_client"},
		{name: "bad secret, Basic", form: "grant_type=client_credentials", basic: [2]string{"app", "nope"}, wantStatus: 401, wantError: "invalid_client"},
		{name: "another client's secret", form: "grant_type=client_credentials&client_id=app&client_secret=pw", wantStatus: 401, wantError: "invalid_client"},
		{name: "unknown client", form: "grant_type=client_credentials&client_id=who&client_secret=s3cret", wantStatus: 401, wantError: "invalid_client"},
		{name: "no credentials", form: "grant_type=client_credentials", wantStatus: 401, wantError: "invalid_client"},
		{name: "two authentication methods", form: "grant_type=client_credentials&client_secret=s3cret", basic: [2]string{"app", "s3cret"}, wantStatus: 400, wantError: "invalid_request"},
		{name: "bad grant", form: "grant_type=password&client_id=app&client_secret=s3cret&username=a&password=b", wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "no grant", form: "client_id=app&client_secret=s3cret", wantStatus: 400, wantError: "invalid_request"},
		{name: "unknown role", form: "grant_type=client_credentials&client_id=app&client_secret=s3cret&role=superuser", wantStatus: 400, wantError: "invalid_request"},
		{name: "malformed scope", form: "grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=user/Patient.rx", wantStatus: 400, wantError: "invalid_scope"},
		{name: "bad patient", form: "grant_type=client_credentials&client_id=app&client_secret=s3cret&patient=123", wantStatus: 400, wantError: "invalid_request"},
		{name: "repeated parameter", form: "grant_type=client_credentials&client_id=app&client_secret=s3cret&role=admin&role=clinician", wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON body", ctype: "application/json", form: `{"grant_type":"client_credentials"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "GET", method: "GET", wantStatus: 405, wantError: "invalid_request"},
		{name: "huge body", form: "grant_type=client_credentials&client_id=app&client_secret=s3cret&x=" + strings.Repeat("a", 20000), wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "POST"
			}
			req := httptest.NewRequest(method, issuer.TokenPath, strings.NewReader(tt.form))
			ct := tt.ctype
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			if tt.basic[0] != "" {
				req.SetBasicAuth(url.QueryEscape(tt.basic[0]), url.QueryEscape(tt.basic[1]))
			}
			rec := httptest.NewRecorder()
			iss.TokenHandler().ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
			if tt.wantError != "" {
				var e issuer.ErrorResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error != tt.wantError || e.ErrorDescription == "" {
					t.Errorf("body %s, want error %s", rec.Body, tt.wantError)
				}
				if strings.Contains(rec.Body.String(), "s3cret") || strings.Contains(rec.Body.String(), "nope") {
					t.Errorf("the error echoes a secret: %s", rec.Body)
				}
				if tt.wantStatus == 401 && rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			var res issuer.TokenResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if res.TokenType != "Bearer" || res.ExpiresIn != int64(issuer.DefaultTTL/time.Second) || res.AccessToken == "" {
				t.Errorf("response %+v", res)
			}
			p, err := v.Verify(context.Background(), res.AccessToken)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.check != nil {
				tt.check(t, p, res)
			}
		})
	}
}

func TestDefaultDevClient(t *testing.T) {
	iss := newIssuer(t, issuer.Config{})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {issuer.DevClientID}, "client_secret": {issuer.DevClientSecret}, "role": {"clinician"}, "scope": {"user/*.rs"}}
	req := httptest.NewRequest("POST", issuer.TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	iss.TokenHandler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "issuer-key.json")
	iss := newIssuer(t, issuer.Config{KeyFile: path})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	loaded, err := issuer.LoadKeyFile(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.KeyID() != iss.KeyID() || loaded.URL() != iss.URL() || loaded.Audience() != iss.Audience() {
		t.Errorf("loaded issuer %s %s, want %s %s", loaded.KeyID(), loaded.URL(), iss.KeyID(), iss.URL())
	}
	tok, err := loaded.Mint(issuer.Claims{Subject: "u", Roles: []string{"R8000"}, Scopes: []string{"user/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier(t, iss.IssuerConfig()).Verify(context.Background(), tok); err != nil {
		t.Errorf("a token minted from the key file is refused by the running issuer's keys: %v", err)
	}

	// A restart writes a fresh key over the old one.
	again := newIssuer(t, issuer.Config{KeyFile: path})
	reloaded, err := issuer.LoadKeyFile(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if reloaded.KeyID() != again.KeyID() || reloaded.KeyID() == iss.KeyID() {
		t.Error("the key file was not replaced by the new key")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the key directory, want 1 (no temporary files left)", len(entries))
	}

	tests := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{name: "group readable", setup: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "k.json")
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(p, data, 0o640); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "missing", setup: func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.json") }},
		{name: "not JSON", setup: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "k.json")
			if err := os.WriteFile(p, []byte("-----BEGIN"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "no key", setup: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "k.json")
			if err := os.WriteFile(p, []byte(`{"issuer":"http://127.0.0.1/oauth","audience":"a","kid":"k","private_key":""}`), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "kid does not match", setup: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "k.json")
			data, _ := os.ReadFile(path)
			data = []byte(strings.Replace(string(data), again.KeyID(), "other", 1))
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := issuer.LoadKeyFile(tt.setup(t), now); err == nil {
				t.Error("LoadKeyFile succeeded")
			}
		})
	}
}
