package pds_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/sandbox/pds"
)

// collection is NHS England's Postman collection for the PDS sandbox,
// relative to this package's directory.
const collection = "../../../../shared/fixtures/pds/postman/patient-demographics-sandbox.postman_collection.json"

// postmanFolders are the collection's folders the simulator serves today.
// Every request in them must pass; none is excluded. (The collection's
// update, related-person, coverage and NHS-number allocation folders wait
// for PATCH, RelatedPerson, Coverage and create.)
var postmanFolders = []string{"Search for a patient", "Retrieve a patient's record"}

// findNewman looks for newman in the repository's node_modules, then on PATH.
func findNewman(t *testing.T) string {
	t.Helper()
	local, err := filepath.Abs("../../../node_modules/.bin/newman")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("newman"); err == nil {
		return p
	}
	msg := "newman not found (run npm install at the repository root)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestPostmanCollection proves faithfulness: NHS England's own Postman
// collection for the public sandbox passes against the simulator.
func TestPostmanCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs newman")
	}
	newman := findNewman(t)
	if _, err := os.Stat(collection); err != nil {
		t.Fatalf("collection: %v", err)
	}

	srv := httptest.NewServer(pds.New(pds.Options{Open: true}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"run", collection}
	for _, f := range postmanFolders {
		args = append(args, "--folder", f)
	}
	args = append(args,
		"--env-var", "base_url="+srv.URL+pds.BasePath,
		"--reporters", "cli", "--color", "off", "--disable-unicode")
	cmd := exec.CommandContext(ctx, newman, args...)
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("newman timed out:\n%s", out)
	}
	if err != nil {
		t.Fatalf("newman: %v\n%s", err, out)
	}
	// Guard against a run that silently executed nothing.
	if !strings.Contains(string(out), "Patient exists") || !strings.Contains(string(out), "Basic search including history flag") {
		t.Fatalf("newman did not run the expected requests:\n%s", out)
	}
	t.Logf("newman:\n%s", out)
}
