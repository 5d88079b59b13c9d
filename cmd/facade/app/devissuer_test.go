package app_test

import (
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// The local test issuer's client secret is published, so it may serve only
// on loopback unless a real issuer replaces it or the demo flag is set.
func TestDevIssuerListenAddress(t *testing.T) {
	const (
		refused = "refusing to start"
		demo    = "INSECURE DEMO"
	)
	realIssuer := func(c *app.Config) {
		c.Auth.Issuer, c.Auth.JWKSURL = "https://login.test", "https://login.test/jwks"
	}
	demoFlag := func(c *app.Config) { c.Auth.InsecureDemoIssuer = true }
	authOff := func(c *app.Config) { c.Auth.Disabled = true }
	// Off loopback the public base must be given (see TestPublicBase).
	at := func(base string, more ...func(*app.Config)) func(*app.Config) {
		return func(c *app.Config) {
			c.BaseURL = base
			for _, f := range more {
				f(c)
			}
		}
	}
	tests := []struct {
		name      string
		addr      string
		configure func(*app.Config)
		wantErr   bool
		wantWarn  bool // the loud demo warning
		devIssuer bool // a.Issuer is the local test issuer
	}{
		{name: "IPv4 loopback", addr: "127.0.0.1:8080", devIssuer: true},
		{name: "elsewhere in 127/8", addr: "127.0.0.2:8080", devIssuer: true},
		{name: "IPv6 loopback", addr: "[::1]:8080", devIssuer: true},
		{name: "localhost", addr: "localhost:8080", devIssuer: true},
		{name: "embedded, no listen address", addr: "", devIssuer: true},
		{name: "every IPv4 interface (the image's default)", addr: "0.0.0.0:8080", wantErr: true},
		{name: "every IPv6 interface", addr: "[::]:8080", wantErr: true},
		{name: "empty host", addr: ":8080", wantErr: true},
		{name: "LAN address", addr: "192.168.1.20:8080", wantErr: true},
		{name: "LAN name", addr: "facade.lan:8080", wantErr: true},
		{name: "a name only starting localhost", addr: "localhost.example:8080", wantErr: true},
		{name: "no port", addr: "127.0.0.1", wantErr: true},
		{name: "demo flag on every interface", addr: "0.0.0.0:8080", configure: at("http://localhost:8080/fhir", demoFlag), wantWarn: true, devIssuer: true},
		{name: "demo flag on a LAN name", addr: "facade.lan:8080", configure: at("http://facade.lan:8080/fhir", demoFlag), wantWarn: true, devIssuer: true},
		{name: "demo flag on loopback needs no warning", addr: "127.0.0.1:8080", configure: demoFlag, devIssuer: true},
		{name: "real issuer on every interface", addr: "0.0.0.0:8080", configure: at("https://fhir.test/fhir", realIssuer)},
		{name: "no authentication on every interface", addr: "0.0.0.0:8080", configure: authOff, wantErr: true},
		{name: "no authentication on loopback", addr: "127.0.0.1:8080", configure: authOff},
		{name: "real issuer and a stray demo flag", addr: "[::]:8080", configure: at("https://fhir.test/fhir", realIssuer, demoFlag)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, hook := logtest.NewNullLogger()
			cfg := app.Config{Addr: tt.addr, Logger: log}
			if tt.configure != nil {
				tt.configure(&cfg)
			}
			a, err := app.New(cfg)
			if tt.wantErr {
				if a != nil {
					a.Close()
				}
				if err == nil {
					t.Fatalf("started the local test issuer on %q", tt.addr)
				}
				// The message names the address and both ways out.
				for _, want := range []string{refused, tt.addr, "AUTH_ISSUER", "AUTH_JWKS_URL", "FACADE_INSECURE_DEMO_ISSUER=true", "-insecure-demo-issuer"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if (a.Issuer != nil) != tt.devIssuer {
				t.Errorf("local test issuer %v, want %v", a.Issuer != nil, tt.devIssuer)
			}
			warned := false
			for _, e := range hook.AllEntries() {
				if e.Level == logrus.WarnLevel && strings.Contains(e.Message, demo) {
					warned = true
				}
			}
			if warned != tt.wantWarn {
				t.Errorf("demo warning logged %v, want %v", warned, tt.wantWarn)
			}
		})
	}
}

// The configuration the container starts with: FACADE_ADDR=0.0.0.0:8080 is
// refused without AUTH_ISSUER unless FACADE_INSECURE_DEMO_ISSUER=true.
func TestDevIssuerFromEnv(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantEnvErr string // FromEnv's
		wantNewErr string // New's
	}{
		{name: "container default", env: map[string]string{"FACADE_ADDR": "0.0.0.0:8080"}, wantNewErr: "FACADE_INSECURE_DEMO_ISSUER"},
		{name: "demo flag false", env: map[string]string{"FACADE_ADDR": "0.0.0.0:8080", "FACADE_INSECURE_DEMO_ISSUER": "false"}, wantNewErr: "FACADE_INSECURE_DEMO_ISSUER"},
		{name: "demo flag", env: map[string]string{"FACADE_ADDR": "0.0.0.0:8080", "FACADE_INSECURE_DEMO_ISSUER": "true", "FACADE_BASE_URL": "http://localhost:8080/fhir"}},
		{name: "demo flag without the public base", env: map[string]string{"FACADE_ADDR": "0.0.0.0:8080", "FACADE_INSECURE_DEMO_ISSUER": "true"}, wantNewErr: "FACADE_BASE_URL"},
		{name: "demo flag not a bool", env: map[string]string{"FACADE_INSECURE_DEMO_ISSUER": "yes please"}, wantEnvErr: "FACADE_INSECURE_DEMO_ISSUER must be true or false"},
		{name: "real issuer", env: map[string]string{"FACADE_ADDR": "0.0.0.0:8080",
			"AUTH_ISSUER": "https://login.test", "AUTH_JWKS_URL": "https://login.test/jwks", "FACADE_BASE_URL": "https://fhir.test/fhir"}},
		{name: "default address", env: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := app.FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantEnvErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantEnvErr) {
					t.Fatalf("FromEnv: %v, want %q", err, tt.wantEnvErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg.Logger = logrus.New()
			cfg.Logger.SetOutput(io.Discard)
			a, err := app.New(cfg)
			if tt.wantNewErr != "" {
				if a != nil {
					a.Close()
				}
				if err == nil || !strings.Contains(err.Error(), tt.wantNewErr) {
					t.Fatalf("New: %v, want %q", err, tt.wantNewErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a.Close()
		})
	}
}
