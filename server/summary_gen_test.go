package server

import (
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

var updateSummary = flag.Bool("update-summary", false, "rewrite summary_elements.json from ../../shared/fhir-r4/core")

// TestSummaryElementsTable derives, from the R4 core StructureDefinitions,
// which top-level elements of each resource type are in the summary
// (isSummary), mandatory (min ≥ 1) or modifiers, and checks the embedded
// table the binary uses is exactly that. Run with -update-summary to rewrite it.
func TestSummaryElementsTable(t *testing.T) {
	files, err := filepath.Glob("../../shared/fhir-r4/core/StructureDefinition-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no StructureDefinitions: %v", err)
	}
	want := map[string]elementSets{}
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
				Element []struct {
					Path       string `json:"path"`
					IsSummary  bool   `json:"isSummary"`
					IsModifier bool   `json:"isModifier"`
					Min        int    `json:"min"`
				} `json:"element"`
			} `json:"snapshot"`
		}
		if err := json.Unmarshal(raw, &sd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if sd.Kind != "resource" || sd.Derivation != "specialization" || sd.Abstract {
			continue
		}
		var s elementSets
		for _, e := range sd.Snapshot.Element {
			parts := strings.Split(e.Path, ".")
			if len(parts) != 2 || parts[0] != sd.Type {
				continue
			}
			name := parts[1]
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
		want[sd.Type] = s
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
