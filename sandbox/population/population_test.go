package population_test

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/pds/fixtures"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

func TestGenerateDeterministic(t *testing.T) {
	a := population.Generate(42, 500)
	b := population.Generate(42, 500)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different populations")
	}
	c := population.Generate(43, 500)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same population")
	}
}

func TestDefault(t *testing.T) {
	ps := population.Default()
	if len(ps) != population.DefaultSize || len(ps) < 10000 {
		t.Fatalf("len(Default()) = %d, want %d (>= 10000)", len(ps), population.DefaultSize)
	}
	if &population.Default()[0] != &ps[0] {
		t.Error("Default() is recomputed on every call")
	}
	if !reflect.DeepEqual(ps[:50], population.Generate(population.DefaultSeed, 50)) {
		t.Error("Default() is not Generate(DefaultSeed, ...)")
	}
}

func TestGenerateSizes(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{name: "empty", n: 0},
		{name: "one", n: 1},
		{name: "thousand", n: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(population.Generate(1, tt.n)); got != tt.n {
				t.Errorf("len = %d, want %d", got, tt.n)
			}
		})
	}
}

var (
	postcodeRE = regexp.MustCompile(`^[A-Z]{1,2}[0-9]{1,2} [0-9][ABD-HJLNP-UW-Z]{2}$`)
	odsRE      = regexp.MustCompile(`^[A-Z][0-9]{5}$`)
	phoneRE    = regexp.MustCompile(`^01632960[0-9]{3}$`)
	mobileRE   = regexp.MustCompile(`^07700900[0-9]{3}$`)
	emailRE    = regexp.MustCompile(`^[a-z]+\.[a-z]+[0-9]*@example\.com$`)
	dateRE     = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

func TestPeopleAreWellFormed(t *testing.T) {
	ps := population.Default()
	fx, err := fixtures.Patients()
	if err != nil {
		t.Fatal(err)
	}
	fixtureIDs := map[string]bool{}
	fixtureBirths := map[string]bool{}
	for _, p := range fx {
		fixtureIDs[p.ID] = true
		for _, b := range p.BirthDates {
			fixtureBirths[b] = true
		}
	}

	seen := map[string]bool{}
	genders := map[string]int{}
	restricted, deceased := 0, 0
	for _, p := range ps {
		if !nhsnumber.Valid(p.NHSNumber) {
			t.Errorf("%s: invalid NHS number", p.NHSNumber)
		}
		if seen[p.NHSNumber] {
			t.Errorf("%s: duplicate NHS number", p.NHSNumber)
		}
		seen[p.NHSNumber] = true
		if fixtureIDs[p.NHSNumber] || population.IsReservedNHSNumber(p.NHSNumber) {
			t.Errorf("%s: collides with a reserved sandbox patient", p.NHSNumber)
		}
		if fixtureBirths[p.BirthDate] || population.IsReservedBirthDate(p.BirthDate) {
			t.Errorf("%s: born on reserved date %s", p.NHSNumber, p.BirthDate)
		}
		if !dateRE.MatchString(p.BirthDate) || p.BirthDate > population.ReferenceDate {
			t.Errorf("%s: bad birth date %q", p.NHSNumber, p.BirthDate)
		}
		if p.Deceased() {
			deceased++
			if p.DeathDate < p.BirthDate || p.DeathDate > population.ReferenceDate {
				t.Errorf("%s: death %s outside life from %s", p.NHSNumber, p.DeathDate, p.BirthDate)
			}
		}
		if n := len(p.Given); n < 1 || n > 2 || p.Family == "" {
			t.Errorf("%s: bad name %v %q", p.NHSNumber, p.Given, p.Family)
		}
		genders[p.Gender]++
		if !postcodeRE.MatchString(p.Address.Postcode) || len(p.Address.Lines) == 0 || p.Address.Town == "" {
			t.Errorf("%s: bad address %+v", p.NHSNumber, p.Address)
		}
		if p.PreviousAddress != nil && !postcodeRE.MatchString(p.PreviousAddress.Postcode) {
			t.Errorf("%s: bad previous address %+v", p.NHSNumber, *p.PreviousAddress)
		}
		if !odsRE.MatchString(p.GPPractice) {
			t.Errorf("%s: bad ODS code %q", p.NHSNumber, p.GPPractice)
		}
		if p.Phone != "" && !phoneRE.MatchString(p.Phone) {
			t.Errorf("%s: phone %q outside the Ofcom drama range", p.NHSNumber, p.Phone)
		}
		if p.Mobile != "" && !mobileRE.MatchString(p.Mobile) {
			t.Errorf("%s: mobile %q outside the Ofcom drama range", p.NHSNumber, p.Mobile)
		}
		if p.Email != "" && !emailRE.MatchString(p.Email) {
			t.Errorf("%s: bad email %q", p.NHSNumber, p.Email)
		}
		if p.VersionID < 1 {
			t.Errorf("%s: versionId %d", p.NHSNumber, p.VersionID)
		}
		if p.Restricted {
			restricted++
		}
	}
	n := len(ps)
	if f := float64(genders[population.Female]) / float64(n); f < 0.45 || f > 0.56 {
		t.Errorf("female share %.3f, want about 0.5", f)
	}
	if genders[population.Other] == 0 || genders[population.Unknown] == 0 {
		t.Errorf("genders %v: want some other and unknown", genders)
	}
	if f := float64(restricted) / float64(n); f < 0.005 || f > 0.02 {
		t.Errorf("restricted share %.4f, want about 0.01", f)
	}
	if deceased == 0 {
		t.Error("nobody is deceased")
	}
}
