package app_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

func TestFromEnvSMART(t *testing.T) {
	env := map[string]string{
		"AUTH_DEV_APPS":           " growth=https://apps.test/g/cb, growth=http://127.0.0.1:9000/cb ,ehr-app:s3=https://apps.test/e/cb",
		"AUTH_AUTHORIZE_URL":      "https://login.test/authorize",
		"AUTH_SMART_CAPABILITIES": "launch-ehr, client-public",
	}
	cfg, err := app.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	apps := cfg.Auth.DevApps
	if len(apps) != 2 || apps[0].ID != "growth" || !apps[0].Public() || len(apps[0].RedirectURIs) != 2 ||
		apps[1].ID != "ehr-app" || apps[1].Secret != "s3" || apps[1].RedirectURIs[0] != "https://apps.test/e/cb" {
		t.Errorf("DevApps %+v", apps)
	}
	if cfg.Auth.AuthorizeURL != "https://login.test/authorize" || !slices.Equal(cfg.Auth.SMARTCapabilities, []string{"launch-ehr", "client-public"}) {
		t.Errorf("AuthorizeURL %q, capabilities %q", cfg.Auth.AuthorizeURL, cfg.Auth.SMARTCapabilities)
	}
	for _, bad := range []string{"growth", "=https://a.test/cb", "g=/relative", "g=https://a.test/cb#frag", "bad id=https://a.test/cb", "g:a=https://a.test/1,g:b=https://a.test/2"} {
		if _, err := app.FromEnv(func(k string) string { return map[string]string{"AUTH_DEV_APPS": bad}[k] }); err == nil || !strings.Contains(err.Error(), "AUTH_DEV_APPS") {
			t.Errorf("AUTH_DEV_APPS=%q: %v", bad, err)
		}
	}
}

// smartConfiguration starts a facade with cfg and returns its SMART
// configuration document.
func smartConfiguration(t *testing.T, cfg app.Config) map[string]any {
	t.Helper()
	cfg.Logger = logrus.New()
	cfg.Logger.SetOutput(io.Discard)
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/smart-configuration", nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	return doc
}

func TestSMARTConfiguration(t *testing.T) {
	caps := func(doc map[string]any) string { b, _ := json.Marshal(doc["capabilities"]); return string(b) }

	// The local issuer: the EHR launch, end to end.
	doc := smartConfiguration(t, app.Config{Addr: "127.0.0.1:8080"})
	if doc["authorization_endpoint"] != "http://127.0.0.1:8080/oauth/authorize" || doc["token_endpoint"] != "http://127.0.0.1:8080/oauth/token" ||
		doc["issuer"] != "http://127.0.0.1:8080/oauth" {
		t.Errorf("local issuer: %v", doc)
	}
	if got := caps(doc); got != `["permission-v1","permission-v2","permission-user","permission-patient","client-confidential-symmetric","launch-ehr","authorize-post","client-public","context-ehr-patient","context-banner","sso-openid-connect"]` {
		t.Errorf("local issuer capabilities %s", got)
	}

	// A real issuer: only what is known.
	cfg := app.Config{}
	cfg.Auth.Issuer, cfg.Auth.JWKSURL = "https://login.test", "https://login.test/jwks"
	doc = smartConfiguration(t, cfg)
	if doc["authorization_endpoint"] != nil || doc["issuer"] != nil || strings.Contains(caps(doc), "launch-ehr") || doc["code_challenge_methods_supported"] != nil {
		t.Errorf("real issuer without AUTH_AUTHORIZE_URL: %v", doc)
	}
	cfg.Auth.AuthorizeURL, cfg.Auth.SMARTCapabilities = "https://login.test/authorize", []string{"launch-ehr", "sso-openid-connect"}
	doc = smartConfiguration(t, cfg)
	if doc["authorization_endpoint"] != "https://login.test/authorize" || doc["issuer"] != "https://login.test" ||
		!strings.Contains(caps(doc), `"launch-ehr"`) || !strings.Contains(caps(doc), `"sso-openid-connect"`) {
		t.Errorf("real issuer with AUTH_AUTHORIZE_URL: %v", doc)
	}
}
