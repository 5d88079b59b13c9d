//go:build unix

package pgaudit_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/audit/pgaudit"
	"github.com/carerecords/fhir-facade/audit/pgaudit/pgtest"
)

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func open(t *testing.T, url, wal string) *pgaudit.Store {
	t.Helper()
	s, err := pgaudit.Open(context.Background(), pgaudit.Options{URL: url, WAL: wal, Logger: quiet(),
		WriteTimeout: 500 * time.Millisecond, RetryInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func query(t *testing.T, url, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrationsAreAppliedOnceAndIdempotent(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	// Replicas starting together: the advisory lock lets one apply each
	// migration; the others find it done.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgaudit.Open(context.Background(), pgaudit.Options{URL: pg.URL(), WAL: filepath.Join(dir, fmt.Sprint(i)), Logger: quiet()})
			if err != nil {
				t.Error(err)
				return
			}
			if s.Mode() != audit.ModeDatabase {
				t.Errorf("mode %s", s.Mode())
			}
			s.Close()
		}()
	}
	wg.Wait()
	s := open(t, pg.URL(), filepath.Join(dir, "again"))
	if s.Mode() != audit.ModeDatabase {
		t.Errorf("mode %s after reopening", s.Mode())
	}
	if n := query(t, pg.URL(), "SELECT count(*) FROM schema_migrations"); n != 1 {
		t.Errorf("%d migrations recorded, want 1", n)
	}
	if n := query(t, pg.URL(), "SELECT count(*) FROM pg_indexes WHERE tablename IN ('audit_record', 'audit_patient')"); n < 6 {
		t.Errorf("%d indexes", n)
	}
}

func TestWriteAndSearch(t *testing.T) {
	pg := pgtest.Start(t)
	s := open(t, pg.URL(), filepath.Join(t.TempDir(), "wal"))
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	recs := []audit.Record{
		{Time: t0, RequestID: "r1", User: "u1", RoleProfile: "555", Role: "R8000", Organisation: "A1", ClientID: "c", Issuer: "i", Patients: []string{"9000000009"}, ResourceType: "Patient", Interaction: "read", Status: 200},
		{Time: t0.Add(time.Minute), RequestID: "r2", User: "u2", Patients: []string{"9000000017"}, ResourceType: "Flag", Interaction: "search-type", Status: 200},
		{Time: t0.Add(2 * time.Minute), RequestID: "r3", User: "u1", Patients: []string{"9000000009", "9000000017"}, ResourceType: "Patient", Interaction: "search-type", Status: 200},
		{Time: t0.Add(3 * time.Minute), RequestID: "r4", User: "u2", Patients: []string{"9000000009"}, ResourceType: "Patient", Interaction: "read", Status: 403},
		{Time: t0.Add(4 * time.Minute), RequestID: "r5", ResourceType: "Patient", Interaction: "read", Status: 401},
		{Time: t0.Add(24 * time.Hour), RequestID: "r6\x00", User: "u1", Patients: []string{"9000000009"}, ResourceType: "Patient", Interaction: "read", Status: 502},
	}
	for _, r := range recs {
		if err := s.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		q     audit.Query
		want  string
		total int
	}{
		{name: "by patient, newest first", q: audit.Query{Patient: "9000000009"}, want: "r6\uFFFD,r4,r3,r1", total: 4},
		{name: "other patient", q: audit.Query{Patient: "9000000017"}, want: "r3,r2", total: 2},
		{name: "nobody", q: audit.Query{Patient: "9111231130"}, want: "", total: 0},
		{name: "every record, refusals naming nobody too", q: audit.Query{}, want: "r6\uFFFD,r5,r4,r3,r2,r1", total: 6},
		{name: "patient and date", q: audit.Query{Patient: "9000000009", From: t0.Add(30 * time.Second), To: t0.Add(time.Hour)}, want: "r4,r3", total: 2},
		{name: "date only", q: audit.Query{From: t0.Add(24 * time.Hour)}, want: "r6\uFFFD", total: 1},
		{name: "agent", q: audit.Query{User: "u2"}, want: "r4,r2", total: 2},
		{name: "patient and agent", q: audit.Query{Patient: "9000000009", User: "u1"}, want: "r6\uFFFD,r3,r1", total: 3},
		{name: "outcome", q: audit.Query{Outcomes: []string{audit.OutcomeRefused}}, want: "r5,r4", total: 2},
		{name: "any of two outcomes", q: audit.Query{Outcomes: []string{audit.OutcomeRefused, audit.OutcomeFailed}}, want: "r6\uFFFD,r5,r4", total: 3},
		{name: "patient and outcome", q: audit.Query{Patient: "9000000009", Outcomes: []string{audit.OutcomeFailed}}, want: "r6\uFFFD", total: 1},
		{name: "first page", q: audit.Query{Patient: "9000000009", Limit: 2}, want: "r6\uFFFD,r4", total: 4},
		{name: "second page", q: audit.Query{Patient: "9000000009", Offset: 2, Limit: 2}, want: "r3,r1", total: 4},
		{name: "past the end", q: audit.Query{Patient: "9000000009", Offset: 4, Limit: 2}, want: "", total: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.Search(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.RequestID)
			}
			if strings.Join(ids, ",") != tt.want || total != tt.total {
				t.Errorf("got %q total %d, want %q total %d", ids, total, tt.want, tt.total)
			}
		})
	}
	// A record comes back as written (time to the microsecond PostgreSQL keeps).
	got, _, err := s.Search(ctx, audit.Query{Patient: "9000000009", User: "u1", To: t0})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	want := recs[0]
	want.ID, want.Time, want.Outcome = got[0].ID, t0.Truncate(time.Microsecond), audit.OutcomeSuccess
	if fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], want)
	}
	// The same record written twice (a replay) is stored once.
	if err := s.Write(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if n := query(t, pg.URL(), "SELECT count(*) FROM audit_record WHERE request_id = 'r1'"); n != 1 {
		t.Errorf("%d rows for one record", n)
	}
	if n := query(t, pg.URL(), "SELECT count(*) FROM audit_patient"); n != 6 {
		t.Errorf("%d patient rows, want 6", n)
	}
}

// TestDatabaseDownQueuesToTheWALAndReplays stops PostgreSQL: writes go to
// the WAL (mode wal-degraded), are replayed once it is back (mode database)
// and the WAL is removed; a store opened while PostgreSQL is down starts
// degraded and replays a WAL an earlier run left.
func TestDatabaseDownQueuesToTheWALAndReplays(t *testing.T) {
	pg := pgtest.Start(t)
	wal := filepath.Join(t.TempDir(), "audit.wal")
	s := open(t, pg.URL(), wal)
	ctx := context.Background()
	write := func(s *pgaudit.Store, id string) {
		t.Helper()
		if err := s.Write(ctx, audit.Record{Time: time.Now(), RequestID: id, Patients: []string{"9000000009"}, Status: 200}); err != nil {
			t.Fatalf("write %s: %v", id, err)
		}
	}
	write(s, "before")
	pg.Stop()
	write(s, "during-1")
	write(s, "during-2")
	if s.Mode() != audit.ModeWAL {
		t.Errorf("mode %s with the database down", s.Mode())
	}
	if _, _, err := s.Search(ctx, audit.Query{Patient: "9000000009"}); err == nil {
		t.Error("a search with the database down did not fail")
	}
	s.Close()
	// A new run, still without the database, takes records into the same WAL.
	s2 := open(t, pg.URL(), wal)
	if s2.Mode() != audit.ModeWAL {
		t.Errorf("mode %s when opened with the database down and a WAL", s2.Mode())
	}
	write(s2, "during-3")
	pg.Start()
	waitFor(t, func() bool { return s2.Mode() == audit.ModeDatabase })
	if _, err := os.Stat(wal); !os.IsNotExist(err) {
		t.Errorf("the WAL is still there after the replay: %v", err)
	}
	write(s2, "after")
	got, total, err := s2.Search(ctx, audit.Query{Patient: "9000000009"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.RequestID)
	}
	if strings.Join(ids, ",") != "after,during-3,during-2,during-1,before" || total != 5 {
		t.Errorf("after recovery: %v (total %d)", ids, total)
	}
}

// TestNeitherDatabaseNorWALFails: with PostgreSQL down and the WAL's
// directory gone, Write fails (the server refuses the access) and the
// mode is failed; it recovers when PostgreSQL is back.
func TestNeitherDatabaseNorWALFails(t *testing.T) {
	pg := pgtest.Start(t)
	dir := filepath.Join(t.TempDir(), "wal")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := open(t, pg.URL(), filepath.Join(dir, "audit.wal"))
	pg.Stop()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	rec := audit.Record{Time: time.Now(), RequestID: "lost", Patients: []string{"9000000009"}, Status: 200}
	if err := s.Write(context.Background(), rec); err == nil {
		t.Fatal("Write succeeded with neither the database nor the WAL")
	}
	if s.Mode() != audit.ModeFailed {
		t.Errorf("mode %s", s.Mode())
	}
	pg.Start()
	waitFor(t, func() bool { return s.Mode() == audit.ModeDatabase })
	if err := s.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesABadConfiguration(t *testing.T) {
	tests := []struct{ name, url, wal string }{
		{name: "no WAL", url: "postgres://127.0.0.1:1/x", wal: ""},
		{name: "WAL directory missing", url: "postgres://127.0.0.1:1/x", wal: "/nonexistent/dir/audit.wal"},
		{name: "not a URL", url: "postgres://u:secret@[::1", wal: filepath.Join(t.TempDir(), "w")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pgaudit.Open(context.Background(), pgaudit.Options{URL: tt.url, WAL: tt.wal, Logger: quiet()})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
