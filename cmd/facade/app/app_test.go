package app_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

func TestFromEnv(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c app.Config)
		wantErr string
	}{
		{name: "defaults", env: nil, check: func(t *testing.T, c app.Config) {
			if c.Addr != "127.0.0.1:8080" || c.BaseURL != "" || c.PDS.BaseURL != "" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "everything", env: map[string]string{
			"FACADE_ADDR": "0.0.0.0:9000", "FACADE_BASE_URL": "https://fhir.example/fhir",
			"PDS_BASE_URL": "https://int.api.service.nhs.uk/personal-demographics/FHIR/R4", "PDS_TOKEN": "t", "PDS_TIMEOUT": "3s",
			"SANDBOX_SEED": "7", "SANDBOX_SIZE": "100",
		}, check: func(t *testing.T, c app.Config) {
			if c.Addr != "0.0.0.0:9000" || c.BaseURL != "https://fhir.example/fhir" || c.PDS.Token != "t" || c.PDS.Timeout != 3*time.Second ||
				c.Sandbox.Seed != 7 || c.Sandbox.Size != 100 || !strings.HasPrefix(c.PDS.BaseURL, "https://int.") {
				t.Errorf("%+v", c)
			}
		}},
		{name: "OVM like the other Flag backends", env: map[string]string{
			"OVM_BASE_URL": "https://ovm.example/overseas-visitors/v1", "OVM_TOKEN_FILE": tokenFile, "OVM_TIMEOUT": "4s", "OVM_RETRIES": "0", "OVM_CACHE_TTL": "5s",
		}, check: func(t *testing.T, c app.Config) {
			if c.OVM.BaseURL != "https://ovm.example/overseas-visitors/v1" || c.OVM.Token != "s3cret" || c.OVM.Timeout != 4*time.Second ||
				c.OVM.MaxAttempts != 1 || c.OVM.CacheTTL == nil || *c.OVM.CacheTTL != 5*time.Second {
				t.Errorf("%+v", c.OVM)
			}
		}},
		{name: "bad OVM timeout", env: map[string]string{"OVM_TIMEOUT": "later"}, wantErr: "OVM_TIMEOUT"},
		{name: "token file wins", env: map[string]string{"PDS_TOKEN": "inline", "PDS_TOKEN_FILE": tokenFile}, check: func(t *testing.T, c app.Config) {
			if c.PDS.Token != "s3cret" {
				t.Errorf("token %q", c.PDS.Token)
			}
		}},
		{name: "missing token file", env: map[string]string{"PDS_TOKEN_FILE": "/nonexistent/token"}, wantErr: "PDS_TOKEN_FILE"},
		{name: "bad timeout", env: map[string]string{"PDS_TIMEOUT": "soon"}, wantErr: "PDS_TIMEOUT"},
		{name: "negative timeout", env: map[string]string{"PDS_TIMEOUT": "-1s"}, wantErr: "PDS_TIMEOUT"},
		{name: "bad seed", env: map[string]string{"SANDBOX_SEED": "x"}, wantErr: "SANDBOX_SEED"},
		{name: "in-flight bound", env: map[string]string{"FACADE_MAX_IN_FLIGHT": "64"}, check: func(t *testing.T, c app.Config) {
			if c.MaxInFlight != 64 {
				t.Errorf("MaxInFlight %d", c.MaxInFlight)
			}
		}},
		{name: "bad in-flight bound", env: map[string]string{"FACADE_MAX_IN_FLIGHT": "0"}, wantErr: "FACADE_MAX_IN_FLIGHT"},
		{name: "bad size", env: map[string]string{"SANDBOX_SIZE": "-3"}, wantErr: "SANDBOX_SIZE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := app.FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Error("error leaks the token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// With no backend configured, New starts the embedded sandbox and points
// the PDS client at it.
func TestNewStartsTheSandbox(t *testing.T) {
	a, err := app.New(app.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Sandbox == nil || !strings.HasPrefix(a.Backends["pds"], "http://127.0.0.1:") {
		t.Errorf("sandbox %v, pds %q", a.Sandbox, a.Backends["pds"])
	}
	if a.Sandbox.OVM == nil || a.Backends["ovm"] != a.Sandbox.OVMBaseURL || !strings.HasSuffix(a.Backends["ovm"], "/overseas-visitors/v1") {
		t.Errorf("ovm %q", a.Backends["ovm"])
	}
	if _, ok := a.Resources.Lookup("Patient"); !ok {
		t.Error("no Patient provider")
	}
}

// With every backend configured, no sandbox is started.
func TestNewUsesConfiguredBackend(t *testing.T) {
	cfg := app.Config{NRLSSPURL: "https://spine-proxy.example"}
	// Every Backend field of Config, whatever backends exist.
	v := reflect.ValueOf(&cfg).Elem()
	for i := 0; i < v.NumField(); i++ {
		if b, ok := v.Field(i).Addr().Interface().(*app.Backend); ok {
			b.BaseURL = "https://sandbox.api.service.nhs.uk/" + strings.ToLower(v.Type().Field(i).Name)
		}
	}
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Sandbox != nil {
		t.Error("sandbox started although PDS is configured")
	}
}
