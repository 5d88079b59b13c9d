package viewer_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
		p.GP != "ODS Y12345" || p.Restricted || p.Missing || !p.Deceased || p.Died != "Died 22 October 2010" || p.AgeAtDeath != "under 1 day" || p.Age != "" {
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

// TestParseSummaryDocument reads the facade's $summary document (SCR and
// CP-IS down, the sandbox's HPV history read in part): each list that is
// not whole carries its section's words; the whole ones none.
func TestParseSummaryDocument(t *testing.T) {
	s := parse(t, "summary-document.json", "9000000009")
	if s.Patient.Missing || s.Patient.NHSNumber != "900 000 0009" {
		t.Errorf("banner %+v", s.Patient)
	}
	has := func(reason []string, phrase string) bool {
		return slices.ContainsFunc(reason, func(r string) bool { return strings.Contains(r, phrase) })
	}
	if len(s.Allergies.Items) != 0 || !has(s.Allergies.Reason, "Allergies could not be retrieved from the Summary Care Record") || len(s.Allergies.Missing) == 0 {
		t.Errorf("allergies %+v", s.Allergies)
	}
	if len(s.Flags.Items) == 0 || !has(s.Flags.Reason, "may be incomplete") || !has(s.Flags.Reason, "CP-IS") {
		t.Errorf("alerts: %d, reason %q", len(s.Flags.Items), s.Flags.Reason)
	}
	if len(s.Vaccinations.Items) == 0 || !has(s.Vaccinations.Reason, "HPV history could not be read completely") {
		t.Errorf("vaccinations: %d, reason %q", len(s.Vaccinations.Items), s.Vaccinations.Reason)
	}
	if len(s.Documents.Items) == 0 || s.Documents.Reason != nil || s.Documents.Missing != nil {
		t.Errorf("documents %+v", s.Documents)
	}
}

// TestParseSummaryDocumentReasons: a section withheld or not asked is not
// whole, whatever the OperationOutcome says; one whose source has nothing
// recorded (nilknown) is; the types the caller's role does not allow mark
// their own lists, not the alerts.
func TestParseSummaryDocumentReasons(t *testing.T) {
	section := func(code, reason, para string) string {
		return `{"title":"x","code":{"coding":[{"system":"http://loinc.org","code":"` + code + `"}]},"emptyReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/list-empty-reason","code":"` + reason +
			`"}]},"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>` + para + `</p></div>"}}`
	}
	raw := `{"resourceType":"Bundle","type":"document","entry":[
	 {"fullUrl":"urn:uuid:c","resource":{"resourceType":"Composition","section":[` +
		section("48765-2", "withheld", "Allergies are not included: your role or scopes do not allow them.") + "," +
		section("10160-0", "notasked", "Medications were not asked for.") + "," +
		section("11369-6", "nilknown", "No vaccinations are recorded.") + "," +
		section("55107-7", "unavailable", "Documents could not be retrieved &amp; more.") + `]}},
	 {"fullUrl":"https://x/fhir/Patient/9000000009","resource":{"resourceType":"Patient","id":"9000000009"}},
	 {"fullUrl":"urn:uuid:o","resource":{"resourceType":"OperationOutcome","issue":[
	   {"severity":"warning","code":"suppressed","diagnostics":"not included, as your role or scopes do not allow them: AllergyIntolerance, MedicationStatement"}]}}]}`
	s, err := viewer.ParseSummary([]byte(raw), "9000000009", now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Allergies.Reason) != 1 || len(s.Medications.Reason) != 1 || s.Vaccinations.Reason != nil || len(s.Documents.Reason) != 1 {
		t.Errorf("reasons: allergies %q, medications %q, vaccinations %q, documents %q", s.Allergies.Reason, s.Medications.Reason, s.Vaccinations.Reason, s.Documents.Reason)
	}
	if s.Documents.Reason[0] != "Documents could not be retrieved & more." {
		t.Errorf("documents reason %q", s.Documents.Reason[0])
	}
	if len(s.Allergies.Missing) == 0 || len(s.Medications.Missing) == 0 || len(s.Flags.Missing) != 0 {
		t.Errorf("missing: allergies %q, medications %q, alerts %q", s.Allergies.Missing, s.Medications.Missing, s.Flags.Missing)
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
		// deceased: the page leads with the deceased banner.
		deceased bool
		has, not []string
	}{
		{"full", "9000000009", "summary-full.json", true,
			[]string{`900 000 0009`, `SMITH, Jane (Mrs)`, `Child Protection Plan`, `Toxic reaction to wasp sting`, `Co-codamol`, `COVID-19 Vaccine`, `End of life care coordination summary`, `LS1 6AE`, `ODS Y12345`,
				`<title>Deceased: SMITH, Jane (Mrs) – Care record summary</title>`, `Died 22 October 2010, aged under 1 day`},
			[]string{`Incomplete record`, `Restricted record`, `may be incomplete`, `class="age"`}},
		{"living", "9000000092", "summary-living.json", false,
			[]string{`900 000 0092`, `SMITH, Jane (Mrs)`, `<dd data-testid="born">25-Nov-1984 <span class="age" data-testid="age">(42 years)</span></dd>`, `Child Protection Plan`},
			[]string{`Deceased`, `deceased`, `Died`}},
		{"restricted", "9000000025", "summary-restricted.json", true,
			[]string{`900 000 0025`, `Restricted record`, `SMYTHE, Janet (Mrs)`, `Died 22 October 2010`},
			[]string{`data-testid="gp"`, `data-testid="address"`, `ODS `, `LS1`}},
		{"partial", "9000000009", "summary-partial.json", true,
			[]string{`Incomplete record: 3 sources did not answer`, `(the cpis service could not be reached)`, `<strong>Child Protection - Information Sharing (CP-IS)</strong>`, `<strong>AllergyIntolerance</strong>`, `May be incomplete:`},
			[]string{`None recorded in the Summary Care Record`}},
		// The facade's $summary document with the SCR and CP-IS down: the
		// sections' own words, the alerts kept and marked incomplete.
		{"document", "9000000009", "summary-document.json", true,
			[]string{`Allergies could not be retrieved from the Summary Care Record (SCR)`, `Medications could not be retrieved`,
				`This list may be incomplete: some alerts could not be retrieved`, `Does lip read`, `May be incomplete:`, `Incomplete record:`},
			[]string{`None recorded in the Summary Care Record`, `No alerts`}},
		{"minimal", "9000000033", "summary-minimal.json", false,
			[]string{`900 000 0033`, `no Summary Care Record`, `No alerts`},
			[]string{`Incomplete record`, `deceased`, `Born`}},
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
			if tt.deceased {
				// First in main: before the name, and so before any failure
				// banner, alert or list.
				order = slices.Insert(order, 4, `<div class="deceased" role="alert" data-testid="deceased">`)
			}
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

// TestDeceasedBanner renders summaries through one viewer, one after the
// other as different clinicians' sessions would, and checks that a
// deceased patient's page leads with the deceased banner, before the name
// and any clinical content, and that no other page has it: not a living
// patient's after a deceased one's, not from another Patient a Bundle
// might hold, not when PDS did not answer (the page then says the death
// status is unknown).
func TestDeceasedBanner(t *testing.T) {
	const asked, other = "9000000106", "9000000114"
	patient := func(nhs, family, fields string) string {
		return `{"resourceType":"Patient","id":"` + nhs + `","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs +
			`"}],"name":[{"use":"usual","family":"` + family + `","given":["Alex"]}],"gender":"female"` + fields + `}`
	}
	// Clinical content the banner must precede.
	clinical := []string{
		`{"resourceType":"Flag","status":"active","category":[{"coding":[{"code":"safety"}],"text":"Safety"}],"code":{"text":"Child Protection Plan"}}`,
		`{"resourceType":"AllergyIntolerance","code":{"text":"Penicillin allergy"},"clinicalStatus":{"text":"active"}}`,
	}
	pdsDown := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"incomplete","diagnostics":"Patient (PDS) could not be reached, so its records are missing from this answer: the pds service failed"}]}`
	bundle := func(resources ...string) []byte {
		var entries []string
		for _, r := range append(resources, clinical...) {
			entries = append(entries, `{"resource":`+r+`}`)
		}
		return []byte(`{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`)
	}
	tests := []struct {
		name   string
		bundle []byte
		// banner is the deceased banner's text; "" for none.
		banner   string
		has, not []string
	}{
		{"date of death", bundle(patient(asked, "DEAD", `,"birthDate":"1981-12-05","deceasedDateTime":"2024-03-03T10:15:00+00:00"`)),
			"Deceased Died 3 March 2024, aged 42 years", []string{`DEAD, Alex`, `<dd data-testid="born">05-Dec-1981</dd>`}, []string{`class="age"`}},
		{"death late on a summer evening: England's date", bundle(patient(asked, "DEAD", `,"birthDate":"1950-07-01","deceasedDateTime":"2024-06-30T23:30:00Z"`)),
			"Deceased Died 1 July 2024, aged 74 years", nil, nil},
		{"deceasedBoolean", bundle(patient(asked, "DEAD", `,"birthDate":"1981-12-05","deceasedBoolean":true`)),
			"Deceased Date of death not recorded", nil, []string{`class="age"`}},
		{"living", bundle(patient(asked, "LIVING", `,"birthDate":"1984-11-25"`)),
			"", []string{`LIVING, Alex`, `(42 years)`}, nil},
		{"deceasedBoolean false", bundle(patient(asked, "LIVING", `,"birthDate":"2026-11-20","deceasedBoolean":false`)),
			"", []string{`(5 days)`}, nil},
		{"living, year of birth only", bundle(patient(asked, "LIVING", `,"birthDate":"1984"`)),
			"", []string{`<dd data-testid="born">1984 <span class="age">(age not known)</span></dd>`}, []string{`data-testid="age"`}},
		{"another, deceased Patient after the asked one", bundle(patient(asked, "LIVING", `,"birthDate":"1984-11-25"`), patient(other, "OTHER", `,"deceasedDateTime":"2024-03-03"`)),
			"", []string{`LIVING, Alex`, `(42 years)`}, []string{`OTHER`, `900 000 0114`}},
		{"another, deceased Patient before the asked one", bundle(patient(other, "OTHER", `,"deceasedDateTime":"2024-03-03"`), patient(asked, "LIVING", `,"birthDate":"1984-11-25"`)),
			"", []string{`LIVING, Alex`}, []string{`OTHER`, `900 000 0114`}},
		{"the asked one deceased, another living", bundle(patient(other, "OTHER", `,"birthDate":"1984-11-25"`), patient(asked, "DEAD", `,"deceasedDateTime":"2024-03-03"`)),
			"Deceased Died 3 March 2024", []string{`DEAD, Alex`}, []string{`OTHER`, `900 000 0114`}},
		{"superseded: PDS answered with the current record, deceased", bundle(patient(other, "MERGED", `,"birthDate":"1981-12-05","deceasedDateTime":"2024-03-03"`)),
			"Deceased Died 3 March 2024, aged 42 years", []string{`MERGED, Alex`}, nil},
		{"PDS did not answer: death status unknown, said so", bundle(pdsDown),
			"", []string{`whether the patient has died are not shown`}, nil},
	}
	f := newFakeFacade(t)
	v := newViewer(t, f, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.summaries[asked] = tt.bundle
			b := newBrowser(t, v)
			signIn(t, b, f, asked)
			w := b.get("/view/Patient/" + asked)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			page := w.Body.String()
			checkWellFormed(t, page)
			m := regexp.MustCompile(`(?s)<div class="deceased" role="alert" data-testid="deceased">(.*?)</div>`).FindStringSubmatchIndex(page)
			switch {
			case tt.banner == "" && m != nil:
				t.Fatalf("a living patient's page has the deceased banner: %s", page[m[0]:m[1]])
			case tt.banner == "" && (strings.Contains(page, "Deceased") || strings.Contains(page, "banner--deceased")):
				t.Fatal("a living patient's page says Deceased")
			case tt.banner != "" && m == nil:
				t.Fatalf("no deceased banner:\n%s", page)
			case tt.banner != "":
				if got := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(page[m[2]:m[3]], " ")), " "); got != tt.banner {
					t.Errorf("banner %q, want %q", got, tt.banner)
				}
				// First in main: before the name, the failures and every list.
				main := strings.Index(page, `<main id="main"`)
				if between := page[main:m[0]]; main < 0 || strings.Contains(between, "<section") || strings.Contains(between, "<h") {
					t.Errorf("the deceased banner is not first in main: %q precedes it", between)
				}
				for _, after := range []string{`<h1 id="patient-name">`, `id="flags-h"`, `Child Protection Plan`, `id="allergies-h"`, `Penicillin allergy`, `id="medications-h"`, `id="documents-h"`} {
					if i := strings.Index(page, after); i < m[1] {
						t.Errorf("%s is at %d, before the deceased banner's end at %d", after, i, m[1])
					}
				}
				if !strings.Contains(page, `<title>Deceased: `) {
					t.Error("the title does not say Deceased")
				}
			}
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
		})
	}
}
