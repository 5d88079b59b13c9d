// Package upstream is the HTTP plumbing every backend client shares: one
// pooled http.Client per backend, the NHS API platform headers (X-Request-ID
// per call, X-Correlation-ID from the facade's request, bearer token), a
// per-attempt timeout, a bounded body read, metrics, the refusal of redirects
// (never followed: see newHTTPClient), and the categorisation of transport
// failures; and each backend's resilience policy (retries of idempotent
// reads, circuit breaker, bulkhead, rate limit) and the cache in front of its
// reads (package cache). Of FHIR it knows only an OperationOutcome's code
// (ParseOutcome) and a one-page searchset (SearchBundle).
package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/carerecords/fhir-facade/backends/upstream/cache"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/request"
)

// DefaultTimeout bounds one backend call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultMaxBody bounds the bytes read from one backend response.
const DefaultMaxBody = 8 << 20

// Config configures the client of one backend.
type Config struct {
	// Name labels metrics and errors ("pds").
	Name string
	// BaseURL is the service's base, e.g. https://sandbox.api.service.nhs.uk/personal-demographics/FHIR/R4.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>" when non-empty. It is
	// never logged.
	Token string
	// Timeout bounds each attempt; DefaultTimeout when zero. The caller's
	// context bounds the whole call, retries and waits included.
	Timeout time.Duration
	// MaxBody bounds the response body read; DefaultMaxBody when zero.
	MaxBody int64
	// Header is sent on every call (e.g. NHSD-End-User-Organisation-ODS).
	Header http.Header
	// Transport overrides the pooled transport (tests).
	Transport http.RoundTripper
	// TLS configures the pooled transport's TLS: the CA to trust and, for
	// mutual TLS, the facade's client certificate. nil means the system's
	// roots and no client certificate.
	TLS *tls.Config

	// Retries (idempotent reads only: GET and HEAD). MaxAttempts is how many
	// attempts a read makes in all, DefaultMaxAttempts when zero; 1 disables
	// retries. A read is retried after a transport error, a timeout of one
	// attempt, or a 408, 429, 502, 503 or 504, with the same X-Request-ID,
	// after the backend's Retry-After or else a jittered exponential backoff
	// from BackoffBase to BackoffMax (DefaultBackoffBase, DefaultBackoffMax
	// when zero), and never past the caller's deadline. A Retry-After longer
	// than MaxRetryAfter (DefaultMaxRetryAfter when zero) or than the time
	// left is not waited for: the answer is returned as it is.
	MaxAttempts   int
	BackoffBase   time.Duration
	BackoffMax    time.Duration
	MaxRetryAfter time.Duration

	// Circuit breaker. BreakerThreshold consecutive failures (transport
	// errors, timeouts, 5xx; not 4xx, not 429) open the circuit
	// (DefaultBreakerThreshold when zero, negative disables the breaker);
	// it fails fast for BreakerCooldown (DefaultBreakerCooldown when zero),
	// then lets one probe through at a time until one succeeds.
	BreakerThreshold int
	BreakerCooldown  time.Duration

	// MaxConcurrent bounds the calls in flight to the backend
	// (DefaultMaxConcurrent when zero, negative means unbounded); a call
	// waits for a slot within its deadline (or Timeout), else fails with
	// Unavailable.
	MaxConcurrent int

	// RateLimit is the calls per second the backend grants the facade (0 =
	// unlimited); RateBurst how many may go at once (1 when zero: evenly
	// spaced, as the API platform's spike arrest counts). A call over the
	// quota waits for its turn if that leaves a tenth of the time to its
	// deadline (or Timeout) for the call, else fails at once with Throttled
	// and a Retry-After.
	RateLimit float64
	RateBurst int

	// CacheTTL is how long a 200 answer to a GET is served from the cache
	// (0 = no caching). Cache is the store, which may be shared by several
	// backends of distinct Names (see NewCache); when it is nil and CacheTTL
	// is set, the client has a store of its own bounded to CacheMaxBytes
	// (cache.DefaultMaxBytes when zero), freed by Close.
	CacheTTL      time.Duration
	Cache         *cache.Cache
	CacheMaxBytes int64

	// TracerProvider, when set, traces every attempt (a client span named
	// "<Name> <Op>", traceparent sent beside X-Correlation-ID); nil: no
	// tracing, not even a no-op wrapper.
	TracerProvider trace.TracerProvider
}

// Client calls one backend.
type Client struct {
	cfg     Config
	base    *url.URL
	http    *http.Client
	metrics *Metrics
	created time.Time

	breaker *breaker      // nil when disabled
	limiter *rate.Limiter // nil when unlimited
	shared  *sharedLimit  // the limit shared by replicas; nil when local only (ShareRateLimit)
	slots   chan struct{} // the bulkhead; nil when unbounded

	store    *cache.Cache // nil when not caching
	ownStore bool
	flights  cache.Group[*Response]
	l2       SharedCache // the second level shared by replicas; nil when none (ShareCache)

	// owned is the transport New made, whose idle connections Close closes.
	owned *http.Transport
	// traced: calls carry their operation to the tracing transport.
	traced bool

	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	jitter func(time.Duration) time.Duration
}

// New returns a client for cfg; m may be nil (no metrics).
func New(cfg Config, m *Metrics) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("upstream %s: invalid base URL", cfg.Name)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	cfg.MaxAttempts = orDefault(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.BackoffBase = orDefault(cfg.BackoffBase, DefaultBackoffBase)
	cfg.BackoffMax = max(orDefault(cfg.BackoffMax, DefaultBackoffMax), cfg.BackoffBase)
	cfg.MaxRetryAfter = orDefault(cfg.MaxRetryAfter, DefaultMaxRetryAfter)
	cfg.BreakerThreshold = orDefault(cfg.BreakerThreshold, DefaultBreakerThreshold)
	cfg.BreakerCooldown = orDefault(cfg.BreakerCooldown, DefaultBreakerCooldown)
	cfg.MaxConcurrent = orDefault(cfg.MaxConcurrent, DefaultMaxConcurrent)
	cfg.RateBurst = orDefault(cfg.RateBurst, 1)
	if cfg.MaxAttempts < 1 || cfg.RateLimit < 0 || cfg.RateBurst < 0 || cfg.CacheTTL < 0 ||
		cfg.BackoffBase < 0 || cfg.MaxRetryAfter < 0 || cfg.BreakerCooldown < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("upstream %s: negative or zero limit in the configuration", cfg.Name)
	}
	c := &Client{cfg: cfg, base: base, metrics: m, now: time.Now, sleep: sleepCtx, jitter: equalJitter}
	c.created = c.now()
	rt := cfg.Transport
	if rt == nil {
		c.owned = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   128,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       cfg.TLS,
		}
		rt = c.owned
	}
	if cfg.TracerProvider != nil {
		c.traced, rt = true, c.tracedTransport(rt, cfg.TracerProvider)
	}
	c.http = newHTTPClient(rt)
	if cfg.BreakerThreshold > 0 {
		c.breaker = newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown, c.created)
	}
	if cfg.RateLimit > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	if cfg.MaxConcurrent > 0 {
		c.slots = make(chan struct{}, cfg.MaxConcurrent)
	}
	if cfg.CacheTTL > 0 {
		c.store = cfg.Cache
		if c.store == nil {
			if c.store, err = NewCache(cfg.CacheMaxBytes, m); err != nil {
				return nil, fmt.Errorf("upstream %s: %w", cfg.Name, err)
			}
			c.ownStore = true
		}
	}
	m.track(c)
	return c, nil
}

// orDefault returns v, or d when v is zero.
func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// NewCache returns a cache store bounded to maxBytes
// (cache.DefaultMaxBytes when zero) that several clients may share through
// Config.Cache; its lookups and evictions are counted in m (which may be
// nil). Close it when done.
func NewCache(maxBytes int64, m *Metrics) (*cache.Cache, error) {
	var cm *cache.Metrics
	if m != nil {
		cm = m.cache
	}
	return cache.New(cache.Options{MaxBytes: maxBytes, Metrics: cm})
}

// Close frees what the client holds: its own cache store and idle
// connections. Calls may still be made afterwards, uncached.
func (c *Client) Close() {
	if c.ownStore {
		// A closed store finds nothing and keeps nothing.
		c.store.Close()
	}
	if c.owned != nil {
		c.owned.CloseIdleConnections()
	}
}

// Name is the backend's name.
func (c *Client) Name() string { return c.cfg.Name }

// Request is one call to the backend.
type Request struct {
	Method string
	// Path is appended to the base URL ("/Patient/9000000009"); it must be
	// already escaped where needed.
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Op labels metrics ("read", "search").
	Op string
}

// Response is a backend's answer, body fully read (bounded).
//
// A GET's Response may be shared (a cached answer, or one fetched once for
// concurrent identical reads): its Header and Body are read-only; copy
// before changing them. Tests enforce it (cache.Entry).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// IsJSON reports whether the response declares a JSON media type.
func (r *Response) IsJSON() bool {
	ct := r.Header.Get("Content-Type")
	return strings.Contains(ct, "json")
}

// WithCorrelationID returns ctx whose request id is id.
//
// Deprecated: the server sets request.Info.ID once per request; this
// remains for tests that make a context by hand.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return request.Derive(ctx, func(i *request.Info) { i.ID = id })
}

// CorrelationID returns the facade's request id (request.Info.ID), sent to
// backends as X-Correlation-ID so one request can be traced across
// services, or "".
func CorrelationID(ctx context.Context) string { return request.From(ctx).ID }

// Do performs req. Transport failures and timeouts come back as
// *fhirerr.Error (BadGateway, Timeout), and so does a redirect (BadGateway,
// see IsRedirect), which is never followed nor retried; any other HTTP
// status is a Response for the backend client to interpret.
//
// Around the exchange, Do applies the client's policy (see Config): GETs may
// be answered from the cache (unless WithNoCache), idempotent reads are
// retried with the same X-Request-ID, and every attempt passes the circuit
// breaker (Unavailable while open), the rate limit (Throttled beyond it) and
// the bulkhead (Unavailable when no slot frees in time). A write (PATCH, PUT,
// POST, DELETE) invalidates cached reads of its resource and its type.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	if c.store != nil && req.Method == http.MethodGet && req.Body == nil {
		return c.cachedGet(ctx, req)
	}
	resp, err := c.call(ctx, req)
	if writes(req.Method) {
		c.invalidate(req.Path)
	}
	return resp, err
}

// call performs req with retries, recording one observation in the metrics
// for the whole call (none when the call was refused before any attempt).
func (c *Client) call(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	req.Header = withCallerHeaders(ctx, withRequestID(req.Header))
	attempts := 1
	if idempotent(req.Method) {
		attempts = c.cfg.MaxAttempts
	}
	var (
		resp *Response
		err  error
	)
	for n := 1; ; n++ {
		t, aerr := c.admit(ctx)
		if aerr != nil {
			if n == 1 {
				return nil, aerr
			}
			break // the last attempt's answer stands
		}
		var failed bool
		resp, failed, err = c.do(ctx, req)
		c.release(t)
		status := 0
		var h http.Header
		if resp != nil {
			status, h = resp.Status, resp.Header
		}
		o, reason := judge(ctx, status, err, failed)
		c.finish(t, o)
		if reason == "" || n >= attempts {
			break
		}
		wait, ok := c.retryWait(ctx, n, h)
		if !ok {
			break
		}
		c.metrics.retried(c.cfg.Name, req.Op, reason)
		if c.sleep(ctx, wait) != nil {
			break
		}
	}
	c.metrics.observeCall(c.cfg.Name, req.Op, resp, err, time.Since(start))
	return resp, err
}

// withRequestID returns h with an X-Request-ID, a new UUID unless h has one
// under any spelling: every attempt of a call sends the same (BACKENDS.md
// §0). h itself is not modified.
func withRequestID(h http.Header) http.Header {
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, "X-Request-ID") {
			return h
		}
	}
	out := make(http.Header, len(h)+1)
	for k, vs := range h {
		out[k] = vs
	}
	out.Set("X-Request-ID", uuid.NewString())
	return out
}

// do makes one attempt. failed marks an error of the exchange itself
// (transport, timeout) as against one raised before sending or by the
// answer's size.
func (c *Client) do(ctx context.Context, req Request) (resp *Response, failed bool, err error) {
	u := *c.base
	u.Path = c.base.Path + req.Path
	u.RawPath = ""
	if len(req.Query) > 0 {
		u.RawQuery = req.Query.Encode()
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(c.withCall(ctx, req), req.Method, u.String(), body)
	if err != nil {
		return nil, false, &fhirerr.Error{Category: fhirerr.Internal, Backend: c.cfg.Name, Message: "could not build backend request", Err: redact(err, &u)}
	}
	c.setHeaders(parent, hr.Header, req.Header)
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, true, c.transportError(ctx, err, &u)
	}
	if isRedirect(res.StatusCode) {
		discard(res.Body)
		return nil, false, redirected(c.cfg.Name, res.StatusCode)
	}
	defer res.Body.Close()
	n := res.ContentLength
	if req.Method == http.MethodHead {
		n = 0 // the length is the GET's; a HEAD answer has no body
	}
	b, err := readBody(res.Body, n, c.cfg.MaxBody)
	if errors.Is(err, errBodyTooLarge) {
		return nil, false, tooLarge(c.cfg.Name)
	}
	if err != nil {
		return nil, true, c.transportError(ctx, err, &u)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}, false, nil
}

// transportError categorises a failed call to u. The cause keeps the
// original error for errors.Is/As, but its message names no URL, host or
// port: the URL may hold an NHS number or search terms, and a *url.Error or
// *net.OpError would print it.
func (c *Client) transportError(ctx context.Context, err error, u *url.URL) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	cause := redact(err, u)
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
		return &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service did not answer in time", Err: cause}
	}
	if errors.Is(err, context.Canceled) {
		return &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the request was cancelled before the " + c.cfg.Name + " service answered", Err: cause}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service did not answer in time", Err: cause}
	}
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service could not be reached", Err: cause}
}

// redactedError is an error whose message has been cleaned of addresses; it
// unwraps to the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with a message that names no part of u, nor any
// network address.
func redact(err error, u *url.URL) error {
	msg := describe(err)
	// Backstop for error types describe does not know (TLS certificate
	// errors name the host, parse errors quote the URL).
	var parts []string
	for _, p := range []string{u.String(), u.EscapedPath(), u.Path, u.RawQuery, u.Host, u.Hostname()} {
		if p != "" && p != "/" {
			parts = append(parts, p, "[redacted]")
		}
	}
	if port := u.Port(); port != "" {
		parts = append(parts, ":"+port, ":[redacted]")
	}
	return &redactedError{msg: strings.NewReplacer(parts...).Replace(msg), err: err}
}

// describe prints err without the addresses that *url.Error, *net.OpError
// and *net.DNSError put in their messages.
func describe(err error) string {
	switch e := err.(type) {
	case *url.Error:
		return describe(e.Err)
	case *net.OpError:
		return e.Op + ": " + describe(e.Err)
	case *net.DNSError:
		return "lookup: " + e.Err
	case *net.AddrError:
		return e.Err
	}
	return err.Error()
}

// RetryAfter parses a Retry-After header: delay-seconds (digits only) or an
// HTTP-date (RFC 9110 §10.2.3). It is zero when the header is absent,
// malformed, in the past, or too large for a time.Duration.
func RetryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(math.MaxInt64/time.Second) {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
