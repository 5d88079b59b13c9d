package ovm

import (
	"fmt"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/population"
)

// Categories are the overseas visitor charging category letters the
// simulator records. The contract (BACKENDS.md §7a) carries the NHS Data
// Dictionary's single-letter codes without asserting their meanings; the
// simulator draws from these letters only.
var Categories = []string{"A", "B", "C", "D", "E", "F", "P"}

// Shares of the adult population, in hundredths: with a status; of those,
// ended; and with an earlier, ended status as well.
const (
	statusPercent  = 3
	endedPercent   = 35
	earlierPercent = 20
)

func ptr(s string) *string { return &s }

// seed builds every patient's statuses: the reserved sandbox patients',
// then the population's (which holds no reserved number).
func seed(pop []population.Person) map[string][]Status {
	out := map[string][]Status{
		"9000000009": {{
			ID: "5b7e2c1d-3a4f-4e8b-9c6d-900000000009", ChargingCategory: "C",
			Start: "2025-03-03", End: nil,
			RecordedBy:  RecordedBy{ODS: "ZZ901", Name: "Example Hospitals NHS Trust", Phone: "01632 960101"},
			LastUpdated: "2025-03-03T10:15:00Z",
		}},
		"9000000017": {{
			ID: "5b7e2c1d-3a4f-4e8b-9c6d-900000000017", ChargingCategory: "F",
			Start: "2023-08-14", End: ptr("2024-02-29"),
			RecordedBy:  RecordedBy{ODS: "ZZ902", Name: "Example County Hospitals NHS Foundation Trust", Phone: "01632 960202"},
			LastUpdated: "2024-02-29T16:40:00Z",
		}},
	}
	ref := population.Reference
	for _, p := range pop {
		birth, err := time.Parse(time.DateOnly, p.BirthDate)
		if err != nil || p.Deceased() || birth.AddDate(18, 0, 0).After(ref) {
			continue
		}
		h := population.Hash("ovm", p.NHSNumber)
		if h%100 >= statusPercent {
			continue
		}
		out[p.NHSNumber] = statusesFor(p, birth, ref, h)
	}
	return out
}

// statusesFor is an adult's statuses, newest first: one started in the
// last four years, current (open, or ending on a date after the reference
// date) or ended, and sometimes an earlier ended one.
func statusesFor(p population.Person, birth, ref time.Time, h uint64) []Status {
	trust := trustOf(p.Address.Town)
	start := ref.AddDate(0, 0, -(30 + int(h>>8)%1430))
	s := Status{
		ID:               population.UUID("ovm-status", p.NHSNumber, "1"),
		ChargingCategory: Categories[int(h>>16)%len(Categories)],
		Start:            start.Format(time.DateOnly),
		RecordedBy:       trust,
		LastUpdated:      start.Format(time.DateOnly) + fmt.Sprintf("T%02d:%02d:00Z", 8+int(h>>20)%9, int(h>>24)%60),
	}
	switch kind := (h >> 28) % 100; {
	case kind < endedPercent:
		left := max(int(ref.Sub(start).Hours()/24)-1, 1)
		end := start.AddDate(0, 0, 1+int(h>>32)%left)
		s.End = ptr(end.Format(time.DateOnly))
		s.LastUpdated = *s.End + "T12:00:00Z"
	case kind%2 == 0:
		s.End = ptr(ref.AddDate(0, 0, 180+int(h>>32)%720).Format(time.DateOnly))
	}
	out := []Status{s}
	if (h>>40)%100 < earlierPercent && start.Sub(birth) > 19*365*24*time.Hour {
		earlierEnd := start.AddDate(0, 0, -(1 + int(h>>44)%300))
		earlierStart := earlierEnd.AddDate(0, 0, -(30 + int(h>>52)%700))
		out = append(out, Status{
			ID:               population.UUID("ovm-status", p.NHSNumber, "0"),
			ChargingCategory: Categories[int(h>>48)%len(Categories)],
			Start:            earlierStart.Format(time.DateOnly),
			End:              ptr(earlierEnd.Format(time.DateOnly)),
			RecordedBy:       trust,
			LastUpdated:      earlierEnd.Format(time.DateOnly) + "T12:00:00Z",
		})
	}
	return out
}

// trustOf is the hospital trust of a town: an ODS-style code that no real
// organisation has (ZZ…), a name and its overseas visitor team's number
// (Ofcom drama range).
func trustOf(town string) RecordedBy {
	h := population.Hash("trust", town)
	return RecordedBy{
		ODS:   fmt.Sprintf("ZZ%03d", 100+h%900),
		Name:  titleCase(town) + " Hospitals NHS Trust",
		Phone: fmt.Sprintf("01632 960%03d", 100+(h>>16)%900),
	}
}

// titleCase writes a town as names are written ("NEWCASTLE UPON TYNE" →
// "Newcastle Upon Tyne"); PDS addresses are in capitals.
func titleCase(s string) string {
	words := strings.Fields(strings.ToLower(s))
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}
