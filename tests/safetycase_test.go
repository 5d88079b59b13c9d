package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hazardLog is the clinical safety case's hazard log (DCB0129 form).
const hazardLog = "../docs/clinical-safety/hazard-log.md"

// testRef is how the hazard log names a test control:
// `path/to/file_test.go:TestName` (or Fuzz…), the path from the repository root.
var testRef = regexp.MustCompile("`([A-Za-z0-9_./-]+_test\\.go):((?:Test|Fuzz)[A-Za-z0-9_]*)`")

// TestHazardLogControlsExist: every test the hazard log names as a control
// exists, in the file it names; every hazard has at least one test
// control and a residual risk. A control renamed or deleted fails here,
// not silently in the safety case.
func TestHazardLogControlsExist(t *testing.T) {
	raw, err := os.ReadFile(hazardLog)
	if err != nil {
		t.Fatal(err)
	}
	sections := regexp.MustCompile(`(?m)^### (H\d+)`).Split(string(raw), -1)
	ids := regexp.MustCompile(`(?m)^### (H\d+)`).FindAllStringSubmatch(string(raw), -1)
	if len(ids) < 10 {
		t.Fatalf("only %d hazards in the log", len(ids))
	}
	files := map[string]string{}
	for i, id := range ids {
		body := sections[i+1]
		refs := testRef.FindAllStringSubmatch(body, -1)
		if len(refs) == 0 {
			t.Errorf("%s has no test control", id[1])
		}
		if !strings.Contains(body, "Residual risk") {
			t.Errorf("%s has no residual risk", id[1])
		}
		for _, ref := range refs {
			path, name := ref[1], ref[2]
			src, ok := files[path]
			if !ok {
				b, err := os.ReadFile(filepath.Join("..", path))
				if err != nil {
					t.Errorf("%s names %s, which does not exist", id[1], path)
					continue
				}
				src = string(b)
				files[path] = src
			}
			if !strings.Contains(src, "func "+name+"(") {
				t.Errorf("%s names %s in %s, which has no such test", id[1], name, path)
			}
		}
	}
}
