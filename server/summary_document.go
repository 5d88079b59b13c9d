package server

import (
	"encoding/json"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/mappers/declared"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// Patient/$summary answers an International Patient Summary-shaped FHIR
// document: a Bundle of type document whose first entry is a Composition
// with one section per source. A section whose source failed, was withheld
// or holds nothing says which, in its emptyReason and its narrative, so a
// missing source can never read as "no allergies" (issue #17; hazard H02).
// See: http://hl7.org/fhir/R4/documents.html and
// https://hl7.org/fhir/uv/ips/ipsStructure.html

// summarySection is one section of the document: the records of one
// resource type.
type summarySection struct {
	typ     string // the resource type of its entries
	code    string // LOINC, as the IPS uses it
	display string
	title   string
	what    string // "allergies", in a sentence
	from    string // the service its records come from, in a sentence
}

// summarySections are the document's sections, in order. The documents
// section has no IPS slice: 55107-7 (Addendum Document) is the LOINC
// national patient summaries use for documents added to the summary.
var summarySections = []summarySection{
	{typ: "AllergyIntolerance", code: "48765-2", display: "Allergies and adverse reactions Document", title: "Allergies and Intolerances",
		what: "allergies", from: "the Summary Care Record (SCR)"},
	{typ: "MedicationStatement", code: "10160-0", display: "History of Medication use Narrative", title: "Medication Summary",
		what: "medications", from: "the Summary Care Record (SCR)"},
	{typ: "Immunization", code: "11369-6", display: "History of Immunization Narrative", title: "Immunizations",
		what: "vaccinations", from: "the national immunisation record"},
	{typ: "Flag", code: "104605-1", display: "Alert", title: "Alerts",
		what: "alerts", from: "the national alert services (reasonable adjustments, CP-IS, FGM-IS, overseas visitor status)"},
	{typ: "DocumentReference", code: "55107-7", display: "Addendum Document", title: "Documents held elsewhere",
		what: "documents", from: "the National Record Locator (NRL)"},
	// No IPS section: the IPS has next of kin in Patient.contact; PDS
	// holds them as related people.
	{typ: "RelatedPerson", title: "Related people (next of kin, carers, guardians)",
		what: "related people", from: "the Personal Demographics Service (PDS)"},
}

// ukcoreComposition is the UK Core profile the Composition meets, as the
// facade's other resources declare theirs (and the $summary
// OperationDefinition names it).
const ukcoreComposition = declared.Composition

// The empty reasons a section may carry.
// See: http://hl7.org/fhir/R4/valueset-list-empty-reason.html
const emptyReasonSystem = "http://terminology.hl7.org/CodeSystem/list-empty-reason"

var emptyReasonDisplay = map[string]string{
	"nilknown": "Nil Known", "notasked": "Not Asked", "withheld": "Information Withheld", "unavailable": "Unavailable",
}

// The document's JSON, written with encoding/json: the Composition and the
// Device are the facade's own, never a backend's.
type (
	composition struct {
		ResourceType    string          `json:"resourceType"`
		ID              string          `json:"id"`
		Meta            docMeta         `json:"meta"`
		Status          string          `json:"status"`
		Type            codeableConcept `json:"type"`
		Subject         docReference    `json:"subject"`
		Date            string          `json:"date"`
		Author          []docReference  `json:"author"`
		Title           string          `json:"title"`
		Confidentiality string          `json:"confidentiality,omitempty"`
		Section         []docSection    `json:"section"`
	}
	docMeta struct {
		Profile []string `json:"profile"`
	}
	docReference struct {
		Reference  string         `json:"reference,omitempty"`
		Identifier *docIdentifier `json:"identifier,omitempty"`
		Display    string         `json:"display,omitempty"`
	}
	docIdentifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	docSection struct {
		Title       string           `json:"title"`
		Code        *codeableConcept `json:"code,omitempty"`
		Text        narrative        `json:"text"`
		Entry       []docReference   `json:"entry,omitempty"`
		EmptyReason *codeableConcept `json:"emptyReason,omitempty"`
	}
	narrative struct {
		Status string `json:"status"`
		Div    string `json:"div"`
	}
	device struct {
		ResourceType string           `json:"resourceType"`
		ID           string           `json:"id"`
		DeviceName   []deviceName     `json:"deviceName"`
		Type         *codeableConcept `json:"type,omitempty"`
	}
	deviceName struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
)

// docEntry is one resource of the document, rendered.
type docEntry struct {
	res  *resources.Resource
	body []byte
}

// document renders an operation's result as the $summary document. asked
// is the NHS number the client asked for (the Patient may be the record
// that superseded it).
func (s *Server) document(r *http.Request, asked string, sub subset, self string, res *resources.SearchResult) (*reply, error) {
	ctx := r.Context()
	ri := request.From(ctx)
	base := s.baseURL()
	for _, e := range res.Entries {
		noteRestricted(ri, e.Resource)
	}
	// Each record rendered as it may leave the facade, held to a
	// patient-bound token's patient before any is noted for audit.
	var patient *docEntry
	byType := map[string][]docEntry{}
	var all []docEntry
	scope := patientScope(r)
	for _, e := range res.Entries {
		if e.Mode != "" && e.Mode != "match" || e.Resource == nil {
			continue
		}
		rs := s.safe(ctx, ri, e.Resource)
		body, err := s.render.render(rs)
		if err != nil {
			return nil, err
		}
		if outside(scope, ri.Subjects.Unalias(compartmentOf(rs, body))) {
			return nil, errOtherPatient
		}
		de := docEntry{res: rs, body: body}
		all = append(all, de)
		if rs.Type == "Patient" {
			if patient == nil {
				patient = &de
			}
			continue
		}
		byType[rs.Type] = append(byType[rs.Type], de)
	}
	for _, de := range all {
		ri.Subjects.Note(compartmentOf(de.res, de.body)...)
	}

	now := time.Now().UTC().Format(time.RFC3339)
	docID, compID, deviceID := uuid.NewString(), uuid.NewString(), uuid.NewString()
	var outcomeID string
	var outcomeBody []byte
	if len(res.Issues) > 0 {
		var err error
		if outcomeBody, outcomeID, err = outcomeResource(res.Issues); err != nil {
			return nil, err
		}
	}
	outcomeRef := docReference{Reference: "urn:uuid:" + outcomeID, Display: "What could not be retrieved"}

	comp := composition{
		ResourceType: "Composition", ID: compID, Status: "final",
		Meta:   docMeta{Profile: []string{ukcoreComposition}},
		Type:   codeableConcept{Coding: []coding{{System: "http://loinc.org", Code: "60591-5", Display: "Patient summary Document"}}},
		Date:   now,
		Author: []docReference{{Reference: "urn:uuid:" + deviceID, Display: "Care records FHIR facade"}},
		Title:  "Patient summary from England's national care record services",
	}
	subjectNHS := asked
	if patient != nil {
		subjectNHS = patient.res.ID
		comp.Subject = docReference{Reference: "Patient/" + patient.res.ID}
	} else {
		// PDS did not answer: the subject is named by its NHS number.
		comp.Subject = docReference{Identifier: &docIdentifier{System: nhsnumber.System, Value: asked}}
	}
	if s.restricted(ctx, ri, subjectNHS) {
		// v3 Confidentiality R: the record is restricted (or its status
		// could not be learned).
		comp.Confidentiality = "R"
	} else {
		comp.Confidentiality = "N"
	}

	parts := map[string][]resources.SourcePart{}
	for _, p := range res.Parts {
		parts[p.Type] = append(parts[p.Type], p)
	}
	entries := []bundleEntry{}
	addEntry := func(de docEntry) error {
		body, err := sub.apply(de.res.Type, de.body)
		if err != nil {
			return err
		}
		entries = append(entries, bundleEntry{FullURL: base + "/" + de.res.Type + "/" + de.res.ID, Resource: body})
		return nil
	}
	if patient != nil {
		if err := addEntry(*patient); err != nil {
			return nil, err
		}
	}
	sections := slices.Clone(summarySections)
	var others []string
	for typ := range byType {
		if !knownSection(typ) {
			others = append(others, typ)
		}
	}
	slices.Sort(others)
	for _, typ := range others {
		// A source added later still has its section: nothing it gives
		// is left out of the document.
		sections = append(sections, summarySection{typ: typ, title: typ, what: typ + " records", from: "its national service"})
	}
	for _, sec := range sections {
		ds := buildSection(sec, byType[sec.typ], parts[sec.typ])
		if ds.partial && outcomeID != "" {
			ds.Entry = append(ds.Entry, outcomeRef)
		}
		comp.Section = append(comp.Section, ds.docSection)
		for _, de := range byType[sec.typ] {
			if err := addEntry(de); err != nil {
				return nil, err
			}
		}
	}
	if about := aboutSection(asked, patient, res.Issues); about != nil {
		if outcomeID != "" {
			about.Entry = []docReference{outcomeRef}
		}
		comp.Section = append(comp.Section, *about)
	}

	compBody, err := marshal(comp)
	if err != nil {
		return nil, err
	}
	devBody, err := marshal(device{ResourceType: "Device", ID: deviceID,
		DeviceName: []deviceName{{Name: "Care records FHIR facade", Type: "user-friendly-name"}},
		Type:       &codeableConcept{Text: "FHIR facade over England's national care record services: it compiled this summary from their answers"}})
	if err != nil {
		return nil, err
	}
	b := bundle{
		ResourceType: "Bundle",
		ID:           docID,
		Meta:         bundleMeta{LastUpdated: now},
		Identifier:   &bundleIdentifier{System: "urn:ietf:rfc:3986", Value: "urn:uuid:" + docID},
		Type:         "document",
		Timestamp:    now,
		Link:         []bundleLink{{Relation: "self", URL: self}},
	}
	b.Entry = append([]bundleEntry{{FullURL: "urn:uuid:" + compID, Resource: compBody}}, entries...)
	b.Entry = append(b.Entry, bundleEntry{FullURL: "urn:uuid:" + deviceID, Resource: devBody})
	if outcomeID != "" {
		b.Entry = append(b.Entry, bundleEntry{FullURL: "urn:uuid:" + outcomeID, Resource: outcomeBody})
	}
	body, err := b.encode()
	if err != nil {
		return nil, err
	}
	return &reply{body: body}, nil
}

func knownSection(typ string) bool {
	for _, s := range summarySections {
		if s.typ == typ {
			return true
		}
	}
	return false
}

// builtSection is a section and whether its list is known to be partial.
type builtSection struct {
	docSection
	partial bool
}

// buildSection writes one section from its records and what its sources
// answered. The order of the checks is the safety case: a list is "nil
// known" only when every source of it answered, in full, with nothing.
func buildSection(sec summarySection, recs []docEntry, parts []resources.SourcePart) builtSection {
	ds := builtSection{docSection: docSection{Title: sec.title}}
	if sec.code != "" {
		ds.Code = &codeableConcept{Coding: []coding{{System: "http://loinc.org", Code: sec.code, Display: sec.display}}}
	}
	What := strings.ToUpper(sec.what[:1]) + sec.what[1:]
	var failed, gaps, withheld, notes []string
	asked := false
	for _, p := range parts {
		if p.Withheld {
			withheld = append(withheld, What+" are not included: your role or scopes do not allow them.")
			continue
		}
		asked = true
		if p.Err != nil {
			failed = append(failed, What+" could not be retrieved from "+sec.from+": "+fhirerr.UserMessage(p.Err)+".")
		}
		for _, is := range p.Issues {
			switch {
			case is.Severity == "information":
				notes = append(notes, is.Diagnostics)
			case is.Code == "suppressed":
				withheld = append(withheld, is.Diagnostics)
			default:
				gaps = append(gaps, is.Diagnostics)
			}
		}
	}
	var lines []string
	reason := ""
	switch {
	case len(recs) > 0:
		if len(failed)+len(gaps)+len(withheld) > 0 {
			ds.partial = true
			if len(failed)+len(gaps) > 0 {
				lines = append(lines, "This list may be incomplete: some "+sec.what+" could not be retrieved from "+sec.from+".")
			} else {
				lines = append(lines, "This list may be incomplete: some "+sec.what+" are withheld.")
			}
			lines = append(lines, failed...)
			lines = append(lines, gaps...)
			lines = append(lines, withheld...)
		}
	case len(failed) > 0 || len(gaps) > 0:
		reason = "unavailable"
		lines = append(lines, failed...)
		if len(failed) == 0 {
			lines = append(lines, What+" could not be retrieved completely from "+sec.from+".")
		}
		lines = append(lines, gaps...)
		lines = append(lines, withheld...)
		lines = append(lines, "The patient may have "+sec.what+" that are not shown here.")
	case len(withheld) > 0:
		reason = "withheld"
		lines = append(lines, withheld...)
		lines = append(lines, "This is not a statement that the patient has no "+sec.what+".")
	case !asked:
		reason = "notasked"
		lines = append(lines, What+" were not asked for: this service has no source of them configured. This is not a statement that the patient has none.")
	default:
		reason = "nilknown"
		lines = append(lines, "No "+sec.what+" are recorded in "+sec.from+". This says what that service holds, not that the patient has none.")
	}
	lines = append(lines, notes...)
	if reason != "" {
		ds.EmptyReason = &codeableConcept{Coding: []coding{{System: emptyReasonSystem, Code: reason, Display: emptyReasonDisplay[reason]}}}
	}
	var items []string
	for _, de := range recs {
		ds.Entry = append(ds.Entry, docReference{Reference: de.res.Type + "/" + de.res.ID})
		items = append(items, entryLine(de.res.Type, de.body))
	}
	ds.Text = narrative{Status: "generated", Div: xhtmlDiv(lines, items)}
	return ds
}

// aboutSection says what the document as a whole leaves out or stands
// for: a superseded number, sources that did not answer, information from
// the services. nil when there is nothing to say.
func aboutSection(asked string, patient *docEntry, issues []resources.Issue) *docSection {
	var lines []string
	if patient != nil && patient.res.ID != asked {
		lines = append(lines, "NHS number "+asked+" has been superseded by "+patient.res.ID+
			" (the records were merged): this summary holds the records of "+patient.res.ID+".")
	}
	if patient == nil {
		lines = append(lines, "Demographics could not be retrieved from the Personal Demographics Service (PDS): this summary names the patient by NHS number "+asked+" only.")
	}
	for _, is := range issues {
		if is.Diagnostics != "" {
			lines = append(lines, is.Diagnostics)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return &docSection{Title: "About this summary", Code: &codeableConcept{Text: "Completeness of this summary"},
		Text: narrative{Status: "generated", Div: xhtmlDiv(lines, nil)}}
}

// xhtmlDiv is a section's narrative: paragraphs, then a list.
func xhtmlDiv(paras, items []string) string {
	var b strings.Builder
	b.WriteString(`<div xmlns="http://www.w3.org/1999/xhtml">`)
	for _, p := range paras {
		if p != "" {
			p = strings.ToUpper(p[:1]) + p[1:] // a diagnostics, as a sentence
		}
		b.WriteString("<p>" + html.EscapeString(p) + "</p>")
	}
	if len(items) > 0 {
		b.WriteString("<ul>")
		for _, it := range items {
			b.WriteString("<li>" + html.EscapeString(it) + "</li>")
		}
		b.WriteString("</ul>")
	}
	b.WriteString("</div>")
	return b.String()
}

// entryFields are what a narrative line says of a record.
type entryFields struct {
	ID                        string          `json:"id"`
	Code                      *textConcept    `json:"code"`
	MedicationCodeableConcept *textConcept    `json:"medicationCodeableConcept"`
	VaccineCode               *textConcept    `json:"vaccineCode"`
	Type                      *textConcept    `json:"type"`
	Description               string          `json:"description"`
	Category                  json.RawMessage `json:"category"`
	Status                    string          `json:"status"`
	ClinicalStatus            *textConcept    `json:"clinicalStatus"`
	StatusReason              json.RawMessage `json:"statusReason"`
	Dosage                    []struct {
		Text string `json:"text"`
	} `json:"dosage"`
	RecordedDate      string `json:"recordedDate"`
	OnsetDateTime     string `json:"onsetDateTime"`
	EffectiveDateTime string `json:"effectiveDateTime"`
	EffectivePeriod   *struct {
		Start string `json:"start"`
	} `json:"effectivePeriod"`
	DateAsserted       string `json:"dateAsserted"`
	OccurrenceDateTime string `json:"occurrenceDateTime"`
	Date               string `json:"date"`
	Period             *struct {
		Start string `json:"start"`
	} `json:"period"`
	Name []struct {
		Text   string   `json:"text"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	Relationship []textConcept `json:"relationship"`
}

type textConcept struct {
	Text   string `json:"text"`
	Coding []struct {
		Code    string `json:"code"`
		Display string `json:"display"`
	} `json:"coding"`
}

func (c *textConcept) String() string {
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

// entryLine is one record in a clinician's words: what, its status, when.
// A vaccination recorded as not given says so first.
func entryLine(typ string, body []byte) string {
	var f entryFields
	if json.Unmarshal(body, &f) != nil {
		return typ
	}
	var parts []string
	add := func(ss ...string) {
		for _, s := range ss {
			if s = strings.TrimSpace(s); s != "" {
				parts = append(parts, s)
				return
			}
		}
	}
	switch typ {
	case "AllergyIntolerance":
		add(f.Code.String(), "Allergy (not described)")
		add(f.ClinicalStatus.String())
		if d := firstNonEmpty(f.RecordedDate, f.OnsetDateTime); d != "" {
			add("recorded " + d)
		}
	case "MedicationStatement":
		add(f.MedicationCodeableConcept.String(), "Medication (not described)")
		for _, d := range f.Dosage {
			add(d.Text)
		}
		add(f.Status)
		start := ""
		if f.EffectivePeriod != nil {
			start = f.EffectivePeriod.Start
		}
		add(firstNonEmpty(f.EffectiveDateTime, start, f.DateAsserted))
	case "Immunization":
		if f.Status == "not-done" {
			var reason textConcept
			_ = json.Unmarshal(f.StatusReason, &reason)
			line := "NOT GIVEN"
			if r := reason.String(); r != "" {
				line += " (" + r + ")"
			}
			add(line)
		}
		add(f.VaccineCode.String(), "Vaccine (not described)")
		add(f.OccurrenceDateTime)
		if f.Status == "entered-in-error" {
			add("entered in error")
		}
	case "Flag":
		add(f.Code.String(), "Alert (not described)")
		var cats []textConcept
		_ = json.Unmarshal(f.Category, &cats)
		for _, c := range cats {
			add(c.String())
		}
		if f.Period != nil && f.Period.Start != "" {
			add("since " + f.Period.Start)
		}
		add(f.Status)
	case "DocumentReference":
		add(f.Description, f.Type.String(), "Document")
		add(f.Date)
	case "RelatedPerson":
		name := ""
		if len(f.Name) > 0 {
			n := f.Name[0]
			name = firstNonEmpty(n.Text, strings.TrimSpace(strings.Join(n.Given, " ")+" "+n.Family))
		}
		add(name, "Related person (name not recorded)")
		for _, r := range f.Relationship {
			add(r.String())
		}
	default:
		add(f.Code.String(), typ+"/"+f.ID)
		add(f.Status)
	}
	return strings.Join(parts, " — ")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
