// Package app wires the facade together: backend clients (or the embedded
// sandbox when no backend URL is configured), providers, registry and the
// FHIR server. cmd/facade and the black-box tests both start the facade
// through New, so they run the same code.
package app

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/backends/cpis"
	"github.com/carerecords/fhir-facade/backends/fgm"
	"github.com/carerecords/fhir-facade/backends/nrl"
	"github.com/carerecords/fhir-facade/backends/pds"
	"github.com/carerecords/fhir-facade/backends/ra"
	"github.com/carerecords/fhir-facade/backends/sandbox"
	"github.com/carerecords/fhir-facade/backends/scr"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/capability"
	ramap "github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/server"
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
}

// Config is the whole configuration of a facade.
type Config struct {
	// Addr is the listen address (cmd/facade), e.g. 127.0.0.1:8080.
	Addr string
	// BaseURL is the public FHIR base for links; empty derives it from requests.
	BaseURL string
	// BackendTimeout is the per-call timeout of every backend whose own
	// Timeout is zero (env BACKEND_TIMEOUT; upstream.DefaultTimeout if unset).
	BackendTimeout time.Duration
	// One entry per national backend.
	PDS Backend
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
	// Sandbox configures the embedded simulators started for every backend
	// without a BaseURL.
	Sandbox sandbox.Options
	// CORSOrigins are the browser origins allowed to call the API (env
	// FACADE_CORS_ORIGINS, comma-separated; "*" for any).
	CORSOrigins []string
	// Logger for requests; nil means a JSON logger on stderr.
	Logger    *logrus.Logger
	QuietLogs bool
}

// FromEnv reads the configuration from environment variables (see README).
// Tokens may be given directly (PDS_TOKEN) or as a file (PDS_TOKEN_FILE).
func FromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Addr:    orDefault(getenv("FACADE_ADDR"), "127.0.0.1:8080"),
		BaseURL: getenv("FACADE_BASE_URL"),
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
	if cfg.PDS, err = backendFromEnv(getenv, "PDS"); err != nil {
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
	return b, nil
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
	// Sandbox is the embedded sandbox, nil when every backend is configured.
	Sandbox *sandbox.Sandbox
	// Metrics is the Prometheus registry served at /metrics.
	Metrics *prometheus.Registry
	// Resources is the provider registry the routes and CapabilityStatement come from.
	Resources *resources.Registry
	// Backends names each backend's base URL (for the start-up log line).
	Backends map[string]string
	server   *server.Server
	memo     *resources.Memo
}

// New wires a facade from cfg, starting the embedded sandbox for every
// backend that has no base URL.
func New(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = logrus.New()
		cfg.Logger.SetFormatter(&logrus.JSONFormatter{})
	}
	a := &App{Metrics: prometheus.NewRegistry(), Backends: map[string]string{}}
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.PDS.BaseURL == "" || cfg.SCR.BaseURL == "" {
		sb, err := sandbox.Start(cfg.Sandbox)
		if err != nil {
			return nil, fmt.Errorf("start the embedded sandbox: %w", err)
		}
		a.Sandbox = sb
		for _, b := range []struct {
			cfg  *Backend
			base string
		}{{&cfg.PDS, sb.PDSBaseURL}, {&cfg.SCR, sb.SCRBaseURL}} {
			if b.cfg.BaseURL == "" {
				b.cfg.BaseURL = b.base
				if b.cfg.Token == "" {
					b.cfg.Token = "sandbox"
				}
			}
		}
	}
	if cfg.NRL.BaseURL == "" {
		if a.Sandbox == nil {
			sb, err := sandbox.Start(cfg.Sandbox)
			if err != nil {
				return nil, fmt.Errorf("start the embedded sandbox: %w", err)
			}
			a.Sandbox = sb
		}
		cfg.NRL.BaseURL = a.Sandbox.NRLBaseURL
		if cfg.NRL.Token == "" {
			cfg.NRL.Token = "sandbox"
		}
		if cfg.NRLSSPURL == "" {
			cfg.NRLSSPURL = a.Sandbox.NRLSSPURL
		}
	}
	if cfg.RA.BaseURL == "" || cfg.CPIS.BaseURL == "" || cfg.FGM.BaseURL == "" {
		if a.Sandbox == nil {
			sb, err := sandbox.Start(cfg.Sandbox)
			if err != nil {
				return nil, fmt.Errorf("start the embedded sandbox: %w", err)
			}
			a.Sandbox = sb
		}
		for _, b := range []struct {
			cfg  *Backend
			base string
		}{{&cfg.RA, a.Sandbox.RABaseURL}, {&cfg.CPIS, a.Sandbox.CPISBaseURL}, {&cfg.FGM, a.Sandbox.FGMBaseURL}} {
			if b.cfg.BaseURL == "" {
				b.cfg.BaseURL = b.base
				if b.cfg.Token == "" {
					b.cfg.Token = "sandbox"
				}
			}
		}
	}
	um := upstream.NewMetrics(a.Metrics)
	pdsUp, err := a.upstream(pds.Name, cfg.PDS, cfg.BackendTimeout, um)
	if err != nil {
		a.Close()
		return nil, err
	}
	scrUp, err := a.upstream(scr.Name, cfg.SCR, cfg.BackendTimeout, um)
	if err != nil {
		a.Close()
		return nil, err
	}
	scrClient := scr.New(scrUp, scr.Options{SessionURID: cfg.SCRSessionURID})
	memo, err := resources.NewMemo(64 << 20)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.memo = memo
	nrlClient, nrlFetcher, err := a.nrlClients(cfg, um)
	if err != nil {
		a.Close()
		return nil, err
	}
	flag, err := a.flagProvider(cfg, um, memo)
	if err != nil {
		a.Close()
		return nil, err
	}
	patient := resources.NewPatient(pds.New(pdsUp), memo)
	// Every resource provider; the registry, the routes and the
	// CapabilityStatement come from this list.
	providers := []resources.Provider{
		patient,
		resources.NewDocumentReference(nrlClient, memo),
		resources.NewBinary(nrlClient, nrlFetcher),
		resources.NewAllergyIntolerance(scrClient, memo),
		resources.NewMedicationStatement(scrClient, memo),
		flag,
	}
	patient.UseSummarySources(resources.SummarySources(providers))
	opdefs, err := resources.NewOperationDefinitions(capability.OperationDefinition, providers...)
	if err != nil {
		a.Close()
		return nil, err
	}
	reg := resources.NewRegistry(append(providers, opdefs)...)
	srv, err := server.New(server.Config{
		BaseURL:     cfg.BaseURL,
		Version:     Version,
		Logger:      cfg.Logger,
		QuietLogs:   cfg.QuietLogs,
		Registry:    a.Metrics,
		CORSOrigins: cfg.CORSOrigins,
	}, reg)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Resources = reg
	a.server = srv
	a.Handler = srv
	return a, nil
}

// flagProvider builds the Flag provider over RA, CP-IS and FGM-IS.
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
	author := ramap.Author{
		UserID: orDefault(cfg.RASessionURID, "facade"), UserName: "FHIR facade",
		RoleCode: "R8000", RoleDisplay: "Clinical Practitioner Access Role",
		OrgODS: orDefault(cfg.RAODSCode, "X26"), OrgName: orDefault(cfg.RAOrgName, "NHS England"),
	}
	return resources.NewFlag(
		ra.New(raUp, ra.Options{SessionURID: cfg.RASessionURID}),
		cpis.New(cpisUp, cpis.Options{UnscheduledAccess: cfg.CPISUnscheduledAccess}),
		fgm.New(fgmUp),
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
	sspUp, err := a.upstream("nrl-ssp", Backend{BaseURL: ssp, Token: cfg.NRL.Token, Timeout: cfg.NRL.Timeout}, cfg.BackendTimeout, m)
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
	return upstream.New(upstream.Config{Name: name, BaseURL: b.BaseURL, Token: b.Token, Timeout: b.Timeout}, m)
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
	if a.Sandbox != nil {
		a.Sandbox.Close()
	}
}
