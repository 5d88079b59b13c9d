package issuer

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// oidcKey is the RSA key id_tokens are signed with (RS256, which OpenID
// Connect and SMART's sso-openid-connect require). It is generated on first
// use: most issuers (tests, benchmarks) never sign an id_token, and an RSA
// key takes tens of milliseconds to make. Access tokens are never signed
// with it, and the in-process KeySet does not hold it.
type oidcKey struct {
	once   sync.Once
	signer jose.Signer // RS256, header kid and typ JWT
	jwk    jose.JSONWebKey
	err    error

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
		kid, err := thumbprint(&key.PublicKey)
		if err != nil {
			k.err = err
			return
		}
		if k.signer, err = newSigner(jose.RS256, key, kid, "JWT"); err != nil {
			k.err = err
			return
		}
		k.jwk = jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}
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
	out, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{i.pub, k.jwk}})
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
	return signCompact(k.signer, claims)
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
