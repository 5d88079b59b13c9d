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
	ErrInvalidGrant         = "invalid_grant"
	ErrUnauthorizedClient   = "unauthorized_client"
	// Authorization endpoint errors (RFC 6749 §4.1.2.1) and the 5xx codes.
	ErrUnsupportedResponseType = "unsupported_response_type"
	ErrAccessDenied            = "access_denied"
	ErrServerError             = "server_error"
	ErrTemporarilyUnavailable  = "temporarily_unavailable"
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 16 << 10

// TokenResponse is a successful token endpoint answer (RFC 6749 §5.1), with
// SMART's launch context for the authorization code grant.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	// Patient is the launch's patient context: the id of the FHIR Patient
	// (the NHS number). Authorization code grant only.
	Patient string `json:"patient,omitempty"`
	// NeedPatientBanner is always true for an EHR launch: the facade cannot
	// know whether the EHR shows a banner around the app, so the app must.
	NeedPatientBanner *bool `json:"need_patient_banner,omitempty"`
	// IDToken is the OpenID Connect id_token (RS256), when openid was
	// granted.
	IDToken string `json:"id_token,omitempty"`
}

// ErrorResponse is a token endpoint error (RFC 6749 §5.2).
type ErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// JWKSHandler serves the JWKS document (GET, HEAD): the access-token key
// (JWKS) and the RS256 key id_tokens are signed with.
func (i *Issuer) JWKSHandler() http.Handler {
	return jsonDocument(i.publishedJWKS)
}

// TokenHandler is an OAuth 2.0 token endpoint for the client_credentials
// grant (RFC 6749 §4.4) and the authorization code grant of a SMART EHR
// launch (RFC 6749 §4.1.3, PKCE RFC 7636). The request is a POST of
// application/x-www-form-urlencoded with
//
//	grant_type=client_credentials            confidential clients only
//	client_id, client_secret                 or HTTP Basic (RFC 6749 §2.3.1), not both
//	scope                                    space-separated; default the client's DefaultScope
//	role                                     dev only: a DevRole name or code; none = an
//	                                         application-restricted token, sub = client_id
//	patient                                  dev only: an NHS number, the SMART patient context
//
// or
//
//	grant_type=authorization_code
//	code, redirect_uri, code_verifier        required; redirect_uri as in the authorization request
//	client_id                                a public client; a confidential one authenticates as above
//
// A good request gets 200 with a TokenResponse; errors are ErrorResponse
// with 400, or 401 invalid_client. Both carry Cache-Control: no-store.
func (i *Issuer) TokenHandler() http.Handler {
	return http.HandlerFunc(i.serveToken)
}

// readForm reads a POSTed form for endpoint, answering the errors itself.
// A repeated parameter is refused (RFC 6749 §3.1, §3.2).
func readForm(w http.ResponseWriter, r *http.Request, endpoint string) (url.Values, bool) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{ErrInvalidRequest, endpoint + " takes POST"})
		return nil, false
	}
	if !isForm(r) {
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "the body must be application/x-www-form-urlencoded")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "the body is not a readable form")
		return nil, false
	}
	if k, dup := repeated(r.PostForm); dup {
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "parameter "+safeName(k)+" is repeated")
		return nil, false
	}
	return r.PostForm, true
}

func isForm(r *http.Request) bool {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// repeated returns a parameter given more than once.
func repeated(v url.Values) (string, bool) {
	for k, vs := range v {
		if len(vs) > 1 {
			return k, true
		}
	}
	return "", false
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	form, ok := readForm(w, r, "the token endpoint")
	if !ok {
		return
	}
	client, ok := i.authenticate(w, r, form)
	if !ok {
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "grant_type is required")
	case "client_credentials":
		if client.Public() {
			tokenError(w, http.StatusBadRequest, ErrUnauthorizedClient, "a public client may only use the authorization_code grant")
			return
		}
		i.clientCredentials(w, form, client)
	case "authorization_code":
		i.authorizationCode(w, form, client)
	default:
		tokenError(w, http.StatusBadRequest, ErrUnsupportedGrantType, "only client_credentials and authorization_code are supported")
	}
}

func (i *Issuer) clientCredentials(w http.ResponseWriter, form url.Values, client Client) {
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

// authorizationCode trades an authorization code from AuthorizeHandler for
// an access token with the launch's context.
func (i *Issuer) authorizationCode(w http.ResponseWriter, form url.Values, client Client) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "":
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "code is required")
		return
	case redirectURI == "":
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "redirect_uri is required")
		return
	case verifier == "":
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "code_verifier is required (PKCE)")
		return
	}
	now := i.now()
	g, why := i.spendCode(code, redirectURI, verifier, client, now)
	if why == codeUnavailable {
		w.Header().Set("Retry-After", "1")
		tokenError(w, http.StatusServiceUnavailable, ErrTemporarilyUnavailable, why)
		return
	}
	if why != "" {
		tokenError(w, http.StatusBadRequest, ErrInvalidGrant, why)
		return
	}
	claims := Claims{Subject: g.role.Subject, Name: g.role.DisplayName, Roles: []string{g.role.Code},
		RoleProfileID: g.role.RoleProfileID, OrgODS: g.role.OrgODS, Scopes: g.scopes, ClientID: client.ID}
	if g.patientScoped {
		claims.Patient = g.patient
	}
	tok, ttl, err := i.mint(claims)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, ErrServerError, "no token can be issued")
		return
	}
	banner := true
	res := TokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second),
		Scope: strings.Join(g.scopes, " "), Patient: g.patient, NeedPatientBanner: &banner}
	if g.openid {
		if res.IDToken, err = i.idToken(g, client.ID, now, ttl); err != nil {
			tokenError(w, http.StatusInternalServerError, ErrServerError, "no id_token can be issued")
			return
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// authenticate finds the client by HTTP Basic or by form credentials
// (RFC 6749 §2.3.1), answering 401 invalid_client when it cannot. A public
// client is identified by client_id alone and must present no secret.
func (i *Issuer) authenticate(w http.ResponseWriter, r *http.Request, form url.Values) (Client, bool) {
	id, secret, basic := r.BasicAuth()
	if !basic && !form.Has("client_secret") {
		if c, known := i.clients[form.Get("client_id")]; known && c.Public() {
			return c, true
		}
	}
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
	// A public client has no secret to present: credentials for it fail.
	if !known || id == "" || c.Public() || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
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
