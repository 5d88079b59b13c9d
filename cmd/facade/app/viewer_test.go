package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// The summary viewer is mounted under /view when an issuer can launch it,
// with its own security headers, and not at all without authentication.
func TestViewerMounted(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	tests := []struct {
		name      string
		cfg       app.Config
		css, page int
		frame     string
	}{
		{name: "local issuer", cfg: app.Config{}, css: 200, page: 401, frame: "frame-ancestors 'self'"},
		{name: "embedded by an EHR", cfg: app.Config{ViewerFrameAncestors: "'self' https://ehr.example.nhs.uk"}, css: 200, page: 401,
			frame: "frame-ancestors 'self' https://ehr.example.nhs.uk"},
		{name: "auth off: no viewer", cfg: app.Config{Auth: app.AuthConfig{Disabled: true}}, css: 404, page: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Logger, cfg.Sandbox.Size = log, 10
			a, err := app.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			for path, want := range map[string]int{"/view/static/viewer.css": tt.css, "/view/Patient/9000000009": tt.page} {
				w := httptest.NewRecorder()
				a.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
				if w.Code != want {
					t.Errorf("%s: %d, want %d", path, w.Code, want)
				}
				if want == 401 {
					if csp := w.Header().Get("Content-Security-Policy"); !strings.HasSuffix(csp, tt.frame) || w.Header().Get("Cache-Control") != "no-store" {
						t.Errorf("%s: %v", path, w.Header())
					}
				}
			}
		})
	}
	if _, err := app.New(app.Config{Logger: log, ViewerFrameAncestors: "'self'; script-src *"}); err == nil {
		t.Error("a frame-ancestors list with a second directive was accepted")
	}
	if _, err := app.FromEnv(func(k string) string {
		if k == "VIEWER_FRAME_ANCESTORS" {
			return "* 'unsafe-inline'"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "VIEWER_FRAME_ANCESTORS") {
		t.Errorf("FromEnv: %v", err)
	}
}
