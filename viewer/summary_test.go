package viewer_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/viewer"
)

var update = flag.Bool("update", false, "rewrite the golden pages in testdata/")

func parse(t *testing.T, file, nhs string) *viewer.Summary {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	s, err := viewer.ParseSummary(raw, nhs, now, func(id string) string { return "/doc/" + id })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseSummaryFull(t *testing.T) {
	s := parse(t, "summary-full.json", "9000000009")
	p := s.Patient
	if p.NHSNumber != "900 000 0009" || p.Name != "SMITH, Jane (Mrs)" || p.BirthDate != "22-Oct-2010" || p.Gender != "Female" ||
		p.GP != "ODS Y12345" || p.Restricted || p.Missing || p.Deceased != "22-Oct-2010" || p.Age != "" {
		t.Errorf("banner %+v", p)
	}
	if !strings.Contains(p.Address, "LS1 6AE") {
		t.Errorf("address %q", p.Address)
	}
	if len(s.Failures) != 0 || len(s.Notes) != 0 {
		t.Errorf("failures %v, notes %v", s.Failures, s.Notes)
	}
	// Child protection first, FGM next, reasonable adjustments last.
	var kinds []string
	for _, f := range s.Flags.Items {
		kinds = append(kinds, f.Kind+":"+f.Text)
	}
	want := "safety:Child Protection Plan clinical:Family history of FGM (female genital mutilation) adjustment:Does lip read adjustment:Requires information verbally"
	if strings.Join(kinds, " ") != want {
		t.Errorf("flags %v", kinds)
	}
	cp := s.Flags.Items[0]
	if cp.Since != "01-Mar-2024" || !strings.Contains(cp.Author, "Children's Social Care") || len(cp.Contacts) != 2 || cp.Contacts[0] != "Office hours: 01632 960001" {
		t.Errorf("CP-IS flag %+v", cp)
	}
	if ra := s.Flags.Items[2]; ra.Category != "National Reasonable Adjustments Flag · Communication support" {
		t.Errorf("RA category %q", ra.Category)
	}
	if len(s.Allergies.Items) != 1 || s.Allergies.Items[0].Text != "Toxic reaction to wasp sting" || s.Allergies.Items[0].Status != "Active" {
		t.Errorf("allergies %+v", s.Allergies.Items)
	}
	if len(s.Medications.Items) != 2 || s.Medications.Items[0].Dosage == "" {
		t.Errorf("medications %+v", s.Medications.Items)
	}
	if len(s.Vaccinations.Items) != 2 || s.Vaccinations.Items[0].Date != "31-Dec-2020" || s.Vaccinations.Items[0].Dose != "1" || strings.HasSuffix(s.Vaccinations.Items[0].Vaccine, "(product)") {
		t.Errorf("vaccinations %+v", s.Vaccinations.Items)
	}
	if len(s.Documents.Items) != 3 {
		t.Fatalf("documents %+v", s.Documents.Items)
	}
	d := s.Documents.Items[0]
	if len(d.Links) != 2 || d.Links[0].Href != "/doc/Y07213-1000000107" || d.Links[1].Kind != "PDF" || d.Date != "11-Feb-2025" {
		t.Errorf("document %+v", d)
	}
}

func TestParseSummaryRestricted(t *testing.T) {
	p := parse(t, "summary-restricted.json", "9000000025").Patient
	if !p.Restricted || p.GP != "" || p.Address != "" || p.NHSNumber != "900 000 0025" || p.Name != "SMYTHE, Janet (Mrs)" {
		t.Errorf("banner %+v", p)
	}
}

func TestParseSummaryPartial(t *testing.T) {
	s := parse(t, "summary-partial.json", "9000000009")
	var sources []string
	for _, f := range s.Failures {
		sources = append(sources, f.Source)
	}
	if strings.Join(sources, "|") != "AllergyIntolerance|Child Protection - Information Sharing (CP-IS)|MedicationStatement" {
		t.Errorf("failed sources %q", sources)
	}
	if s.Failures[1].Reason != "the cpis service could not be reached" {
		t.Errorf("reason %q", s.Failures[1].Reason)
	}
	if len(s.Allergies.Missing) != 1 || len(s.Medications.Missing) != 1 || len(s.Flags.Missing) != 1 || len(s.Vaccinations.Missing) != 0 {
		t.Errorf("missing: %v %v %v", s.Allergies.Missing, s.Medications.Missing, s.Flags.Missing)
	}
	if len(s.Flags.Items) != 3 {
		t.Errorf("flags %d", len(s.Flags.Items))
	}
}

func TestParseSummaryMinimal(t *testing.T) {
	s := parse(t, "summary-minimal.json", "9000000033")
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "no Summary Care Record") {
		t.Errorf("notes %q", s.Notes)
	}
	if s.Patient.Missing || s.Patient.NHSNumber != "900 000 0033" {
		t.Errorf("banner %+v", s.Patient)
	}
}

func TestParseSummaryRejects(t *testing.T) {
	for _, raw := range []string{`not json`, `{"resourceType":"OperationOutcome"}`, `{"resourceType":"Bundle","entry":[{"resource":"x"}]}`} {
		if _, err := viewer.ParseSummary([]byte(raw), "9000000009", now, nil); err == nil {
			t.Errorf("%s accepted", raw)
		}
	}
}

// TestPages renders each summary through the viewer and checks the page:
// well-formed, landmarks and headings in order, alerts before allergies,
// only the patient's own NHS number, a restricted patient's details
// withheld, failed sources named; then compares with the golden page.
func TestPages(t *testing.T) {
	f := newFakeFacade(t)
	v := newViewer(t, f, nil)
	tests := []struct {
		name, nhs, file string
		has, not        []string
	}{
		{"full", "9000000009", "summary-full.json",
			[]string{`900 000 0009`, `SMITH, Jane (Mrs)`, `Child Protection Plan`, `Toxic reaction to wasp sting`, `Co-codamol`, `COVID-19 Vaccine`, `End of life care coordination summary`, `LS1 6AE`, `ODS Y12345`},
			[]string{`Incomplete record`, `Restricted record`, `may be incomplete`}},
		{"restricted", "9000000025", "summary-restricted.json",
			[]string{`900 000 0025`, `Restricted record`, `SMYTHE, Janet (Mrs)`},
			[]string{`data-testid="gp"`, `data-testid="address"`, `ODS `, `LS1`}},
		{"partial", "9000000009", "summary-partial.json",
			[]string{`Incomplete record: 3 sources did not answer`, `(the cpis service could not be reached)`, `<strong>Child Protection - Information Sharing (CP-IS)</strong>`, `<strong>AllergyIntolerance</strong>`, `May be incomplete:`},
			[]string{`None recorded in the Summary Care Record`}},
		{"minimal", "9000000033", "summary-minimal.json",
			[]string{`900 000 0033`, `no Summary Care Record`, `No alerts`},
			[]string{`Incomplete record`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.summaries[tt.nhs] = tt.file
			b := newBrowser(t, v)
			signIn(t, b, f, tt.nhs)
			w := b.get("/view/Patient/" + tt.nhs)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			page := w.Body.String()
			checkWellFormed(t, page)
			for _, s := range tt.has {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(page, s) {
					t.Errorf("page has %q", s)
				}
			}
			for _, n := range nhsNumbersIn(page) {
				if n != tt.nhs {
					t.Errorf("the page shows another NHS number %s", n)
				}
			}
			order := []string{`<html lang="en-GB">`, `class="skip-link" href="#main"`, `<header`, `<main id="main"`, `<h1 id="patient-name">`, `id="flags-h"`, `id="allergies-h"`, `id="medications-h"`, `id="vaccinations-h"`, `id="documents-h"`, `<footer`}
			last := -1
			for _, o := range order {
				i := strings.Index(page, o)
				if i < 0 || i < last {
					t.Errorf("%q missing or out of order", o)
				}
				last = i
			}
			for _, m := range regexp.MustCompile(`<th[ >]`).FindAllStringIndex(page, -1) {
				if !strings.HasPrefix(page[m[0]:], `<th scope="`) {
					t.Errorf("a th without scope at %d", m[0])
				}
			}
			golden := filepath.Join("testdata", tt.name+".golden.html")
			if *update {
				if err := os.WriteFile(golden, []byte(page), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./viewer -update writes it)", err)
			}
			if string(want) != page {
				t.Errorf("the page differs from %s (go test ./viewer -update, then review the diff)", golden)
			}
		})
	}
}

// voidElements have no end tag.
var voidElements = map[string]bool{"meta": true, "link": true, "br": true, "img": true, "input": true, "hr": true}

// checkWellFormed checks every element is closed, in order, and ids are unique.
func checkWellFormed(t *testing.T, page string) {
	t.Helper()
	tag := regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>`)
	var stack []string
	for _, m := range tag.FindAllStringSubmatch(page, -1) {
		name := strings.ToLower(m[2])
		switch {
		case voidElements[name]:
		case m[1] == "":
			stack = append(stack, name)
		case len(stack) == 0 || stack[len(stack)-1] != name:
			t.Fatalf("</%s> closes %v", name, stack)
		default:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed %v", stack)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if ids[m[1]] {
			t.Errorf("duplicate id %q", m[1])
		}
		ids[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`aria-labelledby="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if !ids[m[1]] {
			t.Errorf("aria-labelledby %q names no element", m[1])
		}
	}
}
