package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// newman finds the newman binary installed by npm at the repository root, or
// on PATH. Without it the test is skipped locally and fails in CI.
func newman(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs("../node_modules/.bin/newman"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("newman"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("newman is not installed (npm ci at the repository root)")
	}
	t.Skip("newman is not installed; run npm ci")
	return ""
}

// TestPostmanCollection runs tests/postman/facade.postman_collection.json
// (Patient read, search, paging, errors, metadata) against the facade.
func TestPostmanCollection(t *testing.T) {
	bin := newman(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "postman/facade.postman_collection.json",
		"--env-var", "base_url="+env.url, "--reporters", "cli", "--disable-unicode", "--color", "off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("newman failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
