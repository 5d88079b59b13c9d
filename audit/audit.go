// Package audit keeps the record of every access to patient data: who
// (user, role, organisation), which patients, what (resource type and
// interaction), when, the outcome and the request id. Records are appended
// to a JSON-lines file that is only ever appended to, and kept in memory
// (bounded) so auditors can search them as FHIR AuditEvents.
//
// This log holds NHS numbers by design; the operational logs never do.
package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"
)

// Writer takes audit records. Write returns only once rec is durable
// (or fails): the server answers an access only after that, and refuses it
// (503) when Write fails.
type Writer interface {
	Write(ctx context.Context, rec Record) error
}

// Searcher finds audit records: the AuditEvent provider searches one.
type Searcher interface {
	// Search returns the page of matching records q.Offset and q.Limit
	// select, newest first, and how many match in all.
	Search(ctx context.Context, q Query) (recs []Record, total int, err error)
}

// Store is an audit trail: the JSON-lines file of Log (the embedded
// default) or the PostgreSQL store of package pgaudit.
type Store interface {
	Writer
	Searcher
	// Mode names the state of the store for /readyz: ModeFailed when it
	// cannot take a record now.
	Mode() string
	Close() error
}

// Modes a Store reports.
const (
	ModeFile     = "file"         // the JSON-lines file (or memory only)
	ModeDatabase = "database"     // PostgreSQL takes every record
	ModeWAL      = "wal-degraded" // PostgreSQL is down: records queue in the local write-ahead file
	ModeFailed   = "failed"       // neither takes a record: accesses are refused
)

// Record is one audited access attempt.
type Record struct {
	// ID identifies the record itself (a UUID), so that a record replayed
	// from a write-ahead file is stored once; empty in the JSON-lines file.
	ID        string    `json:"id,omitempty"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	// User is the caller's user id (the token's subject: their SDS user id
	// for a CIS2 login, the client for application-restricted access);
	// empty when the request was refused before its token was verified.
	User string `json:"user,omitempty"`
	// RoleProfile is the user's selected SDS role profile id, when known.
	RoleProfile  string `json:"role_profile,omitempty"`
	Role         string `json:"role,omitempty"`
	Organisation string `json:"organisation,omitempty"`
	// ClientID is the OAuth client the token was issued to, and Issuer the
	// token's issuer.
	ClientID string `json:"client_id,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	// Patients are the NHS numbers whose data the request touched or asked
	// for (none for a refused request that named nobody).
	Patients     []string `json:"patients"`
	ResourceType string   `json:"resource_type"`
	Interaction  string   `json:"interaction"`
	Status       int      `json:"status"`
	// Outcome says in a word what Status means for the access: OutcomeOf.
	Outcome string `json:"outcome,omitempty"`
}

// Outcomes of an access.
const (
	OutcomeSuccess  = "success"  // answered (2xx, 304)
	OutcomeRefused  = "refused"  // not authenticated or not permitted (401, 403)
	OutcomeRejected = "rejected" // the request was wrong or its precondition failed (other 4xx)
	OutcomeFailed   = "failed"   // the facade or a national service failed (5xx)
)

// OutcomeOf is the outcome an HTTP status says.
func OutcomeOf(status int) string {
	switch {
	case status == 401 || status == 403:
		return OutcomeRefused
	case status >= 500 || status == 0:
		return OutcomeFailed
	case status >= 400:
		return OutcomeRejected
	}
	return OutcomeSuccess
}

// Log appends records to a file (if any) and keeps the most recent in memory.
type Log struct {
	mu sync.Mutex
	w  *bufio.Writer
	f  *os.File
	// records is a ring of the most recent records about patients:
	// appended to until max, then each new one overwrites the oldest, at
	// start (a shift of 18,000 records every 2,000 was 5% of a cached
	// read's handler time).
	records []Record
	start   int
	max     int
	// toFile says the Log was opened with a file; set once, read unlocked.
	toFile bool
}

// DefaultMemory is how many records a Log keeps for searching: the most
// recent, about 4.5 MB of them at ~230 bytes each (the file keeps every
// one). At 100,000 they were the largest live object of a facade under
// load: 23 MB, and twice that in memory with the GC's headroom.
const DefaultMemory = 20_000

// Open returns a log appending to path (created with mode 0600 if absent;
// "" keeps records in memory only), loading the most recent records already
// in the file so searches cover earlier runs.
func Open(path string, memory int) (*Log, error) {
	if memory <= 0 {
		memory = DefaultMemory
	}
	l := &Log{max: memory, toFile: path != ""}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open the audit log: %w", err)
	}
	if err := l.load(f); err != nil {
		f.Close()
		return nil, err
	}
	l.f, l.w = f, bufio.NewWriter(f)
	return l, nil
}

func (l *Log) load(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec Record
		if json.Unmarshal(sc.Bytes(), &rec) == nil && len(rec.Patients) > 0 {
			l.keep(rec)
		}
	}
	return sc.Err()
}

func (l *Log) keep(rec Record) {
	if len(l.records) < l.max {
		l.records = append(l.records, rec)
		return
	}
	l.records[l.start] = rec
	l.start = (l.start + 1) % l.max
}

// each calls fn on the records in memory, oldest first.
func (l *Log) each(fn func(Record)) {
	for _, r := range l.records[l.start:] {
		fn(r)
	}
	for _, r := range l.records[:l.start] {
		fn(r)
	}
}

var _ Store = (*Log)(nil)

// Write appends rec. It is flushed to the file before Write returns, so an
// access is on disk before the client has the data in hand.
func (l *Log) Write(_ context.Context, rec Record) error {
	var b []byte
	if l.toFile {
		// Encoded outside the lock, and only for a file: a trail kept in
		// memory alone never needs the bytes (every audited answer pays
		// this, so it is on the hot path).
		var err error
		if b, err = json.Marshal(rec); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(rec.Patients) > 0 {
		// Only records about patients are searched (by patient); a flood
		// of refusals naming nobody must not push them out of memory. The
		// file keeps every record.
		l.keep(rec)
	}
	if l.w == nil {
		return nil
	}
	if _, err := l.w.Write(append(b, '\n')); err != nil {
		return err
	}
	return l.w.Flush()
}

// Query selects records; zero fields match everything.
type Query struct {
	Patient  string
	From, To time.Time
	// User is the caller's user id (Record.User).
	User string
	// Outcomes, when given, are the outcomes selected (any of them): the
	// Outcome constants.
	Outcomes []string
	// Offset skips that many of the matches (newest first); Limit returns
	// at most that many after it, every one when 0.
	Offset, Limit int
}

// Matches reports whether r is one of the records q selects.
func (q Query) Matches(r Record) bool {
	switch {
	case q.Patient != "" && !slices.Contains(r.Patients, q.Patient),
		!q.From.IsZero() && r.Time.Before(q.From),
		!q.To.IsZero() && r.Time.After(q.To),
		q.User != "" && r.User != q.User,
		len(q.Outcomes) > 0 && !slices.Contains(q.Outcomes, RecordOutcome(r)):
		return false
	}
	return true
}

// RecordOutcome is r's outcome: the one recorded, else what its status
// says (OutcomeOf). It is what searches select by.
func RecordOutcome(r Record) string {
	if r.Outcome != "" {
		return r.Outcome
	}
	return OutcomeOf(r.Status)
}

// Page returns the part of recs (all the matches, newest first) that q's
// Offset and Limit select.
func (q Query) Page(recs []Record) []Record {
	recs = recs[min(max(q.Offset, 0), len(recs)):]
	if q.Limit > 0 && len(recs) > q.Limit {
		recs = recs[:q.Limit]
	}
	return recs
}

// Search returns the records in memory matching q, newest first: the
// recent ones about patients (DefaultMemory); the file holds them all.
func (l *Log) Search(_ context.Context, q Query) ([]Record, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Record
	l.each(func(r Record) {
		if q.Matches(r) {
			out = append(out, r)
		}
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return q.Page(out), len(out), nil
}

// Mode implements Store: a file (or memory) always takes a record, or
// Write says why not.
func (l *Log) Mode() string { return ModeFile }

// Close flushes and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := errors.Join(l.w.Flush(), l.f.Close())
	l.f, l.w = nil, nil
	return err
}
