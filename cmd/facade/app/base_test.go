package app_test

import (
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// PublicBase is the one rule every link, SMART endpoint, iss and aud come
// from: FACADE_BASE_URL, checked, else http(s)://<loopback addr>/fhir; a
// non-loopback listen address without FACADE_BASE_URL is refused.
func TestPublicBase(t *testing.T) {
	demo := func(c *app.Config) { c.Auth.InsecureDemoIssuer = true }
	realIssuer := func(c *app.Config) { c.Auth.Issuer, c.Auth.JWKSURL = "https://login.test", "https://login.test/jwks" }
	tests := []struct {
		name      string
		addr      string
		base      string
		https     bool
		configure func(*app.Config)
		want      string
		wantErr   string // in the error
	}{
		{name: "make run", addr: "127.0.0.1:8080", want: "http://127.0.0.1:8080/fhir"},
		{name: "embedded, no address", addr: "", want: "http://127.0.0.1:8080/fhir"},
		{name: "localhost stays localhost", addr: "localhost:9090", want: "http://localhost:9090/fhir"},
		{name: "IPv6 loopback", addr: "[::1]:8080", want: "http://[::1]:8080/fhir"},
		{name: "serving TLS itself", addr: "127.0.0.1:8443", https: true, want: "https://127.0.0.1:8443/fhir"},
		{name: "every interface without a base", addr: "0.0.0.0:8080", wantErr: "FACADE_BASE_URL"},
		{name: "every IPv6 interface without a base", addr: "[::]:8080", wantErr: "FACADE_BASE_URL"},
		{name: "empty host without a base", addr: ":8080", wantErr: "FACADE_BASE_URL"},
		{name: "LAN address without a base", addr: "192.168.1.20:8080", configure: realIssuer, wantErr: "FACADE_BASE_URL"},
		{name: "port 0 without a base", addr: "127.0.0.1:0", wantErr: "no port"},
		{name: "no port without a base", addr: "127.0.0.1", wantErr: "no port"},
		{name: "the base wins over the address", addr: "0.0.0.0:8080", base: "https://fhir.example.nhs.uk/fhir", want: "https://fhir.example.nhs.uk/fhir"},
		{name: "trailing slash dropped", addr: "127.0.0.1:8080", base: "https://fhir.example.nhs.uk/fhir/", want: "https://fhir.example.nhs.uk/fhir"},
		{name: "a proxy's path prefix", base: "https://gw.example.nhs.uk/care-records/fhir", wantErr: "path prefix"},
		{name: "a port 0 address with a base", addr: "127.0.0.1:0", base: "https://fhir.example.nhs.uk/fhir", want: "https://fhir.example.nhs.uk/fhir"},
		{name: "http to loopback (the image's demo)", addr: "0.0.0.0:8080", base: "http://localhost:8080/fhir", configure: demo, want: "http://localhost:8080/fhir"},
		{name: "http to loopback without the demo flag", addr: "127.0.0.1:8080", base: "http://127.0.0.1:8080/fhir", want: "http://127.0.0.1:8080/fhir"},
		{name: "http off loopback", base: "http://fhir.example.nhs.uk/fhir", wantErr: "https"},
		{name: "http off loopback, demo of the local issuer", base: "http://facade.lan:8080/fhir", configure: demo, want: "http://facade.lan:8080/fhir"},
		{name: "http off loopback, real issuer and a stray demo flag", base: "http://fhir.example.nhs.uk/fhir", configure: func(c *app.Config) { realIssuer(c); demo(c) }, wantErr: "https"},
		{name: "relative", base: "/fhir", wantErr: "absolute"},
		{name: "no scheme", base: "fhir.example.nhs.uk/fhir", wantErr: "absolute"},
		{name: "not http", base: "ftp://fhir.example.nhs.uk/fhir", wantErr: "http or https"},
		{name: "a query", base: "https://fhir.example.nhs.uk/fhir?x=1", wantErr: "query"},
		{name: "a fragment", base: "https://fhir.example.nhs.uk/fhir#top", wantErr: "fragment"},
		{name: "an empty query", base: "https://fhir.example.nhs.uk/fhir?", wantErr: "query"},
		{name: "a user", base: "https://me:pw@fhir.example.nhs.uk/fhir", wantErr: "user"},
		{name: "not /fhir", base: "https://fhir.example.nhs.uk/api", wantErr: "/fhir"},
		{name: "/fhir not last", base: "https://fhir.example.nhs.uk/fhir/R4", wantErr: "/fhir"},
		{name: "the root only", base: "https://fhir.example.nhs.uk", wantErr: "/fhir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := app.Config{Addr: tt.addr, BaseURL: tt.base, HTTPS: tt.https}
			if tt.configure != nil {
				tt.configure(&cfg)
			}
			got, err := app.PublicBase(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("PublicBase = %q, %v; want an error naming %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PublicBase = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// New refuses what PublicBase refuses, before starting anything, and
// names the variable to set; what it accepts is App.BaseURL.
func TestNewPublicBase(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg := app.Config{Addr: "0.0.0.0:8080", Logger: log}
	cfg.Auth.Issuer, cfg.Auth.JWKSURL = "https://login.test", "https://login.test/jwks"
	if a, err := app.New(cfg); err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), "FACADE_BASE_URL") {
		if a != nil {
			a.Close()
		}
		t.Fatalf("New on 0.0.0.0 without FACADE_BASE_URL: %v", err)
	}
	cfg.BaseURL = "https://fhir.example.nhs.uk/fhir/"
	cfg.Sandbox.Size = 10
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.BaseURL != "https://fhir.example.nhs.uk/fhir" {
		t.Errorf("BaseURL %q", a.BaseURL)
	}
}
