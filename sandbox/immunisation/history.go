package immunisation

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/population"
)

// The public sandbox's answers for 9000000009, one per data store, as its
// Express app sends them (re-indented; see testdata/real-sandbox/SOURCES.md).
// They are served compacted, which is the sandbox's own JSON.stringify.
var (
	//go:embed testdata/real-sandbox/covid-target.v1.9000000009.200.derived.json
	sandboxCOVID19 []byte
	//go:embed testdata/real-sandbox/flu-target.v1.9000000009.200.derived.json
	sandboxFLU []byte
	//go:embed testdata/real-sandbox/hpv-target.v1.9000000009.200.derived.json
	sandboxHPV []byte
)

// Event is one vaccination in a patient's history.
type Event struct {
	// Target is the data store holding it: COVID19, FLU or HPV.
	Target string
	// ID is the record's id in the API's answer ("" when it has none, as
	// the public sandbox's records).
	ID string
	// Date is the day of vaccination, YYYY-MM-DD.
	Date string
	// Status is the record's status: completed or not-done.
	Status string
	// Patient is the NHS number the record's patient.identifier names.
	Patient string
	// DoseNumber is protocolApplied[0].doseNumberPositiveInt.
	DoseNumber int
	// VaccineCode is the dm+d product code (vaccineCode).
	VaccineCode string
	// Procedure is the SNOMED CT vaccination procedure code.
	Procedure string
}

// Description says what the simulator holds for one NHS number.
type Description struct {
	NHSNumber string
	// Known is false for NHS numbers the simulator has no record of, which
	// get the empty Bundle.
	Known bool
	// Events are the vaccinations held, oldest first within each data
	// store (9000000009's in the public sandbox's order: COVID19, FLU,
	// HPV).
	Events []Event
}

// Describe returns what the simulator serves for nhs (see the package
// documentation for the rule).
func (s *Simulator) Describe(nhs string) Description {
	switch nhs {
	case SandboxNHSNumber:
		d := Description{NHSNumber: nhs, Known: true}
		for _, target := range []string{COVID19, FLU, HPV} {
			for _, r := range sandboxHistories()[target].records {
				d.Events = append(d.Events, r.event)
			}
		}
		return d
	case EmptyNHSNumber:
		return Description{NHSNumber: nhs, Known: true}
	}
	if !s.known(nhs) {
		return Description{NHSNumber: nhs}
	}
	h := s.history(s.people[nhs])
	d := Description{NHSNumber: nhs, Known: true}
	for _, r := range h.records {
		d.Events = append(d.Events, r.event)
	}
	return d
}

// known reports whether the simulator has a record for nhs: the public
// sandbox's two numbers and every person of the population. Cheap: it
// builds no history.
func (s *Simulator) known(nhs string) bool {
	return nhs == SandboxNHSNumber || nhs == EmptyNHSNumber || s.people[nhs] != nil
}

func hashOf(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("imms/" + s))
	return h.Sum64()
}

// record is one generated vaccination: its facts, its time and its JSON
// entry.
type record struct {
	event Event
	at    time.Time
	entry entryJSON
}

// historyOf is one generated history.
type historyOf struct {
	person    *population.Person
	patientID string // fullUrl of the included Patient
	records   []record
}

// Windows of the national programmes (England), used to date the synthetic
// vaccinations, and the data stores' reach (BACKENDS.md §7: the COVID-19 store
// holds the last four years; FLU is planned to hold the last year).
var (
	refDate    = population.Reference
	covidFloor = refDate.AddDate(-4, 0, 0)
	fluFloor   = refDate.AddDate(-1, 0, 0)
)

func mustDate(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// firstDoseWindows are the COVID-19 first-dose cohorts by age on 2021-01-01
// (from, inclusive), as the programme opened them.
var firstDoseWindows = []struct {
	minAge   int
	from, to string
	uptake   float64
}{
	{80, "2020-12-08", "2021-01-31", 0.95},
	{70, "2021-01-05", "2021-02-15", 0.94},
	{65, "2021-02-01", "2021-03-01", 0.92},
	{50, "2021-03-01", "2021-04-15", 0.90},
	{40, "2021-04-13", "2021-05-31", 0.80},
	{30, "2021-05-13", "2021-06-30", 0.72},
	{18, "2021-06-08", "2021-07-31", 0.66},
	{16, "2021-08-04", "2021-09-30", 0.55},
	{11, "2021-09-20", "2021-11-30", 0.45},
}

// boosterCampaigns are the COVID-19 booster campaigns after the primary
// course: their window and the youngest age they offered a dose to.
var boosterCampaigns = []struct {
	from, to string
	minAge   int
	uptake   float64
}{
	{"2021-09-16", "2022-01-31", 18, 0.80},
	{"2022-03-21", "2022-06-30", 75, 0.80},
	{"2022-09-05", "2022-12-31", 50, 0.70},
	{"2023-04-03", "2023-06-30", 75, 0.70},
	{"2023-09-11", "2023-12-15", 65, 0.70},
	{"2024-04-15", "2024-06-30", 75, 0.65},
	{"2024-10-03", "2024-12-20", 65, 0.65},
	{"2025-04-01", "2025-06-17", 75, 0.60},
}

// history derives p's vaccinations from the hash of the NHS number: the
// COVID-19 primary course and boosters by age cohort, the 2024/25 flu
// vaccination (65 and over, and some younger adults), and the HPV doses of
// those in school Year 8 from 2019/20 on.
func (s *Simulator) history(p *population.Person) *historyOf {
	h := hashOf(p.NHSNumber)
	rng := rand.New(rand.NewPCG(h, 0x1_33_5))
	hist := &historyOf{person: p, patientID: "urn:uuid:" + uuidFrom(rng)}
	birth, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil {
		return hist
	}
	end := refDate
	if p.DeathDate != "" {
		if d, err := time.Parse(time.DateOnly, p.DeathDate); err == nil && d.Before(end) {
			end = d.AddDate(0, 0, -1)
		}
	}
	serial := 100000 + rng.IntN(900000)
	seq := map[string]int{}
	add := func(target string, day time.Time, dose int, proc procedure, prod product, reason bool, site performerSite) {
		if day.After(end) {
			return
		}
		if target == COVID19 && day.Before(covidFloor) || target == FLU && day.Before(fluFloor) {
			return // older than the data store holds
		}
		seq[target]++
		id := idPrefix[target] + "." + strconv.Itoa(serial) + "-" + strconv.Itoa(seq[target])
		entry, at := newEntry(rng, hist.patientID, p.NHSNumber, id, day, dose, proc, prod, reason, site)
		hist.records = append(hist.records, record{
			event: Event{Target: target, ID: id, Date: day.Format(time.DateOnly), Status: "completed", Patient: p.NHSNumber,
				DoseNumber: dose, VaccineCode: prod.code, Procedure: proc.code},
			at:    at,
			entry: entry,
		})
	}
	ageOn := func(d time.Time) int {
		a := d.Year() - birth.Year()
		if d.YearDay() < birth.YearDay() {
			a--
		}
		return a
	}

	// COVID-19.
	age2021 := ageOn(mustDate("2021-01-01"))
	doses := 0
	var last time.Time
	var primary product
	cohort := -1
	for i, w := range firstDoseWindows {
		if age2021 >= w.minAge {
			cohort = i
			break
		}
	}
	if cohort >= 0 && rng.Float64() < firstDoseWindows[cohort].uptake {
		w := firstDoseWindows[cohort]
		d1 := between(rng, mustDate(w.from), mustDate(w.to))
		switch {
		case age2021 < 18:
			primary = pfizer
		case d1.Before(mustDate("2021-05-01")) && rng.Float64() < 0.45:
			primary = astraZeneca
		case rng.Float64() < 0.7:
			primary = pfizer
		default:
			primary = moderna
		}
		doses = 1
		add(COVID19, d1, 1, covidDose1, primary, true, s.site(rng, p, false))
		last = d1
		if rng.Float64() < 0.93 {
			gap := 56 + rng.IntN(29)
			if age2021 < 18 {
				gap = 84 + rng.IntN(17)
			}
			d2 := last.AddDate(0, 0, gap)
			doses = 2
			add(COVID19, d2, 2, covidDose2, primary, true, s.site(rng, p, false))
			last = d2
		}
	}
	if doses == 2 {
		for _, c := range boosterCampaigns {
			from, to := mustDate(c.from), mustDate(c.to)
			if ageOn(from) < c.minAge || rng.Float64() >= c.uptake {
				continue
			}
			if earliest := last.AddDate(0, 0, 84); from.Before(earliest) {
				from = earliest
			}
			if from.After(to) {
				continue
			}
			d := between(rng, from, to)
			doses++
			add(COVID19, d, doses, covidBooster, boosterProduct(rng, d), true, s.site(rng, p, false))
			last = d
		}
	}

	// Flu, 2024/25 season.
	fluAge := ageOn(mustDate("2024-10-01"))
	if fluAge >= 65 && rng.Float64() < 0.78 || fluAge >= 18 && fluAge < 65 && rng.Float64() < 0.18 {
		d := between(rng, mustDate("2024-10-01"), mustDate("2025-01-31"))
		add(FLU, d, 1, fluSeasonal, quadrivalentFlu, false, s.site(rng, p, false))
	}

	// HPV, offered in school Year 8 (age 12 to 13): Year 8 starts in
	// September of the year the child turns 13, counting from 1 September.
	year8 := birth.Year() + 12
	if birth.Month() >= time.September {
		year8++
	}
	if year8 >= 2019 && year8 <= 2024 && rng.Float64() < 0.72 {
		d1 := between(rng, time.Date(year8, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(year8+1, 6, 30, 0, 0, 0, 0, time.UTC))
		add(HPV, d1, 1, hpvDose, hpvProduct(d1), false, s.site(rng, p, true))
		// Two doses until the single-dose schedule of September 2023.
		if year8 <= 2022 && rng.Float64() < 0.85 {
			d2 := d1.AddDate(0, 6+rng.IntN(7), rng.IntN(28))
			add(HPV, d2, 2, hpvDose, hpvProduct(d2), false, s.site(rng, p, true))
		}
	}
	return hist
}

func boosterProduct(rng *rand.Rand, d time.Time) product {
	pf := rng.Float64() < 0.6
	switch {
	case !d.Before(mustDate("2024-09-01")) && pf:
		return comirnatyJN1
	case !d.Before(mustDate("2024-09-01")):
		return spikevaxJN1
	case pf:
		return pfizer
	default:
		return modernaBooster
	}
}

func hpvProduct(d time.Time) product {
	if d.Before(mustDate("2022-09-01")) {
		return gardasil
	}
	return gardasil9
}

// between is a random day from from to to, inclusive.
func between(rng *rand.Rand, from, to time.Time) time.Time {
	days := int(to.Sub(from).Hours()/24) + 1
	if days < 1 {
		return from
	}
	return from.AddDate(0, 0, rng.IntN(days))
}

// performerSite is the organisation that vaccinated.
type performerSite struct{ ods, name string }

// site picks where a vaccination was given: the patient's GP practice, a
// community pharmacy or a vaccination centre; for school-age HPV doses, the
// school immunisation service.
func (s *Simulator) site(rng *rand.Rand, p *population.Person, school bool) performerSite {
	town := strings.ToUpper(p.Address.Town)
	if town == "" {
		town = "RIVERSIDE"
	}
	letter := func() byte { return byte('A' + rng.IntN(26)) }
	switch x := rng.Float64(); {
	case school:
		return performerSite{fmt.Sprintf("R%c%c%d", letter(), letter(), rng.IntN(10)), town + " SCHOOL AGED IMMUNISATION SERVICE"}
	case x < 0.45 && p.GPPractice != "":
		return performerSite{p.GPPractice, town + " PRIMARY CARE NETWORK"}
	case x < 0.8:
		return performerSite{fmt.Sprintf("F%c%c%02d", letter(), letter(), rng.IntN(100)), town + " " + pharmacyNames[rng.IntN(len(pharmacyNames))]}
	default:
		return performerSite{fmt.Sprintf("R%c%c%02d", letter(), letter(), rng.IntN(100)), town + " " + vaccinationCentreNames[rng.IntN(len(vaccinationCentreNames))]}
	}
}

func uuidFrom(rng *rand.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	b = b&^(0xf<<60) | 0x8<<60 // RFC 4122 variant
	a = a&^(0xf<<12) | 0x4<<12 // version 4
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// The API's JSON, in the order its example writes the members.
type (
	codingJSON struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	conceptJSON struct {
		Coding []codingJSON `json:"coding,omitempty"`
		Text   string       `json:"text,omitempty"`
	}
	identifierJSON struct {
		Use    string `json:"use,omitempty"`
		System string `json:"system"`
		Value  string `json:"value"`
	}
	referenceJSON struct {
		Reference  string          `json:"reference,omitempty"`
		Type       string          `json:"type,omitempty"`
		Identifier *identifierJSON `json:"identifier,omitempty"`
		Display    string          `json:"display,omitempty"`
	}
	extensionJSON struct {
		URL                  string      `json:"url"`
		ValueCodeableConcept conceptJSON `json:"valueCodeableConcept"`
	}
	quantityJSON struct {
		System string          `json:"system"`
		Value  json.RawMessage `json:"value"`
		Unit   string          `json:"unit"`
		Code   string          `json:"code"`
	}
	performerJSON struct {
		Actor referenceJSON `json:"actor"`
	}
	protocolJSON struct {
		DoseNumberPositiveInt int `json:"doseNumberPositiveInt"`
	}
	immunizationJSON struct {
		ID                 string           `json:"id"`
		ResourceType       string           `json:"resourceType"`
		Extension          []extensionJSON  `json:"extension"`
		Identifier         []identifierJSON `json:"identifier"`
		Status             string           `json:"status"`
		VaccineCode        conceptJSON      `json:"vaccineCode"`
		Patient            referenceJSON    `json:"patient"`
		OccurrenceDateTime string           `json:"occurrenceDateTime"`
		Recorded           string           `json:"recorded"`
		PrimarySource      bool             `json:"primarySource"`
		ReportOrigin       *conceptJSON     `json:"reportOrigin,omitempty"`
		Manufacturer       referenceJSON    `json:"manufacturer"`
		LotNumber          string           `json:"lotNumber"`
		ExpirationDate     string           `json:"expirationDate"`
		Site               conceptJSON      `json:"site"`
		Route              conceptJSON      `json:"route"`
		DoseQuantity       quantityJSON     `json:"doseQuantity"`
		Performer          []performerJSON  `json:"performer"`
		ReasonCode         []conceptJSON    `json:"reasonCode,omitempty"`
		ProtocolApplied    []protocolJSON   `json:"protocolApplied"`
		Location           referenceJSON    `json:"location"`
	}
	patientJSON struct {
		ID           string           `json:"id"`
		ResourceType string           `json:"resourceType"`
		Identifier   []identifierJSON `json:"identifier"`
		BirthDate    string           `json:"birthDate,omitempty"`
	}
	searchJSON struct {
		Mode string `json:"mode"`
	}
	entryJSON struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Search   searchJSON      `json:"search"`
	}
	bundleJSON struct {
		ResourceType string      `json:"resourceType"`
		Type         string      `json:"type"`
		Total        int         `json:"total"`
		Entry        []entryJSON `json:"entry"`
	}
)

func sct(c concept) conceptJSON {
	return conceptJSON{Coding: []codingJSON{{System: snomed, Code: c.code, Display: c.display}}}
}

// newEntry writes one vaccination as the API does.
// It returns the entry and the time of vaccination.
func newEntry(rng *rand.Rand, patientURL, nhs, id string, day time.Time, dose int, proc procedure, prod product, reason bool, site performerSite) (entryJSON, time.Time) {
	at := day.Add(time.Duration(8*3600+rng.IntN(10*3600))*time.Second + time.Duration(rng.IntN(1000))*time.Millisecond)
	im := immunizationJSON{
		ID:           id,
		ResourceType: "Immunization",
		Extension: []extensionJSON{{URL: "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure",
			ValueCodeableConcept: sct(concept(proc))}},
		Identifier:         []identifierJSON{{Use: "secondary", System: "https://supplierABC/identifiers/vacc", Value: uuidFrom(rng)}},
		Status:             "completed",
		VaccineCode:        sct(concept{prod.code, prod.display}),
		Patient:            referenceJSON{Reference: patientURL, Type: "Patient", Identifier: &identifierJSON{System: "https://fhir.nhs.uk/Id/nhs-number", Value: nhs}},
		OccurrenceDateTime: at.Format("2006-01-02T15:04:05.000Z"),
		Recorded:           day.AddDate(0, 0, rng.IntN(3)).Format("2006-01-02") + "T00:00:00.000Z",
		PrimarySource:      true,
		Manufacturer:       referenceJSON{Display: prod.manufacturer},
		LotNumber:          fmt.Sprintf("%s%04d", prod.lotPrefix, rng.IntN(10000)),
		ExpirationDate:     day.AddDate(0, 1+rng.IntN(6), 0).Format(time.DateOnly),
		Route:              sct(intramuscular),
		DoseQuantity:       quantityJSON{System: ucum, Value: json.RawMessage(prod.doseML), Unit: "ml", Code: "ml"},
		Performer: []performerJSON{{Actor: referenceJSON{Type: "Organization",
			Identifier: &identifierJSON{System: ods, Value: site.ods}, Display: site.name}}},
		ProtocolApplied: []protocolJSON{{DoseNumberPositiveInt: dose}},
		Location:        referenceJSON{Identifier: &identifierJSON{System: "urn:iso:std:iso:3166", Value: "GB"}},
	}
	im.Site = sct(leftUpperArm)
	if rng.IntN(4) == 0 {
		im.Site = sct(rightUpperArm)
	}
	if rng.Float64() < 0.04 {
		// Reported by someone other than the vaccinator (a record transferred
		// from another organisation).
		im.PrimarySource = false
		im.ReportOrigin = &conceptJSON{Text: site.ods + " - " + site.name}
	}
	if reason {
		im.ReasonCode = []conceptJSON{sct(diseaseOutbreak)}
	}
	return entryJSON{FullURL: "urn:uuid:" + uuidFrom(rng), Resource: marshal(im), Search: searchJSON{Mode: "match"}}, at
}

// sandboxHistory is one of the public sandbox's answers for 9000000009:
// its Immunization entries and the included Patient entry, each as the
// sandbox writes it (compact).
type sandboxHistory struct {
	records []sandboxRecord
	patient []byte
}

type sandboxRecord struct {
	event Event
	at    time.Time
	raw   []byte
}

// sandboxHistories reads the public sandbox's answers once, by data store.
// Shared: do not modify.
var sandboxHistories = sync.OnceValue(func() map[string]sandboxHistory {
	out := map[string]sandboxHistory{}
	for target, raw := range map[string][]byte{COVID19: sandboxCOVID19, FLU: sandboxFLU, HPV: sandboxHPV} {
		h, err := readSandboxHistory(target, raw)
		if err != nil {
			panic(fmt.Sprintf("immunisation simulator: the sandbox's %s answer: %v", target, err)) // embedded: a build defect
		}
		out[target] = h
	}
	return out
})

func readSandboxHistory(target string, raw []byte) (sandboxHistory, error) {
	var b struct {
		Entry []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return sandboxHistory{}, err
	}
	var h sandboxHistory
	for _, e := range b.Entry {
		var compact bytes.Buffer
		if err := json.Compact(&compact, e); err != nil {
			return sandboxHistory{}, err
		}
		var r struct {
			Resource struct {
				ID                 string `json:"id"`
				Status             string `json:"status"`
				OccurrenceDateTime string `json:"occurrenceDateTime"`
				Patient            struct {
					Identifier identifierJSON `json:"identifier"`
				} `json:"patient"`
				VaccineCode     conceptJSON     `json:"vaccineCode"`
				Extension       []extensionJSON `json:"extension"`
				ProtocolApplied []protocolJSON  `json:"protocolApplied"`
			} `json:"resource"`
			Search searchJSON `json:"search"`
		}
		if err := json.Unmarshal(e, &r); err != nil {
			return sandboxHistory{}, err
		}
		if r.Search.Mode == "include" {
			h.patient = compact.Bytes()
			continue
		}
		im := r.Resource
		at, err := time.Parse(time.RFC3339Nano, im.OccurrenceDateTime)
		if err != nil {
			return sandboxHistory{}, err
		}
		h.records = append(h.records, sandboxRecord{
			event: Event{Target: target, ID: im.ID, Date: im.OccurrenceDateTime[:len(time.DateOnly)], Status: im.Status,
				Patient: im.Patient.Identifier.Value, DoseNumber: im.ProtocolApplied[0].DoseNumberPositiveInt,
				VaccineCode: im.VaccineCode.Coding[0].Code, Procedure: im.Extension[0].ValueCodeableConcept.Coding[0].Code},
			at:  at,
			raw: compact.Bytes(),
		})
	}
	if h.patient == nil {
		return sandboxHistory{}, fmt.Errorf("no included Patient")
	}
	return h, nil
}

func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own structs are encoded
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
