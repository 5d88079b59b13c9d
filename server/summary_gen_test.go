package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// coreElements is the part of the R4 core StructureDefinitions the summary
// table is derived from (see testdata/SOURCES.md).
const coreElements = "testdata/r4-core-resource-elements.json"

var (
	updateSummary = flag.Bool("update-summary", false, "rewrite summary_elements.json from "+coreElements)
	r4Core        = flag.String("r4-core", "", "rewrite "+coreElements+" from this folder of hl7.fhir.r4.core 4.0.1 StructureDefinition-*.json files")
)

// coreElement is one top-level element of a resource's snapshot.
type coreElement struct {
	Path       string `json:"path"`
	Min        int    `json:"min"`
	IsSummary  bool   `json:"isSummary,omitempty"`
	IsModifier bool   `json:"isModifier,omitempty"`
}

// extractCoreElements reads the StructureDefinitions in dir and keeps, for
// each concrete resource type (kind resource, derivation specialization, not
// abstract), the top-level elements of its snapshot.
func extractCoreElements(t *testing.T, dir string) map[string][]coreElement {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "StructureDefinition-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no StructureDefinitions in %s: %v", dir, err)
	}
	out := map[string][]coreElement{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var sd struct {
			Kind       string `json:"kind"`
			Derivation string `json:"derivation"`
			Abstract   bool   `json:"abstract"`
			Type       string `json:"type"`
			Snapshot   struct {
				Element []coreElement `json:"element"`
			} `json:"snapshot"`
		}
		if err := json.Unmarshal(raw, &sd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if sd.Kind != "resource" || sd.Derivation != "specialization" || sd.Abstract {
			continue
		}
		els := []coreElement{}
		for _, e := range sd.Snapshot.Element {
			if parts := strings.Split(e.Path, "."); len(parts) == 2 && parts[0] == sd.Type {
				els = append(els, e)
			}
		}
		out[sd.Type] = els
	}
	return out
}

// writeCoreElements writes the extract one element a line, types sorted.
func writeCoreElements(t *testing.T, m map[string][]coreElement) {
	t.Helper()
	types := make([]string, 0, len(m))
	for k := range m {
		types = append(types, k)
	}
	sort.Strings(types)
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, typ := range types {
		name, _ := json.Marshal(typ)
		b.WriteString(string(name) + ": [\n")
		for j, e := range m[typ] {
			line, _ := json.Marshal(e)
			b.WriteString("  " + string(line))
			if j < len(m[typ])-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString("]")
		if i < len(types)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	if err := os.WriteFile(coreElements, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSummaryElementsTable derives, from the R4 core StructureDefinitions
// (their extract in testdata), which top-level elements of each resource type
// are in the summary (isSummary), mandatory (min ≥ 1) or modifiers, and
// checks the embedded table the binary uses is exactly that. Run with
// -update-summary to rewrite the table, and with -r4-core DIR to rewrite the
// extract from the package first.
func TestSummaryElementsTable(t *testing.T) {
	if *r4Core != "" {
		writeCoreElements(t, extractCoreElements(t, *r4Core))
	}
	raw, err := os.ReadFile(coreElements)
	if err != nil {
		t.Fatal(err)
	}
	var core map[string][]coreElement
	if err := json.Unmarshal(raw, &core); err != nil {
		t.Fatalf("%s: %v", coreElements, err)
	}
	if len(core) == 0 {
		t.Fatalf("%s holds no resource types", coreElements)
	}
	want := map[string]elementSets{}
	for typ, els := range core {
		var s elementSets
		for _, e := range els {
			name := strings.TrimPrefix(e.Path, typ+".")
			if e.IsSummary {
				s.Summary = append(s.Summary, name)
			}
			if e.Min > 0 {
				s.Mandatory = append(s.Mandatory, name)
			}
			if e.IsModifier {
				s.Modifier = append(s.Modifier, name)
			}
		}
		sort.Strings(s.Summary)
		sort.Strings(s.Mandatory)
		sort.Strings(s.Modifier)
		want[typ] = s
	}
	if *updateSummary {
		b, _ := json.MarshalIndent(want, "", " ")
		if err := os.WriteFile("summary_elements.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := loadSummaryTable()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("summary_elements.json is out of date (%d types embedded, %d derived): go test ./server -run TestSummaryElementsTable -update-summary", len(got), len(want))
	}
	if p := got["Patient"]; !slices.Contains(p.Summary, "birthDate") || slices.Contains(p.Summary, "contact") {
		t.Errorf("Patient summary elements look wrong: %v", p.Summary)
	}
}
