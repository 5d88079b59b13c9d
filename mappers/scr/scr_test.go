package scr_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/mappers/scr"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

type testCase struct {
	NHS  string `json:"nhs"`
	UUID string `json:"uuid"`
	// Now is the day the case is mapped on (RFC 3339); goldenNow if empty.
	Now string `json:"now"`
}

// goldenNow is the "now" of the goldens unless a case names its own: the
// sandbox population's fixed reference date, so that a golden never
// changes with the calendar.
var goldenNow = time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)

func (c testCase) now(t *testing.T) time.Time {
	t.Helper()
	if c.Now == "" {
		return goldenNow
	}
	now, err := time.Parse(time.RFC3339, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// golden is what a golden file holds: the facts of the Record and every
// resource as jsonformat prints it.
type golden struct {
	Found       bool              `json:"found"`
	LastUpdated string            `json:"lastUpdated,omitempty"`
	Resources   []json.RawMessage `json:"resources"`
}

func render(t *testing.T, rec *scr.Record) []byte {
	t.Helper()
	var msgs []proto.Message
	for _, a := range rec.Allergies {
		msgs = append(msgs, a)
	}
	for _, ms := range rec.Medications {
		msgs = append(msgs, ms)
	}
	g := golden{Found: rec.Found, Resources: goldentest.Compact(t, msgs...)}
	if !rec.LastUpdated.IsZero() {
		g.LastUpdated = rec.LastUpdated.UTC().Format("2006-01-02T15:04:05Z")
	}
	return goldentest.JSON(t, g)
}

// TestGolden maps every testdata/<case>.in.json, on the case's day, and
// compares the result with testdata/<case>.golden.json. Every resource is
// also validated against the FHIR R4 JSON schema and parsed back by
// jsonformat with validation.
func TestGolden(t *testing.T) {
	cs := goldentest.ReadCases[testCase](t)
	names := goldentest.Run(t, 1, func(t *testing.T, c goldentest.Case) {
		tc := goldentest.Lookup(t, cs, c.Name)
		rec, err := scr.MapAt(c.Raw, tc.NHS, tc.UUID, tc.now(t))
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		want := goldentest.Check(t, c.Golden, render(t, rec))
		var g golden
		if err := json.Unmarshal(want, &g); err != nil {
			t.Fatal(err)
		}
		goldentest.ParseBack(t, g.Resources)
	})
	goldentest.RequireGenerated(t, names)
}

// TestSandbox9000000009 spells out what the public sandbox's summary maps
// to: one allergy and two medications, as clinicians see them in the SCR.
func TestSandbox9000000009(t *testing.T) {
	raw, err := os.ReadFile("testdata/sandbox_9000000009.in.json")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := scr.Map(raw, "9000000009", "FA60BE64-1F34-11EB-A2A8-000C29A364EB")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Allergies) != 1 || len(rec.Medications) != 2 {
		t.Fatalf("%d allergies, %d medications", len(rec.Allergies), len(rec.Medications))
	}
	a := rec.Allergies[0]
	if a.GetId().GetValue() != "9000000009-fa60be641f3411eba2a8000c29a364eb-a1" ||
		a.GetCode().GetText().GetValue() != "Toxic reaction to wasp sting" ||
		a.GetCode().GetCoding() != nil ||
		a.GetMeta().GetSource().GetValue() != "urn:uuid:fa60be64-1f34-11eb-a2a8-000c29a364eb" {
		t.Errorf("allergy %v", a)
	}
	acute, repeat := rec.Medications[0], rec.Medications[1]
	if acute.GetMedication().GetCodeableConcept().GetText().GetValue() != "Co-codamol 8mg/500mg effervescent tablets" ||
		acute.GetDosage()[0].GetText().GetValue() != "One To Be Taken Four Times A Day" {
		t.Errorf("acute %v", acute)
	}
	if repeat.GetId().GetValue() != "9000000009-fa60be641f3411eba2a8000c29a364eb-mr1" {
		t.Errorf("repeat id %s", repeat.GetId().GetValue())
	}
}

// bundleWith wraps section divs (code → div content) into a GET /Bundle
// payload for 9000000009.
func bundleWith(sections ...[2]string) []byte {
	var ss []map[string]any
	for _, s := range sections {
		ss = append(ss, map[string]any{
			"code": map[string]any{"coding": []any{map[string]any{"code": s[0]}}},
			"text": map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml">` + s[1] + `</div>`},
		})
	}
	b, _ := json.Marshal(map[string]any{
		"resourceType": "Bundle", "type": "searchset",
		"entry": []any{
			map[string]any{"resource": map[string]any{"resourceType": "Composition", "id": "C1", "status": "final", "subject": map[string]any{"reference": "Patient/P1"}, "section": ss}},
			map[string]any{"resource": map[string]any{"resourceType": "Patient", "id": "P1", "identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}}}},
		},
	})
	return b
}

const (
	allergyHead = `<thead><tr><th>Date</th><th>Description</th><th>Certainty</th><th>Severity</th><th>Supporting Information</th></tr></thead>`
	goodRow     = `<tr><td>12-May-2020</td><td>Zebedee</td><td/><td/><td/></tr>`
)

func allergies(rows string) [2]string {
	return [2]string{"AllergiesHeader", `<table id="Allergies">` + allergyHead + `<tbody>` + rows + `</tbody></table>`}
}

// TestMapErrors feeds markup the mapper must refuse and checks the error
// names the place (section, row, column) and never the cells' text.
func TestMapErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		uuid string
		want string
	}{
		{name: "image in a cell", raw: bundleWith(allergies(goodRow + `<tr><td>12-May-2020</td><td>Zebedee <img src="x"/></td><td/><td/><td/></tr>`)), want: "section AllergiesHeader, row 2, column 2: unexpected markup inside a cell"},
		{name: "nested table", raw: bundleWith(allergies(`<tr><td>1</td><td><table><tr><td>Zebedee</td></tr></table></td><td/><td/><td/></tr>`)), want: "row 1, column 2: unexpected markup"},
		{name: "short row", raw: bundleWith(allergies(goodRow + `<tr><td>12-May-2020</td><td>Zebedee</td><td/><td/></tr>`)), want: "section AllergiesHeader, row 2, column 5: the row has 4 cells, want 5"},
		{name: "long row", raw: bundleWith(allergies(`<tr><td>12-May-2020</td><td>Zebedee</td><td/><td/><td/><td>Zebedee</td></tr>`)), want: "row 1, column 6: the row has 6 cells, want 5"},
		{name: "two tables", raw: bundleWith([2]string{"AllergiesHeader", `<table id="Allergies">` + allergyHead + `</table><table id="Allergies">` + allergyHead + `</table>`}), want: "section AllergiesHeader: more than one table"},
		{name: "not well-formed", raw: bundleWith(allergies(`<tr><td>Zebedee</td>`)), want: "not well-formed XHTML"},
		{name: "wrong table id", raw: bundleWith([2]string{"AllergiesHeader", `<table id="RepeatMeds">` + allergyHead + `</table>`}), want: `the table id is "RepeatMeds", want "Allergies"`},
		{name: "no description column", raw: bundleWith([2]string{"AllergiesHeader", `<table id="Allergies"><thead><tr><th>Date</th><th>Substance</th></tr></thead><tbody><tr><td>1-May-2020</td><td>Zebedee</td></tr></tbody></table>`}), want: `section AllergiesHeader, header row: no "description" column`},
		{name: "rowspan", raw: bundleWith(allergies(`<tr><td rowspan="2">12-May-2020</td><td>Zebedee</td><td/><td/><td/></tr>`)), want: "row 1, column 1: rowspan"},
		{name: "header cell in body", raw: bundleWith(allergies(`<tr><th>12-May-2020</th><td>Zebedee</td><td/><td/><td/></tr>`)), want: "row 1, column 1: a <th> cell"},
		{name: "no-information row among rows", raw: bundleWith(allergies(goodRow + `<tr><td colspan="5">No relevant information available for this category.</td></tr>`)), want: "row 2, column 1: the no-information statement alongside 1 other rows"},
		{name: "other single-cell row", raw: bundleWith(allergies(`<tr><td colspan="5">Zebedee withheld</td></tr>`)), want: "row 1, column 2: the row has 1 cells, want 5"},
		{name: "text between rows", raw: bundleWith(allergies(goodRow + `Zebedee` + goodRow)), want: "text directly inside <tbody>"},
		{name: "no table", raw: bundleWith([2]string{"AllergiesHeader", `<p>Zebedee</p>`}), want: "section AllergiesHeader: no table"},
		{name: "script", raw: bundleWith([2]string{"AcuteMedsHeader", `<script>Zebedee()</script>`}), want: "section AcuteMedsHeader: unexpected element <script>"},
		{name: "foreign namespace", raw: bundleWith([2]string{"AllergiesHeader", `<svg xmlns="http://www.w3.org/2000/svg"/>`}), want: "element <svg> is not XHTML"},
		{name: "empty narrative", raw: []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Composition","section":[{"code":{"coding":[{"code":"RepeatMedsHeader"}]},"text":{"div":""}}]}}]}`), want: "section RepeatMedsHeader: the section has no narrative"},
		{name: "section twice", raw: bundleWith(allergies(goodRow), allergies(goodRow)), want: "section AllergiesHeader: the section appears twice"},
		{name: "no header row", raw: bundleWith([2]string{"AllergiesHeader", `<table id="Allergies"><tr><td>Zebedee</td></tr></table>`}), want: "header row: the table has no header row"},
		{name: "another patient", raw: bytes.Replace(bundleWith(allergies(goodRow)), []byte(`"9000000009"`), []byte(`"9000000017"`), 1), want: "another patient"},
		{name: "not JSON", raw: []byte(`<html>Zebedee</html>`), want: "cannot read"},
		{name: "not a Bundle", raw: []byte(`{"resourceType":"OperationOutcome"}`), want: "cannot read"},
		{name: "bad UUID", raw: bundleWith(allergies(goodRow)), uuid: "not-a-uuid", want: "cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uuid := tt.uuid
			if uuid == "" {
				uuid = "FA60BE64-1F34-11EB-A2A8-000C29A364EB"
			}
			rec, err := scr.Map(tt.raw, "9000000009", uuid)
			if err == nil {
				t.Fatalf("no error; got %+v", rec)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
				t.Errorf("category %v, want BadGateway", fhirerr.CategoryOf(err))
			}
			for _, s := range []string{err.Error(), fhirerr.LogString(err)} {
				if strings.Contains(s, "Zebedee") {
					t.Errorf("error carries cell text: %s", s)
				}
			}
		})
	}
}

func TestParseTable(t *testing.T) {
	div := `<div xmlns="http://www.w3.org/1999/xhtml"><h3>Note</h3><table summary="x" id="Allergies">` + allergyHead +
		`<tbody><tr class="oddRow"><td>12-May-2020</td><td> Allergy&nbsp;to <b>cats</b><br/>and  dogs </td><td>Confirmed</td><td/><td>a &amp; b</td></tr></tbody></table><p id="SendTime">Summary Sent: 14-May-2020</p></div>`
	tab, err := scr.ParseTable("AllergiesHeader", "Allergies", div)
	if err != nil {
		t.Fatal(err)
	}
	if tab.ID != "Allergies" || len(tab.Columns) != 5 || len(tab.Rows) != 1 || tab.Empty {
		t.Fatalf("%+v", tab)
	}
	if got := tab.Rows[0].Cells[1]; got != "Allergy to cats and dogs" {
		t.Errorf("cell %q", got)
	}
	if got := tab.Rows[0].Cells[4]; got != "a & b" {
		t.Errorf("cell %q", got)
	}
	empty, err := scr.ParseTable("AcuteMedsHeader", "", `<div xmlns="http://www.w3.org/1999/xhtml"><table id="AcuteMeds"><thead><tr><th>Type</th></tr></thead><tbody><tr><td colspan="5">No relevant information available for this category.</td></tr></tbody></table></div>`)
	if err != nil || !empty.Empty || empty.Rows != nil {
		t.Errorf("empty: %+v %v", empty, err)
	}
	none, err := scr.ParseTable("AcuteMedsHeader", "AcuteMeds", `<div xmlns="http://www.w3.org/1999/xhtml"><table id="AcuteMeds"><thead><tr><th>Type</th></tr></thead><tbody></tbody></table></div>`)
	if err != nil || none.Empty || len(none.Rows) != 0 {
		t.Errorf("no rows: %+v %v", none, err)
	}
}

func TestIDs(t *testing.T) {
	id := scr.ID{NHSNumber: "9000000009", UUID: "fa60be641f3411eba2a8000c29a364eb", Kind: scr.KindRepeat, Row: 12}
	s := id.String()
	if s != "9000000009-fa60be641f3411eba2a8000c29a364eb-mr12" || len(s) > 64 {
		t.Fatalf("%s", s)
	}
	back, ok := scr.ParseID(s)
	if !ok || back != id {
		t.Fatalf("ParseID(%s) = %+v, %v", s, back, ok)
	}
	if id.Kind.ResourceType() != "MedicationStatement" || scr.KindAllergy.ResourceType() != "AllergyIntolerance" {
		t.Error("ResourceType")
	}
	for _, bad := range []string{
		"", "9000000009", "9000000000-fa60be641f3411eba2a8000c29a364eb-a1", "9000000009-FA60BE641F3411EBA2A8000C29A364EB-a1",
		"9000000009-fa60be641f3411eba2a8000c29a364e-a1", "9000000009-fa60be641f3411eba2a8000c29a364eb-a0", "9000000009-fa60be641f3411eba2a8000c29a364eb-a01",
		"9000000009-fa60be641f3411eba2a8000c29a364eb-x1", "9000000009-fa60be641f3411eba2a8000c29a364eb-a", "9000000009-fa60be641f3411eba2a8000c29a364eb-a1-2",
		"9000000009-fa60be641f3411eba2a8000c29a364eb-a123456789",
	} {
		if _, ok := scr.ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
	if k, err := scr.UUIDKey("FA60BE64-1F34-11EB-A2A8-000C29A364EB"); err != nil || k != "fa60be641f3411eba2a8000c29a364eb" {
		t.Errorf("UUIDKey %q %v", k, err)
	}
}

// BenchmarkMap maps the public sandbox's 52 KB summary: decoding, parsing
// the four tables and building the protos (what the memo saves on a hit).
func BenchmarkMap(b *testing.B) {
	raw, err := os.ReadFile("testdata/sandbox_9000000009.in.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if _, err := scr.Map(raw, "9000000009", "FA60BE64-1F34-11EB-A2A8-000C29A364EB"); err != nil {
			b.Fatal(err)
		}
	}
}
