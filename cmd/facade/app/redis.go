package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"strconv"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/cdshooks"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
	"github.com/carerecords/fhir-facade/state/redisstate"
	"github.com/carerecords/fhir-facade/viewer"
)

// DefaultExpectedReplicas is how many replicas share a quota unless
// FACADE_EXPECTED_REPLICAS says otherwise: while Redis is down each
// replica's local limit is the quota divided by it.
const DefaultExpectedReplicas = 3

// DefaultApplication names the quotas' application unless
// FACADE_APPLICATION says otherwise.
const DefaultApplication = "facade"

// RedisConfig is the state replicas share (see README, "Running more than
// one replica"). Without URL every piece stays in memory, as `make run`.
type RedisConfig struct {
	// URL is the Redis server (env FACADE_REDIS_URL), redis:// or rediss://.
	URL string
	// ExpectedReplicas (env FACADE_EXPECTED_REPLICAS, default 3) divides
	// each backend's quota while Redis is down.
	ExpectedReplicas int
	// Application names the national services' application whose quotas
	// the replicas share (env FACADE_APPLICATION, default "facade"): each
	// limit is keyed by backend and application.
	Application string
}

func redisFromEnv(getenv func(string) string, rc *RedisConfig) error {
	rc.URL = getenv("FACADE_REDIS_URL")
	rc.Application = orDefault(getenv("FACADE_APPLICATION"), DefaultApplication)
	rc.ExpectedReplicas = DefaultExpectedReplicas
	if s := getenv("FACADE_EXPECTED_REPLICAS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("FACADE_EXPECTED_REPLICAS must be a positive number of replicas")
		}
		rc.ExpectedReplicas = n
	}
	return nil
}

// openRedis connects to the shared state when configured. Redis down at
// start is no failure: the replica starts degraded and recovers.
func (a *App) openRedis(cfg Config) error {
	if cfg.Redis.URL == "" {
		return nil
	}
	c, err := redisstate.Open(redisstate.Options{URL: cfg.Redis.URL, Registerer: a.Metrics, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	a.redis, a.redisCfg = c, cfg.Redis
	return nil
}

// shareState makes c's rate limit the quota every replica shares, and
// puts the shared cache behind its cache: an answer fetched by one replica
// is served by the others, and a write on one drops the answers it changes
// on all (their in-process entries too, through one subscription).
func (a *App) shareState(c *upstream.Client) {
	if a.redis == nil {
		return
	}
	c.ShareRateLimit(a.redis.Limiter(), orDefault(a.redisCfg.Application, DefaultApplication), max(a.redisCfg.ExpectedReplicas, 1))
	if a.cache == nil {
		return
	}
	if a.sharedCache == nil {
		a.sharedCache = a.redis.Cache()
		a.sharedCache.Subscribe(a.cache.Invalidate)
	}
	c.ShareCache(a.sharedCache)
}

// shareIssuer keeps the local test issuer's launches and codes in Redis
// and gives it the signing key every replica shares, so that a launch,
// its authorization and its code exchange may each reach another replica
// and every replica accepts the tokens of the others.
func (a *App) shareIssuer(ic *issuer.Config) error {
	if a.redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	der, err := a.redis.Shared(ctx, "issuer-signing-key", func() ([]byte, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKCS8PrivateKey(k)
	})
	if err != nil {
		return fmt.Errorf("FACADE_REDIS_URL: the local test issuer's shared signing key: %w (Redis must answer at start when the local test issuer runs on several replicas)", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	ek, ok := key.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return fmt.Errorf("FACADE_REDIS_URL: the local test issuer's shared signing key in Redis is not an EC key")
	}
	ic.Key = ek
	ic.Launches, ic.Codes = a.redis.Store("issuer:launch"), a.redis.Store("issuer:code")
	return nil
}

// shareViewer keeps the viewer's sessions and pending launches in Redis.
func (a *App) shareViewer(vc *viewer.Config) {
	if a.redis == nil {
		return
	}
	vc.Sessions, vc.Launches = a.redis.Store("viewer:session"), a.redis.Store("viewer:launch")
}

// cdsReplay is the CDS Hooks replay cache every replica shares; nil (the
// verifier's in-memory one) without Redis.
func (a *App) cdsReplay() cdshooks.ReplayCache {
	if a.redis == nil {
		return nil
	}
	return a.redis.Replay("cds:jti")
}

// redisReady adds Redis to /readyz: "up", or "degraded" while it does not
// answer (local limits at quota ÷ FACADE_EXPECTED_REPLICAS, no shared
// cache). Degraded is still ready: reads are served, within the quota.
func (a *App) redisReady(states map[string]string) {
	if a.redis != nil {
		states["redis"] = a.redis.Mode()
	}
}
