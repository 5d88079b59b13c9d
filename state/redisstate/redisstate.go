// Package redisstate keeps the state that replicas of the facade must share
// in Redis (when FACADE_REDIS_URL is set): the backends' rate limits (one
// GCRA quota per backend and application, github.com/go-redis/redis_rate),
// single-use grants and sessions (Store), token-replay records (Replay), a
// second level of the response cache with invalidation across replicas
// (Cache), and values every replica must agree on (Shared).
//
// Its types satisfy interfaces declared by the packages that use them
// (upstream.SharedLimiter, issuer.SharedStore, viewer.SharedStore …) using
// only standard types, so this package imports none of them, and without
// Redis each of those keeps its in-memory default.
//
// A Client watches Redis: a failed command, or a failed PING (every
// PingInterval), marks it down; while down the limiter refuses at once so
// that callers fall back to their local limit without waiting on a dead
// connection, and the cache is skipped. It is marked up again by the next
// PING answered. Mode reports it for /readyz.
package redisstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sirupsen/logrus"
)

// Modes a Client reports.
const (
	ModeUp   = "up"       // Redis answers: limits and cache are shared
	ModeDown = "degraded" // Redis does not answer: local limits, no shared cache
)

// Defaults of Options.
const (
	DefaultPrefix       = "facade:"
	DefaultPingInterval = 500 * time.Millisecond
	// DefaultTimeout bounds one command: a Redis that does not answer in
	// it is taken as down rather than slowing every request.
	DefaultTimeout = 500 * time.Millisecond
)

// ErrDown is returned without a round trip while Redis is marked down.
var ErrDown = errors.New("redis: unavailable")

// Options configure a Client.
type Options struct {
	// URL is the server, redis://[user:password@]host:port/db or rediss://
	// for TLS (env FACADE_REDIS_URL).
	URL string
	// Prefix starts every key (DefaultPrefix), so that one Redis can hold
	// several facades' state apart.
	Prefix string
	// Timeout bounds each command (DefaultTimeout); PingInterval is how
	// often Redis is checked (DefaultPingInterval).
	Timeout, PingInterval time.Duration
	// Registerer takes the metrics (nil: none).
	Registerer prometheus.Registerer
	// Logger is told of Redis going down and coming back (nil: logrus'
	// standard logger).
	Logger *logrus.Logger
}

// Client is a connection pool to Redis with its health.
type Client struct {
	rdb     *redis.Client
	prefix  string
	timeout time.Duration
	log     *logrus.Logger
	m       *metrics

	up       atomic.Bool
	onUp     []func()
	onUpMu   sync.Mutex
	stop     chan struct{}
	stopped  sync.WaitGroup
	closeOne sync.Once
}

// Open connects to opts.URL. It fails when the URL is invalid, not when
// Redis is down: a replica starts degraded and recovers when Redis answers.
func Open(opts Options) (*Client, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("FACADE_REDIS_URL: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Logger == nil {
		opts.Logger = logrus.StandardLogger()
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = opts.Timeout, opts.Timeout, opts.Timeout
	ro.PoolTimeout = 2 * opts.Timeout
	// A failed command falls back at once; retrying it would only delay
	// the request it serves.
	ro.MaxRetries = -1
	ro.ContextTimeoutEnabled = true
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	quietOnce.Do(func() { redis.SetLogger(debugLogger{opts.Logger}) })
	c := &Client{rdb: redis.NewClient(ro), prefix: opts.Prefix, timeout: opts.Timeout, log: opts.Logger,
		m: newMetrics(opts.Registerer), stop: make(chan struct{})}
	c.up.Store(c.ping())
	c.m.up.Set(b2f(c.up.Load()))
	if !c.up.Load() {
		c.log.Warn("redis: FACADE_REDIS_URL does not answer: starting degraded (local rate limits at limit ÷ FACADE_EXPECTED_REPLICAS, no shared cache) until it does")
	}
	c.stopped.Add(1)
	go c.watch(opts.PingInterval)
	return c, nil
}

// Close stops watching and closes the pool.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	c.closeOne.Do(func() { close(c.stop) })
	c.stopped.Wait()
	return c.rdb.Close()
}

// Redis is the go-redis client, for what this package does not wrap.
func (c *Client) Redis() *redis.Client { return c.rdb }

// Up reports whether Redis answered its last command or PING.
func (c *Client) Up() bool { return c.up.Load() }

// Mode is ModeUp or ModeDown, for /readyz.
func (c *Client) Mode() string {
	if c.Up() {
		return ModeUp
	}
	return ModeDown
}

// OnUp registers f to run (in its own goroutine) each time Redis comes
// back after being down.
func (c *Client) OnUp(f func()) {
	c.onUpMu.Lock()
	c.onUp = append(c.onUp, f)
	c.onUpMu.Unlock()
}

func (c *Client) watch(every time.Duration) {
	defer c.stopped.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.setUp(c.ping())
		}
	}
}

func (c *Client) ping() bool {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	return c.rdb.Ping(ctx).Err() == nil
}

// setUp records Redis' health, logging and counting a change.
func (c *Client) setUp(up bool) {
	if c.up.Swap(up) == up {
		return
	}
	c.m.up.Set(b2f(up))
	if !up {
		c.log.Warn("redis: unavailable: degraded to local rate limits (limit ÷ FACADE_EXPECTED_REPLICAS) and the in-process cache only")
		return
	}
	c.log.Info("redis: available again: shared rate limits and cache resumed")
	c.onUpMu.Lock()
	fs := append([]func(){}, c.onUp...)
	c.onUpMu.Unlock()
	for _, f := range fs {
		go f()
	}
}

// ctx bounds one command by the client's timeout within parent.
func (c *Client) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	return context.WithTimeout(parent, c.timeout)
}

// done times a command and judges its error: a failure of Redis itself
// (not redis.Nil, not the caller giving up) marks it down.
func (c *Client) done(op string, start time.Time, parent context.Context, err error) {
	c.m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	if parent != nil && parent.Err() != nil {
		return // the caller's deadline or cancellation, not Redis' fault
	}
	c.m.errors.WithLabelValues(op).Inc()
	var ne net.Error
	var re redis.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &re) {
		c.setUp(false)
	}
}

// key is the Redis key of name in space: the prefix, the space and the
// SHA-256 of name, so that ids (launches, codes, session cookies) are not
// kept readable in Redis.
func (c *Client) key(space, name string) string {
	sum := sha256.Sum256([]byte(name))
	return c.prefix + space + ":" + hex.EncodeToString(sum[:])
}

// Shared returns the value every replica agrees on under name: the first
// replica to ask stores gen's (SET NX), the others read it. It is kept
// until Redis loses it (no TTL).
func (c *Client) Shared(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	key := c.prefix + "shared:" + name
	cctx, cancel := c.ctx(ctx)
	defer cancel()
	start := time.Now()
	v, err := c.rdb.Get(cctx, key).Bytes()
	c.done("shared_get", start, ctx, err)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, redis.Nil) {
		return nil, err
	}
	mine, err := gen()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	prev, err := c.rdb.SetArgs(cctx, key, mine, redis.SetArgs{Mode: "NX", Get: true}).Bytes()
	c.done("shared_set", start, ctx, err)
	switch {
	case errors.Is(err, redis.Nil):
		return mine, nil // ours was stored
	case err != nil:
		return nil, err
	}
	return prev, nil // another replica's came first
}

// go-redis logs its own failures (every failed dial) on the standard
// logger; the Client reports Redis' health itself, so they go to debug.
var quietOnce sync.Once

type debugLogger struct{ l *logrus.Logger }

func (d debugLogger) Printf(_ context.Context, format string, v ...any) {
	d.l.Debugf("redis: "+format, v...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type metrics struct {
	up        prometheus.Gauge
	errors    *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	cache     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "facade_redis_up",
			Help: "1 while Redis answers (shared limits and cache), 0 while the replica is degraded to local ones."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facade_redis_errors_total",
			Help: "Redis commands that failed, by operation."}, []string{"op"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facade_redis_fallbacks_total",
			Help: "Uses of Redis that fell back to the replica's own state (rate_limit: the local limiter at limit ÷ expected replicas; cache: the in-process cache only)."}, []string{"use"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "facade_redis_command_duration_seconds",
			Help:    "Round trips to Redis, by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5}}, []string{"op"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facade_redis_cache_requests_total",
			Help: "Lookups in the response cache shared by replicas (after a miss in the in-process one), by result (hit, miss)."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.up, m.errors, m.fallbacks, m.duration, m.cache)
	}
	return m
}
