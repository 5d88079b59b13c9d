package upstream

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Defaults of the resilience policy, used where Config leaves a field zero.
const (
	// DefaultMaxAttempts is how many attempts an idempotent read makes in all.
	DefaultMaxAttempts = 3
	// DefaultBackoffBase and DefaultBackoffMax bound the jittered
	// exponential wait between attempts.
	DefaultBackoffBase = 50 * time.Millisecond
	DefaultBackoffMax  = time.Second
	// DefaultMaxRetryAfter is the longest Retry-After a retry waits for:
	// longer, the caller is better told (429 or 503 with Retry-After) than
	// kept waiting.
	DefaultMaxRetryAfter = time.Second
	// DefaultBreakerThreshold consecutive failures open the circuit.
	DefaultBreakerThreshold = 5
	// DefaultBreakerCooldown is how long an open circuit fails fast before
	// it lets a probe through.
	DefaultBreakerCooldown = 10 * time.Second
	// DefaultMaxConcurrent bounds the calls in flight to one backend.
	DefaultMaxConcurrent = 64
)

// busyRetryAfter is the Retry-After of a call refused because the backend's
// calls are all in use, or because a half-open circuit is probing.
const busyRetryAfter = time.Second

// BreakerState is the state of a backend's circuit breaker; its value is
// the one exported as facade_backend_circuit_state.
type BreakerState int

// The states of a circuit breaker.
const (
	// Closed: calls go through; consecutive failures are counted.
	Closed BreakerState = iota
	// HalfOpen: the cool-down has passed; one probe call at a time goes
	// through, the others fail fast. A success closes the circuit, a
	// failure opens it again.
	HalfOpen
	// Open: calls fail fast until the cool-down has passed.
	Open
)

func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes the state's name ("half-open").
func (s BreakerState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Health is a backend's circuit breaker as /readyz reports it.
type Health struct {
	State BreakerState
	// ConsecutiveFailures counts the failed calls since the last success.
	ConsecutiveFailures int
	// Since is when the breaker entered State (the client's creation for a
	// circuit that has never opened).
	Since time.Time
	// RetryAfter is, while Open, how long until a probe is let through.
	RetryAfter time.Duration
	// InFlight is the number of calls to the backend in progress.
	InFlight int
}

// Health reports the backend's circuit breaker. A client whose breaker is
// disabled is always Closed.
func (c *Client) Health() Health {
	h := Health{Since: c.created}
	if c.breaker != nil {
		h = c.breaker.health(c.now())
	}
	h.InFlight = len(c.slots)
	return h
}

// outcome is what one attempt says about the backend's health.
type outcome int

const (
	neutral outcome = iota // says nothing: refused before sending, cancelled by the caller, 429
	success                // the backend answered (any status below 500 but 429)
	failure                // transport error, timeout, 5xx
)

// breaker is a consecutive-failure circuit breaker.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu        sync.Mutex
	state     BreakerState
	failures  int
	since     time.Time
	openUntil time.Time
	probing   bool
}

func newBreaker(threshold int, cooldown time.Duration, now time.Time) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, since: now}
}

// advance moves an Open circuit whose cool-down has passed to HalfOpen.
// b.mu is held.
func (b *breaker) advance(now time.Time) {
	if b.state == Open && !now.Before(b.openUntil) {
		b.state, b.since, b.probing = HalfOpen, b.openUntil, false
	}
}

func (b *breaker) health(now time.Time) Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	h := Health{State: b.state, ConsecutiveFailures: b.failures, Since: b.since}
	if b.state == Open {
		h.RetryAfter = b.openUntil.Sub(now)
	}
	return h
}

// allow reports whether a call may be made now. probe says the call is the
// half-open circuit's probe; its outcome must be reported to done. When the
// call may not be made, wait says how long until one might.
func (b *breaker) allow(now time.Time) (probe bool, wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	switch b.state {
	case Open:
		return false, b.openUntil.Sub(now), false
	case HalfOpen:
		if b.probing {
			return false, busyRetryAfter, false
		}
		b.probing = true
		return true, 0, true
	}
	return false, 0, true
}

// done records the outcome of a call allow let through.
func (b *breaker) done(now time.Time, probe bool, o outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		switch o {
		case success:
			b.state, b.since, b.failures = Closed, now, 0
		case failure:
			b.failures++
			b.state, b.since, b.openUntil = Open, now, now.Add(b.cooldown)
		}
		return
	}
	switch o {
	case success:
		if b.state == Closed {
			b.failures = 0
		}
	case failure:
		b.failures++
		if b.state == Closed && b.failures >= b.threshold {
			b.state, b.since, b.openUntil = Open, now, now.Add(b.cooldown)
		}
	}
}

// reserve takes a token from the rate limiter, returning how long the
// caller must wait before using it, and the reservation to cancel should it
// give up waiting (nil when a token was there at once). When the wait is
// longer than ctx allows (or Timeout), it takes nothing and ok is false.
// Times are the client's clock, so that tests can move it.
func (c *Client) reserve(ctx context.Context) (r *rate.Reservation, wait time.Duration, ok bool) {
	now := c.now()
	if c.limiter.AllowN(now, 1) {
		return nil, 0, true // the common case, without a Reservation to allocate
	}
	r = c.limiter.ReserveN(now, 1)
	if wait = r.DelayFrom(now); wait > waitable(c.budget(ctx)) {
		r.CancelAt(now)
		return nil, wait, false
	}
	return r, wait, true
}

// waitable is how much of a call's budget it may spend waiting for its
// turn under the rate limit: nine tenths, so that a call admitted at the
// end of its wait still has time to be made, rather than being let
// through only to time out (504) where the quota should have said 429.
func waitable(budget time.Duration) time.Duration { return budget - budget/10 }

// ticket is a call's admission: its breaker probe flag and bulkhead slot.
type ticket struct {
	probe bool
	slot  bool
}

// admit waits, within ctx, for leave to call the backend: the circuit must
// not be open, the rate limit must grant a token, and the bulkhead a slot.
// The ticket must be given back with finish (breaker outcome) and release
// (slot).
func (c *Client) admit(ctx context.Context) (ticket, error) {
	var t ticket
	if c.breaker != nil {
		probe, wait, ok := c.breaker.allow(c.now())
		if !ok {
			c.metrics.rejected(c.cfg.Name, "circuit_open")
			return t, &fhirerr.Error{Category: fhirerr.Unavailable, Backend: c.cfg.Name, RetryAfter: wait,
				Message: "the " + c.cfg.Name + " service is unavailable (failing fast while it recovers)"}
		}
		t.probe = probe
	}
	if c.limiter != nil {
		if err := c.rateLimit(ctx); err != nil {
			c.finish(t, neutral)
			return t, err
		}
	}
	if c.slots != nil {
		if err := c.acquire(ctx); err != nil {
			c.finish(t, neutral)
			return t, err
		}
		t.slot = true
	}
	return t, nil
}

// rateLimit waits, within ctx, for the rate limit to grant a call: the
// quota shared by every replica when there is one (ShareRateLimit) and it
// answers, else the local limiter.
func (c *Client) rateLimit(ctx context.Context) error {
	if c.shared != nil {
		if answered, err := c.admitShared(ctx); answered {
			return err
		}
	}
	r, wait, ok := c.reserve(ctx)
	if !ok {
		c.metrics.rejected(c.cfg.Name, "rate_limit")
		return c.overQuota(wait)
	}
	if wait > 0 {
		if err := c.sleep(ctx, wait); err != nil {
			r.CancelAt(c.now())
			return c.contextError(ctx, err)
		}
	}
	return nil
}

// overQuota is the error of a call refused by the rate limit, whose turn
// would come after wait.
func (c *Client) overQuota(wait time.Duration) error {
	return &fhirerr.Error{Category: fhirerr.Throttled, Backend: c.cfg.Name, RetryAfter: wait,
		Message: "calls to the " + c.cfg.Name + " service are over the facade's quota; retry shortly"}
}

// SharedLimiter is a rate limit that several replicas of the facade draw
// on together (package redisstate keeps one in Redis): the national
// services' quotas are per application, whatever the number of replicas.
type SharedLimiter interface {
	// Allow takes one call from the quota named key (limit calls a second,
	// burst at once) if one is free now; else retryAfter says when one
	// will be. An error says the quota cannot be consulted.
	Allow(ctx context.Context, key string, limit float64, burst int) (ok bool, retryAfter time.Duration, err error)
}

// sharedLimit is a client's share of a SharedLimiter.
type sharedLimit struct {
	l   SharedLimiter
	key string
	// fallback says the last call fell back to the local limiter.
	fallback atomic.Bool
}

// ShareRateLimit makes the client's rate limit (RateLimit, RateBurst) one
// quota that every replica shares through l, under the key
// "<backend>:<application>". When l cannot be consulted (Redis down), a
// call falls back to the client's own limiter, which then grants
// RateLimit/replicas calls a second (burst RateBurst/replicas, at least 1),
// so that replicas together stay within the quota. The semantics stay the
// local limiter's: a call over the quota waits for its turn if it leaves
// time for the call before its deadline (or Timeout), else fails at once with
// Throttled and a Retry-After. It must be called before the client is
// used; a client without a rate limit ignores it.
func (c *Client) ShareRateLimit(l SharedLimiter, application string, replicas int) {
	if c.limiter == nil || l == nil {
		return
	}
	replicas = max(replicas, 1)
	c.shared = &sharedLimit{l: l, key: c.cfg.Name + ":" + application}
	burst := max(1, (c.cfg.RateBurst+replicas-1)/replicas)
	c.limiter = rate.NewLimiter(rate.Limit(c.cfg.RateLimit/float64(replicas)), burst)
}

// RateLimitMode says how the client's calls are limited now: "" (no
// limit), "local", "shared", or "local-fallback" (shared, but its last call
// could not reach the shared quota).
func (c *Client) RateLimitMode() string {
	switch {
	case c.limiter == nil:
		return ""
	case c.shared == nil:
		return "local"
	case c.shared.fallback.Load():
		return "local-fallback"
	}
	return "shared"
}

// admitShared asks the shared quota for a call, waiting for its turn
// within ctx. answered is false when the quota could not be consulted: the
// caller then asks the local limiter.
func (c *Client) admitShared(ctx context.Context) (answered bool, err error) {
	deadline := c.now().Add(waitable(c.budget(ctx)))
	var retry time.Duration
	// ended is the answer to a call whose deadline passed while it waited
	// for its turn: over the quota (429 with Retry-After), not a backend
	// timeout, since the backend was never called.
	ended := func() (bool, error) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.metrics.rejected(c.cfg.Name, "rate_limit")
			return true, c.overQuota(max(retry, time.Millisecond))
		}
		return true, c.contextError(ctx, ctx.Err())
	}
	for {
		var ok bool
		var err error
		ok, retry, err = c.shared.l.Allow(ctx, c.shared.key, c.cfg.RateLimit, c.cfg.RateBurst)
		if err != nil {
			if ctx.Err() != nil {
				return ended()
			}
			c.shared.fallback.Store(true)
			return false, nil
		}
		c.shared.fallback.Store(false)
		if ok {
			return true, nil
		}
		// GCRA grants no reservation: wait for the slot it names and ask
		// again (another replica may take it first), within the deadline.
		if c.now().Add(retry).After(deadline) {
			c.metrics.rejected(c.cfg.Name, "rate_limit")
			return true, c.overQuota(retry)
		}
		if err := c.sleep(ctx, retry); err != nil {
			return ended()
		}
	}
}

// acquire takes a bulkhead slot, waiting for one within ctx (or the
// client's Timeout when ctx has no deadline).
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		wctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
	}
	defer cancel()
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-wctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return c.contextError(ctx, ctx.Err())
		}
		c.metrics.rejected(c.cfg.Name, "bulkhead")
		return &fhirerr.Error{Category: fhirerr.Unavailable, Backend: c.cfg.Name, RetryAfter: busyRetryAfter,
			Message: "the " + c.cfg.Name + " service has too many calls in progress; retry shortly"}
	}
}

// finish reports an admitted call's outcome to the breaker.
func (c *Client) finish(t ticket, o outcome) {
	if c.breaker != nil {
		c.breaker.done(c.now(), t.probe, o)
	}
}

// release gives back the ticket's bulkhead slot.
func (c *Client) release(t ticket) {
	if t.slot {
		<-c.slots
	}
}

// budget is how long a call may still wait: until ctx's deadline, or the
// client's Timeout when there is none.
func (c *Client) budget(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return dl.Sub(c.now())
	}
	return c.cfg.Timeout
}

// contextError is the error of a call that ctx ended before the backend
// answered.
func (c *Client) contextError(ctx context.Context, cause error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the request was cancelled before the " + c.cfg.Name + " service answered", Err: cause}
	}
	return &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service did not answer in time", Err: cause}
}

// judge says what an attempt tells about the backend's health, and why it
// may be retried ("" if it may not). failed marks transport failures.
func judge(ctx context.Context, status int, err error, failed bool) (o outcome, retry string) {
	switch {
	case err != nil && !failed:
		// Refused before sending, or an answer too large: no news.
		return neutral, ""
	case err != nil:
		if errors.Is(ctx.Err(), context.Canceled) {
			return neutral, ""
		}
		if ctx.Err() != nil {
			return failure, ""
		}
		if fhirerr.CategoryOf(err) == fhirerr.Timeout {
			return failure, "timeout"
		}
		return failure, "transport_error"
	}
	switch status {
	case http.StatusTooManyRequests:
		o = neutral
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		o = failure
	case http.StatusRequestTimeout:
		// PDS's UNABLE_TO_CALL_SERVICE: retried like a 504 (BACKENDS.md §8),
		// but the backend itself answered.
		o = success
	default:
		if status >= 500 {
			return failure, ""
		}
		return success, ""
	}
	if ctx.Err() != nil {
		return o, ""
	}
	return o, strconv.Itoa(status)
}

// retryWait is how long to wait before attempt n+1, after attempt n
// answered with header h (nil after a transport error): the backend's
// Retry-After if it sent one, else a jittered exponential backoff. ok is
// false when the wait would not end before ctx's deadline, or the
// Retry-After is longer than the client will wait.
func (c *Client) retryWait(ctx context.Context, n int, h http.Header) (time.Duration, bool) {
	d := c.cfg.BackoffBase
	for i := 1; i < n && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = c.jitter(min(d, c.cfg.BackoffMax))
	if h != nil {
		if ra := RetryAfter(h); ra > 0 {
			if ra > c.cfg.MaxRetryAfter {
				return 0, false
			}
			d = ra
		}
	}
	if dl, ok := ctx.Deadline(); ok && !c.now().Add(d).Before(dl) {
		return 0, false
	}
	return d, true
}

// equalJitter returns a duration in [d/2, d].
func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idempotent reports whether method may be retried.
func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// writes reports whether method may change what a read of the path returns.
func writes(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}
