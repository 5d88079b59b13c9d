package tests

import (
	"context"
	"encoding/json"
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

// TestPostmanCollections runs every tests/postman/*.postman_collection.json
// (one per resource area: Patient read, search, paging, errors, metadata …)
// against the facade with newman.
func TestPostmanCollections(t *testing.T) {
	bin := newman(t)
	files, _ := filepath.Glob("postman/*.postman_collection.json")
	if len(files) == 0 {
		t.Fatal("no Postman collections in tests/postman")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			coll, err := withBearerAuth(t, f)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, bin, "run", coll,
				"--env-var", "base_url="+env.url,
				"--env-var", "token="+env.tokens["clinician"],
				"--env-var", "token_admin="+env.tokens["admin"],
				"--env-var", "token_auditor="+env.tokens["auditor"],
				"--reporters", "cli", "--disable-unicode", "--color", "off")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("newman failed: %v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// withBearerAuth writes a copy of a collection whose requests authenticate
// with {{token}} unless the collection or a request says otherwise, so the
// collections run unchanged against a facade with authentication on (and a
// Postman user sets token in an environment).
func withBearerAuth(t *testing.T, path string) (string, error) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", err
	}
	if _, ok := c["auth"]; !ok {
		c["auth"] = map[string]any{"type": "bearer", "bearer": []any{map[string]any{"key": "token", "value": "{{token}}", "type": "string"}}}
	}
	out, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	return dst, os.WriteFile(dst, out, 0o600)
}
