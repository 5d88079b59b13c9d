package period

import (
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The clocks change at 01:00 UTC: British Summer Time began on 30 March
// 2025 and 31 March 2024, and ended on 26 October 2025.
func TestEnded(t *testing.T) {
	tests := []struct {
		name string
		end  string
		now  string
		want bool
	}{
		{"no end", "", "2025-06-30T12:00:00Z", false},
		{"ends today", "2025-06-30", "2025-06-30T12:00:00Z", false},
		{"ended yesterday", "2025-06-29", "2025-06-30T12:00:00Z", true},
		{"ends tomorrow", "2025-07-01", "2025-06-30T12:00:00Z", false},
		{"GMT: last second of the end day", "2025-01-31", "2025-01-31T23:59:59Z", false},
		{"GMT: midnight after the end day", "2025-01-31", "2025-02-01T00:00:00Z", true},
		// A date end is current through the end of that day in London, which
		// during BST is an hour before midnight UTC.
		{"BST: last second of the end day", "2024-03-31", "2024-03-31T22:59:59Z", false},
		{"BST: London midnight, still the end day in UTC", "2024-03-31", "2024-03-31T23:00:00Z", true},
		{"clocks went forward that day: 23:30 UTC is the next day", "2025-03-30", "2025-03-30T23:30:00Z", true},
		{"clocks went forward that day: 22:59 UTC is the day", "2025-03-30", "2025-03-30T22:59:59Z", false},
		{"night the clocks go back: 23:30 UTC is 00:30 BST", "2025-10-25", "2025-10-25T23:30:00Z", true},
		{"clocks went back that day: 23:30 UTC is the day", "2025-10-26", "2025-10-26T23:30:00Z", false},
		{"clocks went back that day: UTC midnight is the next day", "2025-10-26", "2025-10-27T00:00:00Z", true},
		{"now in another zone counts by London", "2025-06-30", "2025-06-30T20:00:00-04:00", true},
		{"now in another zone, still the day in London", "2025-06-30", "2025-06-30T17:59:59-04:00", false},
		// Partial dates run to the end of their month or year.
		{"month: its last day", "2024-02", "2024-02-29T12:00:00Z", false},
		{"month: the next month", "2024-02", "2024-03-01T00:00:00Z", true},
		{"month in BST: London midnight", "2024-06", "2024-06-30T23:00:00Z", true},
		{"year: 31 December", "2024", "2024-12-31T23:59:59Z", false},
		{"year: New Year", "2024", "2025-01-01T00:00:00Z", true},
		// A dateTime end counts by the London day of its instant.
		{"dateTime: London day after a spring-forward night", "2025-03-30T23:30:00Z", "2025-03-31T22:59:59Z", false},
		{"dateTime: ended at the next London midnight", "2025-03-30T23:30:00Z", "2025-03-31T23:00:00Z", true},
		{"dateTime with +01:00 before UTC midnight", "2025-06-30T00:30:00+01:00", "2025-06-30T12:00:00Z", false},
		{"dateTime with -05:00 is the next London day", "2025-06-29T23:30:00-05:00", "2025-06-30T12:00:00Z", false},
		{"dateTime earlier on the end day", "2025-06-30T09:00:00Z", "2025-06-30T20:00:00Z", false},
		{"dateTime the day before", "2025-06-29T09:00:00Z", "2025-06-30T00:00:00+01:00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Ended(tt.end, at(tt.now))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Ended(%q, %s) = %v, want %v", tt.end, tt.now, got, tt.want)
			}
		})
	}
}

func TestEndedRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, end string
		now       time.Time
	}{
		{"not a FHIR date", "31/03/2024", at("2025-06-30T12:00:00Z")},
		{"no such month", "2024-13", at("2025-06-30T12:00:00Z")},
		{"time without a zone", "2024-03-31T10:00:00", at("2025-06-30T12:00:00Z")},
		{"no date to judge by", "2024-03-31", time.Time{}},
		{"no date to judge by, no end", "", time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Ended(tt.end, tt.now); err == nil {
				t.Errorf("Ended(%q) = %v, want an error", tt.end, got)
			}
			if got, err := FlagStatus("active", tt.end, tt.now); err == nil {
				t.Errorf("FlagStatus(%q) = %q, want an error", tt.end, got)
			}
		})
	}
}

func TestFlagStatus(t *testing.T) {
	now := at("2025-03-30T23:30:00Z") // 00:30 BST on 31 March
	tests := []struct {
		status, end, want string
	}{
		{"active", "", "active"},
		{"active", "2025-03-31", "active"},
		{"active", "2025-03-30", "inactive"},
		{"active", "2019-12-31", "inactive"},
		{"inactive", "2025-04-30", "inactive"},
		{"inactive", "", "inactive"},
		{"entered-in-error", "2025-03-30", "entered-in-error"},
		{"entered-in-error", "", "entered-in-error"},
	}
	for _, tt := range tests {
		t.Run(tt.status+" "+tt.end, func(t *testing.T) {
			got, err := FlagStatus(tt.status, tt.end, now)
			if err != nil || got != tt.want {
				t.Errorf("FlagStatus(%q, %q) = %q, %v, want %q", tt.status, tt.end, got, err, tt.want)
			}
		})
	}
}

func TestLastDayAndToday(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"2024-03-31", "2024-03-31"},
		{"2024-02", "2024-02-29"},
		{"2023-02", "2023-02-28"},
		{"2024-12", "2024-12-31"},
		{"2024", "2024-12-31"},
		{"2025-03-30T23:30:00Z", "2025-03-31"},
		{"2025-01-31T23:30:00Z", "2025-01-31"},
		{"2025-07-01T00:30:00+01:00", "2025-07-01"},
		{"2025-07-01T00:30:00+02:00", "2025-06-30"},
	} {
		got, err := LastDay(tt.in)
		if err != nil || got.Format(time.DateOnly) != tt.want {
			t.Errorf("LastDay(%q) = %s, %v, want %s", tt.in, got.Format(time.DateOnly), err, tt.want)
		}
	}
	for _, tt := range []struct{ now, want string }{
		{"2025-03-30T00:30:00Z", "2025-03-30"},
		{"2025-03-30T23:30:00Z", "2025-03-31"},
		{"2025-12-31T23:30:00Z", "2025-12-31"},
		{"2025-12-31T23:30:00-01:00", "2026-01-01"},
	} {
		if got := Today(at(tt.now)).Format(time.DateOnly); got != tt.want {
			t.Errorf("Today(%s) = %s, want %s", tt.now, got, tt.want)
		}
	}
}
