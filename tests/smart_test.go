package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

// The SMART App Launch EHR launch over HTTP against the whole facade: the
// local clinical system registers a launch, the app is authorised with it
// and reads the patient in context, and only that patient.

// RFC 7636 Appendix B: a code verifier and its S256 challenge.
const (
	smartVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	smartChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// noRedirects talks to the facade without the test token and without
// following redirects, as a browser-less OAuth client does.
var noRedirects = &http.Client{
	Transport:     http.DefaultTransport,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func smartDo(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return res, body
}

func smartPost(t *testing.T, u string, form url.Values, basic ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	return smartDo(t, req)
}

// smartLaunch registers a launch for patient as the dev client (the EHR).
func smartLaunch(t *testing.T, root, patient string) string {
	t.Helper()
	res, body := smartPost(t, root+issuer.LaunchPath, url.Values{"patient": {patient}}, issuer.DevClientID, issuer.DevClientSecret)
	if res.StatusCode != http.StatusCreated || res.Header.Get("Cache-Control") != "no-store" || body["expires_in"] != float64(300) {
		t.Fatalf("launch: %d %v %v", res.StatusCode, res.Header, body)
	}
	return body["launch"].(string)
}

// smartAuthorize asks for a code and returns the redirect's query.
func smartAuthorize(t *testing.T, root string, p url.Values) url.Values {
	t.Helper()
	req, err := http.NewRequest("GET", root+issuer.AuthorizePath+"?"+p.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := smartDo(t, req)
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), p.Get("redirect_uri")+"?") {
		t.Fatalf("authorize redirected to %v", loc)
	}
	return loc.Query()
}

func TestSMARTEHRLaunch(t *testing.T) {
	// The facade's own idea of its FHIR base: the aud apps must name, and
	// the base of the viewer's registered redirect URI.
	base := env.app.Issuer.Audience()
	redirectURI := strings.TrimSuffix(base, "/fhir") + "/view/callback"

	// Discovery says how.
	req, _ := http.NewRequest("GET", env.url+"/.well-known/smart-configuration", nil)
	res, conf := smartDo(t, req)
	if res.StatusCode != 200 || !strings.HasSuffix(conf["authorization_endpoint"].(string), issuer.AuthorizePath) ||
		!strings.HasSuffix(conf["token_endpoint"].(string), issuer.TokenPath) {
		t.Fatalf("smart-configuration: %d %v", res.StatusCode, conf)
	}
	caps, _ := json.Marshal(conf["capabilities"])
	for _, c := range []string{"launch-ehr", "client-public", "client-confidential-symmetric", "context-ehr-patient", "permission-patient", "permission-user", "sso-openid-connect", "permission-v1", "permission-v2"} {
		if !strings.Contains(string(caps), `"`+c+`"`) {
			t.Errorf("capability %s is not advertised: %s", c, caps)
		}
	}
	if b, _ := json.Marshal(conf["code_challenge_methods_supported"]); string(b) != `["S256"]` {
		t.Errorf("code_challenge_methods_supported %s", b)
	}
	if b, _ := json.Marshal(conf["grant_types_supported"]); string(b) != `["authorization_code","client_credentials"]` {
		t.Errorf("grant_types_supported %s", b)
	}
	meta := get(t, "/metadata")
	sec, _ := json.Marshal(meta.body["rest"].([]any)[0].(map[string]any)["security"])
	if !strings.Contains(string(sec), `"authorize"`) || !strings.Contains(string(sec), issuer.AuthorizePath) {
		t.Errorf("CapabilityStatement security has no authorize URI: %s", sec)
	}
	req, _ = http.NewRequest("GET", env.root+"/oauth"+issuer.OpenIDConfigurationPath, nil)
	if res, oidc := smartDo(t, req); res.StatusCode != 200 || oidc["issuer"] != conf["issuer"] {
		t.Errorf("openid-configuration: %d %v", res.StatusCode, oidc)
	}

	// 1. The EHR registers the launch; 2. opens the app with it; 3. the app
	// asks for a code.
	launch := smartLaunch(t, env.root, "9000000009")
	p := url.Values{
		"response_type": {"code"}, "client_id": {issuer.ViewerClientID}, "redirect_uri": {redirectURI},
		"scope": {"launch openid fhirUser patient/*.read"}, "state": {"e2e-state"}, "aud": {base},
		"launch": {launch}, "code_challenge": {smartChallenge}, "code_challenge_method": {"S256"},
	}
	q := smartAuthorize(t, env.root, p)
	code := q.Get("code")
	if code == "" || q.Get("state") != "e2e-state" {
		t.Fatalf("redirect query %v", q)
	}

	// 4. The app trades the code.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {issuer.ViewerClientID}, "code_verifier": {smartVerifier}}
	res, tok := smartPost(t, env.root+issuer.TokenPath, form)
	if res.StatusCode != 200 || tok["patient"] != "9000000009" || tok["token_type"] != "Bearer" || tok["id_token"] == nil ||
		tok["need_patient_banner"] != true || tok["scope"] != "launch openid fhirUser patient/*.read" {
		t.Fatalf("token: %d %v", res.StatusCode, tok)
	}
	bearer := map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}

	// 5. The token reads the patient in context, and no other.
	if r := call(t, "GET", "/Patient/9000000009", bearer, ""); r.status != 200 {
		t.Errorf("read the patient in context: %d %s", r.status, r.raw)
	}
	if r := call(t, "GET", "/AllergyIntolerance?patient=9000000009", bearer, ""); r.status != 200 {
		t.Errorf("search the patient in context: %d %s", r.status, r.raw)
	}
	for _, path := range []string{"/Patient/9000000017", "/AllergyIntolerance?patient=9000000017"} {
		if r := call(t, "GET", path, bearer, ""); r.status != http.StatusForbidden {
			t.Errorf("%s with another patient's context: %d, want 403", path, r.status)
		}
	}
	if r := call(t, "POST", "/Flag", map[string]string{"Authorization": bearer["Authorization"], "Content-Type": "application/fhir+json"}, `{"resourceType":"Flag"}`); r.status != http.StatusForbidden {
		t.Errorf("a read-only launch token writes: %d", r.status)
	}

	// The code is spent, and so is the launch.
	if res, body := smartPost(t, env.root+issuer.TokenPath, form); res.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Errorf("reused code: %d %v", res.StatusCode, body)
	}
	p.Set("state", "again")
	if q := smartAuthorize(t, env.root, p); q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("state") != "again" {
		t.Errorf("reused launch: %v", q)
	}
	// A wrong aud is refused (no token for a counterfeit server).
	p.Set("launch", smartLaunch(t, env.root, "9000000009"))
	p.Set("aud", "https://counterfeit.example/fhir")
	if q := smartAuthorize(t, env.root, p); q.Get("error") != "invalid_request" || q.Get("code") != "" {
		t.Errorf("bad aud: %v", q)
	}
	// An unregistered redirect URI is never redirected to.
	p.Set("redirect_uri", "https://evil.example/cb")
	req, _ = http.NewRequest("GET", env.root+issuer.AuthorizePath+"?"+p.Encode(), nil)
	if res, _ := smartDo(t, req); res.StatusCode != 400 || res.Header.Get("Location") != "" {
		t.Errorf("unregistered redirect URI: %d %q", res.StatusCode, res.Header.Get("Location"))
	}

	// Neither codes, launch ids nor tokens reach the logs.
	logs := env.logs.String()
	for _, secret := range []string{code, launch, tok["access_token"].(string)} {
		if strings.Contains(logs, secret) {
			t.Error("the facade's logs hold a code, launch id or token")
		}
	}
}

// Any SMART app registered by AUTH_DEV_APPS can be launched, here a
// confidential one.
func TestSMARTLaunchOtherApp(t *testing.T) {
	apps, err := issuer.ParseApps("growth-chart=https://apps.example/growth/cb,other-app:app-secret=https://apps.example/other/cb")
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{}
	cfg.Auth.DevApps = apps
	a, ts := startOwnFacade(t, cfg)
	base := a.Issuer.Audience()
	for _, c := range []struct {
		id, redirect string
		basic        []string
	}{
		{"growth-chart", "https://apps.example/growth/cb", nil},
		{"other-app", "https://apps.example/other/cb", []string{"other-app", "app-secret"}},
	} {
		t.Run(c.id, func(t *testing.T) {
			q := smartAuthorize(t, ts.URL, url.Values{
				"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {c.redirect},
				"scope": {"launch patient/Patient.rs"}, "state": {"s"}, "aud": {base},
				"launch": {smartLaunch(t, ts.URL, "9000000009")}, "code_challenge": {smartChallenge}, "code_challenge_method": {"S256"},
			})
			form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {c.redirect}, "code_verifier": {smartVerifier}}
			if c.basic == nil {
				form.Set("client_id", c.id)
			}
			res, tok := smartPost(t, ts.URL+issuer.TokenPath, form, c.basic...)
			if res.StatusCode != 200 || tok["patient"] != "9000000009" || tok["scope"] != "launch patient/Patient.rs" {
				t.Fatalf("token: %d %v", res.StatusCode, tok)
			}
			r := call(t, "GET", ts.URL+"/fhir/Patient/9000000009", map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}, "")
			if r.status != 200 {
				t.Errorf("read: %d", r.status)
			}
		})
	}
}
