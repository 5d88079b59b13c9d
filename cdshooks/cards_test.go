package cdshooks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/carerecords/fhir-facade/resources"
)

// Flags as the facade's Flag search answers them (trimmed to what cards read).
const (
	cpisFlag = `{"resourceType":"Flag","id":"cpis-9000000009-cpp","status":"active",
		"code":{"coding":[{"system":"https://carerecords-facade.invalid/fhir/CodeSystem/cpis-plan-type","code":"CPP","display":"Child Protection Plan"}],"text":"Child Protection Plan"},
		"period":{"start":"2024-03-01"},
		"author":{"display":"Example Borough Council Children's Social Care","identifier":{"value":"LA001"}},
		"extension":[
		 {"url":"http://x/fhir/StructureDefinition/cpis-local-authority-contact","valueContactPoint":{"system":"phone","value":"01632 960001","extension":[{"url":"http://x/fhir/StructureDefinition/cpis-contact-type","valueCode":"office-hours"}]}},
		 {"url":"http://x/fhir/StructureDefinition/cpis-local-authority-contact","valueContactPoint":{"system":"phone","value":"01632 960999","extension":[{"url":"http://x/fhir/StructureDefinition/cpis-contact-type","valueCode":"emergency-duty"}]}}]}`
	fgmFlag = `{"resourceType":"Flag","id":"fgm-9000000009-1","status":"active",
		"code":{"coding":[{"system":"http://snomed.info/sct","code":"902961000000107","display":"Family history of FGM (female genital mutilation)"}],"text":"Family history of FGM (female genital mutilation)"},
		"period":{"start":"2019-12-10"},"author":{"identifier":{"value":"Y12345"}}}`
	raLipRead = `{"resourceType":"Flag","id":"ra-9000000009.1","status":"active",
		"category":[{"coding":[{"code":"NRAF","system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1"}]},{"coding":[{"code":"001","display":"Communication support","system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1"}]}],
		"code":{"coding":[{"code":"441092009","display":"Does lip read","system":"http://snomed.info/sct"}]},"period":{"start":"2024-05-14T10:15:00Z"}}`
	raAlert = `{"resourceType":"Flag","id":"ra-9000000009.2","status":"active",
		"category":[{"coding":[{"code":"003","display":"requires specific contact method","system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1"}]}],
		"code":{"coding":[{"code":"7961610000001018","display":"Requires visual alert","system":"http://snomed.info/sct"}]}}`
	ovmFlag = `{"resourceType":"Flag","id":"ovm-9000000009-5b7e","status":"active",
		"code":{"coding":[{"code":"C","display":"Charge-exempt Overseas Visitor (European Economic Area)","system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-OverseasVisitorChargingCategory"}],"text":"Overseas visitor charging category C: Charge-exempt Overseas Visitor (European Economic Area)"},
		"period":{"start":"2025-03-03"},"author":{"display":"Example Hospitals NHS Trust"},
		"extension":[{"url":"http://x/fhir/StructureDefinition/ovm-recording-organisation-contact","valueContactPoint":{"system":"phone","value":"01632 960101"}}]}`
	endedPlan  = `{"resourceType":"Flag","id":"cpis-9000000017-lac","status":"inactive","code":{"text":"Looked After Child"}}`
	wasp       = `{"resourceType":"AllergyIntolerance","id":"a1","clinicalStatus":{"coding":[{"code":"active"}]},"code":{"text":"Toxic reaction to wasp sting"},"recordedDate":"2020-05-12"}`
	penicillin = `{"resourceType":"AllergyIntolerance","id":"a2","code":{"coding":[{"system":"http://snomed.info/sct","code":"91936005","display":"Allergy to penicillin"}]},
		"criticality":"high","reaction":[{"manifestation":[{"text":"Anaphylaxis"}],"severity":"severe"}]}`
)

// searchset wraps resources (and OperationOutcome diagnostics) as the
// facade's searchset does.
func searchset(resources []string, outcomes ...string) []byte {
	var entries []string
	for _, r := range resources {
		entries = append(entries, `{"resource":`+r+`,"search":{"mode":"match"}}`)
	}
	for _, d := range outcomes {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"incomplete","diagnostics":%q}]},"search":{"mode":"outcome"}}`, d))
	}
	return []byte(`{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`)
}

func TestCards(t *testing.T) {
	link := &Link{Label: "Open", URL: "https://facade.example/view/launch", Type: "smart", AppContext: `{"patient":"9000000009"}`}
	cases := []struct {
		name      string
		flags     []byte
		allergies []byte
		known     map[string]bool
		noAllergy bool
		// want is indicator:topic of each card, in order.
		want   []string
		detail []string // in the cards' details, all of them
	}{
		{name: "CP-IS plan", flags: searchset([]string{cpisFlag}), want: []string{"critical:child-protection"},
			detail: []string{"Child Protection Plan", "1 Mar 2024", "Example Borough Council Children's Social Care (LA001)", "**Office hours:** 01632 960001", "**Emergency duty team (out of hours):** 01632 960999"}},
		{name: "FGM-IS indicator", flags: searchset([]string{fgmFlag}), want: []string{"warning:fgm-risk"}, detail: []string{"Family history of FGM", "10 Dec 2019"}},
		{name: "RA communication support is a warning", flags: searchset([]string{raLipRead, raAlert}), want: []string{"warning:reasonable-adjustments"},
			detail: []string{"- Does lip read (Communication support), since 14 May 2024", "- Requires visual alert (requires specific contact method)"}},
		{name: "RA otherwise information", flags: searchset([]string{raAlert}), want: []string{"info:reasonable-adjustments"}},
		{name: "OVM status", flags: searchset([]string{ovmFlag}), want: []string{"info:overseas-visitor"}, detail: []string{"charging category C", "01632 960101", "3 Mar 2025"}},
		{name: "an ended plan says nothing", flags: searchset([]string{endedPlan})},
		{name: "nothing at all", flags: searchset(nil), allergies: searchset(nil)},
		{name: "allergies", flags: searchset(nil), allergies: searchset([]string{wasp, penicillin}), want: []string{"info:allergies"},
			detail: []string{"**Toxic reaction to wasp sting**, recorded 12 May 2020", "**Allergy to penicillin**: Anaphylaxis, severe (high criticality)"}},
		{name: "allergies the EHR holds are left off", flags: searchset(nil), allergies: searchset([]string{wasp, penicillin}), known: map[string]bool{"91936005": true},
			want: []string{"info:allergies"}, detail: []string{"wasp"}},
		{name: "allergies card switched off", flags: searchset(nil), allergies: searchset([]string{wasp}), noAllergy: true},
		{name: "CP-IS down: named, the rest shown", flags: searchset([]string{fgmFlag}, resources.SourceCPIS+" could not be reached or read: its records are missing from this answer"),
			want: []string{"warning:not-checked", "warning:fgm-risk"}, detail: []string{"**" + resources.SourceCPIS + "**", "does **not** mean there is no alert"}},
		{name: "an outcome naming no source leaves every source in doubt", flags: searchset(nil, "something went wrong"),
			want: []string{"warning:not-checked"}, detail: []string{resources.SourceCPIS, resources.SourceFGM, resources.SourceRA, resources.SourceOVM}},
		{name: "everything, in order", flags: searchset([]string{ovmFlag, raAlert, fgmFlag, cpisFlag}, resources.SourceOVM+" failed"), allergies: searchset([]string{wasp}),
			want: []string{"critical:child-protection", "warning:not-checked", "warning:fgm-risk", "info:reasonable-adjustments", "info:overseas-visitor", "info:allergies"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f Findings
			if err := f.AddFlags(tc.flags); err != nil {
				t.Fatal(err)
			}
			if tc.allergies != nil {
				if err := f.AddAllergies(tc.allergies); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			cards := Cards(f, CardOptions{Allergies: !tc.noAllergy, Known: tc.known, SourceURL: "https://facade.example/fhir/metadata", Link: link,
				NewUUID: func() string { n++; return fmt.Sprintf("uuid-%d", n) }})
			var got []string
			details := ""
			for _, c := range cards {
				got = append(got, c.Indicator+":"+c.Source.Topic.Code)
				details += c.Detail + "\n"
				checkCard(t, c)
				if len(c.Links) != 1 || c.Links[0] != *link {
					t.Errorf("%s: links %+v", c.Summary, c.Links)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("cards %v, want %v", got, tc.want)
			}
			for _, d := range tc.detail {
				if !strings.Contains(details, d) {
					t.Errorf("no %q in the details:\n%s", d, details)
				}
			}
			if tc.name == "allergies the EHR holds are left off" && strings.Contains(details, "penicillin") {
				t.Error("an allergy the EHR holds is on the card")
			}
		})
	}
}

// checkCard holds a card to the spec: summary under 140 characters,
// indicator, source label, url and topic, a uuid.
func checkCard(t *testing.T, c Card) {
	t.Helper()
	if n := utf8.RuneCountInString(c.Summary); n == 0 || n > MaxSummary {
		t.Errorf("summary of %d characters: %q", n, c.Summary)
	}
	if c.UUID == "" || c.Source.Label == "" || c.Source.URL == "" || c.Source.Topic == nil {
		t.Errorf("card without uuid or source: %+v", c)
	}
	switch c.Indicator {
	case Info, Warning, Critical:
	default:
		t.Errorf("indicator %q", c.Indicator)
	}
}

func TestSummaryLength(t *testing.T) {
	long := strings.Repeat("Unborn Child Protection Plan ", 10)
	fl := strings.Replace(cpisFlag, `"text":"Child Protection Plan"`, `"text":"`+long+`"`, 1)
	var f Findings
	if err := f.AddFlags(searchset([]string{fl})); err != nil {
		t.Fatal(err)
	}
	c := Cards(f, CardOptions{NewUUID: func() string { return "u" }, SourceURL: "https://x"})[0]
	if n := utf8.RuneCountInString(c.Summary); n != MaxSummary || !strings.HasSuffix(c.Summary, "…") {
		t.Errorf("summary of %d characters: %q", n, c.Summary)
	}
}

// What a national service says reaches the card's Markdown as text: no
// link, emphasis or HTML of its own.
func TestDetailMarkdownEscaped(t *testing.T) {
	hostile := `Evil <img src=x onerror=alert(1)> [click](javascript:alert(1)) *bold* _u_ ` + "`code`"
	fl := strings.Replace(cpisFlag, `"display":"Example Borough Council Children's Social Care"`, `"display":`+quoteJSON(hostile), 1)
	var f Findings
	if err := f.AddFlags(searchset([]string{fl})); err != nil {
		t.Fatal(err)
	}
	d := Cards(f, CardOptions{NewUUID: func() string { return "u" }})[0].Detail
	plain := regexp.MustCompile(`\\.`).ReplaceAllString(d, "") // what is left unescaped
	for _, bad := range []string{"<", "[", "*bold", "_u", "`"} {
		if strings.Contains(plain, bad) {
			t.Errorf("%q reaches the Markdown unescaped:\n%s", bad, d)
		}
	}
	if !strings.Contains(d, `\<img src=x onerror=alert(1)\> \[click\](javascript:alert(1)) \*bold\* \_u\_ `+"\\`code\\`") {
		t.Errorf("escaped text missing:\n%s", d)
	}
}

func quoteJSON(s string) string { b, _ := json.Marshal(s); return string(b) }
