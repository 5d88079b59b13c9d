package scr_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/scr"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// FuzzSection feeds arbitrary XHTML as the allergy section's narrative.
// Whatever the input, the parser and the mapper must not panic; an accepted
// table has exactly one cell per column in every row; and when both accept
// it, every data row became exactly one AllergyIntolerance: no row is ever
// silently dropped. A refusal is a BadGateway error.
//
// The seed corpus is testdata/fuzz/FuzzSection (the sandbox's sections and
// hand-written variants); run with
//
//	go test -run '^$' -fuzz FuzzSection -fuzztime 30s ./mappers/scr/
func FuzzSection(f *testing.F) {
	f.Add(`<div xmlns="http://www.w3.org/1999/xhtml"><table id="Allergies">` + allergyHead + `<tbody>` + goodRow + `</tbody></table></div>`)
	f.Fuzz(func(t *testing.T, div string) {
		// JSON carries UTF-8 only: map what the payload would hold.
		div = strings.ToValidUTF8(div, "\uFFFD")
		tab, perr := scr.ParseTable(scr.SectionAllergies, "Allergies", div)
		if perr == nil {
			if tab.Empty && len(tab.Rows) != 0 {
				t.Fatalf("empty table with %d rows", len(tab.Rows))
			}
			for i, r := range tab.Rows {
				if len(r.Cells) != len(tab.Columns) {
					t.Fatalf("row %d has %d cells for %d columns", r.Index, len(r.Cells), len(tab.Columns))
				}
				if r.Index != i+1 {
					t.Fatalf("row %d has index %d", i+1, r.Index)
				}
			}
		}
		raw, err := json.Marshal(map[string]any{
			"resourceType": "Bundle",
			"entry": []any{map[string]any{"resource": map[string]any{
				"resourceType": "Composition", "id": "C1",
				"section": []any{map[string]any{
					"code": map[string]any{"coding": []any{map[string]any{"code": scr.SectionAllergies}}},
					"text": map[string]any{"div": div},
				}},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		rec, merr := scr.Map(raw, "9000000009", "FA60BE64-1F34-11EB-A2A8-000C29A364EB")
		if merr != nil {
			if fhirerr.CategoryOf(merr) != fhirerr.BadGateway {
				t.Fatalf("error of category %v: %v", fhirerr.CategoryOf(merr), merr)
			}
			return
		}
		if perr != nil && div != "" {
			t.Fatalf("Map accepted what ParseTable refused: %v", perr)
		}
		if perr == nil && len(rec.Allergies) != len(tab.Rows) {
			t.Fatalf("%d rows became %d allergies", len(tab.Rows), len(rec.Allergies))
		}
	})
}
