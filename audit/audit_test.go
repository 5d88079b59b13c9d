package audit_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/audit"
)

func TestLogAppendsAndSearches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	recs := []audit.Record{
		{Time: t0, RequestID: "r1", User: "u1", Role: "R8000", Patients: []string{"9000000009"}, ResourceType: "Patient", Interaction: "read", Status: 200},
		{Time: t0.Add(time.Minute), RequestID: "r2", User: "u2", Patients: []string{"9000000017"}, ResourceType: "Flag", Interaction: "search-type", Status: 200},
		{Time: t0.Add(2 * time.Minute), RequestID: "r3", User: "u1", Patients: []string{"9000000009", "9000000017"}, ResourceType: "Patient", Interaction: "search-type", Status: 200},
	}
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.Write(context.Background(), r) }()
	}
	wg.Wait()
	tests := []struct {
		name string
		q    audit.Query
		want string
	}{
		{name: "by patient, newest first", q: audit.Query{Patient: "9000000009"}, want: "r3,r1"},
		{name: "other patient", q: audit.Query{Patient: "9000000017"}, want: "r3,r2"},
		{name: "from", q: audit.Query{From: t0.Add(30 * time.Second)}, want: "r3,r2"},
		{name: "nobody", q: audit.Query{Patient: "9111231130"}, want: ""},
		{name: "by user", q: audit.Query{User: "u1"}, want: "r3,r1"},
		{name: "by outcome", q: audit.Query{Outcomes: []string{audit.OutcomeSuccess}}, want: "r3,r2,r1"},
		{name: "no such outcome", q: audit.Query{Outcomes: []string{audit.OutcomeRefused}}, want: ""},
		{name: "any of two outcomes", q: audit.Query{Outcomes: []string{audit.OutcomeRefused, audit.OutcomeSuccess}}, want: "r3,r2,r1"},
		{name: "first page", q: audit.Query{Limit: 2}, want: "r3,r2"},
		{name: "second page", q: audit.Query{Offset: 2, Limit: 2}, want: "r1"},
		{name: "past the end", q: audit.Query{Offset: 5, Limit: 2}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, total, err := l.Search(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range recs {
				ids = append(ids, r.RequestID)
			}
			all := tt.q
			all.Offset, all.Limit = 0, 0
			if every, _, _ := l.Search(context.Background(), all); total != len(every) {
				t.Errorf("total %d, %d match", total, len(every))
			}
			if strings.Join(ids, ",") != tt.want {
				t.Errorf("got %v, want %s", ids, tt.want)
			}
		})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines in the file", len(lines))
	}
	for _, line := range lines {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("not JSON lines: %q", line)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	// Reopening appends and remembers what was there.
	l2, err := audit.Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if _, n, _ := l2.Search(context.Background(), audit.Query{}); n != 3 {
		t.Errorf("reopened log holds %d records", n)
	}
	_ = l2.Write(context.Background(), audit.Record{Time: t0.Add(time.Hour), RequestID: "r4", Patients: []string{"9000000009"}})
	raw, _ = os.ReadFile(path)
	if !strings.HasPrefix(string(raw), lines[0]) {
		t.Error("the file was rewritten, not appended to")
	}
}

func TestLogMemoryIsBounded(t *testing.T) {
	l, _ := audit.Open("", 100)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1050; i++ {
		_ = l.Write(context.Background(), audit.Record{Time: t0.Add(time.Duration(i) * time.Second), RequestID: strconv.Itoa(i), Patients: []string{"9000000009"}})
	}
	recs, n, _ := l.Search(context.Background(), audit.Query{})
	if n != 100 || len(recs) != 100 {
		t.Fatalf("%d records kept, want the bound, 100", n)
	}
	// The most recent hundred, newest first: none lost, none older kept.
	for i, r := range recs {
		if want := strconv.Itoa(1049 - i); r.RequestID != want {
			t.Fatalf("record %d is %s, want %s", i, r.RequestID, want)
		}
	}
}
