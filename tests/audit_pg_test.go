//go:build unix

package tests

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/audit/pgaudit/pgtest"
	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// auditMode is the audit store's mode /readyz reports, and its status.
func auditMode(t *testing.T, root string) (int, string) {
	t.Helper()
	res, err := http.Get(root + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Backends map[string]string `json:"backends"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, doc.Backends["audit"]
}

func waitAuditMode(t *testing.T, root, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, m := auditMode(t, root); m == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit store never reached %s", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAuditSurvivesPostgreSQLStoppingMidLoad is the guarantee of
// docs/audit.md: concurrent reads through a facade whose audit trail is in
// PostgreSQL, with PostgreSQL stopped (immediate shutdown, as a crash) a
// third of the way through and started again later. Every read answered
// 2xx has exactly one record in PostgreSQL once the write-ahead file is
// replayed: none lost, none twice.
func TestAuditSurvivesPostgreSQLStoppingMidLoad(t *testing.T) {
	pg := pgtest.Start(t)
	_, ts := startOwnFacade(t, app.Config{AuditDatabaseURL: pg.URL(), AuditWAL: filepath.Join(t.TempDir(), "audit.wal"), QuietLogs: true})
	root := ts.URL
	if _, m := auditMode(t, root); m != "database" {
		t.Fatalf("audit mode %q at start", m)
	}
	const workers, duration = 6, 6 * time.Second
	var (
		mu       sync.Mutex
		answered = map[string]int{} // request id → status, for every 2xx
		refused  atomic.Int64
		down     atomic.Bool
		whileOff atomic.Int64 // 2xx answered while PostgreSQL was down
	)
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res, err := http.Get(root + "/fhir/Patient/9000000009")
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode/100 != 2 {
					refused.Add(1)
					continue
				}
				if down.Load() {
					whileOff.Add(1)
				}
				mu.Lock()
				answered[res.Header.Get("X-Request-ID")] = res.StatusCode
				mu.Unlock()
			}
		}()
	}
	time.Sleep(duration / 3)
	pg.Stop()
	down.Store(true)
	time.Sleep(duration / 3)
	down.Store(false)
	pg.Start()
	wg.Wait()
	waitAuditMode(t, root, "database")
	if whileOff.Load() == 0 {
		t.Fatal("no read was answered while PostgreSQL was down: the write-ahead file was not exercised")
	}
	conn, err := pgx.Connect(context.Background(), pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), "SELECT request_id, count(*) FROM audit_record GROUP BY request_id")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		stored[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for id := range answered {
		switch stored[id] {
		case 1:
		case 0:
			lost++
		default:
			t.Errorf("request %s recorded %d times", id, stored[id])
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d answered reads have no audit record", lost, len(answered))
	}
	t.Logf("%d reads answered (%d while PostgreSQL was down), %d not 2xx, %d records", len(answered), whileOff.Load(), refused.Load(), len(stored))
}

// TestAccessRefusedWhenNoAuditStoreTakesIt: PostgreSQL down and the
// write-ahead file's directory gone, a read is answered 503 (an
// OperationOutcome, not the patient) and /readyz reports the audit store
// failed; both recover when PostgreSQL is back.
func TestAccessRefusedWhenNoAuditStoreTakesIt(t *testing.T) {
	pg := pgtest.Start(t)
	dir := filepath.Join(t.TempDir(), "wal")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, ts := startOwnFacade(t, app.Config{AuditDatabaseURL: pg.URL(), AuditWAL: filepath.Join(dir, "audit.wal"), QuietLogs: true})
	pg.Stop()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(ts.URL + "/fhir/Patient/9000000009")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var doc struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code string `json:"code"`
		} `json:"issue"`
	}
	_ = json.Unmarshal(body, &doc)
	if res.StatusCode != http.StatusServiceUnavailable || doc.ResourceType != "OperationOutcome" || len(doc.Issue) != 1 || doc.Issue[0].Code != "transient" {
		t.Fatalf("with no audit store: %d %s", res.StatusCode, body)
	}
	if status, m := auditMode(t, ts.URL); status != http.StatusServiceUnavailable || m != "failed" {
		t.Errorf("/readyz %d audit %q", status, m)
	}
	pg.Start()
	waitAuditMode(t, ts.URL, "database")
	res, err = http.Get(ts.URL + "/fhir/Patient/9000000009")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("after recovery: %d", res.StatusCode)
	}
}

// BenchmarkAuditedPatientRead measures audited Patient reads (cached by the
// facade after the first, so the audit write is a large part of each) by
// concurrent clients, with the audit trail in the JSON-lines file (flushed
// to the OS, not fsynced) and in PostgreSQL (each record committed before
// the answer), with fsync off and on. Reported as reads/s.
//
//	go test -run '^$' -bench AuditedPatientRead -benchtime 3s ./tests/
func BenchmarkAuditedPatientRead(b *testing.B) {
	stores := []struct {
		name string
		cfg  func(b *testing.B) app.Config
	}{
		{name: "file", cfg: func(b *testing.B) app.Config {
			return app.Config{AuditLog: filepath.Join(b.TempDir(), "audit.jsonl")}
		}},
		{name: "postgres-fsync-off", cfg: func(b *testing.B) app.Config {
			return app.Config{AuditDatabaseURL: pgtest.Start(b).URL(), AuditWAL: filepath.Join(b.TempDir(), "audit.wal")}
		}},
		{name: "postgres-fsync-on", cfg: func(b *testing.B) app.Config {
			return app.Config{AuditDatabaseURL: pgtest.Start(b, "fsync=on").URL(), AuditWAL: filepath.Join(b.TempDir(), "audit.wal")}
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			cfg := st.cfg(b)
			cfg.QuietLogs = true
			cfg.Logger = logrus.New()
			cfg.Logger.SetOutput(io.Discard)
			a, err := app.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(a.Handler)
			b.Cleanup(func() { ts.Close(); a.Close() })
			tok, err := a.DevToken("clinician", "")
			if err != nil {
				b.Fatal(err)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			read := func(b *testing.B) {
				req, _ := http.NewRequest(http.MethodGet, ts.URL+"/fhir/Patient/9000000009", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Errorf("status %d", res.StatusCode)
				}
			}
			read(b) // the cache warmed
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					read(b)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reads/s")
		})
	}
}
