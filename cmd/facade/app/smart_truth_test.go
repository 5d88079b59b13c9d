package app_test

import (
	"slices"
	"testing"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// With a real issuer the facade cannot know how its clients authenticate:
// neither client-confidential-symmetric nor any token endpoint auth method
// is advertised unless AUTH_SMART_CAPABILITIES says so; the local issuer
// advertises the methods its token endpoint takes.
func TestSMARTConfigurationClaimsOnlyWhatIsKnown(t *testing.T) {
	strs := func(v any) []string {
		var out []string
		l, _ := v.([]any)
		for _, x := range l {
			out = append(out, x.(string))
		}
		return out
	}
	external := app.Config{}
	external.Auth.Issuer, external.Auth.JWKSURL = "https://login.test", "https://login.test/jwks"
	withCaps := external
	withCaps.Auth.SMARTCapabilities = []string{"client-confidential-symmetric"}
	tests := []struct {
		name        string
		cfg         app.Config
		symmetric   bool
		authMethods []string
	}{
		{name: "local issuer", cfg: app.Config{Addr: "127.0.0.1:8080"}, symmetric: true, authMethods: []string{"client_secret_basic", "client_secret_post", "none"}},
		{name: "real issuer", cfg: external},
		{name: "real issuer saying so", cfg: withCaps, symmetric: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := smartConfiguration(t, tt.cfg)
			caps := strs(doc["capabilities"])
			if slices.Contains(caps, "client-confidential-symmetric") != tt.symmetric {
				t.Errorf("capabilities %v", caps)
			}
			for _, never := range []string{"launch-standalone", "context-standalone-patient", "permission-offline", "permission-online"} {
				if slices.Contains(caps, never) && tt.name == "local issuer" {
					t.Errorf("the local issuer advertises %s", never)
				}
			}
			if m := strs(doc["token_endpoint_auth_methods_supported"]); !slices.Equal(m, tt.authMethods) {
				t.Errorf("token_endpoint_auth_methods_supported %v, want %v", m, tt.authMethods)
			}
		})
	}
}
