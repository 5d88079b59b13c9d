// Package pgaudit keeps the audit trail in PostgreSQL, shared by every
// replica of the facade, with a local write-ahead file for when PostgreSQL
// is down.
//
// The guarantee: Write returns nil only once the record is committed in
// PostgreSQL or appended and fsynced to the write-ahead file (WAL). The
// server answers an access only after Write returns nil, and answers 503
// when it does not, so no access is answered without a durable record.
// Records in the WAL are replayed into PostgreSQL when it is reachable
// again (idempotently: each record carries its own UUID), and the WAL is
// removed only after every record in it is committed. While records wait
// in the WAL they are not yet searchable.
package pgaudit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/audit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key under which migrations run, so
// replicas starting together apply each one once.
const migrationLock = 0x6661636164652d61 // "facade-a"

// Options configure a Store.
type Options struct {
	// URL is the PostgreSQL connection string (AUDIT_DATABASE_URL).
	URL string
	// WAL is the write-ahead file (AUDIT_WAL); its directory must exist.
	WAL string
	// WriteTimeout bounds one insert before the record goes to the WAL
	// instead (default 2s).
	WriteTimeout time.Duration
	// RetryInterval is how often a degraded store tries PostgreSQL again
	// (default 1s).
	RetryInterval time.Duration
	Logger        logrus.FieldLogger
	// Registerer, when set, receives the store's metrics.
	Registerer prometheus.Registerer
}

// Store is the PostgreSQL audit trail. It implements audit.Store.
type Store struct {
	opts Options
	pool *pgxpool.Pool
	log  logrus.FieldLogger
	mode atomic.Value // string: audit.ModeDatabase, ModeWAL or ModeFailed

	walMu   sync.Mutex
	wal     *os.File // open while records are queued
	pending int      // records in the WAL

	migrated atomic.Bool
	stop     chan struct{}
	done     chan struct{}
	m        *metrics
}

var _ audit.Store = (*Store)(nil)

// Open connects to PostgreSQL, applies the migrations and replays any WAL
// left by an earlier run. PostgreSQL being unreachable is not an error: the
// store starts degraded, queueing to the WAL, and recovers in the
// background. A bad URL or a WAL whose directory is missing is.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 2 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = logrus.New()
	}
	if o.WAL == "" {
		return nil, errors.New("pgaudit: a write-ahead file (AUDIT_WAL) is required")
	}
	if fi, err := os.Stat(filepath.Dir(o.WAL)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("pgaudit: the write-ahead file's directory %s does not exist", filepath.Dir(o.WAL))
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		// The error may quote the URL, password included.
		return nil, errors.New("pgaudit: AUDIT_DATABASE_URL is not a valid PostgreSQL connection string")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > o.WriteTimeout {
		cfg.ConnConfig.ConnectTimeout = o.WriteTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgaudit: %w", err)
	}
	s := &Store{opts: o, pool: pool, log: o.Logger.WithField("component", "audit"), stop: make(chan struct{}), done: make(chan struct{}), m: newMetrics(o.Registerer)}
	s.mode.Store(audit.ModeDatabase)
	if n, err := s.queued(); err != nil {
		pool.Close()
		return nil, err
	} else if n > 0 {
		s.pending = n
		s.setMode(audit.ModeWAL)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*o.WriteTimeout)
	err = s.recover(rctx)
	cancel()
	if err != nil {
		s.log.WithField("error", err.Error()).Warn("audit database unavailable at start; queueing audit records to the write-ahead file")
		s.setMode(audit.ModeWAL)
	}
	go s.loop()
	return s, nil
}

// Mode implements audit.Store.
func (s *Store) Mode() string { return s.mode.Load().(string) }

func (s *Store) setMode(m string) {
	if old := s.mode.Swap(m); old != m {
		s.log.WithFields(logrus.Fields{"from": old, "to": m}).Warn("audit store mode changed")
	}
	s.m.setMode(m)
}

// Write implements audit.Writer: committed in PostgreSQL, or fsynced to the
// WAL, before it returns nil.
func (s *Store) Write(ctx context.Context, rec audit.Record) error {
	if rec.ID == "" {
		rec.ID = uuid.NewString()
	}
	// PostgreSQL keeps microseconds: the WAL and the table agree.
	rec.Time = rec.Time.Truncate(time.Microsecond)
	clean(&rec)
	start := time.Now()
	if s.Mode() == audit.ModeDatabase {
		err := s.insert(ctx, rec)
		if err == nil {
			s.m.observe("database", start)
			return nil
		}
		s.log.WithFields(logrus.Fields{"request_id": rec.RequestID, "error": err.Error()}).Warn("audit database write failed; queueing to the write-ahead file")
		s.setMode(audit.ModeWAL)
	}
	werr := s.appendWAL(rec)
	if werr == nil {
		s.m.observe("wal", start)
		return nil
	}
	// The WAL is unusable: the database, if it is back, is the last resort.
	if err := s.insert(ctx, rec); err == nil {
		s.m.observe("database", start)
		return nil
	}
	s.setMode(audit.ModeFailed)
	s.m.observe("refused", start)
	return fmt.Errorf("pgaudit: neither the database nor the write-ahead file took the record: %w", werr)
}

const insertSQL = `WITH r AS (
	INSERT INTO audit_record (id, recorded, request_id, user_id, role_profile, role, organisation, client_id, issuer, patients, resource_type, interaction, status, outcome)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	ON CONFLICT (id) DO NOTHING
	RETURNING id, recorded, patients)
INSERT INTO audit_patient (patient, recorded, record_id)
SELECT p, r.recorded, r.id FROM r, unnest(r.patients) AS p`

func insertArgs(r audit.Record) []any {
	patients := r.Patients
	if patients == nil {
		patients = []string{}
	}
	return []any{r.ID, r.Time, r.RequestID, r.User, r.RoleProfile, r.Role, r.Organisation, r.ClientID, r.Issuer, patients, r.ResourceType, r.Interaction, r.Status, audit.RecordOutcome(r)}
}

func (s *Store) insert(ctx context.Context, rec audit.Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.WriteTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, insertSQL, insertArgs(rec)...)
	return err
}

// clean makes rec's text storable: PostgreSQL text holds neither NUL nor
// invalid UTF-8, and a record it refuses would block the WAL's replay.
func clean(rec *audit.Record) {
	for _, p := range []*string{&rec.RequestID, &rec.User, &rec.RoleProfile, &rec.Role, &rec.Organisation, &rec.ClientID, &rec.Issuer, &rec.ResourceType, &rec.Interaction, &rec.Outcome} {
		*p = strings.ReplaceAll(strings.ToValidUTF8(*p, "\uFFFD"), "\x00", "\uFFFD")
	}
	for i, p := range rec.Patients {
		rec.Patients[i] = strings.ReplaceAll(strings.ToValidUTF8(p, "\uFFFD"), "\x00", "\uFFFD")
	}
}

// appendWAL appends rec to the WAL and fsyncs it.
func (s *Store) appendWAL(rec audit.Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	s.walMu.Lock()
	defer s.walMu.Unlock()
	if s.wal == nil {
		f, err := os.OpenFile(s.opts.WAL, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		// The file's directory entry must be durable too.
		if err := syncDir(filepath.Dir(s.opts.WAL)); err != nil {
			f.Close()
			return err
		}
		s.wal = f
	}
	if _, err := s.wal.Write(append(b, '\n')); err != nil {
		s.closeWAL()
		return err
	}
	if err := s.wal.Sync(); err != nil {
		s.closeWAL()
		return err
	}
	// A WAL removed or replaced under the open file would take records
	// that no replay ever reads.
	open, err1 := s.wal.Stat()
	named, err2 := os.Stat(s.opts.WAL)
	if err := errors.Join(err1, err2); err != nil || !os.SameFile(open, named) {
		s.closeWAL()
		return cmp.Or(err, errors.New("the write-ahead file was removed"))
	}
	s.pending++
	s.m.pending.Set(float64(s.pending))
	if s.Mode() == audit.ModeFailed {
		s.setMode(audit.ModeWAL)
	}
	return nil
}

func (s *Store) closeWAL() {
	if s.wal != nil {
		_ = s.wal.Close()
		s.wal = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// queued counts the records in a WAL left by an earlier run.
func (s *Store) queued() (int, error) {
	b, err := os.ReadFile(s.opts.WAL)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pgaudit: read the write-ahead file: %w", err)
	}
	return bytes.Count(b, []byte{'\n'}), nil
}

// loop retries PostgreSQL while the store is degraded, or while a record
// reached the WAL just after a recovery.
func (s *Store) loop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.walMu.Lock()
		pending := s.pending
		s.walMu.Unlock()
		if s.Mode() == audit.ModeDatabase && pending == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*s.opts.WriteTimeout)
		if err := s.recover(ctx); err != nil {
			s.log.WithField("error", err.Error()).Debug("audit database still unavailable")
		}
		cancel()
	}
}

// recover migrates the schema if not yet done, replays the WAL and returns
// the store to database mode. Writers wait for the WAL while it replays, so
// none is appended after the replay read it and lost when it is removed.
func (s *Store) recover(ctx context.Context) error {
	if !s.migrated.Load() {
		if err := s.migrate(ctx); err != nil {
			return err
		}
		s.migrated.Store(true)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return err
	}
	s.walMu.Lock()
	defer s.walMu.Unlock()
	n, err := s.replay(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.WithField("records", n).Info("audit records replayed from the write-ahead file")
	}
	s.setMode(audit.ModeDatabase)
	return nil
}

// replay inserts every record of the WAL, then removes it. It holds walMu.
func (s *Store) replay(ctx context.Context) (int, error) {
	raw, err := os.ReadFile(s.opts.WAL)
	if errors.Is(err, fs.ErrNotExist) {
		s.pending = 0
		s.m.pending.Set(0)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var recs []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec audit.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.ID == "" {
			// Only a line torn by a crash mid-append: its Write failed,
			// so its access was never answered.
			s.log.Warn("a torn line in the audit write-ahead file skipped")
			continue
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	const batchSize = 500
	for len(recs) > 0 {
		chunk := recs[:min(batchSize, len(recs))]
		recs = recs[len(chunk):]
		b := &pgx.Batch{}
		for _, rec := range chunk {
			b.Queue(insertSQL, insertArgs(rec)...)
		}
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return 0, err
		}
		s.m.replayed.Add(float64(len(chunk)))
	}
	s.closeWAL()
	if err := os.Remove(s.opts.WAL); err != nil {
		return 0, err
	}
	if err := syncDir(filepath.Dir(s.opts.WAL)); err != nil {
		return 0, err
	}
	n := s.pending
	s.pending = 0
	s.m.pending.Set(0)
	return n, nil
}

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, in name order, each in its own transaction, under an
// advisory lock.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLock))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    text        PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return err
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(filepath.Base(name), ".sql")
		if contains(applied, version) {
			continue
		}
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", version)
			return err
		})
		if err != nil {
			return fmt.Errorf("pgaudit: migration %s: %w", version, err)
		}
		s.log.WithField("version", version).Info("audit schema migration applied")
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Search implements audit.Searcher from PostgreSQL: newest first, the page
// q.Offset and q.Limit select, and the number of matches. Records still in
// the WAL are not found until replayed.
func (s *Store) Search(ctx context.Context, q audit.Query) ([]audit.Record, int, error) {
	from, at, key := "audit_record r", "r.recorded", "r.id"
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Patient != "" {
		from, at, key = "audit_patient p JOIN audit_record r ON r.id = p.record_id", "p.recorded", "p.record_id"
		where = append(where, "p.patient = "+arg(q.Patient))
	}
	if !q.From.IsZero() {
		where = append(where, at+" >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, at+" <= "+arg(q.To))
	}
	if q.User != "" {
		where = append(where, "r.user_id = "+arg(q.User))
	}
	if len(q.Outcomes) > 0 {
		where = append(where, "r.outcome = ANY("+arg(q.Outcomes)+")")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+from+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	page := " ORDER BY " + at + " DESC, " + key + " DESC OFFSET " + arg(max(q.Offset, 0))
	if q.Limit > 0 {
		page += " LIMIT " + arg(q.Limit)
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id::text, r.recorded, r.request_id, r.user_id, r.role_profile, r.role, r.organisation,
		r.client_id, r.issuer, r.patients, r.resource_type, r.interaction, r.status, r.outcome FROM `+from+cond+page, args...)
	if err != nil {
		return nil, 0, err
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Record, error) {
		var r audit.Record
		err := row.Scan(&r.ID, &r.Time, &r.RequestID, &r.User, &r.RoleProfile, &r.Role, &r.Organisation,
			&r.ClientID, &r.Issuer, &r.Patients, &r.ResourceType, &r.Interaction, &r.Status, &r.Outcome)
		r.Time = r.Time.UTC()
		return r, err
	})
	return recs, total, err
}

// Close stops the recovery loop and closes the pool and the WAL; records
// still in the WAL are replayed at the next Open.
func (s *Store) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	<-s.done
	s.pool.Close()
	s.walMu.Lock()
	defer s.walMu.Unlock()
	s.closeWAL()
	return nil
}

type metrics struct {
	writes   *prometheus.HistogramVec
	pending  prometheus.Gauge
	replayed prometheus.Counter
	mode     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		writes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "facade_audit_write_duration_seconds",
			Help:    "Time to make one audit record durable, by where it went: database, wal (PostgreSQL down) or refused (neither took it).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"sink"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "facade_audit_wal_records",
			Help: "Audit records waiting in the local write-ahead file for PostgreSQL.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facade_audit_wal_replayed_total",
			Help: "Audit records replayed from the write-ahead file into PostgreSQL.",
		}),
		mode: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "facade_audit_store_mode",
			Help: "1 for the audit store's current mode (database, wal-degraded, failed).",
		}, []string{"mode"}),
	}
	if reg != nil {
		reg.MustRegister(m.writes, m.pending, m.replayed, m.mode)
	}
	return m
}

func (m *metrics) observe(sink string, start time.Time) {
	m.writes.WithLabelValues(sink).Observe(time.Since(start).Seconds())
}

func (m *metrics) setMode(mode string) {
	for _, k := range []string{audit.ModeDatabase, audit.ModeWAL, audit.ModeFailed} {
		v := 0.0
		if k == mode {
			v = 1
		}
		m.mode.WithLabelValues(k).Set(v)
	}
}
