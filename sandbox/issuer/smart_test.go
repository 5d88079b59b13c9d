package issuer_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

// The SMART EHR launch: POST /oauth/launch, GET|POST /oauth/authorize, POST
// /oauth/token with grant_type=authorization_code.

const (
	viewerRedirect = "http://127.0.0.1:8080/view/callback"
	otherRedirect  = "https://other.test/cb?tenant=a"
	appRedirect    = "https://app.test/cb"
	// RFC 7636 Appendix B: a code verifier and its S256 code challenge.
	verifierValue  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	challengeValue = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// clock is an injectable clock for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type smartEnv struct {
	iss   *issuer.Issuer
	clock *clock
	logs  *[]string
}

func newSMART(t *testing.T, maxPending int) smartEnv {
	t.Helper()
	c := &clock{t: epoch}
	var logs []string
	iss := newIssuer(t, issuer.Config{Now: c.now, MaxPending: maxPending,
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
		Clients: []issuer.Client{
			{ID: "ehr", Secret: "ehr-secret"},
			{ID: issuer.ViewerClientID, RedirectURIs: []string{viewerRedirect}},
			{ID: "other", RedirectURIs: []string{otherRedirect}},
			{ID: "conf-app", Secret: "app-secret", RedirectURIs: []string{appRedirect}},
		}})
	return smartEnv{iss: iss, clock: c, logs: &logs}
}

func postForm(h http.Handler, path string, form url.Values, basic [2]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// launch registers a launch as the EHR and returns its id.
func (e smartEnv) launch(t *testing.T, patient, role string) string {
	t.Helper()
	form := url.Values{"client_id": {"ehr"}, "client_secret": {"ehr-secret"}, "patient": {patient}}
	if role != "" {
		form.Set("role", role)
	}
	rec := postForm(e.iss.LaunchHandler(), issuer.LaunchPath, form, [2]string{})
	if rec.Code != http.StatusCreated {
		t.Fatalf("launch: %d %s", rec.Code, rec.Body)
	}
	var res issuer.LaunchResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.Launch == "" {
		t.Fatalf("launch: %s", rec.Body)
	}
	return res.Launch
}

// authParams is a good authorization request of the viewer for launch.
func authParams(launch string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {issuer.ViewerClientID}, "redirect_uri": {viewerRedirect},
		"scope": {"launch openid fhirUser patient/*.read"}, "state": {"st-123"}, "aud": {aud},
		"launch": {launch}, "code_challenge": {challengeValue}, "code_challenge_method": {"S256"},
		"nonce": {"n-1"},
	}
}

func (e smartEnv) authorize(p url.Values, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", issuer.AuthorizePath+"?"+p.Encode(), nil)
	for n := 0; n+1 < len(hdr); n += 2 {
		req.Header.Set(hdr[n], hdr[n+1])
	}
	rec := httptest.NewRecorder()
	e.iss.AuthorizeHandler().ServeHTTP(rec, req)
	return rec
}

// code runs a good authorization for p and returns the code.
func (e smartEnv) code(t *testing.T, p url.Values) string {
	t.Helper()
	rec := e.authorize(p)
	if rec.Code != http.StatusFound {
		t.Fatalf("authorize: %d %s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if q.Get("code") == "" || q.Get("state") != p.Get("state") || q.Get("error") != "" {
		t.Fatalf("authorize redirected to %s", loc)
	}
	return q.Get("code")
}

func tokenForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {viewerRedirect},
		"client_id": {issuer.ViewerClientID}, "code_verifier": {verifierValue}}
}

func decodeJWT(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	for n, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[n])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// verifyIDToken checks an id_token's RS256 signature against the key the
// JWKS endpoint publishes, and returns its claims.
func verifyIDToken(t *testing.T, iss *issuer.Issuer, tok string) map[string]any {
	t.Helper()
	header, claims := decodeJWT(t, tok)
	if header["alg"] != "RS256" || header["kid"] == nil {
		t.Fatalf("id_token header %v", header)
	}
	rec := httptest.NewRecorder()
	iss.JWKSHandler().ServeHTTP(rec, httptest.NewRequest("GET", issuer.JWKSPath, nil))
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Keys {
		if k["kid"] != header["kid"] {
			continue
		}
		if k["kty"] != "RSA" || k["alg"] != "RS256" || k["d"] != "" {
			t.Fatalf("id_token key %v", k)
		}
		n, _ := base64.RawURLEncoding.DecodeString(k["n"])
		e, _ := base64.RawURLEncoding.DecodeString(k["e"])
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		parts := strings.Split(tok, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("id_token signature: %v", err)
		}
		return claims
	}
	t.Fatalf("the JWKS has no key %v", header["kid"])
	return nil
}

func TestEHRLaunchHappyPath(t *testing.T) {
	e := newSMART(t, 0)
	v := verifier(t, e.iss.IssuerConfig())
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			p := authParams(e.launch(t, "9000000009", ""))
			var rec *httptest.ResponseRecorder
			if method == "GET" {
				rec = e.authorize(p)
			} else {
				rec = postForm(e.iss.AuthorizeHandler(), issuer.AuthorizePath, p, [2]string{})
			}
			if rec.Code != http.StatusFound || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("authorize: %d %v %s", rec.Code, rec.Header(), rec.Body)
			}
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, viewerRedirect+"?") {
				t.Fatalf("Location %s", loc)
			}
			u, _ := url.Parse(loc)
			code := u.Query().Get("code")
			if u.Query().Get("state") != "st-123" || len(code) < 43 {
				t.Fatalf("Location %s", loc)
			}

			rec = postForm(e.iss.TokenHandler(), issuer.TokenPath, tokenForm(code), [2]string{})
			if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Pragma") != "no-cache" {
				t.Fatalf("token: %d %v %s", rec.Code, rec.Header(), rec.Body)
			}
			var raw map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &raw)
			if raw["patient"] != "9000000009" || raw["need_patient_banner"] != true || raw["token_type"] != "Bearer" ||
				raw["scope"] != "launch openid fhirUser patient/*.read" || raw["expires_in"] != float64(issuer.DefaultTTL/time.Second) {
				t.Errorf("token response %v", raw)
			}
			if _, ok := raw["smart_style_url"]; ok {
				t.Error("smart_style_url is sent")
			}
			p2, err := v.Verify(context.Background(), raw["access_token"].(string))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if nhs, ok := auth.PatientScoped(p2); !ok || nhs != "9000000009" || !p2.HasRole(auth.RoleClinicalPractitioner) ||
				p2.ClientID != issuer.ViewerClientID || p2.Subject != "910000000001" || p2.OrgODS == "" || p2.RoleProfileID == "" {
				t.Errorf("principal %+v", p2)
			}
			if err := auth.Decide(p2, "Patient", auth.Read); err != nil {
				t.Errorf("patient read: %v", err)
			}
			if err := auth.Decide(p2, "Flag", auth.Create); err == nil {
				t.Error("a patient/*.read token may create a Flag")
			}
			idc := verifyIDToken(t, e.iss, raw["id_token"].(string))
			if idc["iss"] != e.iss.URL() || idc["aud"] != issuer.ViewerClientID || idc["sub"] != "910000000001" ||
				idc["fhirUser"] != aud+"/Practitioner/910000000001" || idc["nonce"] != "n-1" || idc["exp"] == nil || idc["iat"] == nil {
				t.Errorf("id_token claims %v", idc)
			}
			// The id_token is not an access token for the FHIR server.
			if _, err := v.Verify(context.Background(), raw["id_token"].(string)); err == nil {
				t.Error("the id_token is accepted as an access token")
			}
		})
	}
}

func TestEHRLaunchVariants(t *testing.T) {
	e := newSMART(t, 0)
	v := verifier(t, e.iss.IssuerConfig())
	tests := []struct {
		name    string
		role    string
		edit    func(p url.Values)
		form    func(code string) (url.Values, [2]string)
		wantLoc string
		check   func(t *testing.T, res map[string]any, p auth.Principal)
	}{
		{name: "nurse by code, v2 scopes, no openid", role: "R8001",
			edit: func(p url.Values) { p.Set("scope", "launch patient/Patient.r patient/Flag.rs") },
			check: func(t *testing.T, res map[string]any, p auth.Principal) {
				if res["id_token"] != nil || res["scope"] != "launch patient/Patient.r patient/Flag.rs" || !p.HasRole(auth.RoleNurse) || p.Patient != "9000000009" {
					t.Errorf("response %v, principal %+v", res, p)
				}
			}},
		{name: "scopes reduced to what is granted", edit: func(p url.Values) {
			p.Set("scope", "launch fhirUser offline_access profile patient/*.rs patient/Observation.rs?category=x user/*.rs system/*.rs launch patient/*.rs")
		},
			check: func(t *testing.T, res map[string]any, p auth.Principal) {
				if res["scope"] != "launch patient/*.rs" || res["id_token"] != nil || p.Patient != "9000000009" {
					t.Errorf("scope %v, patient %q", res["scope"], p.Patient)
				}
			}},
		{name: "user scopes only: a user-level token, the patient named as context", edit: func(p url.Values) { p.Set("scope", "launch user/*.rs") },
			check: func(t *testing.T, res map[string]any, p auth.Principal) {
				if res["scope"] != "launch user/*.rs" || res["patient"] != "9000000009" || p.Patient != "" {
					t.Errorf("response %v, principal %+v", res, p)
				}
				if err := auth.Decide(p, "Patient", auth.Search); err != nil {
					t.Errorf("user search: %v", err)
				}
			}},
		{name: "redirect URI with a query", edit: func(p url.Values) {
			p.Set("client_id", "other")
			p.Set("redirect_uri", otherRedirect)
		},
			wantLoc: otherRedirect + "&",
			form: func(code string) (url.Values, [2]string) {
				f := tokenForm(code)
				f.Set("client_id", "other")
				f.Set("redirect_uri", otherRedirect)
				return f, [2]string{}
			}},
		{name: "confidential app, HTTP Basic", edit: func(p url.Values) {
			p.Set("client_id", "conf-app")
			p.Set("redirect_uri", appRedirect)
		},
			form: func(code string) (url.Values, [2]string) {
				f := tokenForm(code)
				f.Del("client_id")
				f.Set("redirect_uri", appRedirect)
				return f, [2]string{"conf-app", "app-secret"}
			},
			check: func(t *testing.T, res map[string]any, p auth.Principal) {
				if p.ClientID != "conf-app" || res["id_token"] == nil {
					t.Errorf("response %v, principal %+v", res, p)
				}
			}},
		{name: "aud with a trailing slash", edit: func(p url.Values) { p.Set("aud", aud+"/") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := authParams(e.launch(t, "9000000009", tt.role))
			if tt.edit != nil {
				tt.edit(p)
			}
			rec := e.authorize(p)
			if rec.Code != http.StatusFound {
				t.Fatalf("authorize: %d %s", rec.Code, rec.Body)
			}
			loc := rec.Header().Get("Location")
			if tt.wantLoc != "" && !strings.HasPrefix(loc, tt.wantLoc) {
				t.Errorf("Location %s, want prefix %s", loc, tt.wantLoc)
			}
			u, _ := url.Parse(loc)
			form, basic := tokenForm(u.Query().Get("code")), [2]string{}
			if tt.form != nil {
				form, basic = tt.form(u.Query().Get("code"))
			}
			rec = postForm(e.iss.TokenHandler(), issuer.TokenPath, form, basic)
			if rec.Code != 200 {
				t.Fatalf("token: %d %s", rec.Code, rec.Body)
			}
			var res map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &res)
			p2, err := v.Verify(context.Background(), res["access_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, res, p2)
			}
		})
	}
}

func TestLaunchEndpoint(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		ctype      string
		form       string
		basic      [2]string
		wantStatus int
		wantError  string
	}{
		{name: "form credentials, default role", form: "client_id=ehr&client_secret=ehr-secret&patient=9000000009", wantStatus: 201},
		{name: "HTTP Basic, role by name", form: "patient=9000000009&role=admin", basic: [2]string{"ehr", "ehr-secret"}, wantStatus: 201},
		{name: "role by code", form: "client_id=ehr&client_secret=ehr-secret&patient=9000000009&role=R8003", wantStatus: 201},
		{name: "bad secret", form: "client_id=ehr&client_secret=nope&patient=9000000009", wantStatus: 401, wantError: "invalid_client"},
		{name: "no credentials", form: "patient=9000000009", wantStatus: 401, wantError: "invalid_client"},
		{name: "public client", form: "client_id=facade-viewer&patient=9000000009", wantStatus: 401, wantError: "invalid_client"},
		{name: "public client with an empty secret", form: "client_id=facade-viewer&client_secret=&patient=9000000009", wantStatus: 401, wantError: "invalid_client"},
		{name: "no patient", form: "client_id=ehr&client_secret=ehr-secret", wantStatus: 400, wantError: "invalid_request"},
		{name: "patient not an NHS number", form: "client_id=ehr&client_secret=ehr-secret&patient=9000000000", wantStatus: 400, wantError: "invalid_request"},
		{name: "unknown role", form: "client_id=ehr&client_secret=ehr-secret&patient=9000000009&role=root", wantStatus: 400, wantError: "invalid_request"},
		{name: "repeated patient", form: "client_id=ehr&client_secret=ehr-secret&patient=9000000009&patient=9000000017", wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON body", ctype: "application/json", form: `{"patient":"9000000009"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "GET", method: "GET", wantStatus: 405, wantError: "invalid_request"},
	}
	e := newSMART(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "POST"
			}
			req := httptest.NewRequest(method, issuer.LaunchPath, strings.NewReader(tt.form))
			ct := tt.ctype
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			if tt.basic[0] != "" {
				req.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			rec := httptest.NewRecorder()
			e.iss.LaunchHandler().ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("headers %v", rec.Header())
			}
			if strings.Contains(rec.Body.String(), "9000000009") || strings.Contains(rec.Body.String(), "ehr-secret") {
				t.Errorf("the answer echoes the patient or a secret: %s", rec.Body)
			}
			if tt.wantError != "" {
				var er issuer.ErrorResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error != tt.wantError || er.ErrorDescription == "" {
					t.Errorf("body %s, want %s", rec.Body, tt.wantError)
				}
				return
			}
			var res issuer.LaunchResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Launch) < 43 || res.ExpiresIn != 300 {
				t.Errorf("body %s", rec.Body)
			}
		})
	}
}

// Launches are bounded: a full store refuses (503) until entries expire.
// (Codes have the same bound, but each needs a launch, and launches outlive
// codes, so it is reached only through the store itself: TestStore.)
func TestPendingBound(t *testing.T) {
	e := newSMART(t, 2)
	l1, l2 := e.launch(t, "9000000009", ""), e.launch(t, "9000000017", "")
	form := url.Values{"client_id": {"ehr"}, "client_secret": {"ehr-secret"}, "patient": {"9000000025"}}
	rec := postForm(e.iss.LaunchHandler(), issuer.LaunchPath, form, [2]string{})
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "temporarily_unavailable") {
		t.Fatalf("third launch: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	// Spent launches still count until they expire; codes have their own bound.
	e.code(t, authParams(l1))
	e.code(t, authParams(l2))
	e.clock.advance(issuer.LaunchTTL)
	// Expired launches and codes are dropped when room is needed.
	e.code(t, authParams(e.launch(t, "9000000025", "")))
}

func TestAuthorizeErrors(t *testing.T) {
	e := newSMART(t, 0)
	type want struct {
		page  bool // shown to the user, not redirected
		code  string
		state bool // state echoed
	}
	tests := []struct {
		name   string
		edit   func(t *testing.T, p url.Values)
		method string
		accept string
		want   want
	}{
		{name: "no client_id", edit: func(_ *testing.T, p url.Values) { p.Del("client_id") }, want: want{page: true, code: "invalid_request"}},
		{name: "unknown client", edit: func(_ *testing.T, p url.Values) { p.Set("client_id", "mallory") }, want: want{page: true, code: "invalid_request"}},
		{name: "repeated client_id", edit: func(_ *testing.T, p url.Values) { p.Add("client_id", "other") }, want: want{page: true, code: "invalid_request"}},
		{name: "no redirect_uri", edit: func(_ *testing.T, p url.Values) { p.Del("redirect_uri") }, want: want{page: true, code: "invalid_request"}},
		{name: "unregistered redirect_uri", edit: func(_ *testing.T, p url.Values) { p.Set("redirect_uri", "https://evil.test/cb") }, want: want{page: true, code: "invalid_request"}},
		{name: "redirect_uri not exact", edit: func(_ *testing.T, p url.Values) { p.Set("redirect_uri", viewerRedirect+"/") }, want: want{page: true, code: "invalid_request"}},
		{name: "another client's redirect_uri", edit: func(_ *testing.T, p url.Values) { p.Set("redirect_uri", otherRedirect) }, want: want{page: true, code: "invalid_request"}},
		{name: "repeated redirect_uri", edit: func(_ *testing.T, p url.Values) { p.Add("redirect_uri", viewerRedirect) }, want: want{page: true, code: "invalid_request"}},
		{name: "client without redirect URIs", edit: func(_ *testing.T, p url.Values) { p.Set("client_id", "ehr") }, want: want{page: true, code: "invalid_request"}},
		{name: "page as JSON", accept: "application/json", edit: func(_ *testing.T, p url.Values) { p.Set("client_id", "mallory") }, want: want{page: true, code: "invalid_request"}},
		{name: "PUT", method: "PUT", want: want{page: true, code: "invalid_request"}},

		{name: "no response_type", edit: func(_ *testing.T, p url.Values) { p.Del("response_type") }, want: want{code: "invalid_request", state: true}},
		{name: "implicit grant", edit: func(_ *testing.T, p url.Values) { p.Set("response_type", "token") }, want: want{code: "unsupported_response_type", state: true}},
		{name: "no state", edit: func(_ *testing.T, p url.Values) { p.Del("state") }, want: want{code: "invalid_request"}},
		{name: "repeated parameter", edit: func(_ *testing.T, p url.Values) { p.Add("scope", "launch") }, want: want{code: "invalid_request", state: true}},
		{name: "no scope", edit: func(_ *testing.T, p url.Values) { p.Del("scope") }, want: want{code: "invalid_scope", state: true}},
		{name: "malformed scope", edit: func(_ *testing.T, p url.Values) { p.Set("scope", "launch patient/*.rx") }, want: want{code: "invalid_scope", state: true}},
		{name: "no launch scope", edit: func(_ *testing.T, p url.Values) { p.Set("scope", "openid patient/*.rs") }, want: want{code: "invalid_scope", state: true}},
		{name: "no PKCE", edit: func(_ *testing.T, p url.Values) { p.Del("code_challenge"); p.Del("code_challenge_method") }, want: want{code: "invalid_request", state: true}},
		{name: "PKCE plain", edit: func(_ *testing.T, p url.Values) { p.Set("code_challenge_method", "plain") }, want: want{code: "invalid_request", state: true}},
		{name: "no code_challenge", edit: func(_ *testing.T, p url.Values) { p.Del("code_challenge") }, want: want{code: "invalid_request", state: true}},
		{name: "code_challenge not S256", edit: func(_ *testing.T, p url.Values) { p.Set("code_challenge", verifierValue+"xyz") }, want: want{code: "invalid_request", state: true}},
		{name: "no aud", edit: func(_ *testing.T, p url.Values) { p.Del("aud") }, want: want{code: "invalid_request", state: true}},
		{name: "bad aud", edit: func(_ *testing.T, p url.Values) { p.Set("aud", "https://counterfeit.test/fhir") }, want: want{code: "invalid_request", state: true}},
		{name: "no launch (standalone)", edit: func(_ *testing.T, p url.Values) { p.Del("launch") }, want: want{code: "invalid_request", state: true}},
		{name: "unknown launch", edit: func(_ *testing.T, p url.Values) { p.Set("launch", "bm90LWEtbGF1bmNo") }, want: want{code: "invalid_request", state: true}},
		{name: "expired launch", edit: func(_ *testing.T, _ url.Values) { e.clock.advance(issuer.LaunchTTL) }, want: want{code: "invalid_request", state: true}},
		{name: "reused launch", edit: func(t *testing.T, p url.Values) { e.code(t, authParams(p.Get("launch"))) }, want: want{code: "invalid_request", state: true}},
		{name: "nonce too long", edit: func(_ *testing.T, p url.Values) { p.Set("nonce", strings.Repeat("n", 600)) }, want: want{code: "invalid_request", state: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := authParams(e.launch(t, "9000000009", ""))
			if tt.edit != nil {
				tt.edit(t, p)
			}
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req := httptest.NewRequest(method, issuer.AuthorizePath+"?"+p.Encode(), nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			e.iss.AuthorizeHandler().ServeHTTP(rec, req)
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if tt.want.page {
				if rec.Code != http.StatusBadRequest && rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Location") != "" {
					t.Fatalf("status %d, Location %q, want a page", rec.Code, rec.Header().Get("Location"))
				}
				if tt.accept == "application/json" {
					var er issuer.ErrorResponse
					if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error != tt.want.code {
						t.Errorf("body %s", rec.Body)
					}
				} else if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), tt.want.code) {
					t.Errorf("page %v %s", rec.Header(), rec.Body)
				}
				if strings.Contains(rec.Body.String(), "evil.test") {
					t.Error("the page echoes the redirect URI")
				}
				return
			}
			if rec.Code != http.StatusFound {
				t.Fatalf("status %d, want 302: %s", rec.Code, rec.Body)
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), viewerRedirect+"?") {
				t.Fatalf("Location %v", loc)
			}
			q := loc.Query()
			if q.Get("error") != tt.want.code || q.Get("error_description") == "" || q.Get("code") != "" {
				t.Errorf("redirected with %v, want error %s", q, tt.want.code)
			}
			if got := q.Get("state") == "st-123"; got != tt.want.state {
				t.Errorf("state echoed %v, want %v", got, tt.want.state)
			}
		})
	}
}

func TestTokenAuthorizationCodeErrors(t *testing.T) {
	e := newSMART(t, 0)
	tests := []struct {
		name       string
		edit       func(t *testing.T, f url.Values) [2]string
		wantStatus int
		wantError  string
		wantLog    bool
	}{
		{name: "reused code", edit: func(t *testing.T, f url.Values) [2]string {
			if rec := postForm(e.iss.TokenHandler(), issuer.TokenPath, f, [2]string{}); rec.Code != 200 {
				t.Fatalf("first use: %d %s", rec.Code, rec.Body)
			}
			return [2]string{}
		}, wantStatus: 400, wantError: "invalid_grant", wantLog: true},
		{name: "expired code", edit: func(_ *testing.T, _ url.Values) [2]string { e.clock.advance(issuer.CodeTTL); return [2]string{} }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "PKCE mismatch", edit: func(_ *testing.T, f url.Values) [2]string {
			f.Set("code_verifier", strings.Repeat("a", 43))
			return [2]string{}
		}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "a failed attempt spends the code", edit: func(t *testing.T, f url.Values) [2]string {
			bad := url.Values{}
			for k, v := range f {
				bad[k] = v
			}
			bad.Set("code_verifier", strings.Repeat("b", 50))
			if rec := postForm(e.iss.TokenHandler(), issuer.TokenPath, bad, [2]string{}); rec.Code != 400 {
				t.Fatalf("bad verifier: %d", rec.Code)
			}
			return [2]string{}
		}, wantStatus: 400, wantError: "invalid_grant", wantLog: true},
		{name: "verifier too short", edit: func(_ *testing.T, f url.Values) [2]string { f.Set("code_verifier", "abc"); return [2]string{} }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "no code_verifier", edit: func(_ *testing.T, f url.Values) [2]string { f.Del("code_verifier"); return [2]string{} }, wantStatus: 400, wantError: "invalid_request"},
		{name: "other redirect_uri", edit: func(_ *testing.T, f url.Values) [2]string { f.Set("redirect_uri", otherRedirect); return [2]string{} }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "no redirect_uri", edit: func(_ *testing.T, f url.Values) [2]string { f.Del("redirect_uri"); return [2]string{} }, wantStatus: 400, wantError: "invalid_request"},
		{name: "another client", edit: func(_ *testing.T, f url.Values) [2]string { f.Set("client_id", "other"); return [2]string{} }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "another client, confidential", edit: func(_ *testing.T, f url.Values) [2]string {
			f.Del("client_id")
			return [2]string{"conf-app", "app-secret"}
		}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "unknown code", edit: func(_ *testing.T, f url.Values) [2]string { f.Set("code", "bm90LWEtY29kZQ"); return [2]string{} }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "no code", edit: func(_ *testing.T, f url.Values) [2]string { f.Del("code"); return [2]string{} }, wantStatus: 400, wantError: "invalid_request"},
		{name: "no client", edit: func(_ *testing.T, f url.Values) [2]string { f.Del("client_id"); return [2]string{} }, wantStatus: 401, wantError: "invalid_client"},
		{name: "public client with a secret", edit: func(_ *testing.T, f url.Values) [2]string { f.Set("client_secret", "x"); return [2]string{} }, wantStatus: 401, wantError: "invalid_client"},
		{name: "public client by HTTP Basic", edit: func(_ *testing.T, f url.Values) [2]string {
			f.Del("client_id")
			return [2]string{issuer.ViewerClientID, ""}
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "confidential client without its secret", edit: func(_ *testing.T, f url.Values) [2]string { f.Set("client_id", "conf-app"); return [2]string{} }, wantStatus: 401, wantError: "invalid_client"},
		{name: "client_credentials by a public client", edit: func(_ *testing.T, f url.Values) [2]string {
			f.Set("grant_type", "client_credentials")
			return [2]string{}
		}, wantStatus: 400, wantError: "unauthorized_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			*e.logs = nil
			code := e.code(t, authParams(e.launch(t, "9000000009", "")))
			f := tokenForm(code)
			basic := tt.edit(t, f)
			rec := postForm(e.iss.TokenHandler(), issuer.TokenPath, f, basic)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			var er issuer.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error != tt.wantError || er.ErrorDescription == "" {
				t.Errorf("body %s, want %s", rec.Body, tt.wantError)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Error("no Cache-Control: no-store")
			}
			if (len(*e.logs) > 0) != tt.wantLog {
				t.Errorf("logs %q, want a log line %v", *e.logs, tt.wantLog)
			}
			for _, l := range *e.logs {
				if strings.Contains(l, code) || strings.Contains(l, "9000000009") {
					t.Errorf("the log line holds the code or the patient: %s", l)
				}
			}
		})
	}
}

func TestNewRefusesClients(t *testing.T) {
	for name, c := range map[string]issuer.Client{
		"public client without redirect URI": {ID: "a"},
		"relative redirect URI":              {ID: "a", RedirectURIs: []string{"/cb"}},
		"redirect URI with a fragment":       {ID: "a", RedirectURIs: []string{"https://app.test/cb#x"}},
		"redirect URI not http":              {ID: "a", RedirectURIs: []string{"javascript:alert(1)"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := issuer.New(issuer.Config{URL: "http://127.0.0.1/oauth", Audience: aud, Clients: []issuer.Client{c}}); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}

func TestOpenIDConfiguration(t *testing.T) {
	e := newSMART(t, 0)
	rec := httptest.NewRecorder()
	e.iss.OpenIDConfigurationHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/oauth"+issuer.OpenIDConfigurationPath, nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	want := map[string]any{
		"issuer": "http://127.0.0.1:8080/oauth", "authorization_endpoint": "http://127.0.0.1:8080/oauth/authorize",
		"token_endpoint": "http://127.0.0.1:8080/oauth/token", "jwks_uri": "http://127.0.0.1:8080/oauth/.well-known/jwks.json",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	if fmt.Sprint(doc["id_token_signing_alg_values_supported"]) != "[RS256]" || fmt.Sprint(doc["code_challenge_methods_supported"]) != "[S256]" {
		t.Errorf("document %v", doc)
	}
	// The published JWKS holds the access-token key and the id_token key;
	// auth's verifier reads it (and would only trust the EC key's tokens for
	// access, since id_tokens name the client as their audience).
	rec = httptest.NewRecorder()
	e.iss.JWKSHandler().ServeHTTP(rec, httptest.NewRequest("GET", issuer.JWKSPath, nil))
	ks, err := auth.ParseKeySet(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("ParseKeySet: %v", err)
	}
	_ = ks
	if !strings.Contains(rec.Body.String(), `"RS256"`) || !strings.Contains(rec.Body.String(), `"ES256"`) || strings.Contains(rec.Body.String(), `"d"`) {
		t.Errorf("JWKS %s", rec.Body)
	}
}
