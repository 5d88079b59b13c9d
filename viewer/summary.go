package viewer

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Summary is what the summary page shows: the Patient/$summary Bundle read
// into the words a clinician needs, in the order the page shows them.
type Summary struct {
	Patient      Banner
	Failures     []Failure // sources that did not answer: shown first, loudly
	Notes        []string  // information from the services ("no SCR" …)
	Flags        Section[Flag]
	Allergies    Section[Allergy]
	Medications  Section[Medication]
	Vaccinations Section[Vaccination]
	Documents    Section[Document]
}

// Section is one list on the page, and whether its source failed: an empty
// list from a source that did not answer is not "none recorded".
type Section[T any] struct {
	Items []T
	// Missing names the source(s) that failed, so the list may be incomplete.
	Missing []string
	// Reason is what a $summary document's section says of a list that is
	// not whole: its source failed, was withheld or not asked (emptyReason),
	// or was read in part. Empty when the list is whole or none is known.
	Reason []string
}

// Banner is the patient banner.
type Banner struct {
	NHSNumber string // formatted 3-3-4
	Name      string // "SMITH, Jane (Mrs)"
	BirthDate string // "22-Oct-2010", or as PDS has it when partial ("1980")
	// Age today of a living patient ("42 years", "11 months", "9 days");
	// AgeUnknown when the date of birth is partial or unreadable, so no age
	// can be given (and the page says so).
	Age        string
	AgeUnknown bool
	// Deceased: PDS records the patient's death (deceasedDateTime, or
	// deceasedBoolean true). The page then leads with a deceased banner
	// saying Died ("Died 3 March 2024", England's date; "Date of death not
	// recorded") and AgeAtDeath ("42 years", when both dates are full).
	Deceased   bool
	Died       string
	AgeAtDeath string
	Gender     string
	GP         string
	Address    string
	// Restricted: the record is flagged R or V (restricted / very
	// restricted). Address, contacts and GP are never shown.
	Restricted bool
	// Missing: PDS did not answer; only the NHS number is known.
	Missing bool
}

// Failure is a source that did not answer.
type Failure struct {
	Source string // "Child Protection - Information Sharing (CP-IS)"
	// Reason is why, in the facade's user-safe words ("the cpis service
	// failed"); the whole diagnostics when it is not FanOut's.
	Reason string
}

// Flag is one alert: CP-IS, FGM, reasonable adjustment, overseas visitor
// or any other category, rendered from its category text.
type Flag struct {
	Kind     string // CSS modifier: "safety", "clinical", "adjustment", "other"
	Category string // "Safety", "National Reasonable Adjustments Flag · Communication support"
	Text     string // the flag's code: "Child Protection Plan"
	Since    string
	Author   string
	Contacts []string // "Office hours: 01632 960001"
	Detail   string
}

// Allergy is one allergy or adverse reaction.
type Allergy struct {
	Text     string
	Status   string
	Recorded string
	Notes    string
}

// Medication is one medication statement.
type Medication struct {
	Text   string
	Dosage string
	Status string
	Date   string
	Notes  string
}

// Vaccination is one Immunization.
type Vaccination struct {
	Date      string
	Vaccine   string
	Procedure string
	Dose      string
	Performer string
	// NotGiven is a dose recorded as not done (status not-done), with the
	// recorded reason: never to be read as a dose given.
	NotGiven bool
	Reason   string
}

// Document is one DocumentReference, with a link per content.
type Document struct {
	Title     string
	Type      string
	Date      string
	Custodian string
	Links     []DocumentLink
}

// DocumentLink opens one content of a document through the viewer (which
// fetches the facade's Binary with the session's token).
type DocumentLink struct {
	Href  string
	Label string
	Kind  string // "PDF", "FHIR JSON" …
}

// The FHIR shapes read from the Bundle: only what the page shows.
type (
	bundle struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Search   struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	coding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display"`
	}
	concept struct {
		Coding []coding `json:"coding"`
		Text   string   `json:"text"`
	}
	identifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	reference struct {
		Reference  string      `json:"reference"`
		Display    string      `json:"display"`
		Identifier *identifier `json:"identifier"`
	}
	period struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	annotation struct {
		Text string `json:"text"`
	}
	extension struct {
		URL                  string        `json:"url"`
		ValueCode            string        `json:"valueCode"`
		ValueString          string        `json:"valueString"`
		ValueCodeableConcept *concept      `json:"valueCodeableConcept"`
		ValueReference       *reference    `json:"valueReference"`
		ValueContactPoint    *contactPoint `json:"valueContactPoint"`
		Extension            []extension   `json:"extension"`
	}
	contactPoint struct {
		System    string      `json:"system"`
		Value     string      `json:"value"`
		Extension []extension `json:"extension"`
	}
	resource struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Meta         struct {
			Security []coding `json:"security"`
		} `json:"meta"`
		// Patient
		Identifier          []identifier `json:"identifier"`
		Name                []humanName  `json:"name"`
		Gender              string       `json:"gender"`
		BirthDate           string       `json:"birthDate"`
		DeceasedDateTime    string       `json:"deceasedDateTime"`
		DeceasedBoolean     bool         `json:"deceasedBoolean"`
		Address             []address    `json:"address"`
		GeneralPractitioner []reference  `json:"generalPractitioner"`
		// Flag, AllergyIntolerance, MedicationStatement …
		Category       json.RawMessage `json:"category"` // a list (Flag, DocumentReference) or one (MedicationStatement)
		Code           *concept        `json:"code"`
		Status         string          `json:"status"`
		Period         *period         `json:"period"`
		Author         json.RawMessage `json:"author"` // one (Flag) or a list (DocumentReference)
		Extension      []extension     `json:"extension"`
		ClinicalStatus *concept        `json:"clinicalStatus"`
		RecordedDate   string          `json:"recordedDate"`
		OnsetDateTime  string          `json:"onsetDateTime"`
		Note           []annotation    `json:"note"`
		// MedicationStatement
		MedicationCodeableConcept *concept `json:"medicationCodeableConcept"`
		Dosage                    []struct {
			Text string `json:"text"`
		} `json:"dosage"`
		EffectiveDateTime string  `json:"effectiveDateTime"`
		EffectivePeriod   *period `json:"effectivePeriod"`
		DateAsserted      string  `json:"dateAsserted"`
		// Immunization
		// statusReason is a CodeableConcept on Immunization and a list of
		// them on MedicationStatement: read as it comes.
		StatusReason       json.RawMessage `json:"statusReason"`
		VaccineCode        *concept        `json:"vaccineCode"`
		OccurrenceDateTime string          `json:"occurrenceDateTime"`
		Performer          []struct {
			Actor reference `json:"actor"`
		} `json:"performer"`
		ProtocolApplied []struct {
			DoseNumberPositiveInt int    `json:"doseNumberPositiveInt"`
			DoseNumberString      string `json:"doseNumberString"`
		} `json:"protocolApplied"`
		// DocumentReference
		Type        *concept   `json:"type"`
		Date        string     `json:"date"`
		Description string     `json:"description"`
		Custodian   *reference `json:"custodian"`
		Content     []struct {
			Attachment struct {
				ContentType string `json:"contentType"`
				URL         string `json:"url"`
				Title       string `json:"title"`
			} `json:"attachment"`
		} `json:"content"`
		// Composition ($summary's document)
		Section []compositionSection `json:"section"`
		// OperationOutcome
		Issue []struct {
			Severity    string `json:"severity"`
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	compositionSection struct {
		Code        *concept `json:"code"`
		EmptyReason *concept `json:"emptyReason"`
		Text        struct {
			Div string `json:"div"`
		} `json:"text"`
		Entry []reference `json:"entry"`
	}
	humanName struct {
		Use    string   `json:"use"`
		Text   string   `json:"text"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
		Prefix []string `json:"prefix"`
		Period *period  `json:"period"`
	}
	address struct {
		Use        string   `json:"use"`
		Line       []string `json:"line"`
		PostalCode string   `json:"postalCode"`
		Period     *period  `json:"period"`
	}
)

// failedSource matches FanOut's warning: "<source> could not be reached, …".
var failedSource = regexp.MustCompile(`^(.+?) could not be reached\b`)

// ParseSummary reads a Patient/$summary answer for patient nhs (the NHS
// number asked for, shown when PDS did not answer): the document (its
// sections say which lists are not whole, and why) or a searchset, as
// $everything answers. now dates ages; documentHref makes the link that
// opens a Binary id.
func ParseSummary(raw []byte, nhs string, now time.Time, documentHref func(binaryID string) string) (*Summary, error) {
	var b bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("viewer: the summary is not JSON: %w", err)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("viewer: the summary is a %q, not a Bundle", b.ResourceType)
	}
	s := &Summary{Patient: Banner{NHSNumber: FormatNHSNumber(nhs), Missing: true}}
	// The banner is the Patient asked for. $summary holds one Patient, the
	// asked one, or the current record when the number was superseded; if
	// a Bundle ever held more, another person's name or death must not
	// become this page's, so the asked number wins, else the first.
	patientFound, patientExact := false, false
	seenNote := map[string]bool{}
	var sections []compositionSection
	outcomes := map[string]bool{} // the fullUrls of OperationOutcome entries
	for i, e := range b.Entry {
		var r resource
		if err := json.Unmarshal(e.Resource, &r); err != nil {
			return nil, fmt.Errorf("viewer: an entry of the summary is unreadable: %w", err)
		}
		switch r.ResourceType {
		case "Composition":
			if b.Type == "document" && i == 0 {
				sections = r.Section
			}
		case "Patient":
			exact := isPatient(&r, nhs)
			if !patientFound || exact && !patientExact {
				s.Patient = banner(&r, now)
				patientFound, patientExact = true, exact
			}
		case "Flag":
			s.Flags.Items = append(s.Flags.Items, flag(&r))
		case "AllergyIntolerance":
			s.Allergies.Items = append(s.Allergies.Items, Allergy{
				Text: conceptText(r.Code), Status: titleCase(conceptText(r.ClinicalStatus)),
				Recorded: formatDate(firstOf(r.RecordedDate, r.OnsetDateTime)), Notes: notes(r.Note),
			})
		case "MedicationStatement":
			date := r.EffectiveDateTime
			if date == "" && r.EffectivePeriod != nil {
				date = r.EffectivePeriod.Start
			}
			m := Medication{Text: conceptText(r.MedicationCodeableConcept), Status: titleCase(r.Status),
				Date: formatDate(firstOf(date, r.DateAsserted)), Notes: notes(r.Note)}
			for _, d := range r.Dosage {
				m.Dosage = joinNonEmpty("; ", m.Dosage, d.Text)
			}
			s.Medications.Items = append(s.Medications.Items, m)
		case "Immunization":
			v := Vaccination{Date: formatDate(r.OccurrenceDateTime), Vaccine: conceptText(r.VaccineCode)}
			if r.Status == "not-done" {
				var reason concept
				_ = json.Unmarshal(r.StatusReason, &reason) // a reason that cannot be read is none
				v.NotGiven, v.Reason = true, stripSemanticTag(conceptText(&reason))
			}
			for _, x := range r.Extension {
				if strings.HasSuffix(x.URL, "Extension-UKCore-VaccinationProcedure") {
					v.Procedure = stripSemanticTag(conceptText(x.ValueCodeableConcept))
				}
			}
			v.Vaccine = stripSemanticTag(v.Vaccine)
			for _, p := range r.ProtocolApplied {
				if p.DoseNumberPositiveInt > 0 {
					v.Dose = fmt.Sprint(p.DoseNumberPositiveInt)
				} else if p.DoseNumberString != "" {
					v.Dose = p.DoseNumberString
				}
			}
			for _, p := range r.Performer {
				v.Performer = joinNonEmpty(", ", v.Performer, referenceText(&p.Actor))
			}
			s.Vaccinations.Items = append(s.Vaccinations.Items, v)
		case "DocumentReference":
			s.Documents.Items = append(s.Documents.Items, document(&r, documentHref))
		case "OperationOutcome":
			outcomes[e.FullURL] = e.FullURL != ""
			for _, is := range r.Issue {
				d := strings.TrimSpace(is.Diagnostics)
				if d == "" {
					continue
				}
				if is.Severity == "information" {
					if !seenNote[d] {
						seenNote[d] = true
						s.Notes = append(s.Notes, d)
					}
					continue
				}
				if types, ok := strings.CutPrefix(d, withheldTypes); ok {
					// Left out for the caller's role: each type's list
					// is marked, not the alerts'.
					s.Failures = append(s.Failures, Failure{Source: types, Reason: "your role or scopes do not allow them"})
					for _, typ := range strings.Split(types, ", ") {
						s.markMissing(typ)
					}
					continue
				}
				f := Failure{Source: issueSource(d), Reason: d}
				if m := failedSource.FindStringSubmatch(d); m != nil {
					f.Source, f.Reason = m[1], ""
					if _, why, ok := strings.Cut(d, "missing from this answer: "); ok {
						f.Reason = why
					}
				}
				s.Failures = append(s.Failures, f)
				s.markMissing(f.Source)
			}
		}
	}
	for _, sec := range sections {
		s.readSection(sec, outcomes)
	}
	sortFlags(s.Flags.Items)
	// Most recent first, as a clinician reads them.
	sort.SliceStable(s.Vaccinations.Items, func(i, j int) bool {
		return sortKey(s.Vaccinations.Items[i].Date) > sortKey(s.Vaccinations.Items[j].Date)
	})
	return s, nil
}

// withheldTypes begins the facade's warning naming the types the caller's
// role or scopes do not allow (resources.Patient's summary).
const withheldTypes = "not included, as your role or scopes do not allow them: "

// sectionReasons are the emptyReasons that say a list is not whole:
// nilknown (the source answered with nothing) is the one that does not.
var sectionReasons = map[string]bool{"unavailable": true, "withheld": true, "notasked": true}

// readSection notes what a document's section says of a list that is not
// whole: its emptyReason, or an entry pointing at the OperationOutcome (a
// list read in part), with the section's own words.
func (s *Summary) readSection(sec compositionSection, outcomes map[string]bool) {
	reason := ""
	if sec.EmptyReason != nil {
		for _, c := range sec.EmptyReason.Coding {
			reason = c.Code
		}
	}
	partial := false
	for _, e := range sec.Entry {
		partial = partial || outcomes[e.Reference]
	}
	if !sectionReasons[reason] && !partial {
		return
	}
	code := ""
	if sec.Code != nil {
		for _, c := range sec.Code.Coding {
			if c.System == "http://loinc.org" {
				code = c.Code
			}
		}
	}
	words := paragraphs(sec.Text.Div)
	if len(words) == 0 {
		words = []string{"This list may be incomplete."}
	}
	switch code {
	case "48765-2":
		s.Allergies.Reason = words
	case "10160-0":
		s.Medications.Reason = words
	case "11369-6":
		s.Vaccinations.Reason = words
	case "104605-1":
		s.Flags.Reason = words
	case "55107-7":
		s.Documents.Reason = words
	}
}

// paragraphs are the text of a narrative's <p> elements (the facade's
// section narrative: the paragraphs say why, the list holds the records).
var paragraph = regexp.MustCompile(`(?s)<p>(.*?)</p>`)

func paragraphs(div string) []string {
	var out []string
	for _, m := range paragraph.FindAllStringSubmatch(div, -1) {
		if t := strings.TrimSpace(html.UnescapeString(tags.ReplaceAllString(m[1], ""))); t != "" {
			out = append(out, t)
		}
	}
	return out
}

var tags = regexp.MustCompile(`<[^>]*>`)

// issueSource names the section an issue that is not a failed source
// leaves incomplete: an immunisation history read in part, a Summary Care
// Record not read (consent withheld), types withheld from the caller.
func issueSource(d string) string {
	switch {
	case strings.Contains(d, "immunisation record"):
		return "Immunization"
	case strings.Contains(d, "Summary Care Record"):
		return "AllergyIntolerance and MedicationStatement (Summary Care Record)"
	}
	return "A national service"
}

// markMissing notes a failed source against the section it feeds.
func (s *Summary) markMissing(source string) {
	switch {
	case strings.HasPrefix(source, "Patient"), strings.HasPrefix(source, "RelatedPerson"):
		// the banner says so (Banner.Missing); the page lists no
		// related people
	case strings.HasPrefix(source, "AllergyIntolerance and MedicationStatement"):
		s.Allergies.Missing = append(s.Allergies.Missing, source)
		s.Medications.Missing = append(s.Medications.Missing, source)
	case strings.HasPrefix(source, "AllergyIntolerance"):
		s.Allergies.Missing = append(s.Allergies.Missing, source)
	case strings.HasPrefix(source, "MedicationStatement"):
		s.Medications.Missing = append(s.Medications.Missing, source)

	case strings.HasPrefix(source, "Immunization"):
		s.Vaccinations.Missing = append(s.Vaccinations.Missing, source)
	case strings.HasPrefix(source, "DocumentReference"), strings.HasPrefix(source, "Binary"):
		s.Documents.Missing = append(s.Documents.Missing, source)
	case strings.HasPrefix(source, "RelatedPerson"):
		// PDS's related people have no section on this page (the failure
		// list names them); they are no alert service.
	default:
		// Flag and its services (RA, CP-IS, FGM-IS, and any added later):
		// every other source is an alert service, and a missing alert is
		// the gap a clinician most needs to know about.
		s.Flags.Missing = append(s.Flags.Missing, source)
	}
}

// isPatient reports whether the Patient is NHS number nhs.
func isPatient(r *resource, nhs string) bool {
	if r.ID == nhs {
		return true
	}
	for _, id := range r.Identifier {
		if id.System == nhsnumber.System && id.Value == nhs {
			return true
		}
	}
	return false
}

// banner reads the Patient.
func banner(r *resource, now time.Time) Banner {
	b := Banner{NHSNumber: FormatNHSNumber(r.ID), Gender: titleCase(r.Gender), BirthDate: formatDate(r.BirthDate)}
	for _, id := range r.Identifier {
		if id.System == nhsnumber.System && id.Value != "" {
			b.NHSNumber = FormatNHSNumber(id.Value)
		}
	}
	b.Name = patientName(r.Name)
	for _, c := range r.Meta.Security {
		if c.Code == "R" || c.Code == "V" || c.Code == "REDACTED" {
			b.Restricted = true
		}
	}
	b.setAge(r.BirthDate, r.DeceasedDateTime, r.DeceasedBoolean, now)
	if b.Restricted {
		return b // never the address, contacts or GP
	}
	if len(r.GeneralPractitioner) > 0 {
		b.GP = referenceText(&r.GeneralPractitioner[0])
	}
	b.Address = homeAddress(r.Address, now.In(london))
	return b
}

// patientName is the NHS banner form: FAMILY, Given Names (Title), from the
// usual name (else the first).
// See: https://service-manual.nhs.uk/design-system/patterns (patient banner)
func patientName(names []humanName) string {
	if len(names) == 0 {
		return ""
	}
	n := names[0]
	for _, x := range names {
		if x.Use == "usual" {
			n = x
			break
		}
	}
	if n.Family == "" && len(n.Given) == 0 {
		return n.Text
	}
	s := strings.ToUpper(n.Family)
	if len(n.Given) > 0 {
		s = joinNonEmpty(", ", s, strings.Join(n.Given, " "))
	}
	if len(n.Prefix) > 0 {
		s += " (" + strings.Join(n.Prefix, " ") + ")"
	}
	return s
}

// homeAddress is the current home address (else the first home address),
// on one line.
func homeAddress(as []address, now time.Time) string {
	var pick *address
	for i := range as {
		a := &as[i]
		if a.Use != "home" && a.Use != "" {
			continue
		}
		if pick == nil {
			pick = a
		}
		if a.Period == nil || a.Period.End == "" || a.Period.End >= now.Format("2006-01-02") {
			pick = a
			break
		}
	}
	if pick == nil {
		return ""
	}
	return joinNonEmpty(", ", strings.Join(pick.Line, ", "), pick.PostalCode)
}

// flag reads one Flag, whatever its category: the category's own words say
// what kind of alert it is.
func flag(r *resource) Flag {
	f := Flag{Text: conceptText(r.Code), Kind: "other"}
	var cats []concept
	_ = json.Unmarshal(r.Category, &cats)
	for _, c := range cats {
		f.Category = joinNonEmpty(" · ", f.Category, conceptText(&c))
		for _, cd := range c.Coding {
			switch {
			case cd.Code == "safety":
				f.Kind = "safety"
			case cd.Code == "clinical" && f.Kind == "other":
				f.Kind = "clinical"
			case cd.Code == "NRAF" && f.Kind == "other":
				f.Kind = "adjustment"
			}
		}
	}
	if f.Text == "" {
		f.Text = f.Category
	}
	if r.Period != nil {
		f.Since = formatDate(r.Period.Start)
	}
	var author reference
	if json.Unmarshal(r.Author, &author) == nil {
		f.Author = referenceText(&author)
	}
	for _, x := range r.Extension {
		switch {
		case x.ValueContactPoint != nil && x.ValueContactPoint.Value != "":
			label := "Contact"
			for _, sub := range x.ValueContactPoint.Extension {
				if sub.ValueCode != "" {
					label = titleCase(strings.ReplaceAll(sub.ValueCode, "-", " "))
				}
			}
			f.Contacts = append(f.Contacts, label+": "+x.ValueContactPoint.Value)
		case x.ValueReference != nil && x.ValueReference.Display != "":
			f.Detail = joinNonEmpty("; ", f.Detail, x.ValueReference.Display)
		}
	}
	return f
}

// binaryID is the id in a Binary URL the facade wrote ("Binary/Y05868-1",
// or absolute); "" when the URL is not the facade's Binary.
var binaryID = regexp.MustCompile(`(?:^|/)Binary/([A-Za-z0-9\-.]{1,64})$`)

func document(r *resource, href func(string) string) Document {
	d := Document{Title: firstOf(r.Description, conceptText(r.Type)), Type: conceptText(r.Type),
		Date: formatDate(r.Date), Custodian: referenceText(r.Custodian)}
	if d.Type == d.Title {
		d.Type = ""
	}
	for _, c := range r.Content {
		u, err := url.Parse(c.Attachment.URL)
		if err != nil || href == nil {
			continue
		}
		m := binaryID.FindStringSubmatch(u.Path)
		if m == nil {
			continue
		}
		d.Links = append(d.Links, DocumentLink{Href: href(m[1]), Label: firstOf(c.Attachment.Title, "Open document"), Kind: mediaKind(c.Attachment.ContentType)})
	}
	return d
}

// mediaKind names a media type for a clinician.
func mediaKind(ct string) string {
	ct, _, _ = strings.Cut(ct, ";")
	switch strings.TrimSpace(strings.ToLower(ct)) {
	case "application/pdf":
		return "PDF"
	case "application/fhir+json", "application/json":
		return "FHIR JSON"
	case "application/fhir+xml", "application/xml", "text/xml":
		return "XML"
	case "text/html":
		return "HTML"
	case "text/plain":
		return "text"
	case "image/jpeg", "image/png":
		return "image"
	case "":
		return "document"
	}
	return ct
}

// FormatNHSNumber writes a valid NHS number as 3-3-4 ("900 000 0009");
// anything else as it is.
func FormatNHSNumber(s string) string {
	if !nhsnumber.Valid(s) {
		return s
	}
	return s[:3] + " " + s[3:6] + " " + s[6:]
}

// formatDate writes a FHIR date or dateTime as the NHS does: 22-Oct-2010
// (a year or year-month as it is).
func formatDate(s string) string {
	if len(s) < 10 {
		return s
	}
	t, err := time.Parse("2006-01-02", s[:10])
	if err != nil {
		return s
	}
	return t.Format("02-Jan-2006")
}

// sortKey orders formatted dates.
func sortKey(d string) string {
	t, err := time.Parse("02-Jan-2006", d)
	if err != nil {
		return d
	}
	return t.Format("2006-01-02")
}

func conceptText(c *concept) string {
	if c == nil {
		return ""
	}
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
	return ""
}

func referenceText(r *reference) string {
	if r == nil {
		return ""
	}
	if r.Display != "" {
		return r.Display
	}
	if r.Identifier != nil && r.Identifier.Value != "" {
		if r.Identifier.System == "https://fhir.nhs.uk/Id/ods-organization-code" {
			return "ODS " + r.Identifier.Value
		}
		return r.Identifier.Value
	}
	return ""
}

// stripSemanticTag drops SNOMED CT's "(product)", "(procedure)" … tag.
var semanticTag = regexp.MustCompile(`\s*\((product|procedure|qualifier value|body structure|substance|disorder|finding|event)\)$`)

func stripSemanticTag(s string) string { return semanticTag.ReplaceAllString(s, "") }

func notes(ns []annotation) string {
	var out string
	for _, n := range ns {
		out = joinNonEmpty("; ", out, n.Text)
	}
	return out
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ReplaceAll(s[1:], "-", " ")
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
