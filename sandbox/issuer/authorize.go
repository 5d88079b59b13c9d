package issuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/auth"
)

// Bounds on authorization request parameters echoed or kept.
const (
	maxStateLen = 4096
	maxNonceLen = 512
)

// codeGrant is what an authorization code stands for until it is traded.
type codeGrant struct {
	clientID    string
	redirectURI string
	challenge   string // PKCE S256 code_challenge
	scopes      []string
	// patientScoped: the access token carries the patient claim (patient/
	// scopes were granted); the token response names the patient anyway.
	patientScoped bool
	patient       string
	role          DevRole
	openid        bool // an id_token is issued
	fhirUser      bool // with the fhirUser claim
	nonce         string
}

// authzRequest is a valid authorization request.
type authzRequest struct {
	client      Client
	redirectURI string
	state       string
	scopes      []string
	launch      string
	challenge   string
	nonce       string
}

// authzError is a refused authorization request: shown to the user when
// redirect is false (the client or its redirect URI cannot be trusted, RFC
// 6749 §4.1.2.1), else sent to the client's redirect URI.
type authzError struct {
	redirect bool
	code     string
	desc     string
}

// AuthorizeHandler is the SMART App Launch authorization endpoint for the
// EHR launch (RFC 6749 §4.1.1 with PKCE, RFC 7636), GET with a query or POST
// with a form:
//
//	response_type=code                      required
//	client_id, redirect_uri                 required; redirect_uri exactly one the client registered
//	scope                                   required; must hold "launch"
//	state                                   required; echoed
//	aud                                     required; the FHIR base URL (Config.FHIRBase)
//	launch                                  required: the id from LaunchHandler, spent here
//	code_challenge, code_challenge_method   required; S256 only
//	nonce                                   optional; put in the id_token
//
// The dev issuer approves at once, without a login page, for the user the
// launch names, and redirects (302) to redirect_uri with code and state. The
// code is single use, valid for CodeTTL, and bound to the client, the
// redirect URI and the code challenge. A missing, unknown or repeated
// client_id or redirect_uri is answered 400 here (an HTML page, or JSON if
// the request accepts only JSON), never redirected; every other error is
// redirected with error, error_description and state (RFC 6749 §4.1.2.1).
//
// Granted scopes: launch, launch/patient, openid, fhirUser (with openid)
// and the requested patient/ scopes without a query (the facade cannot
// enforce queries); the access token then has the launch's patient context.
// Requested user/ scopes are granted only when no patient/ scope is, and the
// token then has no patient context (a user-level token; the token response
// still names the launch's patient). system/ scopes, offline_access,
// online_access and anything else are not granted. The role table decides
// each request made with the token, whatever the scopes.
func (i *Issuer) AuthorizeHandler() http.Handler {
	return http.HandlerFunc(i.serveAuthorize)
}

func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	var params url.Values
	switch r.Method {
	case http.MethodGet:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			authorizePage(w, r, http.StatusBadRequest, ErrInvalidRequest, "the query string is malformed")
			return
		}
		params = q
	case http.MethodPost:
		if !isForm(r) {
			authorizePage(w, r, http.StatusBadRequest, ErrInvalidRequest, "the body must be application/x-www-form-urlencoded")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			authorizePage(w, r, http.StatusBadRequest, ErrInvalidRequest, "the body is not a readable form")
			return
		}
		params = r.PostForm
	default:
		w.Header().Set("Allow", "GET, POST")
		authorizePage(w, r, http.StatusMethodNotAllowed, ErrInvalidRequest, "the authorization endpoint takes GET or POST")
		return
	}
	req, aerr := i.parseAuthorize(params)
	if aerr == nil {
		aerr = i.grantCode(w, req)
	}
	if aerr == nil {
		return
	}
	if !aerr.redirect {
		authorizePage(w, r, http.StatusBadRequest, aerr.code, aerr.desc)
		return
	}
	out := url.Values{"error": {aerr.code}, "error_description": {aerr.desc}}
	if vs := params["state"]; len(vs) == 1 && vs[0] != "" && len(vs[0]) <= maxStateLen {
		out.Set("state", vs[0])
	}
	redirect(w, params.Get("redirect_uri"), out)
}

// parseAuthorize checks an authorization request's parameters. It does not
// touch the launch.
func (i *Issuer) parseAuthorize(p url.Values) (authzRequest, *authzError) {
	page := func(desc string) (authzRequest, *authzError) {
		return authzRequest{}, &authzError{code: ErrInvalidRequest, desc: desc}
	}
	fail := func(code, desc string) (authzRequest, *authzError) {
		return authzRequest{}, &authzError{redirect: true, code: code, desc: desc}
	}
	var req authzRequest
	switch ids := p["client_id"]; {
	case len(ids) == 0 || ids[0] == "":
		return page("client_id is required")
	case len(ids) > 1:
		return page("client_id is repeated")
	default:
		c, known := i.clients[ids[0]]
		if !known {
			return page("the client_id is not registered with this server")
		}
		req.client = c
	}
	switch uris := p["redirect_uri"]; {
	case len(uris) == 0 || uris[0] == "":
		return page("redirect_uri is required")
	case len(uris) > 1:
		return page("redirect_uri is repeated")
	case !slices.Contains(req.client.RedirectURIs, uris[0]):
		return page("the redirect_uri is not one this client registered")
	default:
		req.redirectURI = uris[0]
	}
	if k, dup := repeated(p); dup {
		return fail(ErrInvalidRequest, "parameter "+safeName(k)+" is repeated")
	}
	switch rt := p.Get("response_type"); rt {
	case "code":
	case "":
		return fail(ErrInvalidRequest, "response_type is required")
	default:
		return fail(ErrUnsupportedResponseType, "only response_type=code is supported")
	}
	req.state = p.Get("state")
	switch {
	case req.state == "":
		return fail(ErrInvalidRequest, "state is required")
	case len(req.state) > maxStateLen:
		return fail(ErrInvalidRequest, "state is too long")
	}
	scope := p.Get("scope")
	parsed, err := auth.ParseScopes(scope)
	switch {
	case strings.TrimSpace(scope) == "":
		return fail(ErrInvalidScope, "scope is required")
	case err != nil:
		return fail(ErrInvalidScope, "the scope is malformed: "+strings.TrimPrefix(err.Error(), "auth: "))
	case !slices.Contains(parsed.Other, "launch") && slices.Contains(parsed.Other, "launch/patient"):
		// launch/patient alone asks for a standalone launch, which would
		// need this issuer to pick the patient: it only grants EHR launches.
		return fail(ErrInvalidScope, "the standalone launch (launch/patient without launch) is not supported: launch the app from the clinical system (SMART launch-ehr)")
	case !slices.Contains(parsed.Other, "launch"):
		return fail(ErrInvalidScope, "an EHR launch needs the launch scope")
	}
	switch m := p.Get("code_challenge_method"); m {
	case "S256":
	case "":
		return fail(ErrInvalidRequest, "PKCE is required: code_challenge and code_challenge_method=S256")
	default:
		return fail(ErrInvalidRequest, "only the S256 code_challenge_method is supported")
	}
	req.challenge = p.Get("code_challenge")
	if !validChallenge(req.challenge) {
		return fail(ErrInvalidRequest, "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
	}
	switch a := p.Get("aud"); {
	case a == "":
		return fail(ErrInvalidRequest, "aud (the FHIR base URL) is required")
	case strings.TrimRight(a, "/") != i.fhirBase:
		return fail(ErrInvalidRequest, "aud is not this server's FHIR base URL")
	}
	req.launch = p.Get("launch")
	if req.launch == "" {
		return fail(ErrInvalidRequest, "launch is required: only the EHR launch is supported")
	}
	req.nonce = p.Get("nonce")
	if len(req.nonce) > maxNonceLen {
		return fail(ErrInvalidRequest, "nonce is too long")
	}
	req.scopes = strings.Fields(scope)
	return req, nil
}

// grantCode spends the request's launch, stores a code and redirects to the
// client with it.
func (i *Issuer) grantCode(w http.ResponseWriter, req authzRequest) *authzError {
	now := i.now()
	l, res := i.launches.take(req.launch, now)
	if res == unavailable {
		return &authzError{redirect: true, code: ErrTemporarilyUnavailable, desc: "the launch cannot be checked now; try again shortly"}
	}
	if res != taken {
		return &authzError{redirect: true, code: ErrInvalidRequest,
			desc: "the launch is unknown, expired or already used: launch the app again from the clinical system"}
	}
	g := codeGrant{clientID: req.client.ID, redirectURI: req.redirectURI, challenge: req.challenge,
		patient: l.patient, role: l.role, nonce: req.nonce}
	g.scopes, g.patientScoped = grantScopes(req.scopes)
	g.openid = slices.Contains(g.scopes, "openid")
	g.fhirUser = g.openid && slices.Contains(g.scopes, "fhirUser")
	code, err := i.codes.put(g, now, now.Add(CodeTTL))
	if errors.Is(err, errFull) {
		return &authzError{redirect: true, code: ErrTemporarilyUnavailable, desc: "too many authorizations are pending; try again shortly"}
	}
	if err != nil {
		return &authzError{redirect: true, code: ErrServerError, desc: "no code can be issued"}
	}
	redirect(w, req.redirectURI, url.Values{"code": {code}, "state": {req.state}})
	return nil
}

// grantScopes returns the scopes an EHR launch grants of those requested
// (see AuthorizeHandler), in request order without duplicates, and whether
// the access token carries the patient context.
func grantScopes(requested []string) (granted []string, patientScoped bool) {
	const (
		other = iota + 1
		patient
		user
	)
	openid := slices.Contains(requested, "openid")
	kind := map[string]int{}
	for _, w := range requested {
		switch {
		case w == "launch" || w == "launch/patient" || w == "openid" || w == "fhirUser" && openid:
			kind[w] = other
		case strings.HasPrefix(w, "patient/") || strings.HasPrefix(w, "user/"):
			sc, err := auth.ParseScope(w)
			if err != nil || sc.Query != "" {
				continue
			}
			if sc.Context == auth.PatientContext {
				kind[w], patientScoped = patient, true
			} else {
				kind[w] = user
			}
		}
	}
	for _, w := range requested {
		k := kind[w]
		// A token with a patient context counts only patient/ scopes: user/
		// scopes beside them would grant nothing, so they are not granted.
		if k == 0 || k == user && patientScoped {
			continue
		}
		granted = append(granted, w)
		kind[w] = 0 // once
	}
	return granted, patientScoped
}

// validChallenge reports whether c is an S256 code challenge: 43 base64url
// characters (RFC 7636 §4.2).
func validChallenge(c string) bool {
	return len(c) == 43 && strings.Trim(c, b64Alphabet) == ""
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// validVerifier reports whether v is a PKCE code verifier: 43 to 128
// unreserved characters (RFC 7636 §4.1).
func validVerifier(v string) bool {
	return len(v) >= 43 && len(v) <= 128 && strings.Trim(v, b64Alphabet+".~") == ""
}

// pkceMatches reports whether BASE64URL(SHA256(verifier)) is challenge.
func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return validVerifier(verifier) && subtle.ConstantTimeCompare([]byte(b64(sum[:])), []byte(challenge)) == 1
}

// redirect answers 302 to uri with params added to its query.
func redirect(w http.ResponseWriter, uri string, params url.Values) {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	w.Header().Set("Location", uri+sep+params.Encode())
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

// authorizePage shows an authorization error to the user (not to the
// client): HTML, or JSON when the request accepts JSON and not HTML.
func authorizePage(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		tokenError(w, status, code, desc)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>The app cannot be authorised</title></head>
<body><h1>The app cannot be authorised</h1>
<p>` + html.EscapeString(desc) + `.</p>
<p>Error <code>` + html.EscapeString(code) + `</code>. The app has not been sent back to: its identity or return address could not be trusted. Close this window and launch the app again from the clinical system.</p>
</body></html>
`))
}

// ValidateRedirectURI checks a redirect URI for registration: an absolute
// http(s) URL with a host and no fragment (RFC 6749 §3.1.2).
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" || u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("redirect URI " + strings.ToValidUTF8(raw, "?") + " is not an absolute http(s) URL without a fragment")
	}
	return nil
}

// codeUnavailable is spendCode's answer when the shared store of codes
// does not answer: the token endpoint says 503, not invalid_grant.
const codeUnavailable = "the code cannot be checked now; try again shortly"

// spendCode trades an authorization code: the grant, or an error
// description for invalid_grant. The code is spent by the first request
// that presents it, whether or not that request succeeds.
func (i *Issuer) spendCode(code, redirectURI, verifier string, client Client, now time.Time) (codeGrant, string) {
	g, res := i.codes.take(code, now)
	switch res {
	case taken:
	case reused:
		i.logf("issuer: an authorization code was presented again (client %s) and refused; the tokens already issued from it stay valid until they expire", client.ID)
		return codeGrant{}, "the code is unknown, expired or already used"
	case unavailable:
		return codeGrant{}, codeUnavailable
	default:
		return codeGrant{}, "the code is unknown, expired or already used"
	}
	switch {
	case g.clientID != client.ID:
		return codeGrant{}, "the code was issued to another client"
	case g.redirectURI != redirectURI:
		return codeGrant{}, "redirect_uri is not the authorization request's"
	case !pkceMatches(verifier, g.challenge):
		return codeGrant{}, "code_verifier does not match the code_challenge"
	}
	return g, ""
}
