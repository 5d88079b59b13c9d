package scr_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/mappers/scr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

func instant(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// An acute issue is active for AcuteSupplyDays after its day of issue,
// counted in London days, then completed; without a readable date it is
// unknown. British Summer Time began at 01:00 UTC on 30 March 2025 and
// ended at 01:00 UTC on 26 October 2025.
func TestAcuteStatus(t *testing.T) {
	tests := []struct {
		name   string
		issued string
		now    string
		want   string
	}{
		{"issued today", "2025-06-30", "2025-06-30T12:00:00Z", "active"},
		{"issued in the future (a data or clock error) is not called finished", "2025-07-10", "2025-06-30T12:00:00Z", "active"},
		{"30th day after issue", "2025-05-31", "2025-06-30T12:00:00Z", "active"},
		{"31st day after issue", "2025-05-30", "2025-06-30T12:00:00Z", "completed"},
		{"months before", "2025-01-14", "2025-06-30T12:00:00Z", "completed"},
		{"years before", "2020-05-12", "2025-06-30T12:00:00Z", "completed"},
		// The day is London's: during BST 23:30 UTC is already tomorrow.
		{"BST: 30th day ends at 23:00 UTC", "2025-05-31", "2025-06-30T22:59:59Z", "active"},
		{"BST: London midnight, still the 30th day in UTC", "2025-05-31", "2025-06-30T23:00:00Z", "completed"},
		{"night the clocks go forward: 23:30 UTC is the next day", "2025-02-28", "2025-03-30T23:30:00Z", "completed"},
		{"night the clocks go forward: 22:59 UTC is the day", "2025-02-28", "2025-03-30T22:59:59Z", "active"},
		{"GMT after the clocks go back: 23:30 UTC is the day", "2025-09-26", "2025-10-26T23:30:00Z", "active"},
		{"GMT: UTC midnight is the next day", "2025-09-26", "2025-10-27T00:00:00Z", "completed"},
		{"now in another zone counts by London", "2025-05-31", "2025-06-30T19:30:00-04:00", "completed"},
		// A vague date counts from the last day it can mean.
		{"month: from its last day", "2025-05", "2025-06-30T12:00:00Z", "active"},
		{"month: 31 days after its last day", "2025-04", "2025-05-31T12:00:00Z", "completed"},
		{"year: from 31 December", "2024", "2025-01-30T12:00:00Z", "active"},
		{"year: 31 days after 31 December", "2024", "2025-01-31T12:00:00Z", "completed"},
		{"no date", "", "2025-06-30T12:00:00Z", "unknown"},
		{"not a date", "12/05/2020", "2025-06-30T12:00:00Z", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := scr.AcuteStatus(tt.issued, instant(tt.now))
			if got != tt.want {
				t.Errorf("AcuteStatus(%q, %s) = %s, want %s", tt.issued, tt.now, got, tt.want)
			}
			if reason == "" {
				t.Error("no reason")
			}
		})
	}
	if got, _ := scr.AcuteStatus("2025-06-30", time.Time{}); got != "unknown" {
		t.Errorf("without a now: %s, want unknown", got)
	}
}

// What a clinician sees of the statuses: an acute issue is never active by
// default, whatever the summary's age, the status says it is inferred, and
// repeats and discontinued repeats keep the GP record's own status.
func TestMedicationStatuses(t *testing.T) {
	raw, err := os.ReadFile("testdata/acute_statuses.in.json")
	if err != nil {
		t.Fatal(err)
	}
	const nhs, uuid = "9000000017", "C0000000-0000-4000-8000-000000000003"
	tests := []struct {
		name string
		now  time.Time
		want map[string]string // id suffix → status
	}{
		{name: "the night the clocks went forward", now: instant("2025-03-30T23:30:00Z"), want: map[string]string{
			"ma1": "active", "ma2": "active", "ma3": "completed", "ma4": "active", "ma5": "completed", "ma6": "completed",
			"ma7": "unknown", "ma8": "unknown", "mr1": "active", "md1": "stopped"}},
		{name: "an hour earlier, still 30 March in London", now: instant("2025-03-30T22:30:00Z"), want: map[string]string{
			"ma1": "active", "ma2": "active", "ma3": "active", "ma4": "active", "ma5": "completed", "ma6": "completed",
			"ma7": "unknown", "ma8": "unknown", "mr1": "active", "md1": "stopped"}},
		{name: "a year on", now: instant("2026-03-30T12:00:00Z"), want: map[string]string{
			"ma1": "completed", "ma2": "completed", "ma3": "completed", "ma4": "completed", "ma5": "completed", "ma6": "completed",
			"ma7": "unknown", "ma8": "unknown", "mr1": "active", "md1": "stopped"}},
		{name: "no date to judge by (Map)", now: time.Time{}, want: map[string]string{
			"ma1": "unknown", "ma2": "unknown", "ma3": "unknown", "ma4": "unknown", "ma5": "unknown", "ma6": "unknown",
			"ma7": "unknown", "ma8": "unknown", "mr1": "active", "md1": "stopped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := scr.MapAt(raw, nhs, uuid, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if tt.now.IsZero() {
				if rec, err = scr.Map(raw, nhs, uuid); err != nil {
					t.Fatal(err)
				}
			}
			if len(rec.Medications) != len(tt.want) {
				t.Fatalf("%d medications, want %d", len(rec.Medications), len(tt.want))
			}
			for _, m := range rec.Medications {
				id := m.GetId().GetValue()
				row := id[strings.LastIndex(id, "-")+1:]
				if got := fhirjson.EnumCode(m.GetStatus().GetValue()); got != tt.want[row] {
					t.Errorf("%s: %s, want %s", row, got, tt.want[row])
				}
				reasons := m.GetStatusReason()
				if acute := strings.HasPrefix(row, "ma"); acute != (len(reasons) == 1 && reasons[0].GetText().GetValue() != "") {
					t.Errorf("%s: statusReason %v", row, reasons)
				}
			}
		})
	}
}
