package nrl

import (
	"bytes"
	"crypto/sha1"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// Pointers with a documented sandbox behaviour (see the package doc).
const (
	// EdgeCaseNHSNumber is a synthetic patient (no one's in the population,
	// no sandbox number) whose pointers exercise what the public sandbox
	// never shows: paging (more than one page of pointers) and retrieval
	// failures, with LargeDocumentPointerID, HolderDownPointerID and
	// MissingDocumentPointerID among them.
	EdgeCaseNHSNumber = "9990000042"
	// LargeDocumentPointerID points at a scanned record of LargeDocumentSize bytes.
	LargeDocumentPointerID = "Y05868-3000000011"
	// HolderDownPointerID points at a document whose holder cannot be
	// reached: the proxy answers 502.
	HolderDownPointerID = "Y05868-3000000028"
	// MissingDocumentPointerID points at a document its holder no longer
	// has: 404.
	MissingDocumentPointerID = "Y05868-3000000035"
	// LargeDocumentSize is the size of the large document, about 5 MB.
	LargeDocumentSize = 5 << 20
)

// Code systems and identifiers of NRL pointers.
const (
	snomed          = "http://snomed.info/sct"
	nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"
	odsSystem       = "https://fhir.nhs.uk/Id/ods-organization-code"
	asidSystem      = "https://fhir.nhs.uk/Id/nhsSpineASID"
	formatSystem    = "https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode"
	stabilityURL    = "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-ContentStability"
	stabilitySystem = "https://fhir.nhs.uk/England/CodeSystem/England-NRLContentStability"
	confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
)

type concept struct{ system, code, display string }

func (c concept) token() string { return c.system + "|" + c.code }

func (c concept) codeable() *fhirwire.CodeableConcept {
	return &fhirwire.CodeableConcept{Coding: []fhirwire.Coding{{System: c.system, Code: c.code, Display: c.display}}}
}

// The NRLF record types (fixtures/nrl/valuesets/NRLF-RecordType-ValueSet.json).
var (
	typeMentalHealthCrisisPlan = concept{snomed, "736253002", "Mental health crisis plan"}
	typeEmergencyHealthCare    = concept{snomed, "887701000000100", "Emergency health care plan"}
	typeEndOfLifeSummary       = concept{snomed, "861421000000109", "End of life care coordination summary"}
	typeRespect                = concept{snomed, "1382601000000107", "ReSPECT (Recommended Summary Plan for Emergency Care and Treatment) form"}
	typeNEWS2                  = concept{snomed, "1363501000000100", "Royal College of Physicians NEWS2 (National Early Warning Score 2) chart"}
	typeContingencyPlan        = concept{snomed, "325691000000100", "Contingency plan"}
	typeEndOfLifeCarePlan      = concept{snomed, "736373009", "End of life care plan"}
	typeLloydGeorge            = concept{snomed, "16521000000101", "Lloyd George record folder"}
	typeAdvancedCarePlan       = concept{snomed, "736366004", "Advanced care plan"}
	typeTreatmentEscalation    = concept{snomed, "735324008", "Treatment escalation plan"}
	typeSummaryRecord          = concept{snomed, "824321000000109", "Summary record"}
	typePersonalisedCare       = concept{snomed, "2181441000000107", "Personalised Care and Support Plan"}
	typeMRAUpperLimb           = concept{"https://nicip.nhs.uk", "MAULR", "MRA Upper Limb Rt"}
	typeMRIAxilla              = concept{"https://nicip.nhs.uk", "MAXIB", "MRI Axilla Both"}
)

// AllTypes are the pointer types NRL knows, as system|code tokens.
var AllTypes = func() []string {
	var out []string
	for _, c := range []concept{typeMentalHealthCrisisPlan, typeEmergencyHealthCare, typeEndOfLifeSummary, typeRespect,
		typeNEWS2, typeContingencyPlan, typeEndOfLifeCarePlan, typeLloydGeorge, typeAdvancedCarePlan,
		typeTreatmentEscalation, typeSummaryRecord, typePersonalisedCare, typeMRAUpperLimb, typeMRIAxilla} {
		out = append(out, c.token())
	}
	return out
}()

// The NRLF record categories.
var (
	categoryCarePlan     = concept{snomed, "734163000", "Care plan"}
	categoryObservations = concept{snomed, "1102421000000108", "Observations"}
	categoryClinicalNote = concept{snomed, "823651000000106", "Clinical note"}
)

// NRL retrieval formats.
var (
	formatUnstructured = concept{formatSystem, "urn:nhs-ic:unstructured", "Unstructured Document"}
	formatStructured   = concept{formatSystem, "urn:nhs-ic:structured", "Structured Document"}
)

// behaviour is what the holder of a document does when asked for it.
type behaviour int

const (
	served     behaviour = iota
	holderDown           // the proxy cannot reach the holder: 502
	missing              // the holder no longer has it: 404
)

// document is one document a pointer points at, kept by its holder.
type document struct {
	providerURL string // the holder's URL, e.g. https://docs.y05868.example.nhs.uk/mhcp/1.pdf
	holderASID  string // the holder's Spine ASID, "" when the pointer names none
	contentType string
	title       string
	format      concept
	stability   string // static | dynamic
	creation    string
	behaviour   behaviour
	gen         func() []byte // the content, deterministic
	keep        bool          // hold the bytes once built (the few reserved documents)

	once sync.Once
	kept []byte
	size int64
	hash string // base64 SHA-1, as NRL's attachment.hash
}

// content returns the document's bytes, with its size and hash.
func (d *document) content() []byte {
	var b []byte
	d.once.Do(func() {
		b = d.gen()
		sum := sha1.Sum(b)
		d.size, d.hash = int64(len(b)), base64.StdEncoding.EncodeToString(sum[:])
		if d.keep {
			d.kept = b
		}
	})
	if b != nil {
		return b
	}
	if d.kept != nil {
		return d.kept
	}
	return d.gen()
}

// pointer is one NRL document pointer.
type pointer struct {
	id        string
	nhs       string
	typ       concept
	category  concept
	custodian string // ODS code
	date      string // instant
	desc      string
	setting   *concept
	asid      string
	docs      []*document
	seeded    []byte // a pointer of the sandbox's seed data, served as is but for its URLs

	once sync.Once
	raw  []byte // rendered JSON, attachment URLs under placeholderOrigin
	err  error
}

// placeholderOrigin stands for the simulator's own origin in rendered
// pointers; responses replace it with the real one.
const placeholderOrigin = "http://nrl-sandbox.invalid"

// sspURL is the attachment.url the simulator issues for a holder's URL: its
// own document host, with the holder URL encoded as NRL's SSP URLs carry it.
func sspURL(origin, providerURL string) string {
	return origin + SSPPath + "/" + url.QueryEscape(providerURL)
}

// json renders p (once).
func (p *pointer) json() ([]byte, error) {
	p.once.Do(func() {
		if p.seeded != nil {
			p.raw, p.err = p.seededJSON()
			return
		}
		p.raw, p.err = json.Marshal(p.resource())
	})
	return p.raw, p.err
}

// seededJSON is a seeded pointer as the sandbox stores it, each
// attachment.url pointing at the simulated holder instead of the real
// Spine Secure Proxy (which the simulator cannot reach); size and hash stay
// the seed's.
func (p *pointer) seededJSON() ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(p.seeded))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	content, _ := doc["content"].([]any)
	for i, c := range content {
		a, _ := c.(map[string]any)["attachment"].(map[string]any)
		if a != nil && i < len(p.docs) {
			a["url"] = sspURL(placeholderOrigin, p.docs[i].providerURL)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (p *pointer) resource() *DocumentReference {
	r := DocumentReference{
		ID:        p.id,
		Status:    "current",
		DocStatus: "final",
		Type:      p.typ.codeable(),
		Category:  []fhirwire.CodeableConcept{*p.category.codeable()},
		Subject:   &fhirwire.Reference{Identifier: &fhirwire.Identifier{System: nhsNumberSystem, Value: p.nhs}},
		Date:      p.date,
		Author:    []fhirwire.Reference{{Identifier: &fhirwire.Identifier{System: odsSystem, Value: p.custodian}}},
		Custodian: &fhirwire.Reference{Identifier: &fhirwire.Identifier{System: odsSystem, Value: p.custodian}},
		MasterIdentifier: &fhirwire.Identifier{System: "urn:ietf:rfc:3986",
			Value: "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.48." + strings.ReplaceAll(p.id, "-", ".")},
		Description: p.desc,
		SecurityLabel: []fhirwire.CodeableConcept{{Coding: []fhirwire.Coding{
			{System: confidentiality, Code: "V", Display: "very restricted"}}}},
		Context: &Context{},
	}
	if p.setting != nil {
		r.Context.PracticeSetting = p.setting.codeable()
	}
	if p.asid != "" {
		r.Context.Related = []fhirwire.Reference{{Identifier: &fhirwire.Identifier{System: asidSystem, Value: p.asid}}}
	}
	r.Content = nil
	for _, d := range p.docs {
		d.content() // size and hash
		size := d.size
		a := &fhirwire.Attachment{
			ContentType: d.contentType, Language: "en-GB", URL: sspURL(placeholderOrigin, d.providerURL),
			Size: &size, Hash: d.hash, Title: d.title, Creation: d.creation,
		}
		fmtc := fhirwire.Coding{System: d.format.system, Code: d.format.code, Display: d.format.display}
		r.Content = append(r.Content, Content{
			Attachment: a, Format: &fmtc,
			Extension: []fhirwire.Extension{{URL: stabilityURL, ValueCodeableConcept: &fhirwire.CodeableConcept{
				Coding: []fhirwire.Coding{{System: stabilitySystem, Code: d.stability, Display: d.stability}}}}},
		})
	}
	return &r
}

// store holds every pointer and document of a population.
type store struct {
	byID  map[string]*pointer
	byNHS map[string][]*pointer // newest first
	docs  map[string]*document  // by holder URL
}

var (
	storeMu    sync.Mutex
	storeCache = map[storeKey]*store{}
)

type storeKey struct {
	first *population.Person
	n     int
}

// storeFor builds (or reuses, for the large default population) the store
// of pop.
func storeFor(pop []population.Person) (*store, error) {
	k := storeKey{n: len(pop)}
	if len(pop) > 0 {
		k.first = &pop[0]
	}
	storeMu.Lock()
	defer storeMu.Unlock()
	if s, ok := storeCache[k]; ok {
		return s, nil
	}
	s, err := buildStore(pop)
	if err != nil {
		return nil, err
	}
	if len(pop) >= 1000 {
		storeCache[k] = s
	}
	return s, nil
}

// seedData is the public sandbox's seed data (NRLF's
// cron/seed_sandbox/data/document-pointer.json): its eleven pointers.
//
//go:embed fixtures/document-pointer.json
var seedData []byte

func buildStore(pop []population.Person) (*store, error) {
	s := &store{byID: map[string]*pointer{}, byNHS: map[string][]*pointer{}, docs: map[string]*document{}}
	for _, p := range reservedPointers() {
		s.add(p)
	}
	examples, err := seededPointers()
	if err != nil {
		return nil, err
	}
	for _, p := range examples {
		s.add(p)
	}
	for i := range pop {
		for _, p := range populationPointers(&pop[i]) {
			if _, dup := s.byID[p.id]; dup {
				continue
			}
			s.add(p)
		}
	}
	for _, ps := range s.byNHS {
		sort.SliceStable(ps, func(i, j int) bool {
			ti, tj := instant(ps[i].date), instant(ps[j].date)
			if !ti.Equal(tj) {
				return ti.After(tj)
			}
			return ps[i].id < ps[j].id
		})
	}
	return s, nil
}

// instant parses a pointer date (RFC 3339); the zero time sorts last.
func instant(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func (s *store) add(p *pointer) {
	s.byID[p.id] = p
	s.byNHS[p.nhs] = append(s.byNHS[p.nhs], p)
	for _, d := range p.docs {
		s.docs[d.providerURL] = d
	}
}

// holderURL is the synthetic address of a document at organisation ods.
func holderURL(ods, kind, local, ext string) string {
	return "https://docs." + strings.ToLower(ods) + ".example.nhs.uk/" + kind + "/" + local + "." + ext
}

// asidOf is a synthetic, stable 12-digit Spine ASID for an organisation.
func asidOf(ods string) string {
	h := fnv.New64a()
	h.Write([]byte(ods))
	return fmt.Sprintf("2%011d", h.Sum64()%100_000_000_000)
}

func pdfDoc(ods, kind, local string, p *pointer, title, created string, pad int) *document {
	return &document{
		providerURL: holderURL(ods, kind, local, "pdf"), holderASID: p.asid,
		contentType: "application/pdf", title: title, format: formatUnstructured, stability: "static",
		creation: created,
		gen: func() []byte {
			return pdfDocument(title, []string{
				"SYNTHETIC TEST DOCUMENT - not a real patient record",
				p.typ.display,
				"NHS number: " + p.nhs,
				"Held by: " + ods,
				"Pointer: " + p.id,
				"Created: " + created,
			}, pad, seedOf(p.id))
		},
	}
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// reservedPointers are the hand-made pointers of 9000000009 (three care
// plans of different types, all retrievable; the end of life summary in
// FHIR and PDF form) and of EdgeCaseNHSNumber.
func reservedPointers() []*pointer {
	mh := &concept{snomed, "788002001", "Adult mental health service"}
	pal := &concept{snomed, "394806003", "Palliative medicine"}
	geri := &concept{snomed, "394811001", "Geriatric medicine"}
	var out []*pointer

	crisis := &pointer{id: "Y05868-1000000091", nhs: "9000000009", typ: typeMentalHealthCrisisPlan, category: categoryCarePlan,
		custodian: "Y05868", date: "2024-03-20T09:15:00.000Z", desc: "Mental health crisis plan", setting: mh, asid: asidOf("Y05868")}
	crisis.docs = []*document{pdfDoc("Y05868", "mhcp", "1000000091", crisis, "Mental health crisis plan", "2024-03-20T09:15:00+00:00", 0)}

	eol := &pointer{id: "Y07213-1000000107", nhs: "9000000009", typ: typeEndOfLifeSummary, category: categoryCarePlan,
		custodian: "Y07213", date: "2025-02-11T14:30:00.000Z", desc: "End of life care coordination summary", setting: pal, asid: asidOf("Y07213")}
	eolFHIR := &document{
		providerURL: holderURL("Y07213", "eolc", "1000000107", "json"), holderASID: eol.asid,
		contentType: "application/fhir+json", title: "End of life care coordination summary", format: formatStructured,
		stability: "dynamic", creation: "2025-02-11T14:30:00+00:00",
		gen: func() []byte {
			return fhirDocument(eol, "End of life care coordination summary",
				"Preferred place of care: home. Anticipatory medicines prescribed. Do not attempt CPR decision recorded.")
		},
	}
	eol.docs = []*document{eolFHIR, pdfDoc("Y07213", "eolc", "1000000107", eol, "End of life care coordination summary (PDF)", "2025-02-11T14:30:00+00:00", 0)}

	respect := &pointer{id: "Y04531-1000000114", nhs: "9000000009", typ: typeRespect, category: categoryCarePlan,
		custodian: "Y04531", date: "2023-11-02T11:00:00.000Z", desc: "ReSPECT form", setting: geri, asid: asidOf("Y04531")}
	respect.docs = []*document{pdfDoc("Y04531", "respect", "1000000114", respect, "ReSPECT form", "2023-11-02T11:00:00+00:00", 0)}
	out = append(out, crisis, eol, respect)

	// EdgeCaseNHSNumber: a large scanned record, a holder that is down, a
	// document that is gone, and enough others for two pages.
	edge := func(id string, typ, cat concept, date string) *pointer {
		return &pointer{id: id, nhs: EdgeCaseNHSNumber, typ: typ, category: cat, custodian: "Y05868", date: date,
			desc: typ.display, asid: asidOf("Y05868")}
	}
	large := edge(LargeDocumentPointerID, typeLloydGeorge, categoryClinicalNote, "2025-05-01T08:00:00.000Z")
	large.docs = []*document{pdfDoc("Y05868", "lg", "3000000011", large, "Lloyd George record folder (scanned)", "2025-05-01T08:00:00+00:00", LargeDocumentSize)}
	large.docs[0].keep = true
	down := edge(HolderDownPointerID, typeTreatmentEscalation, categoryCarePlan, "2025-04-01T08:00:00.000Z")
	down.docs = []*document{pdfDoc("Y05868", "tep", "3000000028", down, "Treatment escalation plan", "2025-04-01T08:00:00+00:00", 0)}
	down.docs[0].providerURL = "https://unreachable.y05868.example.nhs.uk/tep/3000000028.pdf"
	down.docs[0].behaviour = holderDown
	gone := edge(MissingDocumentPointerID, typeAdvancedCarePlan, categoryCarePlan, "2025-03-01T08:00:00.000Z")
	gone.docs = []*document{pdfDoc("Y05868", "acp", "3000000035", gone, "Advanced care plan", "2025-03-01T08:00:00+00:00", 0)}
	gone.docs[0].behaviour = missing
	out = append(out, large, down, gone)
	fillers := []concept{typeNEWS2, typeContingencyPlan, typePersonalisedCare, typeSummaryRecord}
	for i := 0; i < 21; i++ {
		typ := fillers[i%len(fillers)]
		cat := categoryCarePlan
		if typ == typeNEWS2 {
			cat = categoryObservations
		}
		local := fmt.Sprintf("31%08d", i)
		p := edge("Y05868-"+local, typ, cat, fmt.Sprintf("2024-%02d-%02dT10:00:00.000Z", 1+i%12, 1+i))
		p.docs = []*document{pdfDoc("Y05868", "misc", local, p, typ.display, p.date[:19]+"+00:00", 0)}
		out = append(out, p)
	}
	return out
}

// seededPointers are the public sandbox's pointers: the documents of its
// seed data (4409815415 has four, 3495456481 five, 2742179658 and
// 9820246733 one each), served as the sandbox stores them but for their
// attachment URLs, whose documents the simulated holder serves.
func seededPointers() ([]*pointer, error) {
	var items []struct {
		ID       string `json:"id"`
		NHS      string `json:"nhs_number"`
		Type     string `json:"type"`
		Document string `json:"document"`
	}
	if err := json.Unmarshal(seedData, &items); err != nil {
		return nil, fmt.Errorf("nrl seed data: %w", err)
	}
	var out []*pointer
	for _, it := range items {
		var d DocumentReference
		if err := json.Unmarshal([]byte(it.Document), &d); err != nil {
			return nil, fmt.Errorf("nrl seed pointer %s: %w", it.ID, err)
		}
		system, code, _ := strings.Cut(it.Type, "|")
		p := &pointer{id: it.ID, nhs: it.NHS, date: d.Date, seeded: []byte(it.Document), custodian: d.Custodian.Identifier.Value,
			typ: concept{system, code, ""}}
		if d.Type != nil && len(d.Type.Coding) > 0 {
			p.typ.display = d.Type.Coding[0].Display
		}
		for _, c := range d.Content {
			// The seed's URLs append the holder's path to the proxy's
			// ("https://spine-proxy…/p1.nhs.uk/EPAACS/x.pdf").
			u, err := url.Parse(c.Attachment.URL)
			if err != nil {
				return nil, err
			}
			providerURL := "https:/" + u.Path
			doc := &document{providerURL: providerURL, contentType: c.Attachment.ContentType, title: c.Attachment.Title,
				format: formatUnstructured, stability: "static", creation: c.Attachment.Creation}
			pp := p
			doc.gen = func() []byte {
				return pdfDocument(path.Base(providerURL), []string{
					"SYNTHETIC TEST DOCUMENT - not a real patient record",
					pp.typ.display, "NHS number: " + pp.nhs, "Pointer: " + pp.id,
				}, 0, seedOf(pp.id))
			}
			p.docs = append(p.docs, doc)
		}
		out = append(out, p)
	}
	return out, nil
}

// populationPointers are the pointers of one synthetic person: about one in
// ten has one to three, of types that suit their age, held by a few
// synthetic organisations. Deterministic in the NHS number.
func populationPointers(person *population.Person) []*pointer {
	h := seedOf("nrl/" + person.NHSNumber)
	if h%10 != 0 {
		return nil
	}
	n := 1 + int(h/10%3)
	ref := population.Reference
	birth, err := time.Parse(time.DateOnly, person.BirthDate)
	if err != nil {
		return nil
	}
	age := int(ref.Sub(birth).Hours() / 24 / 365.25)
	var types []concept
	switch {
	case age >= 75:
		types = []concept{typeRespect, typeEndOfLifeCarePlan, typeAdvancedCarePlan, typeTreatmentEscalation}
	case age >= 18:
		types = []concept{typeMentalHealthCrisisPlan, typeContingencyPlan, typePersonalisedCare, typeRespect}
	default:
		types = []concept{typeEmergencyHealthCare, typePersonalisedCare, typeMentalHealthCrisisPlan}
	}
	holders := []string{"Y05868", "Y07213", "Y04531", "Y06421", "Y03917"}
	var out []*pointer
	for i := 0; i < n; i++ {
		hi := seedOf(fmt.Sprintf("nrl/%s/%d", person.NHSNumber, i))
		ods := holders[hi%uint64(len(holders))]
		typ := types[(hi/7)%uint64(len(types))]
		local := fmt.Sprintf("%010d", hi%10_000_000_000)
		days := int(hi / 1000 % 2000)
		when := ref.AddDate(0, 0, -days).Add(time.Duration(8+hi%9) * time.Hour)
		if when.Before(birth) {
			when = birth.Add(24 * time.Hour)
		}
		date := when.UTC().Format("2006-01-02T15:04:05.000Z")
		p := &pointer{id: ods + "-" + local, nhs: person.NHSNumber, typ: typ, category: categoryCarePlan,
			custodian: ods, date: date, desc: typ.display, asid: asidOf(ods)}
		p.docs = []*document{pdfDoc(ods, "plans", local, p, typ.display, when.UTC().Format("2006-01-02T15:04:05+00:00"), 0)}
		out = append(out, p)
	}
	return out
}

// withOrigin returns raw with the placeholder origin replaced by origin.
func withOrigin(raw []byte, origin string) []byte {
	if origin == placeholderOrigin {
		return raw
	}
	return bytes.ReplaceAll(raw, []byte(placeholderOrigin+SSPPath+"/"), []byte(origin+SSPPath+"/"))
}
