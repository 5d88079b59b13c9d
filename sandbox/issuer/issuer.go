// Package issuer is a local OAuth 2.0 token issuer for development and
// tests: the embedded default's stand-in for NHS CIS2 and the NHS API
// platform. It generates a fresh ES256 (P-256) key pair each time it starts,
// publishes the public key as a JWKS, mints JWT access tokens with the claims
// package auth reads, and serves a client_credentials token endpoint for dev
// clients, with dev-only extras to pick a role and a patient context.
//
// It is also a SMART App Launch 2.x authorization server for the EHR launch:
// a local clinical system registers a launch (LaunchHandler), opens a SMART
// app with it, the app asks the authorization endpoint (AuthorizeHandler) for
// a code, which the dev issuer grants at once for the role the launch names
// (there is no login page), and trades it at the token endpoint for an access
// token with the launch's patient context and, with openid, an id_token.
//
// It is not for production: anyone holding a dev client's secret gets any
// role, and the optional key file (Config.KeyFile) lets anyone who can read
// it mint tokens for as long as the issuer runs.
package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Default paths at which a server mounts the handlers.
const (
	JWKSPath  = "/.well-known/jwks.json"
	TokenPath = "/oauth/token"
	// AuthorizePath is the SMART authorization endpoint, LaunchPath where a
	// local clinical system (the EHR) registers a launch.
	AuthorizePath = "/oauth/authorize"
	LaunchPath    = "/oauth/launch"
	// OpenIDConfigurationPath, appended to the issuer URL, is the OpenID
	// Connect discovery document (OpenIDConfigurationHandler).
	OpenIDConfigurationPath = "/.well-known/openid-configuration"
)

// ViewerClientID is the facade's own viewer, a public SMART client.
const ViewerClientID = "facade-viewer"

// The dev client New configures when Config.Clients is empty. Dev only: the
// secret is public, in this source.
const (
	DevClientID     = "facade-dev"
	DevClientSecret = "facade-dev-secret"
	// DevClientScope is what the dev client gets when it asks for no scope:
	// application-restricted read access.
	DevClientScope = "system/*.rs"
)

// DefaultTTL is how long minted tokens live unless told otherwise; MaxTTL
// bounds any request.
const (
	DefaultTTL = time.Hour
	MaxTTL     = 12 * time.Hour
)

// Client is a dev OAuth client allowed to use the token endpoint.
type Client struct {
	ID string
	// Secret authenticates a confidential client. A client without one is
	// public (SMART client-public): it may only use the authorization code
	// grant, with PKCE, so it must have RedirectURIs.
	Secret string
	// DefaultScope is granted when a client_credentials request names no
	// scope.
	DefaultScope string
	// RedirectURIs are the redirect URIs the authorization endpoint accepts
	// for this client, compared exactly. None: the client cannot use it.
	RedirectURIs []string
}

// Public reports whether c is a public client (no secret).
func (c Client) Public() bool { return c.Secret == "" }

// DevRole is a role the token endpoint's "role" parameter may pick, and the
// synthetic user a token for it describes.
type DevRole struct {
	// Name is what the "role" parameter says ("clinician"); the Code is
	// accepted too.
	Name          string
	Code          string // national RBAC code, or "facade-auditor"
	Subject       string // the synthetic user's id (sub)
	DisplayName   string // name
	RoleProfileID string // nhs_role_profile_id, sent to backends as NHSD-Session-URID
	OrgODS        string // org_ods
	// DefaultScope is granted when a request for this role names no scope.
	DefaultScope string
}

// clinicalScope lets clinicians read and search, write reasonable
// adjustment flags and notify births (Patient/$notify-birth creates a
// Patient: c); the role table keeps PDS's own create to admin staff.
const clinicalScope = "user/*.rs user/Flag.cu user/Patient.c"

// DefaultDevRoles are the dev roles unless Config.Roles says otherwise. The
// users and organisation are synthetic.
func DefaultDevRoles() []DevRole {
	return []DevRole{
		{Name: "clinician", Code: auth.RoleClinicalPractitioner, Subject: "910000000001", DisplayName: "Dr Dev Clinician", RoleProfileID: "555254240100", OrgODS: "Y05868", DefaultScope: clinicalScope},
		{Name: "nurse", Code: auth.RoleNurse, Subject: "910000000002", DisplayName: "Dev Nurse", RoleProfileID: "555254240101", OrgODS: "Y05868", DefaultScope: clinicalScope},
		{Name: "health-professional", Code: auth.RoleHealthProfessional, Subject: "910000000003", DisplayName: "Dev Health Professional", RoleProfileID: "555254240102", OrgODS: "Y05868", DefaultScope: clinicalScope},
		{Name: "admin", Code: auth.RoleAdminClinicalSupport, Subject: "910000000004", DisplayName: "Dev Admin", RoleProfileID: "555254240103", OrgODS: "Y05868", DefaultScope: "user/Patient.crus"},
		{Name: "auditor", Code: auth.RoleAuditor, Subject: "910000000005", DisplayName: "Dev Auditor", RoleProfileID: "555254240104", OrgODS: "Y05868", DefaultScope: "user/AuditEvent.s"},
	}
}

// Config configures an Issuer.
type Config struct {
	// URL is the issuer identifier written as iss, e.g.
	// "http://127.0.0.1:8080/oauth". Required.
	URL string
	// Audience is the aud of minted tokens unless Claims.Audience says
	// otherwise: the facade's base URL. Required.
	Audience string
	// Clients may use the token endpoint. Default: one client,
	// DevClientID/DevClientSecret.
	Clients []Client
	// Roles the token endpoint's "role" parameter may pick. Default
	// DefaultDevRoles().
	Roles []DevRole
	// TTL is the lifetime of tokens. Default DefaultTTL, at most MaxTTL.
	TTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// KeyFile, when set, is where New writes the fresh private key (mode
	// 0600, replacing any earlier file) so that cmd/token can mint tokens
	// for the running facade without its token endpoint. Dev only: whoever
	// can read the file can mint any role until the issuer restarts.
	KeyFile string
	// FHIRBase is the FHIR base URL of the resource server: the only aud an
	// authorization request may name, and the base of the fhirUser claim.
	// Default Audience.
	FHIRBase string
	// MaxPending bounds the launches, and separately the authorization
	// codes, held in memory at once. Default DefaultMaxPending.
	MaxPending int
	// Launches and Codes, when set, keep the launches and authorization
	// codes where every replica of the facade finds them (Redis, when
	// FACADE_REDIS_URL is set), each single use across replicas; MaxPending
	// then does not apply. nil: in memory.
	Launches, Codes SharedStore
	// Key, when set, is the signing key of access tokens instead of a
	// fresh one: replicas share it so that each accepts the others' tokens.
	Key *ecdsa.PrivateKey
	// Logf, when set, is told of security-relevant events (an authorization
	// code presented twice). It is never given a code, token or NHS number.
	Logf func(format string, args ...any)
}

// Issuer is a local token issuer. It is safe for concurrent use.
type Issuer struct {
	url      string
	audience string
	key      *ecdsa.PrivateKey
	kid      string
	signer   jose.Signer // ES256 with key, header kid and typ at+jwt
	pub      jose.JSONWebKey
	jwks     []byte
	keySet   *auth.KeySet
	clients  map[string]Client
	roles    []DevRole
	ttl      time.Duration
	now      func() time.Time
	fhirBase string
	logf     func(format string, args ...any)
	launches *store[launchGrant]
	codes    *store[codeGrant]
	oidc     oidcKey
}

// New generates a key pair and returns an Issuer.
func New(cfg Config) (*Issuer, error) {
	key := cfg.Key
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("issuer: generating a key: %w", err)
		}
	}
	iss, err := newIssuer(cfg, key)
	if err != nil {
		return nil, err
	}
	if cfg.KeyFile != "" {
		if err := iss.writeKeyFile(cfg.KeyFile); err != nil {
			return nil, err
		}
	}
	return iss, nil
}

func newIssuer(cfg Config, key *ecdsa.PrivateKey) (*Issuer, error) {
	if err := validateURL(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errors.New("issuer: no audience")
	}
	i := &Issuer{url: cfg.URL, audience: cfg.Audience, key: key, clients: map[string]Client{},
		roles: cfg.Roles, ttl: cfg.TTL, now: cfg.Now, fhirBase: strings.TrimRight(cfg.FHIRBase, "/"), logf: cfg.Logf}
	if i.fhirBase == "" {
		i.fhirBase = strings.TrimRight(cfg.Audience, "/")
	}
	if i.logf == nil {
		i.logf = func(string, ...any) {}
	}
	if cfg.MaxPending < 0 {
		return nil, errors.New("issuer: MaxPending is negative")
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	i.launches, i.codes = newStore[launchGrant](cfg.MaxPending), newStore[codeGrant](cfg.MaxPending)
	i.launches.shared, i.codes.shared = cfg.Launches, cfg.Codes
	if i.ttl <= 0 {
		i.ttl = DefaultTTL
	}
	if i.ttl > MaxTTL {
		return nil, fmt.Errorf("issuer: TTL %v is longer than %v", i.ttl, MaxTTL)
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.roles == nil {
		i.roles = DefaultDevRoles()
	}
	clients := cfg.Clients
	if len(clients) == 0 {
		clients = []Client{{ID: DevClientID, Secret: DevClientSecret, DefaultScope: DevClientScope}}
	}
	for _, c := range clients {
		if c.ID == "" || c.Secret == "" && len(c.RedirectURIs) == 0 {
			return nil, errors.New("issuer: a client has no id, or neither a secret nor a redirect URI")
		}
		if _, dup := i.clients[c.ID]; dup {
			return nil, fmt.Errorf("issuer: client %q twice", c.ID)
		}
		for _, u := range c.RedirectURIs {
			if err := ValidateRedirectURI(u); err != nil {
				return nil, fmt.Errorf("issuer: client %q: %w", c.ID, err)
			}
		}
		c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
		i.clients[c.ID] = c
	}
	var err error
	if i.kid, err = thumbprint(&key.PublicKey); err != nil {
		return nil, err
	}
	if i.signer, err = newSigner(jose.ES256, key, i.kid, "at+jwt"); err != nil {
		return nil, err
	}
	i.pub = jose.JSONWebKey{Key: &key.PublicKey, KeyID: i.kid, Algorithm: auth.ES256, Use: "sig"}
	if i.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{i.pub}}); err != nil {
		return nil, fmt.Errorf("issuer: own JWKS: %w", err)
	}
	if i.keySet, err = auth.ParseKeySet(i.jwks); err != nil {
		return nil, fmt.Errorf("issuer: own JWKS: %w", err)
	}
	return i, nil
}

func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("issuer: URL %q is not an absolute http(s) URL", raw)
	}
	return nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// thumbprint is the RFC 7638 SHA-256 JWK thumbprint of pub, used as its kid.
func thumbprint(pub crypto.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("issuer: key thumbprint: %w", err)
	}
	return b64(sum), nil
}

// newSigner returns a go-jose signer of compact JWSs under alg with key,
// whose protected header names kid and typ.
func newSigner(alg jose.SignatureAlgorithm, key crypto.Signer, kid, typ string) (jose.Signer, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, fmt.Errorf("issuer: %s signer: %w", alg, err)
	}
	return s, nil
}

// signCompact returns the compact JWS of claims signed by s.
func signCompact(s jose.Signer, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("issuer: signing: %w", err)
	}
	return obj.CompactSerialize()
}

// URL returns the issuer identifier (iss).
func (i *Issuer) URL() string { return i.url }

// Audience returns the default aud of minted tokens.
func (i *Issuer) Audience() string { return i.audience }

// KeyID returns the kid of the signing key.
func (i *Issuer) KeyID() string { return i.kid }

// JWKS returns the public JSON Web Key Set document.
func (i *Issuer) JWKS() []byte { return append([]byte(nil), i.jwks...) }

// KeySet returns the public keys as an in-process auth.KeySource.
func (i *Issuer) KeySet() *auth.KeySet { return i.keySet }

// IssuerConfig returns the auth.IssuerConfig that trusts this issuer
// in-process, without fetching its JWKS.
func (i *Issuer) IssuerConfig() auth.IssuerConfig {
	return auth.IssuerConfig{Issuer: i.url, Keys: i.keySet}
}

// Role returns the dev role named name, or whose code is name.
func (i *Issuer) Role(name string) (DevRole, bool) {
	for _, r := range i.roles {
		if r.Name == name || r.Code == name {
			return r, true
		}
	}
	return DevRole{}, false
}

// Errors of DevClaims.
var (
	ErrUnknownRole = errors.New("issuer: unknown role")
	ErrPatient     = errors.New("issuer: the patient is not a valid NHS number")
)

// DevClaims returns the claims of a dev token for client, as the token
// endpoint and cmd/token build them. role is a DevRole name or code, or ""
// for an application-restricted token (sub = client). patient, when set, is
// the SMART patient context. When scopes is nil the scope is "patient/*.rs"
// with a patient, else the role's DefaultScope, else defaultScope.
func (i *Issuer) DevClaims(client, role, patient string, scopes []string, defaultScope string) (Claims, error) {
	c := Claims{Subject: client, ClientID: client, Scopes: scopes}
	if role != "" {
		r, ok := i.Role(role)
		if !ok {
			return Claims{}, fmt.Errorf("%w; known: %s", ErrUnknownRole, i.roleNames())
		}
		c.Subject, c.Name, c.Roles = r.Subject, r.DisplayName, []string{r.Code}
		c.RoleProfileID, c.OrgODS = r.RoleProfileID, r.OrgODS
		defaultScope = r.DefaultScope
	}
	if patient != "" {
		if !nhsnumber.Valid(patient) {
			return Claims{}, ErrPatient
		}
		c.Patient = patient
		defaultScope = "patient/*.rs"
	}
	if c.Scopes == nil {
		c.Scopes = strings.Fields(defaultScope)
	}
	return c, nil
}

func (i *Issuer) roleNames() string {
	names := make([]string, len(i.roles))
	for n, r := range i.roles {
		names[n] = r.Name
	}
	return strings.Join(names, ", ")
}

// Claims are what a minted token says.
type Claims struct {
	Subject       string   // sub; required
	Name          string   // name
	Roles         []string // nhs_role: national RBAC codes
	RoleProfileID string   // nhs_role_profile_id
	OrgODS        string   // org_ods
	Scopes        []string // scope, space-separated; each word a valid OAuth scope
	Patient       string   // patient: SMART patient context, an NHS number
	ClientID      string   // client_id
	// TTL is the token's lifetime. Default the issuer's TTL, at most MaxTTL.
	TTL time.Duration
	// Audience is the aud. Default the issuer's audience.
	Audience string
}

// Mint returns a signed ES256 access token for c, with iss, aud, iat, nbf,
// exp, jti and the issuer's kid. It refuses claims auth.Verifier would refuse
// (no subject, a malformed scope, a patient that is not an NHS number).
func (i *Issuer) Mint(c Claims) (string, error) {
	tok, _, err := i.mint(c)
	return tok, err
}

func (i *Issuer) mint(c Claims) (string, time.Duration, error) {
	if c.Subject == "" {
		return "", 0, errors.New("issuer: no subject")
	}
	scope := strings.Join(c.Scopes, " ")
	if _, err := auth.ParseScopes(scope); err != nil {
		return "", 0, fmt.Errorf("issuer: %w", err)
	}
	if c.Patient != "" && !nhsnumber.Valid(c.Patient) {
		return "", 0, ErrPatient
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = i.ttl
	}
	if ttl > MaxTTL {
		return "", 0, fmt.Errorf("issuer: TTL %v is longer than %v", ttl, MaxTTL)
	}
	aud := c.Audience
	if aud == "" {
		aud = i.audience
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", 0, err
	}
	now := i.now()
	names := auth.DefaultClaimNames
	claims := map[string]any{
		"iss": i.url, "sub": c.Subject, "aud": aud,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		"jti": hex.EncodeToString(jti),
	}
	if scope != "" {
		claims[names.Scope] = scope
	}
	for k, v := range map[string]string{names.Name: c.Name, names.RoleProfileID: c.RoleProfileID,
		names.OrgODS: c.OrgODS, names.Patient: c.Patient, "client_id": c.ClientID} {
		if v != "" {
			claims[k] = v
		}
	}
	if len(c.Roles) > 0 {
		claims[names.Roles] = c.Roles
	}
	tok, err := signCompact(i.signer, claims)
	if err != nil {
		return "", 0, err
	}
	return tok, ttl, nil
}
