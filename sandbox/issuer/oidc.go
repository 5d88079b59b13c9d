package issuer

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// oidcKey is the RSA key id_tokens are signed with (RS256, which OpenID
// Connect and SMART's sso-openid-connect require). It is generated on first
// use: most issuers (tests, benchmarks) never sign an id_token, and an RSA
// key takes tens of milliseconds to make. Access tokens are never signed
// with it, and the in-process KeySet does not hold it.
type oidcKey struct {
	once sync.Once
	key  *rsa.PrivateKey
	kid  string
	jwk  map[string]string
	err  error

	// published is the JWKS document with this key added, made once.
	publishOnce sync.Once
	published   []byte
}

func (k *oidcKey) get() (*oidcKey, error) {
	k.once.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			k.err = fmt.Errorf("issuer: generating the id_token key: %w", err)
			return
		}
		n := b64(key.N.Bytes())
		e := b64(big.NewInt(int64(key.E)).Bytes())
		sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`)) // RFC 7638
		k.key, k.kid = key, b64(sum[:])
		k.jwk = map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid, "n": n, "e": e}
	})
	return k, k.err
}

// publishedJWKS is the JWKS document the JWKS endpoint serves: the access
// token key and the id_token key. Both are fixed once made, so the
// document is built on the first request and served as is after.
func (i *Issuer) publishedJWKS() []byte {
	i.oidc.publishOnce.Do(func() { i.oidc.published = i.buildJWKS() })
	return i.oidc.published
}

func (i *Issuer) buildJWKS() []byte {
	k, err := i.oidc.get()
	if err != nil {
		return i.jwks
	}
	var doc struct {
		Keys []any `json:"keys"`
	}
	if json.Unmarshal(i.jwks, &doc) != nil {
		return i.jwks
	}
	doc.Keys = append(doc.Keys, k.jwk)
	out, err := json.Marshal(doc)
	if err != nil {
		return i.jwks
	}
	return out
}

// idToken returns an OpenID Connect id_token for the user of g, issued to
// clientID: iss, sub, aud, azp, iat, exp, nonce (when the request had one)
// and SMART's fhirUser (when granted): the user as a Practitioner under the
// FHIR base, which the facade serves to the user's own access token
// (resources.Practitioner: made from the token's claims, its sub the id).
func (i *Issuer) idToken(g codeGrant, clientID string, now time.Time, ttl time.Duration) (string, error) {
	k, err := i.oidc.get()
	if err != nil {
		return "", err
	}
	claims := map[string]any{
		"iss": i.url, "sub": g.role.Subject, "aud": clientID, "azp": clientID,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	if g.fhirUser {
		claims["fhirUser"] = i.fhirBase + "/Practitioner/" + g.role.Subject
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	return signJWS(map[string]string{"alg": "RS256", "typ": "JWT", "kid": k.kid}, claims, func(digest []byte) ([]byte, error) {
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, digest)
		if err != nil {
			return nil, fmt.Errorf("issuer: signing an id_token: %w", err)
		}
		return sig, nil
	})
}

// Endpoints are the issuer's URLs, its handlers being mounted under the
// issuer URL's path (e.g. URL http://127.0.0.1:8080/oauth, token endpoint
// http://127.0.0.1:8080/oauth/token).
type Endpoints struct {
	Authorize, Token, Launch, JWKS, OpenIDConfiguration string
}

// Endpoints returns the issuer's URLs.
func (i *Issuer) Endpoints() Endpoints {
	base := strings.TrimRight(i.url, "/")
	return Endpoints{
		Authorize:           base + "/authorize",
		Token:               base + "/token",
		Launch:              base + "/launch",
		JWKS:                base + JWKSPath,
		OpenIDConfiguration: base + OpenIDConfigurationPath,
	}
}

// ScopesSupported are the scopes the issuer grants (see AuthorizeHandler and
// TokenHandler), for discovery documents.
var ScopesSupported = []string{"openid", "fhirUser", "launch", "launch/patient",
	"patient/*.rs", "patient/*.read", "user/*.rs", "user/*.read", "user/Patient.rus", "user/Patient.crus", "user/Patient.c", "user/Flag.cu", "system/*.rs"}

// TokenEndpointAuthMethods are how clients authenticate at the token
// endpoint (see authenticate): a secret by HTTP Basic or in the form, or
// none for a public client (its client_id alone, with PKCE).
var TokenEndpointAuthMethods = []string{"client_secret_basic", "client_secret_post", "none"}

// SMARTCapabilities are the SMART App Launch capabilities the issuer
// itself backs, each exercised by tests/capability_truth_test.go: the EHR
// launch (LaunchHandler, AuthorizeHandler by GET or POST), public and
// confidential (client secret) clients, the launch's patient in the token
// response with need_patient_banner, and an OpenID Connect id_token. Not
// the standalone launch: an authorization request must carry an EHR launch,
// so launch/patient is granted inside one (the patient is the launch's) and
// never makes the issuer pick a patient. No refresh tokens
// (offline_access, online_access).
var SMARTCapabilities = []string{"client-confidential-symmetric", "launch-ehr", "authorize-post", "client-public",
	"context-ehr-patient", "context-banner", "sso-openid-connect"}

// OpenIDConfiguration is the OpenID Connect discovery document (OpenID
// Connect Discovery 1.0 §3), served at the issuer URL +
// OpenIDConfigurationPath.
type OpenIDConfiguration struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
}

// OpenIDConfiguration returns the discovery document.
func (i *Issuer) OpenIDConfiguration() OpenIDConfiguration {
	e := i.Endpoints()
	return OpenIDConfiguration{
		Issuer: i.url, AuthorizationEndpoint: e.Authorize, TokenEndpoint: e.Token, JWKSURI: e.JWKS,
		ResponseTypesSupported:            []string{"code"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ScopesSupported:                   ScopesSupported,
		ClaimsSupported:                   []string{"iss", "sub", "aud", "azp", "iat", "exp", "nonce", "fhirUser"},
		GrantTypesSupported:               []string{"authorization_code", "client_credentials"},
		TokenEndpointAuthMethodsSupported: TokenEndpointAuthMethods,
		CodeChallengeMethodsSupported:     []string{"S256"},
	}
}

// OpenIDConfigurationHandler serves OpenIDConfiguration (GET, HEAD).
func (i *Issuer) OpenIDConfigurationHandler() http.Handler {
	doc, err := json.Marshal(i.OpenIDConfiguration())
	if err != nil {
		panic(err) // strings only
	}
	return jsonDocument(func() []byte { return doc })
}

// jsonDocument serves a public JSON document (GET, HEAD), cacheable for
// five minutes.
func jsonDocument(doc func() []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.Method == http.MethodGet {
			_, _ = w.Write(doc())
		}
	})
}
