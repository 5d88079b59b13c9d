package tests

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
	sandboxcpis "github.com/carerecords/fhir-facade/sandbox/cpis"
)

// chromiumPath is Debian's chromium package; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserViewer runs tests/browser/viewer.mjs: headless Chromium, driven
// by playwright-core, launches the summary viewer in context as a local
// clinical system would (POST /oauth/launch, then the launch URL) and
// checks what a clinician sees: the banner, alerts first and above the
// fold on a phone, the lists, a document opening, the keyboard path, a
// restricted patient, a failed source's banner, that the session sees no
// other patient, the deceased banner of a deceased patient (9000000009,
// 9000000025: first, an alert, high contrast, in the first screen) and its
// absence, with the age, on a living one's (9693632109). Screenshots go to
// tests/browser/artifacts/; no assertion depends on one.
//
// It needs node, /usr/bin/chromium and node_modules/playwright-core; without
// them it is skipped, unless CI is set, when it fails.
func TestBrowserViewer(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath+" (apt-get install chromium)")
	}
	if _, err := os.Stat("../node_modules/playwright-core/package.json"); err != nil {
		missing = append(missing, "node_modules/playwright-core (npm ci at the repository root)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("browser tests cannot run: missing %s", strings.Join(missing, ", "))
		}
		t.Skipf("browser tests skipped: missing %s", strings.Join(missing, ", "))
	}

	logs := &syncBuffer{}
	a, root := startFacadeAtOwnAddress(t, logs)
	control := httptest.NewServer(faultSwitch(t, a))
	defer control.Close()

	artifacts, err := filepath.Abs(filepath.Join("browser", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "browser/viewer.mjs")
	cmd.Env = append(os.Environ(), "FACADE_ROOT="+root, "CONTROL_URL="+control.URL, "ARTIFACTS="+artifacts)
	out, err := cmd.CombinedOutput()
	t.Logf("screenshots in %s\n%s", artifacts, out)
	if err != nil {
		t.Fatalf("browser tests failed: %v\n%s", err, out)
	}
	// Nothing the browser did put a patient's identity or a token in the logs.
	if leaks := patientDataIn(logs.String()); len(leaks) > 0 {
		t.Errorf("the facade's logs carry patient data: %v", leaks)
	}
	if strings.Contains(logs.String(), "eyJ") {
		t.Error("the facade's logs carry a token")
	}
}

// startFacadeAtOwnAddress starts a facade whose public base URL is the
// loopback address it serves on, as a browser must be sent to real
// addresses (the issuer's authorization endpoint, the viewer's callback).
func startFacadeAtOwnAddress(t *testing.T, logs io.Writer) (*app.App, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	root := "http://" + ln.Addr().String()
	log := logrus.New()
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetOutput(logs)
	a, err := app.New(app.Config{BaseURL: root + "/fhir", Logger: log, BackendTimeout: backendTimeout})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(a.Handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() { ts.Close(); a.Close() })
	return a, root
}

// faultSwitch lets the browser script take a backend down and bring it back:
// POST /fault?source=cpis&on=1|0.
func faultSwitch(t *testing.T, a *app.App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Query().Get("source") != "cpis" {
			http.Error(w, "POST /fault?source=cpis&on=1|0", http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("on") == "1" {
			a.Sandbox.CPIS.SetFault(&sandboxcpis.Fault{Status: http.StatusInternalServerError, Body: "down", ContentType: "text/plain"})
		} else {
			a.Sandbox.CPIS.SetFault(nil)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
