package viewer

import (
	"testing"
	"time"
)

// TestAge: the age beside the date of birth, in England's calendar day of
// the request, in the NHS banner's units (years from 2, months under 2,
// days under a completed month), at every boundary where a unit or a
// number changes, and none where the date of birth cannot give one.
func TestAge(t *testing.T) {
	noon := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		birth string
		now   time.Time
		age   string
		// unknown: the page says "age not known".
		unknown bool
	}{
		{"adult, birthday today", "1984-11-25", noon(2026, 11, 25), "42 years", false},
		{"adult, birthday tomorrow", "1984-11-26", noon(2026, 11, 25), "41 years", false},
		{"adult, birthday yesterday", "1984-11-24", noon(2026, 11, 25), "42 years", false},
		{"leap-day birth, 28 Feb of a common year: not yet", "2000-02-29", noon(2025, 2, 28), "24 years", false},
		{"leap-day birth, 1 Mar of a common year: birthday", "2000-02-29", noon(2025, 3, 1), "25 years", false},
		{"leap-day birth, 29 Feb of a leap year: birthday", "2000-02-29", noon(2028, 2, 29), "28 years", false},
		{"leap-day birth, 28 Feb of a leap year: not yet", "2000-02-29", noon(2028, 2, 28), "27 years", false},
		{"born 28 Feb, 28 Feb of a leap year: birthday", "2000-02-28", noon(2028, 2, 28), "28 years", false},
		{"born 1 Mar, 29 Feb of a leap year: not yet", "2000-03-01", noon(2028, 2, 29), "27 years", false},
		{"exactly 2 years", "2024-11-25", noon(2026, 11, 25), "2 years", false},
		{"a day under 2 years: months", "2024-11-26", noon(2026, 11, 25), "23 months", false},
		{"leap-day baby, 28 Feb at 2: still months", "2024-02-29", noon(2026, 2, 28), "23 months", false},
		{"leap-day baby, 1 Mar at 2: years", "2024-02-29", noon(2026, 3, 1), "2 years", false},
		{"1 year old: months", "2025-11-25", noon(2026, 11, 25), "12 months", false},
		{"exactly 1 month", "2026-10-25", noon(2026, 11, 25), "1 month", false},
		{"28 days, month not complete: days", "2026-10-28", noon(2026, 11, 25), "28 days", false},
		{"27 days: under 4 weeks, days", "2026-10-29", noon(2026, 11, 25), "27 days", false},
		{"born 31 Jan, 28 Feb: 28 days", "2026-01-31", noon(2026, 2, 28), "28 days", false},
		{"born 31 Jan, 1 Mar: 1 month", "2026-01-31", noon(2026, 3, 1), "1 month", false},
		{"born 1 Feb, 1 Mar: 1 month at 28 days", "2026-02-01", noon(2026, 3, 1), "1 month", false},
		{"one day", "2026-11-24", noon(2026, 11, 25), "1 day", false},
		{"born today", "2026-11-25", noon(2026, 11, 25), "under 1 day", false},
		// 23:30 UTC on 30 June is 00:30 BST on 1 July: England's day.
		{"BST: after midnight in England, before in UTC", "1990-07-01", time.Date(2026, 6, 30, 23, 30, 0, 0, time.UTC), "36 years", false},
		{"BST: newborn a day old in England", "2026-06-30", time.Date(2026, 6, 30, 23, 30, 0, 0, time.UTC), "1 day", false},
		{"BST: a minute before midnight in England", "1990-07-01", time.Date(2026, 6, 30, 22, 59, 0, 0, time.UTC), "35 years", false},
		// 23:30 UTC on 31 December is 23:30 GMT: still the 31st.
		{"GMT: before midnight", "2000-01-01", time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC), "26 years", false},
		{"GMT: midnight", "2000-01-01", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "27 years", false},
		// BST ends at 01:00 UTC on 25 October 2026: 00:30 UTC is 01:30 BST.
		{"last hour of BST", "2000-10-25", time.Date(2026, 10, 24, 23, 30, 0, 0, time.UTC), "26 years", false},
		// 07:00 on 1 July at UTC+9 is 23:00 BST on 30 June.
		{"a clock in another zone", "1990-07-01", time.Date(2026, 7, 1, 7, 0, 0, 0, time.FixedZone("UTC+9", 9*3600)), "35 years", false},
		{"year of birth only: no age", "1980", noon(2026, 11, 25), "", true},
		{"year and month only: no age", "2025-06", noon(2026, 11, 25), "", true},
		{"unreadable date of birth: no age", "25/11/1984", noon(2026, 11, 25), "", true},
		{"date of birth after today: no age", "2026-11-26", noon(2026, 11, 25), "", true},
		{"no date of birth: nothing said", "", noon(2026, 11, 25), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Banner
			b.setAge(tt.birth, "", false, tt.now)
			if b.Age != tt.age || b.AgeUnknown != tt.unknown || b.Deceased || b.Died != "" || b.AgeAtDeath != "" {
				t.Errorf("born %q at %s: %+v, want age %q (unknown %v)", tt.birth, tt.now, b, tt.age, tt.unknown)
			}
		})
	}
}

// TestDeath: a deceased patient's banner says so, with the date of death
// on England's calendar and the age at death; never an age today.
func TestDeath(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name             string
		birth, deathTime string
		deathBool        bool
		died, ageAtDeath string
	}{
		{"date and time of death, GMT", "1981-12-05", "2024-03-03T10:15:00+00:00", false, "Died 3 March 2024", "42 years"},
		{"date of death only", "1981-12-05", "2024-03-03", false, "Died 3 March 2024", "42 years"},
		{"PDS's midnight UTC stays the same day in BST", "2010-10-22", "2010-10-22T00:00:00+00:00", false, "Died 22 October 2010", "under 1 day"},
		{"23:30 UTC in summer is the next day in England", "1950-07-01", "2024-06-30T23:30:00Z", false, "Died 1 July 2024", "74 years"},
		{"a time with another offset", "1950-07-01", "2024-07-01T06:30:00+09:00", false, "Died 30 June 2024", "73 years"},
		{"fractional seconds", "1950-07-01", "2024-07-01T10:00:00.123Z", false, "Died 1 July 2024", "74 years"},
		{"died on the day before the birthday", "1950-07-01", "2024-06-30", false, "Died 30 June 2024", "73 years"},
		{"a baby", "2024-01-10", "2024-03-12", false, "Died 12 March 2024", "2 months"},
		{"a newborn", "2024-03-01", "2024-03-20", false, "Died 20 March 2024", "19 days"},
		{"leap-day birth, died 28 Feb of a common year", "2000-02-29", "2025-02-28", false, "Died 28 February 2025", "24 years"},
		{"month of death only: no age at death", "1950-07-01", "2024-06", false, "Died in June 2024", ""},
		{"year of death only", "1950-07-01", "2024", false, "Died in 2024", ""},
		{"year of birth only: no age at death", "1950", "2024-06-30", false, "Died 30 June 2024", ""},
		{"no date of birth", "", "2024-06-30", false, "Died 30 June 2024", ""},
		{"deceasedBoolean", "1950-07-01", "", true, "Date of death not recorded", ""},
		{"unreadable date of death", "1950-07-01", "30/06/2024", false, "Date of death not readable", ""},
		{"date of death before birth: no age", "2025-01-01", "2024-06-30", false, "Died 30 June 2024", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Banner
			b.setAge(tt.birth, tt.deathTime, tt.deathBool, now)
			if !b.Deceased || b.Died != tt.died || b.AgeAtDeath != tt.ageAtDeath || b.Age != "" || b.AgeUnknown {
				t.Errorf("%+v, want %q aged %q", b, tt.died, tt.ageAtDeath)
			}
		})
	}
}
