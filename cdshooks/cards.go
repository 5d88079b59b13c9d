package cdshooks

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	cpismap "github.com/carerecords/fhir-facade/mappers/cpis"
	fgmmap "github.com/carerecords/fhir-facade/mappers/fgm"
	ovmmap "github.com/carerecords/fhir-facade/mappers/ovm"
	ramap "github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/profiles/extensions"
	"github.com/carerecords/fhir-facade/resources"
)

// Card indicators (CDS Hooks 2.0 §Card Attributes), in increasing urgency.
const (
	Info     = "info"
	Warning  = "warning"
	Critical = "critical"
)

// Card is a CDS Hooks card.
type Card struct {
	UUID            string   `json:"uuid"`
	Summary         string   `json:"summary"`
	Detail          string   `json:"detail,omitempty"`
	Indicator       string   `json:"indicator"`
	Source          Source   `json:"source"`
	OverrideReasons []Coding `json:"overrideReasons,omitempty"`
	Links           []Link   `json:"links,omitempty"`
}

// Source is a card's source.
type Source struct {
	Label string  `json:"label"`
	URL   string  `json:"url,omitempty"`
	Topic *Coding `json:"topic,omitempty"`
}

// Coding is the CDS Hooks Coding (system, code, display).
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Link is a card link.
type Link struct {
	Label      string `json:"label"`
	URL        string `json:"url"`
	Type       string `json:"type"`
	AppContext string `json:"appContext,omitempty"`
}

// TopicSystem is the code system of the cards' topics.
const TopicSystem = "urn:carerecords-facade:cds-topic"

// Topics, one per kind of card.
var (
	TopicChildProtection = Coding{System: TopicSystem, Code: "child-protection", Display: "Child protection plan"}
	TopicFGM             = Coding{System: TopicSystem, Code: "fgm-risk", Display: "FGM risk indicator"}
	TopicAdjustments     = Coding{System: TopicSystem, Code: "reasonable-adjustments", Display: "Reasonable adjustments"}
	TopicOverseasVisitor = Coding{System: TopicSystem, Code: "overseas-visitor", Display: "Overseas visitor chargeable status"}
	TopicAllergies       = Coding{System: TopicSystem, Code: "allergies", Display: "Allergies (Summary Care Record)"}
	TopicUnchecked       = Coding{System: TopicSystem, Code: "not-checked", Display: "Alerts that could not be checked"}
)

// OverrideReasonSystem is the code system of the override reasons offered.
const OverrideReasonSystem = "urn:carerecords-facade:cds-override-reason"

// overrideReasons are offered on every alert card, so feedback says why a
// clinician dismissed one.
var overrideReasons = []Coding{
	{System: OverrideReasonSystem, Code: "already-aware", Display: "Already aware"},
	{System: OverrideReasonSystem, Code: "not-relevant", Display: "Not relevant to this encounter"},
	{System: OverrideReasonSystem, Code: "incorrect", Display: "Information looks incorrect"},
}

// SourceSCR names the Summary Care Record, the allergies' source.
const SourceSCR = "Summary Care Record (SCR) allergies"

// shortNames are the sources' names in a summary line.
var shortNames = map[string]string{
	resources.SourceCPIS: "CP-IS", resources.SourceFGM: "FGM-IS", resources.SourceRA: "RA",
	resources.SourceOVM: "OVM", SourceSCR: "SCR allergies",
}

// FlagSources are the services a Flag search asks, in the order a failure
// card names them.
var FlagSources = []string{resources.SourceCPIS, resources.SourceFGM, resources.SourceRA, resources.SourceOVM}

// MaxSummary is the longest summary, in characters: CDS Hooks asks for a
// "<140-character" one.
const MaxSummary = 139

// summary cuts s to MaxSummary characters.
func summary(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= MaxSummary {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:MaxSummary-1])) + "…"
}

// md escapes text from a national service for a Markdown detail: it may
// say nothing the Markdown would read as markup (links, emphasis, HTML).
func md(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>|~#!", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// day writes a FHIR date or dateTime as "1 Mar 2024"; anything else as given.
func day(s string) string {
	for _, layout := range []string{"2006-01-02", time.RFC3339, "2006-01"} {
		if t, err := time.Parse(layout, s); err == nil {
			if layout == "2006-01" {
				return t.Format("Jan 2006")
			}
			return t.Format("2 Jan 2006")
		}
	}
	return s
}

// The parts of the facade's FHIR answers the cards are made from.
type (
	bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
			Search   struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	coding struct {
		System, Code, Display string
	}
	concept struct {
		Coding []coding `json:"coding"`
		Text   string   `json:"text"`
	}
	contactPoint struct {
		System    string `json:"system"`
		Value     string `json:"value"`
		Extension []struct {
			URL       string `json:"url"`
			ValueCode string `json:"valueCode"`
		} `json:"extension"`
	}
	flag struct {
		ResourceType string    `json:"resourceType"`
		ID           string    `json:"id"`
		Status       string    `json:"status"`
		Category     []concept `json:"category"`
		Code         concept   `json:"code"`
		Period       struct {
			Start, End string
		} `json:"period"`
		Author struct {
			Display    string `json:"display"`
			Identifier struct {
				Value string `json:"value"`
			} `json:"identifier"`
		} `json:"author"`
		Extension []struct {
			URL               string        `json:"url"`
			ValueContactPoint *contactPoint `json:"valueContactPoint"`
		} `json:"extension"`
	}
	allergy struct {
		ResourceType   string  `json:"resourceType"`
		ID             string  `json:"id"`
		ClinicalStatus concept `json:"clinicalStatus"`
		Code           concept `json:"code"`
		Criticality    string  `json:"criticality"`
		RecordedDate   string  `json:"recordedDate"`
		Reaction       []struct {
			Manifestation []concept `json:"manifestation"`
			Severity      string    `json:"severity"`
		} `json:"reaction"`
	}
	outcome struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string `json:"severity"`
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
)

func (c concept) String() string {
	if c.Text != "" {
		return c.Text
	}
	for _, cd := range c.Coding {
		if cd.Display != "" {
			return cd.Display
		}
	}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return "unnamed"
}

// Unchecked is a source whose alerts could not be checked, and why.
type Unchecked struct {
	Source string
	Why    string
}

// Findings are what a hook call learnt of one patient: the flags and
// allergies read, and the sources that could not be read.
type Findings struct {
	Flags     []flag
	Allergies []allergy
	Unchecked []Unchecked
}

// AddFlags reads a Flag searchset: its flags, and the sources its
// OperationOutcome entries say are missing.
func (f *Findings) AddFlags(raw []byte) error {
	return f.add(raw, "Flag", FlagSources)
}

// AddAllergies reads an AllergyIntolerance searchset.
func (f *Findings) AddAllergies(raw []byte) error {
	return f.add(raw, "AllergyIntolerance", []string{SourceSCR})
}

func (f *Findings) add(raw []byte, want string, sources []string) error {
	var b bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("the %s searchset is not JSON: %w", want, err)
	}
	for _, e := range b.Entry {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(e.Resource, &head); err != nil {
			return err
		}
		switch {
		case head.ResourceType == "OperationOutcome":
			var oo outcome
			if err := json.Unmarshal(e.Resource, &oo); err != nil {
				return err
			}
			f.addOutcome(oo, sources)
		case head.ResourceType == "Flag" && want == "Flag":
			var fl flag
			if err := json.Unmarshal(e.Resource, &fl); err != nil {
				return err
			}
			f.Flags = append(f.Flags, fl)
		case head.ResourceType == "AllergyIntolerance" && want == "AllergyIntolerance":
			var a allergy
			if err := json.Unmarshal(e.Resource, &a); err != nil {
				return err
			}
			f.Allergies = append(f.Allergies, a)
		}
	}
	return nil
}

// addOutcome marks unchecked the sources an OperationOutcome entry names;
// an error or warning naming none of them leaves every source of the
// search in doubt.
func (f *Findings) addOutcome(oo outcome, sources []string) {
	for _, is := range oo.Issue {
		if is.Severity != "error" && is.Severity != "fatal" && is.Severity != "warning" {
			continue
		}
		named := false
		for _, s := range sources {
			if strings.Contains(is.Diagnostics, s) {
				f.Fail(s, "could not be reached or read")
				named = true
			}
		}
		if !named {
			for _, s := range sources {
				f.Fail(s, "answered incompletely")
			}
		}
	}
}

// Fail marks a source unchecked (once).
func (f *Findings) Fail(source, why string) {
	for _, u := range f.Unchecked {
		if u.Source == source {
			return
		}
	}
	f.Unchecked = append(f.Unchecked, Unchecked{Source: source, Why: why})
}

// CardOptions shape the cards.
type CardOptions struct {
	// Allergies: an allergies card (off when the EHR shows SCR's allergies itself).
	Allergies bool
	// Known are allergies the EHR already holds (its prefetch), by
	// lower-cased text or SNOMED CT code: left off the allergies card.
	Known map[string]bool
	// SourceURL is each card's source.url.
	SourceURL string
	// Link, when set, is the smart link every card carries.
	Link *Link
	// NewUUID makes card ids.
	NewUUID func() string
}

// Cards are the cards of f: critical first, then warnings (what could
// not be checked first among them), then information.
func Cards(f Findings, o CardOptions) []Card {
	cards := []Card{}
	var adjustments []flag
	for _, fl := range f.Flags {
		if fl.Status != "active" {
			continue
		}
		switch {
		case strings.HasPrefix(fl.ID, cpismap.IDPrefix):
			cards = append(cards, cpisCard(fl))
		case strings.HasPrefix(fl.ID, fgmmap.IDPrefix):
			cards = append(cards, fgmCard(fl))
		case strings.HasPrefix(fl.ID, ramap.IDPrefix):
			adjustments = append(adjustments, fl)
		case strings.HasPrefix(fl.ID, ovmmap.IDPrefix):
			cards = append(cards, ovmCard(fl))
		}
	}
	if len(adjustments) > 0 {
		cards = append(cards, raCard(adjustments))
	}
	if o.Allergies {
		if c, ok := allergyCard(f.Allergies, o.Known); ok {
			cards = append(cards, c)
		}
	}
	if len(f.Unchecked) > 0 {
		cards = append(cards, uncheckedCard(f.Unchecked))
	}
	// Most urgent first; within an indicator, what could not be checked
	// first, then in a fixed order of topics.
	rank := map[string]int{Critical: 0, Warning: 1, Info: 2}
	topics := map[string]int{TopicUnchecked.Code: 0, TopicChildProtection.Code: 1, TopicFGM.Code: 2, TopicAdjustments.Code: 3, TopicOverseasVisitor.Code: 4, TopicAllergies.Code: 5}
	sort.SliceStable(cards, func(i, j int) bool {
		ri, rj := rank[cards[i].Indicator], rank[cards[j].Indicator]
		if ri != rj {
			return ri < rj
		}
		return topics[cards[i].Source.Topic.Code] < topics[cards[j].Source.Topic.Code]
	})
	for i := range cards {
		cards[i].Summary = summary(cards[i].Summary)
		cards[i].Source.URL = o.SourceURL
		if o.NewUUID != nil {
			cards[i].UUID = o.NewUUID()
		}
		if o.Link != nil {
			cards[i].Links = []Link{*o.Link}
		}
		if cards[i].Source.Topic != &TopicUnchecked {
			cards[i].OverrideReasons = overrideReasons
		}
	}
	return cards
}

func cpisCard(fl flag) Card {
	plan := fl.Code.String()
	var d strings.Builder
	fmt.Fprintf(&d, "**%s** is recorded on Child Protection - Information Sharing (CP-IS) for this child.\n\n", md(plan))
	fmt.Fprintf(&d, "- **Plan:** %s\n", md(plan))
	if fl.Period.Start != "" {
		fmt.Fprintf(&d, "- **Since:** %s\n", md(day(fl.Period.Start)))
	}
	if fl.Period.End != "" {
		fmt.Fprintf(&d, "- **Ends:** %s\n", md(day(fl.Period.End)))
	}
	la := fl.Author.Display
	if la == "" {
		la = "not named by CP-IS"
	}
	if ods := fl.Author.Identifier.Value; ods != "" {
		la += " (" + ods + ")"
	}
	fmt.Fprintf(&d, "- **Responsible local authority:** %s\n", md(la))
	phones := false
	for _, e := range fl.Extension {
		if !strings.HasSuffix(e.URL, "/"+extensions.CPISLocalAuthorityContact) || e.ValueContactPoint == nil {
			continue
		}
		label := "Local authority"
		for _, x := range e.ValueContactPoint.Extension {
			if strings.HasSuffix(x.URL, "/"+extensions.CPISContactType) {
				switch x.ValueCode {
				case "office-hours":
					label = "Office hours"
				case "emergency-duty":
					label = "Emergency duty team (out of hours)"
				}
			}
		}
		fmt.Fprintf(&d, "- **%s:** %s\n", label, md(e.ValueContactPoint.Value))
		phones = true
	}
	if !phones {
		d.WriteString("- **Contact numbers:** none given by CP-IS\n")
	}
	d.WriteString("\nShare any safeguarding concern with the responsible local authority, following local safeguarding procedures.")
	return Card{
		Summary:   "Child protection: " + plan + " in place (CP-IS). Contact the local authority.",
		Detail:    d.String(),
		Indicator: Critical,
		Source:    Source{Label: resources.SourceCPIS, Topic: &TopicChildProtection},
	}
}

func fgmCard(fl flag) Card {
	what := fl.Code.String()
	var d strings.Builder
	fmt.Fprintf(&d, "FGM Information Sharing (FGM-IS) holds a risk indicator for this patient: **%s**.\n\n", md(what))
	if fl.Period.Start != "" {
		fmt.Fprintf(&d, "- **Since:** %s\n", md(day(fl.Period.Start)))
	}
	if ods := fl.Author.Identifier.Value; ods != "" {
		fmt.Fprintf(&d, "- **Recorded by:** %s\n", md(ods))
	}
	d.WriteString("\nThe indicator records a family history of female genital mutilation; it does not say FGM has happened. Follow local safeguarding procedures.")
	return Card{
		Summary:   "FGM risk indicator: " + what + " (FGM-IS)",
		Detail:    d.String(),
		Indicator: Warning,
		Source:    Source{Label: resources.SourceFGM, Topic: &TopicFGM},
	}
}

// communicationCategories are the RA adjustment categories that change
// how to speak with the patient now: their card is a warning.
var communicationCategories = map[string]bool{"001": true, "006": true}

func raCard(fls []flag) Card {
	var d strings.Builder
	d.WriteString("Reasonable adjustments recorded on the National Reasonable Adjustment Flag:\n\n")
	indicator, names := Info, []string{}
	for _, fl := range fls {
		what := fl.Code.String()
		names = append(names, what)
		cat := ""
		for _, c := range fl.Category {
			for _, cd := range c.Coding {
				if cd.System == ramap.AdjustmentCategorySystem {
					cat = cd.Display
					if communicationCategories[cd.Code] {
						indicator = Warning
					}
				}
			}
		}
		line := "- " + md(what)
		if cat != "" {
			line += " (" + md(cat) + ")"
		}
		if fl.Period.Start != "" {
			line += ", since " + md(day(fl.Period.Start))
		}
		d.WriteString(line + "\n")
	}
	s := "Reasonable adjustments: " + strings.Join(names, "; ")
	if indicator == Warning {
		s = "Communication needs: " + strings.Join(names, "; ")
	}
	return Card{Summary: s, Detail: d.String(), Indicator: indicator,
		Source: Source{Label: resources.SourceRA, Topic: &TopicAdjustments}}
}

func ovmCard(fl flag) Card {
	letter := ""
	for _, cd := range fl.Code.Coding {
		if len(cd.Code) == 1 {
			letter = cd.Code
		}
	}
	var d strings.Builder
	fmt.Fprintf(&d, "Overseas visitor chargeable status: **%s**.\n\n", md(fl.Code.String()))
	if fl.Period.Start != "" {
		fmt.Fprintf(&d, "- **Since:** %s\n", md(day(fl.Period.Start)))
	}
	if fl.Period.End != "" {
		fmt.Fprintf(&d, "- **Until:** %s\n", md(day(fl.Period.End)))
	}
	if by := fl.Author.Display; by != "" {
		fmt.Fprintf(&d, "- **Recorded by:** %s\n", md(by))
	}
	for _, e := range fl.Extension {
		if strings.HasSuffix(e.URL, "/"+extensions.OVMRecordingOrganisationContact) && e.ValueContactPoint != nil {
			fmt.Fprintf(&d, "- **Overseas visitors team:** %s\n", md(e.ValueContactPoint.Value))
		}
	}
	d.WriteString("\nTreatment that is immediately necessary or urgent is never withheld because of chargeable status.")
	s := "Overseas visitor chargeable status recorded (OVM)"
	if letter != "" {
		s = "Overseas visitor: charging category " + letter + " (OVM)"
	}
	return Card{Summary: s, Detail: d.String(), Indicator: Info,
		Source: Source{Label: resources.SourceOVM, Topic: &TopicOverseasVisitor}}
}

// allergyKeys are the keys an allergy is known by: its text and codes.
func allergyKeys(c concept) []string {
	keys := []string{strings.ToLower(strings.TrimSpace(c.String()))}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			keys = append(keys, cd.Code)
		}
	}
	return keys
}

func allergyCard(as []allergy, known map[string]bool) (Card, bool) {
	var d strings.Builder
	if known == nil {
		d.WriteString("Allergies and adverse reactions recorded in the Summary Care Record:\n\n")
	} else {
		d.WriteString("Allergies and adverse reactions in the Summary Care Record that this record does not hold:\n\n")
	}
	var names []string
	for _, a := range as {
		if st := a.ClinicalStatus.Coding; len(st) > 0 && st[0].Code != "active" {
			continue
		}
		dup := false
		for _, k := range allergyKeys(a.Code) {
			dup = dup || known[k]
		}
		if dup {
			continue
		}
		what := a.Code.String()
		names = append(names, what)
		line := "- **" + md(what) + "**"
		var reactions []string
		for _, r := range a.Reaction {
			for _, m := range r.Manifestation {
				reactions = append(reactions, m.String())
			}
			if r.Severity != "" {
				reactions = append(reactions, r.Severity)
			}
		}
		if len(reactions) > 0 {
			line += ": " + md(strings.Join(reactions, ", "))
		}
		if a.Criticality == "high" {
			line += " (high criticality)"
		}
		if a.RecordedDate != "" {
			line += ", recorded " + md(day(a.RecordedDate))
		}
		d.WriteString(line + "\n")
	}
	if len(names) == 0 {
		return Card{}, false
	}
	s := "Allergy in the Summary Care Record: " + names[0]
	if len(names) > 1 {
		s = fmt.Sprintf("%d allergies in the Summary Care Record: %s", len(names), strings.Join(names, "; "))
	}
	return Card{Summary: s, Detail: d.String(), Indicator: Info,
		Source: Source{Label: "Summary Care Record (SCR)", Topic: &TopicAllergies}}, true
}

func uncheckedCard(us []Unchecked) Card {
	var short []string
	var d strings.Builder
	d.WriteString("These national services could not be checked for this patient, so their alerts may be missing:\n\n")
	for _, u := range us {
		n := shortNames[u.Source]
		if n == "" {
			n = u.Source
		}
		short = append(short, n)
		fmt.Fprintf(&d, "- **%s**: %s\n", md(u.Source), md(u.Why))
	}
	d.WriteString("\nNo card from these services does **not** mean there is no alert. Open the record again shortly, or contact the service.")
	return Card{
		Summary:   "Not checked: " + strings.Join(short, ", ") + ". Alerts may be missing.",
		Detail:    d.String(),
		Indicator: Warning,
		Source:    Source{Label: "National care records alerts", Topic: &TopicUnchecked},
	}
}
