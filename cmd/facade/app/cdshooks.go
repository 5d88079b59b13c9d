package app

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/cdshooks"
)

// CDSConfig configures the CDS Hooks patient-view service (package
// cdshooks, docs/cds-hooks.md).
type CDSConfig struct {
	// Clients are the trusted CDS clients (env CDS_CLIENTS, see
	// cdshooks.ParseClients): issuer=JWKS URL or file, with the role and
	// organisation their calls are authorised as. With the local test
	// issuer, the issuer itself is also a trusted client (development:
	// cmd/token -cds mints its JWTs).
	Clients string
	// Trusted are clients given in code (tests), besides Clients.
	Trusted []cdshooks.Client
	// Path is where discovery is served (env CDS_SERVICES_PATH, default
	// /cds-services), outside /fhir.
	Path string
	// NoAllergies leaves the allergies card out, for EHRs that show the
	// Summary Care Record's allergies themselves (env CDS_ALLERGIES=false).
	NoAllergies bool
	// CORSOrigins are the EHR origins whose browsers may call the service
	// (env CDS_CORS_ORIGINS, comma-separated).
	CORSOrigins []string
	// Budget bounds the reading of the national services for one call
	// (env CDS_BUDGET; cdshooks.DefaultBudget when 0).
	Budget time.Duration
}

// cdsFromEnv reads the CDS_* variables into cfg.
func cdsFromEnv(getenv func(string) string, cfg *CDSConfig) error {
	cfg.Clients, cfg.Path = getenv("CDS_CLIENTS"), getenv("CDS_SERVICES_PATH")
	if s := getenv("CDS_ALLERGIES"); s != "" {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("CDS_ALLERGIES must be true or false")
		}
		cfg.NoAllergies = !on
	}
	origins, err := cdshooks.ParseOrigins(getenv("CDS_CORS_ORIGINS"))
	if err != nil {
		return fmt.Errorf("CDS_CORS_ORIGINS: %w", err)
	}
	cfg.CORSOrigins = origins
	if s := getenv("CDS_BUDGET"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > 10*time.Second {
			return fmt.Errorf("CDS_BUDGET must be a positive duration up to 10s, such as 450ms")
		}
		cfg.Budget = d
	}
	return nil
}

// cdsWiring is what the CDS service needs before the server exists: the
// facade-issued identity its in-process calls carry, which the facade's
// verifier must trust.
type cdsWiring struct {
	identity *cdshooks.Identity
}

// cdsPath is the service's path.
func cdsPath(cfg Config) string {
	if cfg.CDS.Path == "" {
		return cdshooks.DefaultPath
	}
	return cfg.CDS.Path
}

// prepareCDS makes the CDS service's identity when the service may run
// (a trusted client is configured, or the local test issuer stands in as
// one) and authentication is on.
func (a *App) prepareCDS(cfg Config) error {
	a.cds = &cdsWiring{}
	possible := cfg.CDS.Clients != "" || len(cfg.CDS.Trusted) > 0 || cfg.Auth.Issuer == ""
	if cfg.Auth.Disabled || !possible {
		return nil
	}
	audience := cfg.Auth.Audience
	if audience == "" {
		audience = a.BaseURL
	}
	id, err := cdshooks.NewIdentity(strings.TrimSuffix(a.BaseURL, "/fhir")+cdsPath(cfg), audience)
	if err != nil {
		return err
	}
	a.cds.identity = id
	return nil
}

// cdsIssuer is the identity as an issuer of the facade's verifier, if any.
func (a *App) cdsIssuer() ([]auth.IssuerConfig, error) {
	if a.cds == nil || a.cds.identity == nil {
		return nil, nil
	}
	ic, err := a.cds.identity.IssuerConfig()
	if err != nil {
		return nil, err
	}
	return []auth.IssuerConfig{ic}, nil
}

// mountCDS adds the CDS Hooks service to handlers (made if nil) when it has
// a client to trust. Its routes are outside /fhir.
func (a *App) mountCDS(cfg Config, handlers map[string]http.Handler) (map[string]http.Handler, error) {
	clients, err := cdshooks.ParseClients(cfg.CDS.Clients, nil)
	if err != nil {
		return handlers, err
	}
	clients = append(clients, cfg.CDS.Trusted...)
	if a.Issuer != nil {
		// Development: the local test issuer is a CDS client too.
		var keys []jose.JSONWebKey
		for _, k := range a.Issuer.KeySet().Keys() {
			keys = append(keys, jose.JSONWebKey{Key: k.Key, KeyID: k.KeyID, Algorithm: k.Algorithm, Use: "sig"})
		}
		dev, _ := a.Issuer.Role("clinician")
		clients = append(clients, cdshooks.Client{Issuer: a.Issuer.URL(), Keys: cdshooks.NewStaticKeys(keys...),
			Role: dev.Code, OrgODS: dev.OrgODS, Name: "local test issuer (development EHR)"})
	}
	if len(clients) == 0 {
		return handlers, nil
	}
	if cfg.Auth.Disabled {
		cfg.Logger.Warn("CDS Hooks: authentication is off, so the service reads national data with no token of its own; its CDS clients are still checked")
	}
	v, err := cdshooks.NewVerifier(clients, a.cdsReplay())
	if err != nil {
		return handlers, err
	}
	root := strings.TrimSuffix(a.BaseURL, "/fhir")
	launch := ""
	if _, ok := handlers[viewerRoute]; ok {
		launch = root + "/view/launch"
	}
	svc, err := cdshooks.New(cdshooks.Config{
		Root: root, Path: cdsPath(cfg), FHIRBase: a.BaseURL,
		API:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.Handler.ServeHTTP(w, r) }),
		Verifier: v, Identity: a.cds.identity, Allergies: !cfg.CDS.NoAllergies, Budget: cfg.CDS.Budget,
		ViewerLaunchURL: launch, CORSOrigins: cfg.CDS.CORSOrigins, Audit: a.audit, Logger: cfg.Logger, Registerer: a.Metrics,
	})
	if err != nil {
		return handlers, err
	}
	if handlers == nil {
		handlers = map[string]http.Handler{}
	}
	for _, route := range svc.Routes() {
		handlers[route] = svc
	}
	a.CDS = svc
	return handlers, nil
}
