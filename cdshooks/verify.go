package cdshooks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Algorithms are the JWS algorithms a CDS client may sign with: asymmetric
// only (CDS Hooks 2.0 §JWT Signing Algorithm: "SHALL NOT be signed using the
// none algorithm … SHALL NOT be signed using any symmetric algorithm"), with
// the recommended ES384 and RS384 and the usual ES256 and RS256 among them.
var Algorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512,
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
}

// Verifier defaults.
const (
	// DefaultLeeway absorbs clock skew in exp and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLifetime bounds how far ahead exp may be: a CDS client JWT is made
	// for one call (the spec's example lives 5 minutes at most in practice);
	// it also bounds how long the replay cache holds a jti.
	MaxLifetime = time.Hour
	// maxTokenBytes bounds a JWT's length.
	maxTokenBytes = 16 << 10
)

// Reasons a JWT is refused, as metrics label them.
const (
	ReasonNoToken   = "no-token"
	ReasonMalformed = "malformed"
	ReasonAlgorithm = "algorithm"
	ReasonHeader    = "header"
	ReasonIssuer    = "issuer"
	ReasonJKU       = "jku"
	ReasonKey       = "unknown-key"
	ReasonKeys      = "keys-unavailable"
	ReasonSignature = "signature"
	ReasonExpired   = "expired"
	ReasonIssuedAt  = "iat"
	ReasonLifetime  = "lifetime"
	ReasonAudience  = "audience"
	ReasonJTI       = "jti"
	ReasonReplay    = "replay"
	ReasonReplayErr = "replay-cache"
)

// AuthError is a refused CDS client JWT: Status 401 (503 when the client's
// keys or the replay cache cannot be consulted), Reason a metrics label,
// Message what the answer's body says.
type AuthError struct {
	Status  int
	Reason  string
	Message string
	Err     error
}

func (e *AuthError) Error() string { return e.Message }
func (e *AuthError) Unwrap() error { return e.Err }

func refuse(reason, format string, args ...any) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Verified is an accepted CDS client JWT.
type Verified struct {
	Client    *Client
	JTI       string
	Tenant    string
	ExpiresAt time.Time
}

// Verifier authenticates CDS clients by the JWT each call carries
// (CDS Hooks 2.0 §Trusting CDS Clients).
type Verifier struct {
	clients map[string]*Client
	replay  ReplayCache
	now     func() time.Time
	leeway  time.Duration

	jkuMu sync.Mutex
	jku   map[string]*RemoteKeys // allow-listed jku URLs other than a client's own source
	fetch *http.Client
}

// NewVerifier trusts clients; replay nil is a fresh MemoryReplay.
func NewVerifier(clients []Client, replay ReplayCache) (*Verifier, error) {
	v := &Verifier{clients: map[string]*Client{}, replay: replay, now: time.Now, leeway: DefaultLeeway, jku: map[string]*RemoteKeys{}}
	if v.replay == nil {
		v.replay = NewMemoryReplay(0)
	}
	for i := range clients {
		c := clients[i]
		if c.Issuer == "" || c.Keys == nil {
			return nil, fmt.Errorf("cdshooks: client %q has no issuer or keys", c.Issuer)
		}
		if _, dup := v.clients[c.Issuer]; dup {
			return nil, fmt.Errorf("cdshooks: client %q is trusted twice", c.Issuer)
		}
		servers := make([]string, 0, len(c.FHIRServers))
		for _, fs := range c.FHIRServers {
			norm, err := NormalizeFHIRServer(fs)
			if err != nil {
				return nil, fmt.Errorf("cdshooks: client %q: %w", c.Issuer, err)
			}
			servers = append(servers, norm)
		}
		c.FHIRServers = servers
		v.clients[c.Issuer] = &c
	}
	return v, nil
}

// Clients is how many clients are trusted.
func (v *Verifier) Clients() int { return len(v.clients) }

// VerifyRequest authenticates r's bearer JWT for the endpoint URL aud.
func (v *Verifier) VerifyRequest(r *http.Request, aud string) (*Verified, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return nil, refuse(ReasonNoToken, "a CDS client JWT is required: Authorization: Bearer <JWT> (CDS Hooks 2.0, Trusting CDS Clients)")
	}
	if len(vals) > 1 {
		return nil, refuse(ReasonMalformed, "the request has more than one Authorization header")
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, refuse(ReasonNoToken, "a CDS client JWT is required: Authorization: Bearer <JWT>")
	}
	return v.Verify(r.Context(), strings.TrimSpace(tok), aud)
}

// rawHeader is the JOSE header as sent, read before go-jose parses the
// token so a refused algorithm can be named.
type rawHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
	JKU string `json:"jku"`
}

// payload is the CDS Hooks claims beyond the registered ones.
type payload struct {
	Tenant string `json:"tenant"`
}

// Verify checks the compact JWT raw, for the endpoint URL aud, in this
// order: size and form; alg (asymmetric, allow-listed); typ JWT and kid
// (required by CDS Hooks); iss an allow-listed client; jku, when present,
// allow-listed for it; a key of that client with the kid; the signature;
// exp (required, not past, at most MaxLifetime ahead), iat (required, not
// in the future); aud holding exactly aud; jti (required) never seen
// before. A jti is claimed only once everything else holds, so a forged
// token cannot burn a genuine one's id.
func (v *Verifier) Verify(ctx context.Context, raw, aud string) (*Verified, error) {
	if len(raw) > maxTokenBytes {
		return nil, refuse(ReasonMalformed, "the JWT is too large")
	}
	segs := strings.Split(raw, ".")
	if len(segs) != 3 {
		return nil, refuse(ReasonMalformed, "the bearer token is not a compact JWS (header.payload.signature)")
	}
	hb, err := base64.RawURLEncoding.DecodeString(segs[0])
	var h rawHeader
	if err != nil || json.Unmarshal(hb, &h) != nil {
		return nil, refuse(ReasonMalformed, "the JWT header is not base64url JSON")
	}
	switch alg := h.Alg; {
	case alg == "" || strings.EqualFold(alg, "none"):
		return nil, refuse(ReasonAlgorithm, "alg %q is refused: CDS client JWTs must be signed (CDS Hooks 2.0: SHALL NOT use none)", alg)
	case strings.HasPrefix(alg, "HS"):
		return nil, refuse(ReasonAlgorithm, "alg %s is refused: symmetric (HMAC) algorithms SHALL NOT be used; sign with ES384 or RS384", alg)
	case !slices.Contains(Algorithms, jose.SignatureAlgorithm(alg)):
		return nil, refuse(ReasonAlgorithm, "alg %q is not accepted: use ES384, RS384, ES256 or RS256", alg)
	}
	if !strings.EqualFold(h.Typ, "JWT") {
		return nil, refuse(ReasonHeader, "the JWT header's typ must be JWT (CDS Hooks 2.0), not %q", h.Typ)
	}
	if h.Kid == "" {
		return nil, refuse(ReasonHeader, "the JWT header has no kid (required by CDS Hooks 2.0)")
	}
	tok, err := jwt.ParseSigned(raw, Algorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, refuse(ReasonMalformed, "the JWT cannot be parsed")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, refuse(ReasonMalformed, "the JWT payload is not a JSON claims set")
	}
	c, ok := v.clients[unverified.Issuer]
	if !ok || unverified.Issuer == "" {
		return nil, refuse(ReasonIssuer, "the JWT's issuer (iss) is not an allow-listed CDS client of this service")
	}
	keys := c.Keys
	if h.JKU != "" {
		if !slices.Contains(c.JKU, h.JKU) {
			return nil, refuse(ReasonJKU, "the JWT's jku is not allow-listed for its issuer")
		}
		if src, err := v.jkuKeys(c, h.JKU); err == nil {
			keys = src
		}
	}
	candidates, err := keys.KeysFor(ctx, h.Kid)
	if err != nil {
		return nil, &AuthError{Status: http.StatusServiceUnavailable, Reason: ReasonKeys, Message: "the CDS client's keys cannot be obtained at the moment", Err: err}
	}
	if len(candidates) == 0 {
		return nil, refuse(ReasonKey, "no key of the CDS client has the JWT's kid")
	}
	var std jwt.Claims
	var extra payload
	verified := false
	for _, k := range candidates {
		if k.Algorithm != "" && k.Algorithm != h.Alg {
			continue
		}
		if err := tok.Claims(k.Key, &std, &extra); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, refuse(ReasonSignature, "the JWT's signature does not verify with the CDS client's key")
	}
	now := v.now()
	switch {
	case std.Expiry == nil:
		return nil, refuse(ReasonExpired, "the JWT has no exp")
	case !now.Before(std.Expiry.Time().Add(v.leeway)):
		return nil, refuse(ReasonExpired, "the JWT has expired")
	case std.Expiry.Time().After(now.Add(MaxLifetime + v.leeway)):
		return nil, refuse(ReasonLifetime, "the JWT's exp is more than %v ahead: make one per call", MaxLifetime)
	case std.IssuedAt == nil:
		return nil, refuse(ReasonIssuedAt, "the JWT has no iat")
	case std.IssuedAt.Time().After(now.Add(v.leeway)):
		return nil, refuse(ReasonIssuedAt, "the JWT is issued in the future (iat)")
	case !slices.Contains([]string(std.Audience), aud):
		return nil, refuse(ReasonAudience, "the JWT's aud must be the URL of the endpoint called: %s", aud)
	case std.ID == "" || len(std.ID) > 256:
		return nil, refuse(ReasonJTI, "the JWT has no jti (required, to protect against replay)")
	}
	exp := std.Expiry.Time()
	fresh, err := v.replay.Claim(ctx, c.Issuer+"\x00"+std.ID, exp.Add(v.leeway))
	switch {
	case err != nil:
		return nil, &AuthError{Status: http.StatusServiceUnavailable, Reason: ReasonReplayErr, Message: "the JWT cannot be checked against replay at the moment", Err: err}
	case !fresh:
		return nil, refuse(ReasonReplay, "the JWT's jti has been used before: a CDS client JWT is accepted once")
	}
	return &Verified{Client: c, JTI: std.ID, Tenant: extra.Tenant, ExpiresAt: exp}, nil
}

// jkuKeys is the key source of an allow-listed jku: the client's own when
// it is its registered URL, else one fetched (and cached) for that URL.
func (v *Verifier) jkuKeys(c *Client, jku string) (KeySource, error) {
	if r, ok := c.Keys.(*RemoteKeys); ok && r.url == jku {
		return r, nil
	}
	v.jkuMu.Lock()
	defer v.jkuMu.Unlock()
	if r, ok := v.jku[jku]; ok {
		return r, nil
	}
	r, err := NewRemoteKeys(jku, v.fetch)
	if err != nil {
		return nil, errors.New("jku: " + err.Error())
	}
	v.jku[jku] = r
	return r, nil
}
