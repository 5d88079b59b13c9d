package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// outside names the reference folder kept beside the repository while it was
// written. Its patterns are built from pieces so this file does not match.
const outside = "sha" + "red"

// outsidePatterns are the ways a file can point into that folder.
var outsidePatterns = []string{
	"../" + outside,
	"/work/" + outside,
	outside + "/fixtures",
	outside + "/fhir-r4",
}

// TestSelfContained keeps a fresh clone able to pass its own tests: no file
// of the repository (tracked, or new and not ignored) may refer to the
// reference folder outside it. Copy what is needed into a testdata folder,
// with a SOURCES.md naming its origin and licence.
func TestSelfContained(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := repoFiles(t, root)
	if len(files) < 50 {
		t.Fatalf("only %d files found under %s", len(files), root)
	}
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		var hits []string
		for i, line := range bytes.Split(b, []byte("\n")) {
			for _, p := range outsidePatterns {
				if bytes.Contains(line, []byte(p)) {
					text := []rune(strings.TrimSpace(string(line)))
					if len(text) > 120 {
						text = append(text[:120], '…')
					}
					hits = append(hits, fmt.Sprintf("  line %d: %s", i+1, string(text)))
					break
				}
			}
		}
		if len(hits) > 0 {
			t.Errorf("%s refers to material outside the repository:\n%s", rel, strings.Join(hits, "\n"))
		}
	}
}

// repoFiles lists the repository's files relative to root: git's tracked and
// untracked-but-not-ignored files, or, without git, a walk that skips .git,
// node_modules and bin.
func repoFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, filepath.FromSlash(f))
			}
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
