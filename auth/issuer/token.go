package issuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/auth"
)

// OAuth 2.0 token endpoint error codes (RFC 6749 §5.2).
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidClient        = "invalid_client"
	ErrUnsupportedGrantType = "unsupported_grant_type"
	ErrInvalidScope         = "invalid_scope"
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 16 << 10

// TokenResponse is a successful token endpoint answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// ErrorResponse is a token endpoint error (RFC 6749 §5.2).
type ErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// JWKSHandler serves the JWKS document (GET, HEAD).
func (i *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.Method == http.MethodGet {
			_, _ = w.Write(i.jwks)
		}
	})
}

// TokenHandler is an OAuth 2.0 token endpoint for the client_credentials
// grant (RFC 6749 §4.4). The request is a POST of
// application/x-www-form-urlencoded with
//
//	grant_type=client_credentials            required
//	client_id, client_secret                 or HTTP Basic (RFC 6749 §2.3.1), not both
//	scope                                    space-separated; default the client's DefaultScope
//	role                                     dev only: a DevRole name or code; none = an
//	                                         application-restricted token, sub = client_id
//	patient                                  dev only: an NHS number, the SMART patient context
//
// A good request gets 200 with a TokenResponse; errors are ErrorResponse
// with 400, or 401 invalid_client. Both carry Cache-Control: no-store.
func (i *Issuer) TokenHandler() http.Handler {
	return http.HandlerFunc(i.serveToken)
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{ErrInvalidRequest, "the token endpoint takes POST"})
		return
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "the body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "the body is not a readable form")
		return
	}
	form := r.PostForm
	for k, v := range form {
		if len(v) > 1 {
			tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "parameter "+safeName(k)+" is repeated")
			return
		}
	}
	client, ok := i.authenticate(w, r, form)
	if !ok {
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "grant_type is required")
		return
	case "client_credentials":
	default:
		tokenError(w, http.StatusBadRequest, ErrUnsupportedGrantType, "only client_credentials is supported")
		return
	}
	var scopes []string
	if form.Has("scope") {
		scope := form.Get("scope")
		if _, err := auth.ParseScopes(scope); err != nil {
			tokenError(w, http.StatusBadRequest, ErrInvalidScope, "the scope is malformed: "+strings.TrimPrefix(err.Error(), "auth: "))
			return
		}
		scopes = strings.Fields(scope)
		if scopes == nil {
			scopes = []string{}
		}
	}
	claims, err := i.DevClaims(client.ID, form.Get("role"), form.Get("patient"), scopes, client.DefaultScope)
	if err != nil {
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, strings.TrimPrefix(err.Error(), "issuer: "))
		return
	}
	tok, ttl, err := i.mint(claims)
	if err != nil {
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "no token can be issued for this request")
		return
	}
	writeJSON(w, http.StatusOK, TokenResponse{AccessToken: tok, TokenType: "Bearer",
		ExpiresIn: int64(ttl / time.Second), Scope: strings.Join(claims.Scopes, " ")})
}

// authenticate finds the client by HTTP Basic or by form credentials
// (RFC 6749 §2.3.1), answering 401 invalid_client when it cannot.
func (i *Issuer) authenticate(w http.ResponseWriter, r *http.Request, form url.Values) (Client, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		if form.Has("client_secret") {
			tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "use one client authentication method, not two")
			return Client{}, false
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			id, secret = "", ""
		}
		if f := form.Get("client_id"); f != "" && f != id {
			tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "client_id does not match the Authorization header")
			return Client{}, false
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	c, known := i.clients[id]
	// Compare digests so the time taken says nothing about the secret.
	want := sha256.Sum256([]byte(c.Secret))
	got := sha256.Sum256([]byte(secret))
	if !known || id == "" || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		tokenError(w, http.StatusUnauthorized, ErrInvalidClient, "client authentication failed")
		return Client{}, false
	}
	return c, true
}

// safeName echoes a parameter name only when it is short and plain.
func safeName(k string) string {
	if len(k) > 32 || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "a parameter"
	}
	return k
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, ErrorResponse{Error: code, ErrorDescription: desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
