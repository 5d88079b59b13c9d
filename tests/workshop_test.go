package tests

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWorkshopStaysInWorkshop keeps issue #18's rule: the workshop
// (sandbox/: the simulators and the dev issuer; tools/: load and perf
// tools) is imported only by cmd/, tests/ and the workshop itself, never
// by a product package, not even by its tests (those replay recorded
// payloads: backends/internal/recorded). Unlike TestDependenciesPointDown
// it reads direct imports, tests' included, as a test file's import is
// where the rule is most easily broken.
func TestWorkshopStaysInWorkshop(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f",
		`{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}}|{{join .XTestImports " "}}`, "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if v := workshopViolations(string(out)); len(v) > 0 {
		for _, s := range v {
			t.Error(s)
		}
	}
	// The check itself must be able to fail.
	if v := workshopViolations(module + "backends/nrl|net/http|" + module + "sandbox/nrl|"); len(v) != 1 {
		t.Fatalf("a backend test importing sandbox/nrl is not caught: %v", v)
	}
}

// workshopViolations reads go list lines "pkg|imports|test imports|external
// test imports" and names each product package that imports the workshop.
func workshopViolations(list string) []string {
	var out []string
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Split(line, "|")
		rel, ok := strings.CutPrefix(f[0], module)
		if !ok || len(f) != 4 || under(rel, "cmd", "tests", "sandbox", "tools") {
			continue
		}
		checked++
		for i, kind := range []string{"its code", "its tests", "its external tests (package _test)"} {
			for _, imp := range strings.Fields(f[i+1]) {
				if dep, ok := strings.CutPrefix(imp, module); ok && under(dep, "sandbox", "tools") {
					out = append(out, rel+": "+kind+" import "+dep+" (only cmd/ and tests/ may import sandbox/ or tools/; replay recorded payloads instead)")
				}
			}
		}
	}
	if checked == 0 {
		out = append(out, "no product package checked: the go list output was not understood")
	}
	return out
}

// under says whether rel (a path in the module) is in one of the trees.
func under(rel string, trees ...string) bool {
	for _, tr := range trees {
		if rel == tr || strings.HasPrefix(rel, tr+"/") {
			return true
		}
	}
	return false
}

// TestSimulatorsSpeakTheirOwnWire keeps the other half of issue #18's
// rule: no package under sandbox/ imports the facade's model/fhirjson, not
// even in its tests (which hand the facade's mappers what the simulator
// put on the wire). A simulator and the facade sharing structs would both
// miss the same field, and no end-to-end test could see it; the
// simulators' types are their own (sandbox/wire, sandbox/wire/fhirwire and
// each simulator's resources). Other model packages (nhsnumber, fhirerr
// …) are values, not wire shapes, and stay allowed.
func TestSimulatorsSpeakTheirOwnWire(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f",
		`{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}}|{{join .XTestImports " "}}`, "../sandbox/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, s := range modelStructImports(string(out)) {
		t.Error(s)
	}
	// The check itself must be able to fail.
	if v := modelStructImports(module + "sandbox/fgm|net/http|" + module + "model/fhirjson|"); len(v) != 1 {
		t.Fatalf("a simulator test importing model/fhirjson is not caught: %v", v)
	}
}

// modelStructImports reads go list lines "pkg|imports|test imports|external
// test imports" of sandbox/ packages and names each import of
// model/fhirjson.
func modelStructImports(list string) []string {
	var out []string
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Split(line, "|")
		rel, ok := strings.CutPrefix(f[0], module)
		if !ok || len(f) != 4 || !under(rel, "sandbox") {
			continue
		}
		checked++
		for i, kind := range []string{"its code", "its tests", "its external tests (package _test)"} {
			for _, imp := range strings.Fields(f[i+1]) {
				if dep, ok := strings.CutPrefix(imp, module); ok && under(dep, "model/fhirjson") {
					out = append(out, rel+": "+kind+" import "+dep+" (simulators speak their own wire types: sandbox/wire/fhirwire)")
				}
			}
		}
	}
	if checked == 0 {
		out = append(out, "no sandbox package checked: the go list output was not understood")
	}
	return out
}
