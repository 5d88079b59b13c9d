package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// Issuer is the exact "iss" value of its tokens.
	Issuer string `json:"issuer"`
	// JWKSURL is where its signing keys are published (its jwks_uri): https,
	// or http to a loopback address.
	JWKSURL string `json:"jwks_uri,omitempty"`
	// Keys, when set, is used instead of fetching JWKSURL: an in-process key
	// set such as the local test issuer's.
	Keys KeySource `json:"-"`
}

// ClaimNames names the claims a Principal is read from. Empty fields take
// the defaults of DefaultClaimNames.
type ClaimNames struct {
	Roles         string `json:"roles,omitempty"`
	RoleProfileID string `json:"role_profile_id,omitempty"`
	OrgODS        string `json:"org_ods,omitempty"`
	Name          string `json:"name,omitempty"`
	Scope         string `json:"scope,omitempty"`
	Patient       string `json:"patient,omitempty"`
}

// DefaultClaimNames are the claim names the verifier reads unless told
// otherwise, and the local test issuer writes.
var DefaultClaimNames = ClaimNames{
	Roles:         "nhs_role",
	RoleProfileID: "nhs_role_profile_id",
	OrgODS:        "org_ods",
	Name:          "name",
	Scope:         "scope",
	Patient:       "patient",
}

func (c ClaimNames) withDefaults() ClaimNames {
	d := DefaultClaimNames
	for _, f := range []struct{ v, def *string }{
		{&c.Roles, &d.Roles}, {&c.RoleProfileID, &d.RoleProfileID}, {&c.OrgODS, &d.OrgODS},
		{&c.Name, &d.Name}, {&c.Scope, &d.Scope}, {&c.Patient, &d.Patient},
	} {
		if *f.v == "" {
			*f.v = *f.def
		}
	}
	return c
}

// Config configures a Verifier.
type Config struct {
	// Issuers are the trusted issuers; a token's iss must equal one exactly,
	// and its signature must verify with one of that issuer's keys.
	Issuers []IssuerConfig
	// Audience must be among the token's aud values, e.g. the facade's base
	// URL. Required.
	Audience string
	// Algorithms are the allowed signature algorithms, a subset of RS256 and
	// ES256. Default both.
	Algorithms []string
	// Leeway absorbs clock skew in exp, nbf and iat. Default 30 s, at most 5 min.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Claims names the claims of the Principal. Default DefaultClaimNames.
	Claims ClaimNames
	// MaxTokenBytes bounds a token's length. Default 16 KiB.
	MaxTokenBytes int
	// JWKS tunes the fetching of issuers' JWKSURL (its Now defaults to Now).
	JWKS RemoteKeySetOptions
}

// DefaultLeeway is Config.Leeway's default.
const DefaultLeeway = 30 * time.Second

// DefaultMaxTokenBytes is Config.MaxTokenBytes's default.
const DefaultMaxTokenBytes = 16 << 10

// Verifier validates bearer JWTs and turns them into Principals. It is safe
// for concurrent use.
type Verifier struct {
	issuers  map[string]KeySource
	audience string
	algs     map[string]bool
	joseAlgs []jose.SignatureAlgorithm // the same, for go-jose's allow-list
	leeway   time.Duration
	now      func() time.Time
	claims   ClaimNames
	maxBytes int
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("auth: no issuer configured")
	}
	if cfg.Audience == "" {
		return nil, errors.New("auth: no audience configured")
	}
	if cfg.Leeway < 0 || cfg.Leeway > 5*time.Minute {
		return nil, fmt.Errorf("auth: leeway %v is outside 0-5m", cfg.Leeway)
	}
	v := &Verifier{
		issuers:  map[string]KeySource{},
		audience: cfg.Audience,
		algs:     map[string]bool{},
		leeway:   cfg.Leeway,
		now:      cfg.Now,
		claims:   cfg.Claims.withDefaults(),
		maxBytes: cfg.MaxTokenBytes,
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxBytes <= 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{RS256, ES256}
	}
	for _, a := range algs {
		if a != RS256 && a != ES256 {
			return nil, fmt.Errorf("auth: algorithm %q is not supported (only RS256 and ES256)", a)
		}
		if !v.algs[a] {
			v.joseAlgs = append(v.joseAlgs, jose.SignatureAlgorithm(a))
		}
		v.algs[a] = true
	}
	jwksOpts := cfg.JWKS
	if jwksOpts.Now == nil {
		jwksOpts.Now = v.now
	}
	for _, ic := range cfg.Issuers {
		if ic.Issuer == "" {
			return nil, errors.New("auth: an issuer has no iss value")
		}
		if _, dup := v.issuers[ic.Issuer]; dup {
			return nil, fmt.Errorf("auth: issuer %q configured twice", ic.Issuer)
		}
		keys := ic.Keys
		if keys == nil {
			if ic.JWKSURL == "" {
				return nil, fmt.Errorf("auth: issuer %q has neither jwks_uri nor keys", ic.Issuer)
			}
			r, err := NewRemoteKeySet(ic.JWKSURL, jwksOpts)
			if err != nil {
				return nil, fmt.Errorf("auth: issuer %q: %w", ic.Issuer, err)
			}
			keys = r
		}
		v.issuers[ic.Issuer] = keys
	}
	return v, nil
}

// BearerToken returns the bearer token of r's Authorization header (RFC 6750
// §2.1; tokens in the query or the body are not accepted). No header, or
// another scheme, is ReasonNoToken (401 without an error code); several
// Authorization headers or an empty token are ReasonBadRequest (400).
func BearerToken(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) > 1 {
		return "", &AuthError{Status: http.StatusBadRequest, Code: CodeInvalidRequest,
			Description: "the request has more than one Authorization header", Reason: ReasonBadRequest}
	}
	noToken := func() error {
		return &AuthError{Status: http.StatusUnauthorized, Description: "a bearer token is required", Reason: ReasonNoToken}
	}
	if len(vals) == 0 {
		return "", noToken()
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", noToken()
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
		return "", &AuthError{Status: http.StatusBadRequest, Code: CodeInvalidRequest,
			Description: "the Authorization header does not hold one bearer token", Reason: ReasonBadRequest}
	}
	return tok, nil
}

// VerifyRequest is BearerToken then Verify.
func (v *Verifier) VerifyRequest(r *http.Request) (Principal, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return Principal{}, err
	}
	return v.Verify(r.Context(), tok)
}

// Verify validates the compact JWT raw and returns its Principal. Every
// error is an *AuthError: 401 invalid_token for a token that is not
// acceptable, 503 when the issuer's keys cannot be fetched.
//
// In order: size and structure; alg among the allowed (go-jose parses the
// JWS with that allow-list and checks the signature); iss a configured
// issuer; a key of that issuer with the token's kid (after at most one
// rate-limited refresh) whose type fits alg; the signature; then exp
// (required), nbf and iat against the clock with the leeway; aud; and the
// Principal's claims.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if len(raw) > v.maxBytes {
		return Principal{}, invalidToken(ReasonTooLarge, "the token is too large")
	}
	t, aerr := parseCompact(raw, v.joseAlgs, v.algs)
	if aerr != nil {
		return Principal{}, aerr
	}
	iss, _, err := claimString(t.claims, "iss")
	if err != nil || iss == "" {
		return Principal{}, invalidToken(ReasonIssuer, "the token has no issuer")
	}
	source, ok := v.issuers[iss]
	if !ok {
		return Principal{}, invalidToken(ReasonIssuer, "the token's issuer is not trusted")
	}
	keys, err := source.KeysFor(ctx, t.kid)
	if err != nil {
		return Principal{}, &AuthError{Status: http.StatusServiceUnavailable,
			Description: "the token issuer's keys cannot be obtained at the moment", Reason: ReasonKeysUnavailable, Err: err}
	}
	if len(keys) == 0 {
		return Principal{}, invalidToken(ReasonUnknownKey, "the token's signing key is not known")
	}
	verified, fitted := false, false
	for n, k := range keys {
		if n == 16 {
			break // a kid-less token is tried against a bounded number of keys
		}
		if !keyFits(t.alg, k) {
			continue
		}
		fitted = true
		if _, err := t.obj.Verify(k.Key); err == nil {
			verified = true
			break
		}
	}
	if !fitted {
		return Principal{}, invalidToken(ReasonAlgorithm, "the token's signature algorithm does not match its signing key")
	}
	if !verified {
		return Principal{}, invalidToken(ReasonSignature, "the token's signature is not valid")
	}
	return v.principal(t, iss)
}

func claimError(name string) *AuthError {
	return invalidToken(ReasonClaims, "the token's "+name+" claim is missing or ill-formed")
}

func (v *Verifier) principal(t *jws, iss string) (Principal, error) {
	c := t.claims
	now := v.now()
	exp, ok, err := claimTime(c, "exp")
	if err != nil || !ok {
		return Principal{}, invalidToken(ReasonExpired, "the token has no valid expiry (exp)")
	}
	if !now.Before(exp.Add(v.leeway)) {
		return Principal{}, invalidToken(ReasonExpired, "the token has expired")
	}
	nbf, ok, err := claimTime(c, "nbf")
	if err != nil {
		return Principal{}, claimError("nbf")
	}
	if ok && now.Add(v.leeway).Before(nbf) {
		return Principal{}, invalidToken(ReasonNotYetValid, "the token is not valid yet")
	}
	iat, ok, err := claimTime(c, "iat")
	if err != nil {
		return Principal{}, claimError("iat")
	}
	if ok && now.Add(v.leeway).Before(iat) {
		return Principal{}, invalidToken(ReasonIssuedInFuture, "the token is issued in the future")
	}
	aud, _, err := claimStrings(c, "aud", false)
	if err != nil {
		return Principal{}, invalidToken(ReasonAudience, "the token's audience is ill-formed")
	}
	found := false
	for _, a := range aud {
		if a == v.audience {
			found = true
			break
		}
	}
	if !found {
		return Principal{}, invalidToken(ReasonAudience, "the token is not meant for this service (aud)")
	}

	p := Principal{Issuer: iss, IssuedAt: iat, ExpiresAt: exp}
	sub, _, err := claimString(c, "sub")
	if err != nil || sub == "" || !printable(sub, 256) {
		return Principal{}, claimError("sub")
	}
	p.Subject = sub
	for _, f := range []struct {
		name string
		dst  *string
		ok   func(string) bool
	}{
		{v.claims.Name, &p.Name, func(s string) bool { return printable(s, 256) }},
		{v.claims.RoleProfileID, &p.RoleProfileID, isRoleProfileID},
		{v.claims.OrgODS, &p.OrgODS, isODSCode},
		{v.claims.Patient, &p.Patient, nhsnumber.Valid},
		{"jti", &p.TokenID, func(s string) bool { return printable(s, 256) }},
		{"client_id", &p.ClientID, func(s string) bool { return printable(s, 256) }},
	} {
		s, present, err := claimString(c, f.name)
		if err != nil || present && !f.ok(s) {
			return Principal{}, claimError(f.name)
		}
		*f.dst = s
	}
	if p.ClientID == "" {
		azp, _, err := claimString(c, "azp")
		if err != nil || !printable(azp, 256) {
			return Principal{}, claimError("azp")
		}
		p.ClientID = azp
	}
	roles, _, err := claimStrings(c, v.claims.Roles, true)
	if err != nil || len(roles) > 64 {
		return Principal{}, claimError(v.claims.Roles)
	}
	for _, r := range roles {
		if i := strings.LastIndexByte(r, ':'); i >= 0 {
			r = r[i+1:] // CIS2 "S8000:G8000:R8000"
		}
		r = strings.TrimSpace(r)
		if r == "" || !printable(r, 64) || strings.ContainsAny(r, " ,") {
			return Principal{}, claimError(v.claims.Roles)
		}
		p.Roles = append(p.Roles, r)
	}
	scopes, _, err := claimStrings(c, v.claims.Scope, true)
	if err != nil {
		return Principal{}, claimError(v.claims.Scope)
	}
	p.Scopes, err = ParseScopes(strings.Join(scopes, " "))
	if err != nil {
		return Principal{}, invalidToken(ReasonScope, "the token's scope claim holds a malformed SMART scope")
	}
	return p, nil
}

// printable reports whether s is valid UTF-8 of at most max bytes without
// control characters, so it is safe in a header or a log line.
func printable(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

// isRoleProfileID: a CIS2 role profile id (NHSD-Session-URID) is digits.
func isRoleProfileID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isODSCode: an ODS organisation code is 3 to 12 upper-case letters and digits.
func isODSCode(s string) bool {
	if len(s) < 3 || len(s) > 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
