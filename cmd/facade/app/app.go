// Package app wires the facade together: backend clients (or the embedded
// sandbox when no backend URL is configured), providers, registry and the
// FHIR server. cmd/facade and the black-box tests both start the facade
// through New, so they run the same code.
package app

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sirupsen/logrus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/audit/pgaudit"
	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/backends/bna"
	"github.com/carerecords/fhir-facade/backends/cpis"
	"github.com/carerecords/fhir-facade/backends/fgm"
	"github.com/carerecords/fhir-facade/backends/immunisation"
	"github.com/carerecords/fhir-facade/backends/nrl"
	"github.com/carerecords/fhir-facade/backends/ovm"
	"github.com/carerecords/fhir-facade/backends/pds"
	"github.com/carerecords/fhir-facade/backends/ra"
	"github.com/carerecords/fhir-facade/backends/scr"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/backends/upstream/cache"
	"github.com/carerecords/fhir-facade/capability"
	"github.com/carerecords/fhir-facade/cdshooks"
	ramap "github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/sandbox"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
	"github.com/carerecords/fhir-facade/server"
	"github.com/carerecords/fhir-facade/state/redisstate"
	"github.com/carerecords/fhir-facade/tracing"
	"github.com/carerecords/fhir-facade/viewer"
)

// Version is the facade's version, set at build time with -ldflags.
var Version = "dev"

// Backend configures one national backend.
type Backend struct {
	// BaseURL of the service; empty means the embedded sandbox.
	BaseURL string
	// Token is the bearer token the facade presents (never logged).
	Token   string
	Timeout time.Duration

	// The resilience policy and cache of the backend's client (see
	// upstream.Config); zero values take the defaults that policy documents,
	// which differ for a real backend and the embedded sandbox.
	// MaxAttempts is the attempts of a read in all (env <X>_RETRIES is the
	// retries after the first); MaxConcurrent (env <X>_MAX_CONCURRENT, 0 =
	// unbounded) and BreakerThreshold (env <X>_BREAKER_THRESHOLD, 0 = no
	// breaker) are negative when disabled.
	MaxAttempts      int
	MaxConcurrent    int
	BreakerThreshold int
	BreakerCooldown  time.Duration // env <X>_BREAKER_COOLDOWN
	// RateLimit (calls per second, env <X>_RATE_LIMIT) and CacheTTL (env
	// <X>_CACHE_TTL) are nil for the default; zero disables them.
	RateLimit *float64
	RateBurst int // env <X>_RATE_BURST
	CacheTTL  *time.Duration
	// TLS is how the backend is reached: trusted CA and, for mutual TLS,
	// the facade's client certificate.
	TLS BackendTLS
}

// Config is the whole configuration of a facade.
type Config struct {
	// Addr is the listen address (cmd/facade), e.g. 127.0.0.1:8080. A
	// caller serving Handler itself (tests) sets it to where it serves; empty
	// is taken as 127.0.0.1:8080.
	Addr string
	// BaseURL is the public FHIR base clients reach (env FACADE_BASE_URL),
	// e.g. https://fhir.example.nhs.uk/fhir. Empty: http://<Addr>/fhir, only
	// for a loopback Addr. See PublicBase: the one base of every link, the
	// SMART endpoints, the local issuer's iss and the tokens' audience.
	BaseURL string
	// HTTPS says the facade serves TLS itself (cmd/facade -tls-cert), so the
	// default base is https://<Addr>/fhir.
	HTTPS bool
	// BackendTimeout is the per-call timeout of every backend whose own
	// Timeout is zero (env BACKEND_TIMEOUT; upstream.DefaultTimeout if unset).
	BackendTimeout time.Duration
	// One entry per national backend.
	PDS Backend
	// BNA is the birth notification service behind Patient/$notify-birth
	// (env BNA_BASE_URL, BNA_TOKEN …).
	BNA Backend
	// NRL is the National Record Locator consumer API. NRLODSCode (env
	// NRL_ODS_CODE, default nrl.DefaultODSCode) is the consuming organisation
	// sent as NHSD-End-User-Organisation-ODS. Documents are retrieved through
	// the Spine Secure Proxy at NRLSSPURL (env NRL_SSP_URL; empty means the
	// sandbox's when NRL is the sandbox, else the national proxy), as Spine
	// ASID NRLASID (env NRL_ASID), at most NRLMaxDocumentSize bytes (env
	// NRL_MAX_DOCUMENT_SIZE; nrl.DefaultMaxDocumentSize when zero).
	NRL                Backend
	NRLODSCode         string
	NRLSSPURL          string
	NRLASID            string
	NRLMaxDocumentSize int64
	// SCR is the Summary Care Record API; SCRSessionURID (env
	// SCR_SESSION_URID) is sent as NHSD-Session-URID when set.
	SCR            Backend
	SCRSessionURID string
	// RA, CPIS and FGM are the Flag backends: the Reasonable Adjustment Flag
	// API, CP-IS and FGM-IS. RASessionURID (env RA_SESSION_URID) is sent to
	// RA as NHSD-Session-URID and names the user in the Provenance of RA
	// writes, made on behalf of organisation RAODSCode / RAOrgName (env
	// RA_ODS_CODE, RA_ORG_NAME; defaults X26, NHS England) unless a created
	// flag names its author. CPISUnscheduledAccess (env
	// CPIS_UNSCHEDULED_ACCESS=true) marks CP-IS queries as unscheduled-care
	// accesses, which notify the local authority; false (a silent read) by
	// default.
	RA                    Backend
	RASessionURID         string
	RAODSCode, RAOrgName  string
	CPIS                  Backend
	CPISUnscheduledAccess bool
	FGM                   Backend
	// OVM is the overseas visitors chargeable-status service, the fourth
	// Flag backend (env OVM_BASE_URL, OVM_TOKEN …; read-only).
	OVM Backend
	// Imms is the Immunisation History API (env IMMS_BASE_URL, IMMS_TOKEN …).
	Imms Backend
	// Sandbox configures the embedded simulators started for every backend
	// without a BaseURL.
	Sandbox sandbox.Options
	// Auth configures authentication.
	Auth AuthConfig
	// AuditLog is the append-only JSON-lines file of the audit trail (env
	// AUDIT_LOG); empty keeps the trail in memory only.
	AuditLog string
	// AuditDatabaseURL, when set, keeps the audit trail in PostgreSQL
	// instead, shared by every replica (env AUDIT_DATABASE_URL), with the
	// write-ahead file AuditWAL for when it is down (env AUDIT_WAL, default
	// audit.wal in the working directory). See docs/audit.md.
	AuditDatabaseURL, AuditWAL string
	// RequestTimeout bounds one FHIR request end to end (env
	// FACADE_REQUEST_TIMEOUT; server.DefaultRequestTimeout when 0).
	RequestTimeout time.Duration
	// MaxInFlight bounds the requests served at once (env
	// FACADE_MAX_IN_FLIGHT; server.DefaultMaxInFlight() when 0): beyond it a
	// request waits briefly, then is answered 503 with Retry-After.
	MaxInFlight int
	// MaxInFlightPerCaller bounds the requests one caller (token issuer,
	// subject and client) has in flight at once (env
	// FACADE_MAX_IN_FLIGHT_PER_CALLER; a quarter of MaxInFlight when 0):
	// beyond it a request is answered 429, so one caller cannot take every slot.
	MaxInFlightPerCaller int
	// BodyTimeout bounds how long a request body may take to arrive (env
	// FACADE_BODY_TIMEOUT; server.DefaultBodyTimeout when 0): 408 after it.
	BodyTimeout time.Duration
	// CORSOrigins are the browser origins allowed to call the API (env
	// FACADE_CORS_ORIGINS, comma-separated; "*" for any).
	CORSOrigins []string
	// ViewerFrameAncestors is the CSP frame-ancestors of the summary
	// viewer's pages (env VIEWER_FRAME_ANCESTORS): who may embed it in a
	// frame; empty means "'self'".
	ViewerFrameAncestors string
	// BackendCacheMaxBytes bounds the cache shared by every backend's
	// reads (env BACKEND_CACHE_MAX_BYTES; 64 MiB when zero).
	BackendCacheMaxBytes int64
	// CDS configures the CDS Hooks patient-view service (env CDS_*).
	CDS CDSConfig
	// Redis holds the state replicas share (env FACADE_REDIS_URL,
	// FACADE_EXPECTED_REPLICAS, FACADE_APPLICATION); none when unset.
	Redis RedisConfig
	// Logger for requests; nil means a JSON logger on stderr.
	Logger    *logrus.Logger
	QuietLogs bool
	// Tracing is what the OTEL_* variables ask of OpenTelemetry tracing
	// (package tracing): off by default. TracerProvider, when set, is used
	// instead and is not shut down by Close (tests, an embedding program).
	Tracing        tracing.Config
	TracerProvider trace.TracerProvider
}

// AuthConfig configures who may call the facade.
type AuthConfig struct {
	// Disabled lets every request through without a token (env
	// FACADE_AUTH=off): development only, logged as a warning at start.
	Disabled bool
	// Issuer and JWKSURL name a trusted token issuer (env AUTH_ISSUER,
	// AUTH_JWKS_URL), e.g. NHS CIS2 or the NHS API platform. Without them
	// the facade runs its own local test issuer (dev only), and New refuses
	// to start unless Addr is loopback or InsecureDemoIssuer is set.
	Issuer, JWKSURL string
	// InsecureDemoIssuer lets the local test issuer serve on a non-loopback
	// Addr (env FACADE_INSECURE_DEMO_ISSUER=true, flag
	// -insecure-demo-issuer), e.g. a demonstration in a container. Its
	// client secret is in the README, so anyone who can reach the facade
	// can mint a clinician's token: synthetic data only, never real traffic.
	InsecureDemoIssuer bool
	// Audience is the aud tokens must carry (env AUTH_AUDIENCE); default the
	// FHIR base URL.
	Audience string
	// DevKeyFile, for the local issuer only, is where its private key is
	// written so cmd/token can mint tokens (env AUTH_DEV_KEY_FILE).
	DevKeyFile string
	// DevApps are SMART apps the local issuer registers besides the
	// facade's viewer (env AUTH_DEV_APPS, "client_id=redirect_uri,…"; see
	// issuer.ParseApps), so a local clinical system can launch them.
	DevApps []issuer.Client
	// AuthorizeURL is the configured issuer's SMART authorization endpoint
	// (env AUTH_AUTHORIZE_URL), advertised in the SMART configuration and
	// the CapabilityStatement. SMARTCapabilities (env
	// AUTH_SMART_CAPABILITIES, space- or comma-separated) are the SMART
	// capabilities it supports beyond the facade's own (permission-*), e.g.
	// launch-ehr: the facade cannot know them, so advertises none unless told.
	AuthorizeURL      string
	SMARTCapabilities []string
}

// FromEnv reads the configuration from environment variables (see README).
// Tokens may be given directly (PDS_TOKEN) or as a file (PDS_TOKEN_FILE).
func FromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Addr:    orDefault(getenv("FACADE_ADDR"), "127.0.0.1:8080"),
		BaseURL: getenv("FACADE_BASE_URL"),
	}
	cfg.AuditLog = getenv("AUDIT_LOG")
	cfg.AuditDatabaseURL, cfg.AuditWAL = getenv("AUDIT_DATABASE_URL"), getenv("AUDIT_WAL")
	switch strings.ToLower(getenv("FACADE_AUTH")) {
	case "", "on":
	case "off":
		cfg.Auth.Disabled = true
	default:
		return cfg, fmt.Errorf("FACADE_AUTH must be on or off")
	}
	cfg.Auth.Issuer, cfg.Auth.JWKSURL = getenv("AUTH_ISSUER"), getenv("AUTH_JWKS_URL")
	if (cfg.Auth.Issuer == "") != (cfg.Auth.JWKSURL == "") {
		return cfg, fmt.Errorf("AUTH_ISSUER and AUTH_JWKS_URL go together")
	}
	if s := getenv("FACADE_INSECURE_DEMO_ISSUER"); s != "" {
		demo, err := strconv.ParseBool(s)
		if err != nil {
			return cfg, fmt.Errorf("FACADE_INSECURE_DEMO_ISSUER must be true or false")
		}
		cfg.Auth.InsecureDemoIssuer = demo
	}
	cfg.Auth.Audience, cfg.Auth.DevKeyFile = getenv("AUTH_AUDIENCE"), getenv("AUTH_DEV_KEY_FILE")
	devApps, appsErr := issuer.ParseApps(getenv("AUTH_DEV_APPS"))
	if appsErr != nil {
		return cfg, fmt.Errorf("AUTH_DEV_APPS: %w", appsErr)
	}
	cfg.Auth.DevApps = devApps
	cfg.Auth.AuthorizeURL = getenv("AUTH_AUTHORIZE_URL")
	cfg.Auth.SMARTCapabilities = strings.FieldsFunc(getenv("AUTH_SMART_CAPABILITIES"), func(r rune) bool { return r == ',' || r == ' ' })
	if s := getenv("FACADE_REQUEST_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("FACADE_REQUEST_TIMEOUT must be a positive duration such as 30s")
		}
		cfg.RequestTimeout = d
	}
	if s := getenv("FACADE_MAX_IN_FLIGHT"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("FACADE_MAX_IN_FLIGHT must be a positive number of requests")
		}
		cfg.MaxInFlight = n
	}
	if s := getenv("FACADE_MAX_IN_FLIGHT_PER_CALLER"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("FACADE_MAX_IN_FLIGHT_PER_CALLER must be a positive number of requests")
		}
		cfg.MaxInFlightPerCaller = n
	}
	if s := getenv("FACADE_BODY_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("FACADE_BODY_TIMEOUT must be a positive duration such as 10s")
		}
		cfg.BodyTimeout = d
	}
	cfg.ViewerFrameAncestors = getenv("VIEWER_FRAME_ANCESTORS")
	if cfg.ViewerFrameAncestors != "" {
		if err := viewer.ValidFrameAncestors(cfg.ViewerFrameAncestors); err != nil {
			return cfg, fmt.Errorf("VIEWER_FRAME_ANCESTORS: %w", err)
		}
	}
	for _, o := range strings.Split(getenv("FACADE_CORS_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.CORSOrigins = append(cfg.CORSOrigins, o)
		}
	}
	var err error
	if s := getenv("BACKEND_TIMEOUT"); s != "" {
		if cfg.BackendTimeout, err = time.ParseDuration(s); err != nil || cfg.BackendTimeout <= 0 {
			return cfg, fmt.Errorf("BACKEND_TIMEOUT must be a positive duration such as 10s")
		}
	}
	if s := getenv("BACKEND_CACHE_MAX_BYTES"); s != "" {
		if cfg.BackendCacheMaxBytes, err = strconv.ParseInt(s, 10, 64); err != nil || cfg.BackendCacheMaxBytes <= 0 {
			return cfg, fmt.Errorf("BACKEND_CACHE_MAX_BYTES must be a positive number of bytes")
		}
	}
	if cfg.PDS, err = backendFromEnv(getenv, "PDS"); err != nil {
		return cfg, err
	}
	if cfg.BNA, err = backendFromEnv(getenv, "BNA"); err != nil {
		return cfg, err
	}
	if cfg.NRL, err = backendFromEnv(getenv, "NRL"); err != nil {
		return cfg, err
	}
	cfg.NRLODSCode = orDefault(getenv("NRL_ODS_CODE"), nrl.DefaultODSCode)
	cfg.NRLSSPURL, cfg.NRLASID = getenv("NRL_SSP_URL"), getenv("NRL_ASID")
	if s := getenv("NRL_MAX_DOCUMENT_SIZE"); s != "" {
		if cfg.NRLMaxDocumentSize, err = strconv.ParseInt(s, 10, 64); err != nil || cfg.NRLMaxDocumentSize <= 0 {
			return cfg, fmt.Errorf("NRL_MAX_DOCUMENT_SIZE must be a positive number of bytes")
		}
	}
	if cfg.SCR, err = backendFromEnv(getenv, "SCR"); err != nil {
		return cfg, err
	}
	cfg.SCRSessionURID = getenv("SCR_SESSION_URID")
	if cfg.RA, err = backendFromEnv(getenv, "RA"); err != nil {
		return cfg, err
	}
	cfg.RASessionURID, cfg.RAODSCode, cfg.RAOrgName = getenv("RA_SESSION_URID"), getenv("RA_ODS_CODE"), getenv("RA_ORG_NAME")
	if cfg.CPIS, err = backendFromEnv(getenv, "CPIS"); err != nil {
		return cfg, err
	}
	if s := getenv("CPIS_UNSCHEDULED_ACCESS"); s != "" {
		if cfg.CPISUnscheduledAccess, err = strconv.ParseBool(s); err != nil {
			return cfg, fmt.Errorf("CPIS_UNSCHEDULED_ACCESS must be true or false")
		}
	}
	if cfg.FGM, err = backendFromEnv(getenv, "FGM"); err != nil {
		return cfg, err
	}
	if cfg.OVM, err = backendFromEnv(getenv, "OVM"); err != nil {
		return cfg, err
	}
	if cfg.Imms, err = backendFromEnv(getenv, "IMMS"); err != nil {
		return cfg, err
	}
	if s := getenv("SANDBOX_SEED"); s != "" {
		if cfg.Sandbox.Seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return cfg, fmt.Errorf("SANDBOX_SEED: %v", err)
		}
	}
	if s := getenv("SANDBOX_SIZE"); s != "" {
		if cfg.Sandbox.Size, err = strconv.Atoi(s); err != nil || cfg.Sandbox.Size < 0 {
			return cfg, fmt.Errorf("SANDBOX_SIZE must be a non-negative integer")
		}
	}
	if cfg.Sandbox.Faults, err = sandbox.ParseFaults(getenv("SANDBOX_FAULTS")); err != nil {
		return cfg, err
	}
	if err := cdsFromEnv(getenv, &cfg.CDS); err != nil {
		return cfg, err
	}
	if err := redisFromEnv(getenv, &cfg.Redis); err != nil {
		return cfg, err
	}
	if cfg.Tracing, err = tracing.FromEnv(getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func backendFromEnv(getenv func(string) string, prefix string) (Backend, error) {
	b := Backend{BaseURL: getenv(prefix + "_BASE_URL"), Token: getenv(prefix + "_TOKEN")}
	if f := getenv(prefix + "_TOKEN_FILE"); f != "" {
		raw, err := os.ReadFile(f)
		if err != nil {
			return b, fmt.Errorf("%s_TOKEN_FILE: cannot read the token file", prefix)
		}
		b.Token = strings.TrimSpace(string(raw))
	}
	if s := getenv(prefix + "_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return b, fmt.Errorf("%s_TIMEOUT must be a positive duration such as 10s", prefix)
		}
		b.Timeout = d
	}
	var err error
	if b.TLS, err = tlsFromEnv(getenv, prefix); err != nil {
		return b, err
	}
	return b, policyFromEnv(getenv, prefix, &b)
}

// policyFromEnv reads a backend's resilience policy and cache TTL:
// <X>_RETRIES, <X>_MAX_CONCURRENT, <X>_BREAKER_THRESHOLD,
// <X>_BREAKER_COOLDOWN, <X>_RATE_LIMIT, <X>_RATE_BURST, <X>_CACHE_TTL.
func policyFromEnv(getenv func(string) string, prefix string, b *Backend) error {
	count := func(name string, dst *int, zero int) error {
		s := getenv(prefix + name)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%s%s must be a non-negative integer", prefix, name)
		}
		*dst = n
		if n == 0 {
			*dst = zero
		}
		return nil
	}
	duration := func(name string) (*time.Duration, error) {
		s := getenv(prefix + name)
		if s == "" {
			return nil, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s%s must be a duration such as 30s (0 disables)", prefix, name)
		}
		return &d, nil
	}
	if err := count("_RETRIES", &b.MaxAttempts, 0); err != nil {
		return err
	}
	if getenv(prefix+"_RETRIES") != "" {
		b.MaxAttempts++ // retries after the first attempt
	}
	if err := count("_MAX_CONCURRENT", &b.MaxConcurrent, -1); err != nil {
		return err
	}
	if err := count("_BREAKER_THRESHOLD", &b.BreakerThreshold, -1); err != nil {
		return err
	}
	if err := count("_RATE_BURST", &b.RateBurst, 0); err != nil {
		return err
	}
	d, err := duration("_BREAKER_COOLDOWN")
	if err != nil {
		return err
	}
	if d != nil {
		if *d == 0 {
			return fmt.Errorf("%s_BREAKER_COOLDOWN must be a positive duration such as 10s", prefix)
		}
		b.BreakerCooldown = *d
	}
	if b.CacheTTL, err = duration("_CACHE_TTL"); err != nil {
		return err
	}
	if s := getenv(prefix + "_RATE_LIMIT"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			return fmt.Errorf("%s_RATE_LIMIT must be a non-negative number of calls per second (0 = unlimited)", prefix)
		}
		b.RateLimit = &r
	}
	return nil
}

// Default cache TTL and PDS quota of real backends (README, configuration).
const (
	defaultCacheTTL = 30 * time.Second
	pdsRateLimit    = 5 // calls per second per application
)

// policy is the upstream configuration of backend name: b's settings over
// the defaults. Real backends: retries (3 attempts in all), a breaker (5
// failures, 10 s), a bulkhead (64), reads cached 30 s but CP-IS's (every
// CP-IS query is an access event the service must record), and PDS held to
// its quota of 5 calls a second. The embedded sandbox, or any simulator on
// loopback: the same but no rate limit, no breaker and no cache, unless
// configured, because its simulators' faults and state are switched under
// the facade by tests and demonstrations, which would otherwise see a
// cached answer or a circuit opened by the previous fault. The Spine Secure
// Proxy (nrl-ssp) has no breaker unless configured: it fronts every
// document holder, and one holder down must not cut off the others.
func policy(name string, b Backend) upstream.Config {
	sandboxed := isLoopback(b.BaseURL)
	cfg := upstream.Config{
		Name: name, BaseURL: b.BaseURL, Token: b.Token, Timeout: b.Timeout,
		MaxAttempts: b.MaxAttempts, MaxConcurrent: b.MaxConcurrent,
		BreakerThreshold: b.BreakerThreshold, BreakerCooldown: b.BreakerCooldown,
		RateBurst: b.RateBurst,
	}
	if cfg.BreakerThreshold == 0 && (sandboxed || name == "nrl-ssp") {
		cfg.BreakerThreshold = -1
	}
	switch {
	case b.RateLimit != nil:
		cfg.RateLimit = *b.RateLimit
	case name == pds.Name && !sandboxed:
		cfg.RateLimit = pdsRateLimit
	}
	switch {
	case b.CacheTTL != nil:
		cfg.CacheTTL = *b.CacheTTL
	case !sandboxed && name != cpis.Name:
		cfg.CacheTTL = defaultCacheTTL
	}
	return cfg
}

// isLoopback reports whether base names a loopback host: the embedded
// sandbox, or a simulator run beside the facade, never a national service.
func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	return loopbackHost(u.Hostname())
}

// loopbackHost reports whether h is "localhost" or a loopback IP
// (127.0.0.0/8, ::1); "", 0.0.0.0 and :: are every interface, not loopback.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// App is a wired facade.
type App struct {
	Handler http.Handler
	// BaseURL is the public FHIR base (PublicBase), without a trailing slash.
	BaseURL string
	// Sandbox is the embedded sandbox, nil when every backend is configured.
	Sandbox *sandbox.Sandbox
	// Metrics is the Prometheus registry served at /metrics.
	Metrics *prometheus.Registry
	// Issuer is the local test token issuer, nil when a real issuer is
	// configured or auth is off: tests and demonstrations mint tokens with it.
	Issuer *issuer.Issuer
	// Resources is the provider registry the routes and CapabilityStatement come from.
	Resources *resources.Registry
	// Backends names each backend's base URL (for the start-up log line).
	Backends map[string]string
	server   *server.Server
	memo     *resources.Memo
	audit    audit.Store
	// cache is the store of backend reads shared by every backend;
	// upstreams are the backends' clients, for /readyz.
	cache         *cache.Cache
	cacheMaxBytes int64
	upstreams     []*upstream.Client

	// redis holds the state replicas share: quotas, SMART grants, viewer
	// sessions, replay records (nil without FACADE_REDIS_URL).
	redis    *redisstate.Client
	redisCfg RedisConfig
	// sharedCache is the second level of a.cache, with its subscription.
	sharedCache *redisstate.Cache
	// tracer traces the server and every backend client (nil: off);
	// ownTracer is the one New made from Config.Tracing, shut down by Close.
	tracer    trace.TracerProvider
	ownTracer *sdktrace.TracerProvider

	// CDS is the CDS Hooks service, nil when no CDS client is trusted.
	CDS *cdshooks.Service
	cds *cdsWiring
}

// New wires a facade from cfg, starting the embedded sandbox for every
// backend that has no base URL.
func New(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = logrus.New()
		cfg.Logger.SetFormatter(&logrus.JSONFormatter{})
	}
	// Before the sandbox starts: a refused configuration starts nothing.
	if err := checkDevIssuer(cfg); err != nil {
		return nil, err
	}
	base, err := PublicBase(cfg)
	if err != nil {
		return nil, err
	}
	a := &App{BaseURL: base, Metrics: prometheus.NewRegistry(), Backends: map[string]string{}, cacheMaxBytes: cfg.BackendCacheMaxBytes}
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.useSandbox(&cfg); err != nil {
		return nil, err
	}
	if err := a.startTracing(cfg); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.build(cfg); err != nil {
		a.Close() // whatever was made before the failure
		return nil, err
	}
	return a, nil
}

// build makes the backend clients, providers, authentication and server of
// a, whose sandbox (if any) runs already.
func (a *App) build(cfg Config) error {
	if err := a.openRedis(cfg); err != nil {
		return err
	}
	um := upstream.NewMetrics(a.Metrics)
	pdsUp, err := a.upstream(pds.Name, cfg.PDS, cfg.BackendTimeout, um)
	if err != nil {
		return err
	}
	scrUp, err := a.upstream(scr.Name, cfg.SCR, cfg.BackendTimeout, um)
	if err != nil {
		return err
	}
	scrClient := scr.New(scrUp, scr.Options{SessionURID: cfg.SCRSessionURID})
	if a.audit, err = openAudit(cfg, a.Metrics); err != nil {
		return err
	}
	memo, err := resources.NewMemo(64 << 20)
	if err != nil {
		return err
	}
	a.memo = memo
	nrlClient, nrlFetcher, err := a.nrlClients(cfg, um)
	if err != nil {
		return err
	}
	flag, err := a.flagProvider(cfg, um, memo)
	if err != nil {
		return err
	}
	immsUp, err := a.upstream(immunisation.Name, cfg.Imms, cfg.BackendTimeout, um)
	if err != nil {
		return err
	}
	bnaUp, err := a.upstream(bna.Name, cfg.BNA, cfg.BackendTimeout, um)
	if err != nil {
		return err
	}
	patient := resources.NewPatient(pds.New(pdsUp), memo)
	patient.UseBirthNotifications(bna.New(bnaUp))
	// Every resource provider; the registry, the routes and the
	// CapabilityStatement come from this list.
	providers := []resources.Provider{
		patient.Writable(),
		resources.NewDocumentReference(nrlClient, memo),
		resources.NewBinary(nrlClient, nrlFetcher),
		resources.NewAllergyIntolerance(scrClient, memo),
		resources.NewMedicationStatement(scrClient, memo),
		flag,
		resources.NewImmunization(immunisation.New(immsUp), memo),
		resources.NewRelatedPerson(pds.New(pdsUp), memo, patient.Restricted),
	}
	patient.UseSummarySources(resources.SummarySources(providers))
	// The audit trail is searchable by auditors, never part of a summary.
	providers = append(providers, resources.NewAuditEvent(a.audit))
	providers = append(providers, resources.NewPractitioner()) // the caller's own record: a token's fhirUser resolves
	opdefs, err := resources.NewOperationDefinitions(capability.Definitions(a.BaseURL, Version), providers...)
	if err != nil {
		return err
	}
	// The facade's own extensions, published at their canonical URLs.
	structdefs, err := resources.NewStructureDefinitions()
	if err != nil {
		return err
	}
	reg := resources.NewRegistry(append(providers, opdefs, structdefs)...)
	if err := a.prepareCDS(cfg); err != nil {
		return err
	}
	authn, smart, handlers, err := a.authentication(cfg)
	if err != nil {
		return err
	}
	if err := a.mountViewer(cfg, smart, handlers); err != nil {
		return err
	}
	if handlers, err = a.mountCDS(cfg, handlers); err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		CurrentNHSNumber:     patient.CurrentNHSNumber,
		Restricted:           patient.Restricted,
		Auth:                 authn,
		SMART:                smart,
		Handlers:             handlers,
		BaseURL:              a.BaseURL,
		Version:              Version,
		Logger:               cfg.Logger,
		QuietLogs:            cfg.QuietLogs,
		Registry:             a.Metrics,
		CORSOrigins:          cfg.CORSOrigins,
		RequestTimeout:       cfg.RequestTimeout,
		MaxInFlight:          cfg.MaxInFlight,
		MaxInFlightPerCaller: cfg.MaxInFlightPerCaller,
		BodyTimeout:          cfg.BodyTimeout,
		Audit:                a.audit,
		Ready:                a.ready,
		TracerProvider:       a.tracer,
	}, reg)
	if err != nil {
		return err
	}
	a.Resources = reg
	a.server = srv
	a.Handler = srv
	return nil
}

// DevToken mints a token from the local test issuer for one of its dev
// roles ("clinician", "admin", "auditor" …), with that role's default
// scopes, or for a patient context when patient is set. Tests, benchmarks
// and demonstrations use it; it fails when a real issuer is configured.
func (a *App) DevToken(role, patient string) (string, error) {
	if a.Issuer == nil {
		return "", fmt.Errorf("no local test issuer: authentication is off or a real issuer is configured")
	}
	c, err := a.Issuer.DevClaims(issuer.DevClientID, role, patient, nil, "")
	if err != nil {
		return "", err
	}
	return a.Issuer.Mint(c)
}

// PublicBase is the facade's FHIR base as clients reach it, computed once
// at start: links and fullUrls, Location headers, the CapabilityStatement,
// the SMART configuration's endpoints, the local issuer's iss and the
// fhirUser claim, the tokens' default audience and the only iss the viewer
// accepts all derive from it, so a client cannot get links naming one host
// and a token naming another (localhost vs 127.0.0.1 vs a proxy's name).
//
// It is BaseURL (FACADE_BASE_URL) when set: an absolute http(s) URL without
// user, query or fragment, whose path is /fhir, any trailing slash dropped.
// The facade serves /fhir, /oauth, /view and /.well-known side by side and
// its pages and redirects name root-relative paths, so a proxy must give it
// a host's root: a path prefix before /fhir would leave the viewer and the
// OAuth endpoints half-working.
// Plain http is refused for a host that is not loopback, since bearer tokens
// would cross the network in clear, except for an insecure demonstration
// of the local issuer (FACADE_INSECURE_DEMO_ISSUER), whose tokens are worth
// nothing. Without BaseURL it is http(s)://<Addr>/fhir for a loopback
// Addr (what `make run` serves: http://127.0.0.1:8080/fhir); any other Addr
// (0.0.0.0 in the image) says nothing of the name clients use, so it is
// refused.
func PublicBase(cfg Config) (string, error) {
	if cfg.BaseURL == "" {
		addr := orDefault(cfg.Addr, "127.0.0.1:8080")
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" || port == "0" {
			return "", fmt.Errorf("the listen address %q has no port to make the public FHIR base from: give one (-addr 127.0.0.1:8080) or set FACADE_BASE_URL (-base-url)", addr)
		}
		if !loopbackHost(host) {
			return "", fmt.Errorf("refusing to start: the facade would serve on %s, which is not a loopback address, and no FACADE_BASE_URL (-base-url) says "+
				"the public FHIR base clients reach it at, which every link, the SMART endpoints and the tokens' audience are made from; "+
				"set FACADE_BASE_URL, e.g. FACADE_BASE_URL=https://fhir.example.nhs.uk/fhir, or listen on loopback (-addr 127.0.0.1:8080)", addr)
		}
		scheme := "http"
		if cfg.HTTPS {
			scheme = "https"
		}
		return scheme + "://" + addr + "/fhir", nil
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("FACADE_BASE_URL %q must be an absolute URL such as https://fhir.example.nhs.uk/fhir", cfg.BaseURL)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("FACADE_BASE_URL %q must be an http or https URL", cfg.BaseURL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(base, "?#"):
		return "", fmt.Errorf("FACADE_BASE_URL %q must have no user, query or fragment", cfg.BaseURL)
	case u.Path != "/fhir":
		return "", fmt.Errorf("FACADE_BASE_URL %q must be a host's root followed by /fhir, the path the facade serves FHIR at (e.g. https://fhir.example.nhs.uk/fhir): "+
			"its OAuth endpoints and viewer are served beside it at the root, so a proxy cannot add a path prefix", cfg.BaseURL)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()) && !(cfg.Auth.InsecureDemoIssuer && cfg.Auth.Issuer == ""):
		return "", fmt.Errorf("FACADE_BASE_URL %q is plain http to a host that is not loopback: bearer tokens would cross the network in clear; use https "+
			"(or, for a demonstration of the local test issuer on synthetic data only, FACADE_INSECURE_DEMO_ISSUER=true)", cfg.BaseURL)
	}
	return base, nil
}

// devIssuerExposed reports whether the local test issuer would serve on an
// address others can reach. An empty Addr is a facade whose caller serves
// its handler (tests), taken as 127.0.0.1:8080 like PublicBase does.
func devIssuerExposed(cfg Config) bool {
	if cfg.Auth.Issuer != "" || cfg.Addr == "" {
		return false
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	return err != nil || !loopbackHost(host)
}

// checkDevIssuer refuses the local test issuer on a non-loopback address
// unless the demo flag says so: its client secret is published, so the
// image's 0.0.0.0 with no AUTH_ISSUER would let anyone mint tokens.
func checkDevIssuer(cfg Config) error {
	if !devIssuerExposed(cfg) || cfg.Auth.InsecureDemoIssuer {
		return nil
	}
	if cfg.Auth.Disabled {
		// Worse than the test issuer: no token at all.
		return fmt.Errorf("refusing to start: authentication is off (FACADE_AUTH=off) and the facade would serve on %s, which is not a loopback address; "+
			"configure a real issuer with AUTH_ISSUER and AUTH_JWKS_URL, or listen on loopback (-addr 127.0.0.1:8080), "+
			"or, for a demonstration on synthetic data only, set FACADE_INSECURE_DEMO_ISSUER=true (-insecure-demo-issuer)", cfg.Addr)
	}
	return fmt.Errorf("refusing to start: no AUTH_ISSUER is configured, so the LOCAL TEST token issuer (whose client secret is published) would serve on %s, which is not a loopback address; "+
		"configure a real issuer with AUTH_ISSUER and AUTH_JWKS_URL, or listen on loopback (-addr 127.0.0.1:8080), "+
		"or, for a demonstration on synthetic data only, set FACADE_INSECURE_DEMO_ISSUER=true (-insecure-demo-issuer)", cfg.Addr)
}

// authentication sets up token verification: the configured issuer, or
// the local test issuer (whose token endpoint and JWKS the facade then
// serves), or nothing at all when auth is disabled.
func (a *App) authentication(cfg Config) (*server.Auth, *server.SMARTConfiguration, map[string]http.Handler, error) {
	if cfg.Auth.Disabled {
		cfg.Logger.Warn("AUTHENTICATION IS OFF (FACADE_AUTH=off): anyone who can reach this facade can read patient data. Development only.")
		return nil, nil, nil, nil
	}
	base := a.BaseURL
	audience := cfg.Auth.Audience
	if audience == "" {
		audience = base
	}
	root := strings.TrimSuffix(base, "/fhir")
	var issuers []auth.IssuerConfig
	smart := &server.SMARTConfiguration{
		GrantTypesSupported: []string{"client_credentials"},
		ScopesSupported:     []string{"user/*.rs", "user/Patient.rus", "user/Patient.crus", "user/Patient.c", "user/Flag.cu", "patient/*.rs", "system/*.rs"},
		Capabilities:        []string{"permission-v1", "permission-v2", "permission-user", "permission-patient"},
	}
	handlers := map[string]http.Handler{}
	if cfg.Auth.Issuer != "" {
		issuers = append(issuers, auth.IssuerConfig{Issuer: cfg.Auth.Issuer, JWKSURL: cfg.Auth.JWKSURL})
		smart.JWKSURI = cfg.Auth.JWKSURL
		smart.TokenEndpoint = strings.TrimRight(cfg.Auth.Issuer, "/") + "/token"
		if cfg.Auth.AuthorizeURL != "" {
			smart.AuthorizationEndpoint = cfg.Auth.AuthorizeURL
			smart.GrantTypesSupported = []string{"authorization_code", "client_credentials"}
			smart.ResponseTypesSupported = []string{"code"}
			smart.CodeChallengeMethodsSupported = []string{"S256"} // SMART requires it of every server
		}
		for _, c := range cfg.Auth.SMARTCapabilities {
			if !slices.Contains(smart.Capabilities, c) {
				smart.Capabilities = append(smart.Capabilities, c)
			}
		}
		if slices.Contains(smart.Capabilities, "sso-openid-connect") {
			smart.Issuer = cfg.Auth.Issuer // SMART: only with sso-openid-connect
		}
	} else {
		// The local issuer's clients: the dev client (client_credentials,
		// and the EHR registering launches), the facade's viewer (a public
		// SMART app) and any from AUTH_DEV_APPS.
		clients := append([]issuer.Client{
			{ID: issuer.DevClientID, Secret: issuer.DevClientSecret, DefaultScope: issuer.DevClientScope},
			{ID: viewer.DefaultClientID, RedirectURIs: []string{root + viewer.CallbackPath}},
		}, cfg.Auth.DevApps...)
		icfg := issuer.Config{URL: root + "/oauth", Audience: audience, FHIRBase: base,
			Clients: clients, KeyFile: cfg.Auth.DevKeyFile, Logf: cfg.Logger.Warnf}
		if err := a.shareIssuer(&icfg); err != nil {
			return nil, nil, nil, err
		}
		iss, err := issuer.New(icfg)
		if err != nil {
			return nil, nil, nil, err
		}
		a.Issuer = iss
		issuers = append(issuers, iss.IssuerConfig())
		handlers[issuer.TokenPath] = iss.TokenHandler()
		handlers[issuer.AuthorizePath] = iss.AuthorizeHandler()
		handlers[issuer.LaunchPath] = iss.LaunchHandler()
		handlers["/oauth"+issuer.JWKSPath] = iss.JWKSHandler()
		handlers["/oauth"+issuer.OpenIDConfigurationPath] = iss.OpenIDConfigurationHandler()
		e := iss.Endpoints()
		smart.Issuer, smart.JWKSURI, smart.TokenEndpoint, smart.AuthorizationEndpoint = iss.URL(), e.JWKS, e.Token, e.Authorize
		smart.GrantTypesSupported = []string{"authorization_code", "client_credentials"}
		smart.ResponseTypesSupported = []string{"code"}
		smart.CodeChallengeMethodsSupported = []string{"S256"}
		smart.ScopesSupported = issuer.ScopesSupported
		smart.TokenEndpointAuthMethodsSupported = issuer.TokenEndpointAuthMethods
		smart.Capabilities = append(smart.Capabilities, issuer.SMARTCapabilities...)
		cfg.Logger.Warn("using the LOCAL TEST token issuer (no AUTH_ISSUER configured): tokens from POST " + e.Token + " (client " + issuer.DevClientID + "), or `go run ./cmd/token`; SMART EHR launches registered at POST " + e.Launch + ". Development only.")
		if devIssuerExposed(cfg) {
			cfg.Logger.Warn("INSECURE DEMO (FACADE_INSECURE_DEMO_ISSUER / -insecure-demo-issuer): the LOCAL TEST token issuer, whose client secret is published, serves on " + cfg.Addr +
				", not a loopback address: ANYONE WHO CAN REACH THIS FACADE CAN MINT A TOKEN AND READ PATIENT DATA. Synthetic data only; never real traffic.")
		}
	}
	// The CDS Hooks service's own identity, for its in-process calls.
	cdsIssuers, err := a.cdsIssuer()
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := auth.NewVerifier(auth.Config{Issuers: append(issuers, cdsIssuers...), Audience: audience})
	if err != nil {
		return nil, nil, nil, err
	}
	return &server.Auth{Verifier: v, Policy: auth.DefaultPolicy(), Realm: "carerecords-facade"}, smart, handlers, nil
}

// useSandbox points every backend without a base URL at the embedded
// sandbox, started once if any needs it, with the sandbox's token.
func (a *App) useSandbox(cfg *Config) error {
	backends := []struct {
		cfg *Backend
		url func(*sandbox.Sandbox) string
	}{
		{&cfg.PDS, func(s *sandbox.Sandbox) string { return s.PDSBaseURL }},
		{&cfg.BNA, func(s *sandbox.Sandbox) string { return s.BNABaseURL }},
		{&cfg.SCR, func(s *sandbox.Sandbox) string { return s.SCRBaseURL }},
		{&cfg.NRL, func(s *sandbox.Sandbox) string { return s.NRLBaseURL }},
		{&cfg.RA, func(s *sandbox.Sandbox) string { return s.RABaseURL }},
		{&cfg.CPIS, func(s *sandbox.Sandbox) string { return s.CPISBaseURL }},
		{&cfg.FGM, func(s *sandbox.Sandbox) string { return s.FGMBaseURL }},
		{&cfg.OVM, func(s *sandbox.Sandbox) string { return s.OVMBaseURL }},
		{&cfg.Imms, func(s *sandbox.Sandbox) string { return s.ImmsBaseURL }},
	}
	// Only an embedded simulator can be made to fail: a configured backend
	// named in SANDBOX_FAULTS would silently not.
	byName := map[string]*Backend{"pds": &cfg.PDS, "bna": &cfg.BNA, "scr": &cfg.SCR, "nrl": &cfg.NRL, "ra": &cfg.RA, "cpis": &cfg.CPIS, "fgm": &cfg.FGM, "ovm": &cfg.OVM, "imms": &cfg.Imms}
	for _, name := range sandbox.Names {
		if _, ok := cfg.Sandbox.Faults[name]; ok && byName[name].BaseURL != "" {
			return fmt.Errorf("SANDBOX_FAULTS names %s, but %s has a configured base URL: only the embedded simulators can be made to fail", name, name)
		}
	}
	for _, b := range backends {
		if b.cfg.BaseURL != "" {
			continue
		}
		if a.Sandbox == nil {
			sb, err := sandbox.Start(cfg.Sandbox)
			if err != nil {
				return fmt.Errorf("start the embedded sandbox: %w", err)
			}
			a.Sandbox = sb
			if len(cfg.Sandbox.Faults) > 0 {
				cfg.Logger.Warnf("embedded sandbox: simulated outages (SANDBOX_FAULTS): %s", cfg.Sandbox.Faults)
			}
		}
		b.cfg.BaseURL = b.url(a.Sandbox)
		if b.cfg.Token == "" {
			b.cfg.Token = "sandbox"
		}
		if b.cfg == &cfg.NRL && cfg.NRLSSPURL == "" {
			// The sandbox's NRL points at its own document host.
			cfg.NRLSSPURL = a.Sandbox.NRLSSPURL
		}
	}
	return nil
}

// flagProvider builds the Flag provider over RA, CP-IS, FGM-IS and OVM.
func (a *App) flagProvider(cfg Config, m *upstream.Metrics, memo *resources.Memo) (*resources.Flag, error) {
	raUp, err := a.upstream(ra.Name, cfg.RA, cfg.BackendTimeout, m)
	if err != nil {
		return nil, err
	}
	cpisUp, err := a.upstream(cpis.Name, cfg.CPIS, cfg.BackendTimeout, m)
	if err != nil {
		return nil, err
	}
	fgmUp, err := a.upstream(fgm.Name, cfg.FGM, cfg.BackendTimeout, m)
	if err != nil {
		return nil, err
	}
	ovmUp, err := a.upstream(ovm.Name, cfg.OVM, cfg.BackendTimeout, m)
	if err != nil {
		return nil, err
	}
	author := ramap.Author{
		UserID: orDefault(cfg.RASessionURID, "facade"), UserName: "FHIR facade",
		RoleCode: "R8000", RoleDisplay: "Clinical Practitioner Access Role",
		OrgODS: orDefault(cfg.RAODSCode, "X26"), OrgName: orDefault(cfg.RAOrgName, "NHS England"),
	}
	return resources.NewFlag(
		ra.New(raUp, ra.Options{SessionURID: cfg.RASessionURID}),
		cpis.New(cpisUp, cpis.Options{UnscheduledAccess: cfg.CPISUnscheduledAccess}),
		fgm.New(fgmUp),
		ovm.New(ovmUp),
		memo,
		resources.FlagOptions{Author: author},
	), nil
}

// nrlClients builds the NRL client and the document fetcher, whose calls go
// to the Spine Secure Proxy (backend "nrl-ssp" in metrics) with NRL's token
// and timeout.
func (a *App) nrlClients(cfg Config, m *upstream.Metrics) (*nrl.Client, *nrl.Fetcher, error) {
	up, err := a.upstream(nrl.Name, cfg.NRL, cfg.BackendTimeout, m)
	if err != nil {
		return nil, nil, err
	}
	ssp := cfg.NRLSSPURL
	if ssp == "" {
		ssp = "https://" + nrl.NationalProxyHost
	}
	// A document is asked for once: a holder that did not answer in time is
	// asked again by the user, not twice more by the facade, which would
	// triple the wait before the 504.
	sspUp, err := a.upstream("nrl-ssp", Backend{BaseURL: ssp, Token: cfg.NRL.Token, Timeout: cfg.NRL.Timeout, MaxAttempts: 1}, cfg.BackendTimeout, m)
	if err != nil {
		return nil, nil, err
	}
	f, err := nrl.NewFetcher(sspUp, nrl.FetcherOptions{SSPBaseURL: ssp, ASID: cfg.NRLASID, MaxSize: cfg.NRLMaxDocumentSize})
	if err != nil {
		return nil, nil, err
	}
	return nrl.New(up, nrl.Options{ODSCode: cfg.NRLODSCode}), f, nil
}

// upstream builds the HTTP client of one backend from its configuration.
func (a *App) upstream(name string, b Backend, defaultTimeout time.Duration, m *upstream.Metrics) (*upstream.Client, error) {
	a.Backends[name] = b.BaseURL
	if b.Timeout == 0 {
		b.Timeout = defaultTimeout
	}
	cfg := policy(name, b)
	tlsConfig, err := b.TLS.config()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cfg.TLS = tlsConfig
	cfg.TracerProvider = a.tracer
	if cfg.CacheTTL > 0 {
		if a.cache == nil {
			store, err := upstream.NewCache(a.cacheMaxBytes, m)
			if err != nil {
				return nil, err
			}
			a.cache = store
		}
		cfg.Cache = a.cache
	}
	c, err := upstream.New(cfg, m)
	if err != nil {
		return nil, err
	}
	a.shareState(c)
	a.upstreams = append(a.upstreams, c)
	return c, nil
}

// ready reports each backend's circuit state for /readyz: ready unless a
// circuit is open.
func (a *App) ready() (bool, map[string]string) {
	ok, states := true, make(map[string]string, len(a.upstreams))
	for _, c := range a.upstreams {
		h := c.Health()
		states[c.Name()] = h.State.String()
		if h.State == upstream.Open {
			ok = false
		}
	}
	// An audit trail that takes no record refuses every access.
	if states["audit"] = a.audit.Mode(); states["audit"] == audit.ModeFailed {
		ok = false
	}
	a.redisReady(states)
	return ok, states
}

// openAudit opens the audit trail: PostgreSQL when AUDIT_DATABASE_URL is
// set, else the JSON-lines file (the embedded default).
func openAudit(cfg Config, reg prometheus.Registerer) (audit.Store, error) {
	if cfg.AuditDatabaseURL == "" {
		l, err := audit.Open(cfg.AuditLog, 0)
		if err != nil {
			return nil, err // not a nil *Log in a non-nil Store
		}
		return l, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgaudit.Open(ctx, pgaudit.Options{URL: cfg.AuditDatabaseURL, WAL: cmp.Or(cfg.AuditWAL, "audit.wal"), Logger: cfg.Logger, Registerer: reg})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Drain makes the facade refuse new requests and report not ready, ahead
// of a graceful shutdown.
func (a *App) Drain() {
	if a.server != nil {
		a.server.Drain()
	}
}

// Close stops the embedded sandbox and releases caches.
func (a *App) Close() {
	if a.server != nil {
		a.server.Close()
	}
	a.memo.Close()
	if a.audit != nil {
		_ = a.audit.Close()
	}
	// Idle backend connections first: the sandbox's shutdown would
	// otherwise wait out its grace period for them.
	for _, c := range a.upstreams {
		c.Close()
	}
	a.cache.Close()
	_ = a.redis.Close()
	if a.Sandbox != nil {
		a.Sandbox.Close()
	}
	if a.ownTracer != nil {
		// Last: the spans of the requests drained above are flushed.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.ownTracer.Shutdown(ctx)
	}
}

// startTracing sets the tracer of the server and backend clients: the
// Config's, or one made from the OTEL_* variables, or none.
func (a *App) startTracing(cfg Config) error {
	if cfg.TracerProvider != nil {
		a.tracer = cfg.TracerProvider
		return nil
	}
	tp, err := tracing.New(context.Background(), cfg.Tracing, Version)
	if err != nil || tp == nil {
		return err // a nil *TracerProvider must not become a non-nil interface
	}
	a.tracer, a.ownTracer = tp, tp
	cfg.Logger.WithField("protocol", cfg.Tracing.Protocol).Info("tracing: spans exported by OTLP")
	return nil
}

// NewHTTPServer is the HTTP server the facade's handler is served by: its
// read, write and idle timeouts, and a hard stop on header size (the
// server's own guard answers 431 with an OperationOutcome above 32 KiB).
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}
}
