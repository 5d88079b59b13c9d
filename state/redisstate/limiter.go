package redisstate

import (
	"context"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// Limiter is the backends' shared rate limit: one GCRA quota per key
// (backend and application) in Redis, so that every replica draws on the
// same calls a second. It satisfies upstream.SharedLimiter.
type Limiter struct {
	c  *Client
	rl *redis_rate.Limiter
}

// Limiter returns the client's shared rate limiter.
func (c *Client) Limiter() *Limiter {
	return &Limiter{c: c, rl: redis_rate.NewLimiter(c.rdb)}
}

// Allow takes one call from the quota named key, limit calls a second with
// burst at once, if one is free now; else retryAfter says when one will
// be. An error (ErrDown at once while Redis is down) says the shared quota
// cannot be consulted: the caller falls back to its local limit, and the
// fallback is counted.
func (l *Limiter) Allow(ctx context.Context, key string, limit float64, burst int) (ok bool, retryAfter time.Duration, err error) {
	if !l.c.Up() {
		l.c.m.fallbacks.WithLabelValues("rate_limit").Inc()
		return false, 0, ErrDown
	}
	cctx, cancel := l.c.ctx(ctx)
	defer cancel()
	start := time.Now()
	res, err := l.rl.Allow(cctx, l.c.prefix+key, gcra(limit, burst))
	l.c.done("rate_limit", start, ctx, err)
	if err != nil {
		l.c.m.fallbacks.WithLabelValues("rate_limit").Inc()
		return false, 0, err
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, res.RetryAfter, nil
}

// gcra is limit calls a second, burst at once, as redis_rate's Limit: an
// emission interval of 1/limit seconds (one call per Period), exact for a
// fractional limit as for a whole one.
func gcra(limit float64, burst int) redis_rate.Limit {
	period := time.Duration(math.Round(float64(time.Second) / limit))
	return redis_rate.Limit{Rate: 1, Period: max(period, time.Microsecond), Burst: max(burst, 1)}
}
