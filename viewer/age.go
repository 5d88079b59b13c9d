package viewer

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London on hosts without a zone database
)

// london is the clock the viewer's clinicians live by: an age, a date of
// death and "shown at" are England's calendar day, never UTC's (at 00:30
// BST it is already tomorrow in England).
var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err) // unreachable: time/tzdata is linked in
	}
	return l
}()

// civilDate is a day on England's calendar, with how much of it is known:
// FHIR dates may be a year ("1980") or a month ("1980-06") only.
type civilDate struct {
	Year  int
	Month time.Month
	Day   int
	// Precision is "year", "month" or "day".
	Precision string
}

func (d civilDate) full() bool { return d.Precision == "day" }

// parseFHIRDate reads a FHIR date or dateTime as England's calendar day:
// a dateTime with a zone is moved into Europe/London first, so a death at
// 23:30Z in summer is the next day's. ok is false for anything unreadable.
func parseFHIRDate(s string) (civilDate, bool) {
	switch len(s) {
	case 4:
		t, err := time.Parse("2006", s)
		return civilDate{Year: t.Year(), Precision: "year"}, err == nil
	case 7:
		t, err := time.Parse("2006-01", s)
		return civilDate{Year: t.Year(), Month: t.Month(), Precision: "month"}, err == nil
	case 10:
		t, err := time.Parse(time.DateOnly, s)
		return civilDate{Year: t.Year(), Month: t.Month(), Day: t.Day(), Precision: "day"}, err == nil
	}
	t, err := time.Parse(time.RFC3339, s) // fractional seconds are accepted too
	if err != nil {
		// FHIR requires a zone with a time; without one, England's is meant.
		if t, err = time.ParseInLocation("2006-01-02T15:04:05", s, london); err != nil {
			return civilDate{}, false
		}
	}
	return londonDate(t), true
}

// londonDate is the calendar day in England at instant t.
func londonDate(t time.Time) civilDate {
	y, m, d := t.In(london).Date()
	return civilDate{Year: y, Month: m, Day: d, Precision: "day"}
}

// days counts whole days from a to b.
func days(a, b civilDate) int {
	ta := time.Date(a.Year, a.Month, a.Day, 0, 0, 0, 0, time.UTC)
	tb := time.Date(b.Year, b.Month, b.Day, 0, 0, 0, 0, time.UTC)
	return int(tb.Sub(ta).Hours() / 24)
}

// ageBetween is the age on day to of someone born on day birth, in the
// units of the NHS patient banner: years from 2, months under 2 years,
// days under a completed month (so always under 4 weeks in days, never
// "0 months"). It is "" when either date is partial or to is before
// birth: an age guessed from a year of birth may be a year out, which
// at the young end is a different dose, so none is made up.
//
// A month or year is complete on the same day of the month, or on the
// 1st of the next when the month is shorter: a 31 January baby is 1 month
// old on 1 March, and a 29 February birthday falls on 1 March in a common
// year.
//
// See: NHS CUI Design Guide Entry – Patient Banner (NHS Connecting for
// Health, v4.0.0.0), its age display table, at
// https://pacharanero.github.io/nhs-cui/patient-identification-and-information-entry-and-display/patben
// and http://www.mscui.com/DesignGuide/QuickGuides/PatientBanner/ ("Born
// 14-Jul-1945 (61y)"). The viewer writes the units out ("61 years"), and
// leaves out the CUI's finer units (hours, weeks and days) that a date of
// birth without a time cannot support or a summary does not need.
func ageBetween(birth, to civilDate) string {
	if !birth.full() || !to.full() || days(birth, to) < 0 {
		return ""
	}
	months := (to.Year-birth.Year)*12 + int(to.Month) - int(birth.Month)
	if to.Day < birth.Day {
		months--
	}
	switch d := days(birth, to); {
	case months >= 24:
		return plural(months/12, "year")
	case months >= 1:
		return plural(months, "month")
	case d == 0:
		return "under 1 day"
	default:
		return plural(d, "day")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// deathWords is what the deceased banner says of the date of death: "Died
// 3 March 2024", "Died in March 2024", "Died in 2024", or that the date
// is not recorded (deceasedBoolean) or cannot be read: the patient is
// shown as deceased all the same.
func deathWords(raw string, d civilDate, ok bool) string {
	switch {
	case raw == "":
		return "Date of death not recorded"
	case !ok:
		return "Date of death not readable"
	}
	switch d.Precision {
	case "year":
		return fmt.Sprintf("Died in %d", d.Year)
	case "month":
		return fmt.Sprintf("Died in %s %d", d.Month, d.Year)
	}
	return fmt.Sprintf("Died %d %s %d", d.Day, d.Month, d.Year)
}

// setAge fills the banner's age and death from the Patient's birthDate,
// deceasedDateTime and deceasedBoolean, against now (the request's time).
func (b *Banner) setAge(birthDate, deceasedDateTime string, deceasedBoolean bool, now time.Time) {
	birth, birthOK := parseFHIRDate(strings.TrimSpace(birthDate))
	if deceasedDateTime != "" || deceasedBoolean {
		b.Deceased = true
		raw := strings.TrimSpace(deceasedDateTime)
		death, ok := parseFHIRDate(raw)
		b.Died = deathWords(raw, death, ok)
		if ok && birthOK {
			b.AgeAtDeath = ageBetween(birth, death)
		}
		return // an age today means nothing
	}
	if birthDate == "" {
		return // "Born" is not shown at all
	}
	if birthOK {
		b.Age = ageBetween(birth, londonDate(now))
	}
	// A partial or unreadable date of birth, or one after today: say the
	// age is not known rather than leave a gap a reader might fill in.
	b.AgeUnknown = b.Age == ""
}
