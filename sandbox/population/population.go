// Package population generates the synthetic patients shared by every
// simulator in sandbox. The same seed and size always give the same
// people, so a facade request touching several simulators sees one
// consistent person.
//
// Nobody here is real: NHS numbers come from the 999 test range, phone
// numbers from Ofcom's drama ranges, e-mail addresses from example.com. The
// reserved sandbox patients of the PDS fixtures are not part of this set:
// synthetic people never take their NHS numbers nor share their birth dates
// (±1 day), so the sandbox's canned searches keep their documented answers.
package population

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/pds/fixtures"
)

// Defaults used by Default.
const (
	DefaultSeed int64 = 20101022
	DefaultSize       = 10000
)

// ReferenceDate is the fixed "today" of the synthetic population: nobody is
// born or dies after it. Fixed so that the output never depends on the clock.
const ReferenceDate = "2025-06-30"

// Reference is ReferenceDate as a time (midnight UTC).
var Reference = mustDate(ReferenceDate)

// Gender values, as PDS spells them.
const (
	Male    = "male"
	Female  = "female"
	Other   = "other"
	Unknown = "unknown"
)

// Address is a UK postal address.
type Address struct {
	// Lines holds the house number and street, then an optional locality.
	Lines    []string
	Town     string
	County   string // may be empty
	Postcode string // e.g. "LS11 6AD"
	From     string // YYYY-MM-DD the person has lived here since
	To       string // YYYY-MM-DD the person left; empty for the current address
}

// Person is one synthetic patient. Dates are YYYY-MM-DD strings.
type Person struct {
	NHSNumber string
	Title     string   // "Mr", "Mrs", "Ms", "Miss", "Dr", "Mx" or "" (children)
	Given     []string // one or two given names
	Family    string
	Gender    string // Male, Female, Other or Unknown
	BirthDate string
	DeathDate string // empty while alive

	Address Address
	// PreviousFamily is an earlier surname (e.g. before marriage), or "".
	PreviousFamily string
	// PreviousAddress is the address before Address, or nil.
	PreviousAddress *Address

	Phone  string // landline, 01632 960xxx, digits only; may be empty
	Mobile string // 07700 900xxx, digits only; may be empty
	Email  string // @example.com; may be empty

	GPPractice string // ODS code of the registered GP practice, e.g. "B82617"
	Restricted bool   // sensitive record (PDS meta.security "R")
	VersionID  int    // PDS record version, from 1
	NameSince  string // YYYY-MM-DD the current name has been in use
}

// Deceased reports whether the person has a date of death.
func (p Person) Deceased() bool { return p.DeathDate != "" }

var (
	defaultOnce sync.Once
	defaultPop  []Person
)

// Default returns the default population (DefaultSeed, DefaultSize). It is
// generated once and shared: callers must not modify it.
func Default() []Person {
	defaultOnce.Do(func() { defaultPop = Generate(DefaultSeed, DefaultSize) })
	return defaultPop
}

// MaxSize bounds Generate's n: the 999 test range holds about 900,000 valid
// NHS numbers.
const MaxSize = 500000

// Generate returns n synthetic people generated from seed. It panics if n is
// negative or above MaxSize, or if the embedded PDS fixtures cannot be read
// (a build defect).
func Generate(seed int64, n int) []Person {
	if n < 0 || n > MaxSize {
		panic(fmt.Sprintf("population: size %d outside 0..%d", n, MaxSize))
	}
	res := loadReserved()
	g := &generator{
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x5eed_9000_0000_0009)),
		reserved: res,
		used:     map[string]bool{},
		ref:      mustDate(ReferenceDate),
	}
	g.makePractices()
	people := make([]Person, n)
	for i := range people {
		people[i] = g.person()
	}
	return people
}

// IsReservedNHSNumber reports whether nhs belongs to a reserved sandbox
// patient (any patient of the PDS fixtures, or a number with a documented
// sandbox behaviour).
func IsReservedNHSNumber(nhs string) bool { return loadReserved().numbers[nhs] }

// IsReservedBirthDate reports whether no synthetic person may be born on
// date (YYYY-MM-DD).
func IsReservedBirthDate(date string) bool { return loadReserved().births[date] }

// reservedNumbers have documented sandbox behaviour without being in the PDS
// fixtures (BACKENDS.md §9).
var reservedNumbers = []string{
	"9000000000", // invalid check digit
	"9111231130", // unknown patient: 404
	"5900026175", // RA sandbox
	"4409815415", // NRL sandbox
	"3495456481", // NRL sandbox
}

// reservedQueryDates are birth dates used by the sandbox's canned searches
// that are expected to find nobody (e.g. the Postman collection's
// "Bingham, John, 1934-12-18 — No results").
var reservedQueryDates = []string{"1934-12-18"}

type reserved struct {
	numbers map[string]bool
	births  map[string]bool
}

var (
	reservedOnce sync.Once
	reservedSet  reserved
)

func loadReserved() reserved {
	reservedOnce.Do(func() {
		ps, err := fixtures.Patients()
		if err != nil {
			panic(fmt.Sprintf("population: reading PDS fixtures: %v", err))
		}
		r := reserved{numbers: map[string]bool{}, births: map[string]bool{}}
		for _, n := range reservedNumbers {
			r.numbers[n] = true
		}
		for _, d := range reservedQueryDates {
			r.births[d] = true
		}
		for _, p := range ps {
			r.numbers[p.ID] = true
			for _, b := range p.BirthDates {
				d := mustDate(b)
				for _, off := range []int{-1, 0, 1} {
					r.births[d.AddDate(0, 0, off).Format(time.DateOnly)] = true
				}
			}
		}
		reservedSet = r
	})
	return reservedSet
}

func mustDate(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

type generator struct {
	rng       *rand.Rand
	reserved  reserved
	used      map[string]bool
	ref       time.Time
	practices map[string][]string // town name + area → ODS codes
}

// practiceSkip are ODS codes used by the fixtures' GP searches.
var practiceSkip = map[string]bool{"Y12345": true, "A20047": true, "H81109": true}

func (g *generator) makePractices() {
	g.practices = map[string][]string{}
	seen := map[string]bool{}
	for _, t := range towns {
		k := t.name + "/" + t.area
		for len(g.practices[k]) < 6 {
			code := fmt.Sprintf("%c%05d", t.odsLetter, 80000+g.rng.IntN(9000))
			if seen[code] || practiceSkip[code] {
				continue
			}
			seen[code] = true
			g.practices[k] = append(g.practices[k], code)
		}
	}
}

func (g *generator) pick(list []string) string {
	// Skewed towards the front of the list: common names are common.
	i := int(float64(len(list)) * g.rng.Float64() * g.rng.Float64())
	return list[i]
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *generator) nhsNumber() string {
	for {
		first9 := fmt.Sprintf("999%06d", g.rng.IntN(1000000))
		d, ok := nhsnumber.CheckDigit(first9)
		if !ok {
			continue
		}
		n := first9 + string(d)
		if g.used[n] || g.reserved.numbers[n] {
			continue
		}
		g.used[n] = true
		return n
	}
}

// ageBands approximates the age structure of England: [from, to) years and
// weight.
var ageBands = []struct{ from, to, weight int }{
	{0, 10, 115}, {10, 20, 115}, {20, 30, 125}, {30, 40, 135}, {40, 50, 125},
	{50, 60, 135}, {60, 70, 110}, {70, 80, 90}, {80, 90, 42}, {90, 103, 8},
}

func (g *generator) birthDate() time.Time {
	total := 0
	for _, b := range ageBands {
		total += b.weight
	}
	for {
		w := g.rng.IntN(total)
		var from, to int
		for _, b := range ageBands {
			if w < b.weight {
				from, to = b.from, b.to
				break
			}
			w -= b.weight
		}
		days := from*365 + g.rng.IntN((to-from)*365)
		d := g.ref.AddDate(0, 0, -days)
		if !g.reserved.births[d.Format(time.DateOnly)] {
			return d
		}
	}
}

func (g *generator) gender() string {
	switch r := g.rng.IntN(1000); {
	case r < 504:
		return Female
	case r < 997:
		return Male
	case r < 999:
		return Other
	default:
		return Unknown
	}
}

func (g *generator) givenNames(gender string) []string {
	list := maleGiven
	switch gender {
	case Female:
		list = femaleGiven
	case Other, Unknown:
		if g.chance(0.5) {
			list = femaleGiven
		}
	}
	first := g.pick(list)
	if g.chance(0.45) {
		return []string{first}
	}
	for {
		second := g.pick(list)
		if second != first {
			return []string{first, second}
		}
	}
}

func (g *generator) title(gender string, age int) string {
	if age < 16 {
		return ""
	}
	if g.chance(0.02) && age >= 26 {
		return "Dr"
	}
	switch gender {
	case Male:
		return "Mr"
	case Female:
		switch r := g.rng.IntN(100); {
		case age >= 25 && r < 55:
			return "Mrs"
		case r < 75:
			return "Ms"
		default:
			return "Miss"
		}
	default:
		if g.chance(0.6) {
			return "Mx"
		}
		return ""
	}
}

func (g *generator) postcode(t town) string {
	d := t.districts[g.rng.IntN(len(t.districts))]
	return fmt.Sprintf("%s%d %d%c%c", t.area, d, 1+g.rng.IntN(9),
		inwardLetters[g.rng.IntN(len(inwardLetters))],
		inwardLetters[g.rng.IntN(len(inwardLetters))])
}

func (g *generator) address(t town) Address {
	a := Address{
		Lines:    []string{fmt.Sprintf("%d %s %s", 1+g.rng.IntN(180), g.pick(streetNames), streetTypes[g.rng.IntN(len(streetTypes))])},
		Town:     t.name,
		County:   t.county,
		Postcode: g.postcode(t),
	}
	if g.chance(0.3) {
		a.Lines = append(a.Lines, localities[g.rng.IntN(len(localities))])
	}
	return a
}

func (g *generator) between(from, to time.Time) time.Time {
	if !to.After(from) {
		return from
	}
	days := int(to.Sub(from).Hours() / 24)
	return from.AddDate(0, 0, g.rng.IntN(days+1))
}

func emailPart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (g *generator) person() Person {
	birth := g.birthDate()
	age := int(g.ref.Sub(birth).Hours() / 24 / 365.25)
	gender := g.gender()
	p := Person{
		NHSNumber: g.nhsNumber(),
		Given:     g.givenNames(gender),
		Family:    g.pick(surnames),
		Gender:    gender,
		BirthDate: birth.Format(time.DateOnly),
		VersionID: 1 + g.rng.IntN(6),
	}
	p.Title = g.title(gender, age)
	adult := birth.AddDate(18, 0, 0)

	// Name history: many married women carry a birth surname in PDS.
	p.NameSince = p.BirthDate
	if p.Title == "Mrs" && g.chance(0.7) {
		for p.PreviousFamily == "" || p.PreviousFamily == p.Family {
			p.PreviousFamily = g.pick(surnames)
		}
		p.NameSince = g.between(adult, g.ref).Format(time.DateOnly)
	}

	// Death: more likely with age.
	var deathP float64
	switch {
	case age >= 85:
		deathP = 0.18
	case age >= 70:
		deathP = 0.06
	case age >= 50:
		deathP = 0.015
	default:
		deathP = 0.002
	}
	end := g.ref
	if g.chance(deathP) {
		from := g.ref.AddDate(-8, 0, 0)
		if birth.After(from) {
			from = birth
		}
		death := g.between(from, g.ref)
		p.DeathDate = death.Format(time.DateOnly)
		end = death
	}

	t := towns[g.rng.IntN(len(towns))]
	p.Address = g.address(t)
	p.Address.From = birth.Format(time.DateOnly)
	if age >= 20 && g.chance(0.3) {
		prevTown := t
		if g.chance(0.4) {
			prevTown = towns[g.rng.IntN(len(towns))]
		}
		prev := g.address(prevTown)
		moved := g.between(adult, end)
		prev.From = g.between(birth, adult).Format(time.DateOnly)
		prev.To = moved.AddDate(0, 0, -1).Format(time.DateOnly)
		if prev.To < prev.From {
			prev.To = prev.From
		}
		p.PreviousAddress = &prev
		p.Address.From = moved.Format(time.DateOnly)
	}

	if g.chance(0.55) {
		p.Phone = fmt.Sprintf("01632960%03d", g.rng.IntN(1000))
	}
	if age >= 12 && g.chance(0.8) {
		p.Mobile = fmt.Sprintf("07700900%03d", g.rng.IntN(1000))
	}
	if age >= 14 && g.chance(0.75) {
		p.Email = fmt.Sprintf("%s.%s%d@example.com", emailPart(p.Given[0]), emailPart(p.Family), g.rng.IntN(100))
	}

	ods := g.practices[t.name+"/"+t.area]
	p.GPPractice = ods[g.rng.IntN(len(ods))]
	p.Restricted = g.chance(0.01)
	return p
}

// Hash is a stable 64-bit hash of parts (SHA-256, each part ended by a 0
// byte): the simulators draw each patient's records from it, so the same
// population gives the same records in every simulator and every run.
func Hash(parts ...string) uint64 {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// UUID is a stable version-4-shaped UUID made from parts.
func UUID(parts ...string) string {
	a, b := Hash(append(parts, "a")...), Hash(append(parts, "b")...)
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

// WithFixtures indexes pop by NHS number together with the PDS fixture
// patients outside it (the public sandbox's), so that a simulator can hold
// records for every patient PDS knows. A fixture patient is a bare Person:
// NHS number, first birth date, GP Y12345, living in Leeds.
func WithFixtures(pop []Person) map[string]*Person {
	ps, err := fixtures.Patients()
	if err != nil {
		panic(fmt.Sprintf("population: reading PDS fixtures: %v", err)) // embedded: a build defect
	}
	out := make(map[string]*Person, len(pop)+len(ps))
	for i := range pop {
		out[pop[i].NHSNumber] = &pop[i]
	}
	for _, p := range ps {
		if _, ok := out[p.ID]; ok {
			continue
		}
		birth := ""
		if len(p.BirthDates) > 0 {
			birth = p.BirthDates[0]
		}
		out[p.ID] = &Person{NHSNumber: p.ID, BirthDate: birth, GPPractice: "Y12345", Address: Address{Town: "Leeds"}}
	}
	return out
}
