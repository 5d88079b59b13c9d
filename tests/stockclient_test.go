package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestStockFHIRClient runs tests/stockclient/*.test.mjs, which drive the
// facade with fhir-kit-client (a stock FHIR client from the npm registry)
// under node's test runner.
func TestStockFHIRClient(t *testing.T) {
	newman(t) // the same npm install brings fhir-kit-client
	if _, err := os.Stat("../node_modules/fhir-kit-client"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("fhir-kit-client is not installed (npm ci at the repository root)")
		}
		t.Skip("fhir-kit-client is not installed; run npm ci")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files, _ := filepath.Glob("stockclient/*.test.mjs")
	if len(files) == 0 {
		t.Fatal("no stock client tests found")
	}
	cmd := exec.CommandContext(ctx, node, append([]string{"--test"}, files...)...)
	cmd.Env = append(os.Environ(), "FHIR_BASE_URL="+env.url, "FHIR_TOKEN="+env.tokens["clinician"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stock client tests failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
