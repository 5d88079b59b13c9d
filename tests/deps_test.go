package tests

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/carerecords/fhir-facade/"

// TestDependenciesPointDown keeps the layering of DESIGN.md:
// cmd → server → capability → resources → {backends, mappers} → model.
// Each rule names a layer and the project packages it must never depend on,
// directly or transitively.
func TestDependenciesPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}|{{join .Deps " "}}|{{join .Imports " "}}`, "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	rules := []struct {
		layer     string
		forbidden []string
		direct    bool // only the layer's own imports, not what they import
	}{
		{layer: "model/", forbidden: []string{"server", "capability", "resources", "backends/", "mappers/", "cmd/", "profiles"}},
		{layer: "mappers/", forbidden: []string{"server", "capability", "resources", "backends/", "cmd/", "net/http"}},
		{layer: "backends/", forbidden: []string{"server", "capability", "resources", "mappers/", "cmd/"}},
		{layer: "resources", forbidden: []string{"server", "capability", "cmd/"}},
		{layer: "capability", forbidden: []string{"server", "cmd/"}},
		{layer: "profiles", forbidden: []string{"server", "capability", "resources", "backends/", "mappers/", "cmd/"}},
		{layer: "server", forbidden: []string{"cmd/"}},
		// server reaches backends only through the providers it serves.
		{layer: "server", forbidden: []string{"backends/"}, direct: true},
		// Providers read the caller from model/request, never auth.
		{layer: "resources", forbidden: []string{"auth"}},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, rest, _ := strings.Cut(line, "|")
		deps, imports, _ := strings.Cut(rest, "|")
		rel := strings.TrimPrefix(pkg, module)
		if rel == pkg || strings.HasPrefix(rel, "tests") {
			continue
		}
		for _, r := range rules {
			if !(rel == r.layer || strings.HasPrefix(rel, r.layer) && strings.HasSuffix(r.layer, "/") || strings.HasPrefix(rel, r.layer+"/")) {
				continue
			}
			checked++
			ds := deps
			if r.direct {
				ds = imports
			}
			for _, d := range strings.Fields(ds) {
				for _, f := range r.forbidden {
					target := module + f
					if f == "net/http" {
						target = f
					}
					if d == strings.TrimSuffix(target, "/") || strings.HasPrefix(d, target) && strings.HasSuffix(target, "/") || strings.HasPrefix(d, target+"/") {
						t.Errorf("%s depends on %s (layer %s must not depend on %s)", rel, strings.TrimPrefix(d, module), r.layer, f)
					}
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d packages checked; the go list output was not understood", checked)
	}
}
