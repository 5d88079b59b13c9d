package scr

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/population"
)

// The public sandbox's answers for 9000000009: its DocumentReference search
// (derived from the service's own expectations, base
// https://sandbox.api.service.nhs.uk/summary-care-record/FHIR/R4, which the
// simulator replaces with its own) and the API's GetScrBundle.json example,
// whose shape the sandbox's summary has.
var (
	//go:embed fixtures/GET_DocumentReference_9000000009.200.derived.json
	sandboxDocumentReference []byte
	//go:embed fixtures/GetScrBundle.json
	specSummary []byte
	// sandboxSummary is the example with what the service's mapping adds
	// (its expectations show it): the display of a Condition's clinical
	// status.
	sandboxSummary = clinicalStatusDisplay.ReplaceAll(specSummary, []byte(`$1, "display": "Active"`))
)

var clinicalStatusDisplay = regexp.MustCompile(`("system": "http://hl7.org/fhir/ValueSet/condition-clinical",\s*"code": "active")`)

// Description says what the simulator holds for one patient.
type Description struct {
	NHSNumber string
	// Refused is set when the SCR answers every request about the patient
	// with 403 PSIS-30418 ("ACF does not permit access to resource"), as the
	// public sandbox answers any number but 9000000009.
	Refused bool
	// HasSCR is false when GET /DocumentReference answers an empty Bundle.
	HasSCR bool
	// UUID is the latest SCR's UUID (upper case, as the API writes it);
	// PreviousUUID the one it replaced (GET /Bundle with it is empty).
	UUID, PreviousUUID string
	// Consent is Ask, Yes or No.
	Consent string
	// Rows per category; 0 means the category holds the "No relevant
	// information available for this category." row.
	Allergies, Acute, Repeat, Discontinued int
}

// Describe returns what the simulator serves for nhs (see the package
// documentation for the rule).
func (s *Simulator) Describe(nhs string) Description {
	d, _ := s.latest(nhs)
	return d
}

// latest describes nhs's latest SCR and gives its GET /Bundle body, from one
// plan of the summary (planning is the costly part).
func (s *Simulator) latest(nhs string) (Description, func() []byte) {
	switch nhs {
	case SandboxNHSNumber:
		return Description{NHSNumber: nhs, HasSCR: true, UUID: SandboxUUID, PreviousUUID: "D18B57ED-992E-45A2-A6AF-55200D20F48E",
			Consent: ConsentYes, Allergies: 1, Acute: 1, Repeat: 1}, func() []byte { return sandboxSummary }
	case RefusedNHSNumber, unknownNHSNumber:
		return Description{NHSNumber: nhs, Refused: true}, nil
	}
	p := s.people[nhs]
	if p == nil {
		return Description{NHSNumber: nhs, Refused: true}, nil
	}
	sm := s.plan(p)
	return sm.describe(), func() []byte { return render(sm) }
}

func hashOf(nhs string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("scr/" + nhs))
	return h.Sum64()
}

// summary is one generated SCR.
type summary struct {
	person       *population.Person
	hasSCR       bool
	consent      string
	uuid         string
	previousUUID string
	compID       string
	created      time.Time
	allergies    []allergyRow
	acute        []medRow
	repeat       []medRow
	disc         []medRow
	practice     string
	author       string
}

func (p *summary) describe() Description {
	return Description{NHSNumber: p.person.NHSNumber, HasSCR: p.hasSCR, UUID: p.uuid, PreviousUUID: p.previousUUID, Consent: p.consent,
		Allergies: len(p.allergies), Acute: len(p.acute), Repeat: len(p.repeat), Discontinued: len(p.disc)}
}

type allergyRow struct {
	date, description, certainty, severity, info string
}

type medRow struct {
	typ, date, item, dosage, quantity string
}

func uuidFrom(rng *rand.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	b = b&^(0xf<<60) | 0x8<<60 // RFC 4122 variant
	a = a&^(0xf<<12) | 0x4<<12 // version 4
	return strings.ToUpper(fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff))
}

const scrDate = "02-Jan-2006"

// plan derives everything about p's SCR from the hash of the NHS number.
func (s *Simulator) plan(p *population.Person) *summary {
	h := hashOf(p.NHSNumber)
	rng := rand.New(rand.NewPCG(h, 0x5c2_5c2))
	sm := &summary{person: p}
	switch bucket := h % 100; {
	case p.NHSNumber == OptOutNHSNumber:
		sm.hasSCR, sm.consent = true, ConsentNo
	case bucket < 10:
		return sm
	case bucket < 15:
		sm.hasSCR, sm.consent = true, ConsentNo
	case bucket < 20:
		sm.hasSCR, sm.consent = true, ConsentYes
	default:
		sm.hasSCR, sm.consent = true, ConsentAsk
	}
	sm.uuid, sm.previousUUID, sm.compID = uuidFrom(rng), uuidFrom(rng), uuidFrom(rng)
	ref := population.Reference
	sm.created = ref.AddDate(0, 0, -rng.IntN(700)).Add(time.Duration(8*60+rng.IntN(9*60)) * time.Minute)
	birth, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil || birth.After(sm.created) {
		birth = sm.created.AddDate(-40, 0, 0)
	}
	child := sm.created.Sub(birth) < 12*365*24*time.Hour
	sm.practice = practiceName(p)
	sm.author = authors[rng.IntN(len(authors))]

	if rng.Float64() < 0.45 {
		n := 1 + rng.IntN(3)
		for _, i := range rng.Perm(len(allergyVocabulary))[:n] {
			a := allergyVocabulary[i]
			from := birth.AddDate(1, 0, 0)
			if from.After(sm.created) {
				from = birth
			}
			span := int(sm.created.Sub(from).Hours()/24) + 1
			d := from.AddDate(0, 0, rng.IntN(span))
			sm.allergies = append(sm.allergies, allergyRow{
				date: d.Format(scrDate), description: a,
				certainty: pickWeighted(rng, certainties), severity: pickWeighted(rng, severities), info: pickWeighted(rng, supportingInfo),
			})
		}
	}
	meds := adultMedicines
	if child {
		meds = childMedicines
	}
	pickMeds := func(p float64, max int, typ, label string, from, to int) []medRow {
		if rng.Float64() >= p {
			return nil
		}
		var out []medRow
		for _, i := range rng.Perm(len(meds))[:min(1+rng.IntN(max), len(meds))] {
			m := meds[i]
			d := sm.created.AddDate(0, 0, -(from + rng.IntN(to-from)))
			out = append(out, medRow{typ: typ, date: label + ": " + d.Format(scrDate), item: m.item, dosage: m.dosage, quantity: m.quantity})
		}
		return out
	}
	sm.acute = pickMeds(0.35, 3, "Acute Medication", "Prescribed", 1, 360)
	sm.repeat = pickMeds(0.45, 4, "Repeat Medication", "Last Issued", 1, 90)
	sm.disc = pickMeds(0.20, 2, "Repeat Medication", "Last Issued", 30, 180)
	return sm
}

func pickWeighted(rng *rand.Rand, choices []weighted) string {
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	n := rng.IntN(total)
	for _, c := range choices {
		if n < c.weight {
			return c.value
		}
		n -= c.weight
	}
	return ""
}

func practiceName(p *population.Person) string {
	town := p.Address.Town
	if town == "" {
		town = "Riverside"
	}
	kinds := []string{"Medical Practice", "Surgery", "Health Centre", "Medical Centre", "Family Practice"}
	h := hashOf(p.GPPractice)
	return town + " " + kinds[h%uint64(len(kinds))]
}

// documentReferenceBody is the GET /DocumentReference answer for nhs.
func (s *Simulator) documentReferenceBody(nhs, base string) []byte {
	if nhs == SandboxNHSNumber {
		return bytes.ReplaceAll(sandboxDocumentReference, []byte(sandboxBase), []byte(base))
	}
	d := s.Describe(nhs)
	if !d.HasSCR {
		return emptyBundle(nhs)
	}
	rng := rand.New(rand.NewPCG(hashOf(nhs), 0xd0c))
	docID, patID, bundleID := strings.ToLower(uuidFrom(rng)), strings.ToLower(uuidFrom(rng)), strings.ToLower(uuidFrom(rng))
	// The service's display, leading space included.
	gp := coding{System: "http://snomed.info/sct", Code: "196981000000101", Display: " General Practice Summary"}
	b := bundleJSON{ResourceType: "Bundle", ID: bundleID, Type: "searchset", Total: 1, Entry: []entryJSON{
		{FullURL: base + "/DocumentReference/" + docID, Resource: documentReferenceJSON{
			ResourceType:     "DocumentReference",
			ID:               docID,
			MasterIdentifier: identifier{System: "https://fhir.nhs.uk/Id/nhsSCRUUID", Value: d.UUID},
			Status:           "current",
			Type:             concept{Coding: []coding{gp}},
			Subject:          reference{Reference: "Patient/" + patID},
			SecurityLabel:    []concept{{Coding: []coding{{System: "https://fhir.nhs.uk/CodeSystem/SCR-ACSPermission", Code: d.Consent}}}},
			Content: []docContent{{Attachment: attachment{
				URL: base + "/Bundle?composition.identifier=" + d.UUID + "&composition.subject:Patient.identifier=https://fhir.nhs.uk/Id/nhs-number|" + nhs,
			}}},
			Context: docContext{Event: []concept{{Coding: []coding{gp}}}},
		}, Search: &entrySearch{Mode: "match"}},
		{FullURL: patID, Resource: patientJSON{ResourceType: "Patient", ID: patID, Identifier: []identifier{{System: "https://fhir.nhs.uk/Id/nhs-number", Value: nhs}}}},
	}}
	return marshal(b)
}

// emptyBundle is the API's answer when there is nothing: a searchset with
// no entries. Its id is derived from seed, so answers are repeatable.
func emptyBundle(seed string) []byte {
	rng := rand.New(rand.NewPCG(hashOf("empty/"+seed), 0))
	return marshal(bundleJSON{ResourceType: "Bundle", ID: strings.ToLower(uuidFrom(rng)), Type: "searchset", Total: 0})
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
