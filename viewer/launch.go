package viewer

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// issuerTimeout bounds one call to the discovery document or the token
// endpoint.
const issuerTimeout = 15 * time.Second

// smartConfiguration is the part of the SMART discovery document the
// viewer needs.
// See: https://hl7.org/fhir/smart-app-launch/conformance.html
type smartConfiguration struct {
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
	TokenEndpoint                 string   `json:"token_endpoint"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
}

// authorizeParams are the parameters the viewer sends to the authorization
// endpoint.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "aud", "launch", "code_challenge", "code_challenge_method"}

// launchParam is what a launch id may look like: opaque, short, printable.
var launchParam = regexp.MustCompile(`^[A-Za-z0-9\-._~]{1,256}$`)

// serveLaunch is the EHR launch: GET /view/launch?iss=…&launch=…. It checks
// iss is this facade (never sending the browser to an issuer some link
// named), discovers the endpoints, makes PKCE S256 and state, keeps them in
// a short-lived launch bound to the browser by a cookie, and redirects to
// the authorization endpoint.
// See: https://hl7.org/fhir/smart-app-launch/app-launch.html#step-1-app-registration (steps 3-4)
func (v *Viewer) serveLaunch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	iss, launch := q.Get("iss"), q.Get("launch")
	if iss == "" || !launchParam.MatchString(launch) {
		v.renderError(w, r, http.StatusBadRequest, pageBadLaunch)
		return
	}
	if strings.TrimRight(iss, "/") != v.baseURL {
		v.renderError(w, r, http.StatusBadRequest, pageForeignIssuer)
		return
	}
	sc, err := v.discover(r.Context())
	if err != nil {
		v.cfg.Logger.WithFields(logrus.Fields{"request_id": requestID(w), "error": err.Error()}).Warn("viewer: SMART discovery failed")
		v.renderError(w, r, http.StatusBadGateway, pageSignInFailed)
		return
	}
	verifier := oauth2.GenerateVerifier() // 32 octets, 43 characters (RFC 7636 §4.1)
	state, err := randomString(24)
	if err != nil {
		v.renderError(w, r, http.StatusInternalServerError, pageSignInFailed)
		return
	}
	id, err := v.launches.put(pendingLaunch{State: state, Verifier: verifier, TokenEndpoint: sc.TokenEndpoint}, v.cfg.LaunchTTL)
	if err != nil {
		v.renderError(w, r, http.StatusInternalServerError, pageSignInFailed)
		return
	}
	v.setCookie(w, launchCookie, id, v.cfg.LaunchTTL)
	// response_type, client_id, redirect_uri, scope and state come from the
	// config; SMART adds aud (this facade) and the EHR's launch id.
	authz := v.oauthConfig(sc.AuthorizationEndpoint, sc.TokenEndpoint).AuthCodeURL(state,
		oauth2.SetAuthURLParam("aud", v.baseURL),
		oauth2.SetAuthURLParam("launch", launch),
		oauth2.S256ChallengeOption(verifier))
	http.Redirect(w, r, authz, http.StatusFound)
}

// redirectURI is the viewer's registered redirect URI.
func (v *Viewer) redirectURI() string { return v.root + CallbackPath }

// oauthConfig is the viewer as an OAuth public client of the issuer the
// discovery document names: no secret, so the client_id goes in the form
// (AuthStyleInParams; the library would otherwise probe with Basic auth
// first).
func (v *Viewer) oauthConfig(authURL, tokenURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    v.cfg.ClientID,
		RedirectURL: v.redirectURI(),
		Scopes:      strings.Fields(v.cfg.Scope),
		Endpoint:    oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// discover reads the facade's SMART configuration (from its own FHIR base,
// so a configured national issuer is found the same way as the local one).
func (v *Viewer) discover(ctx context.Context) (*smartConfiguration, error) {
	ctx, cancel := context.WithTimeout(ctx, issuerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.baseURL+"/.well-known/smart-configuration", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.issuer.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("smart-configuration: status %d", res.StatusCode)
	}
	var sc smartConfiguration
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&sc); err != nil {
		return nil, errors.New("smart-configuration: not JSON")
	}
	for name, u := range map[string]string{"authorization_endpoint": sc.AuthorizationEndpoint, "token_endpoint": sc.TokenEndpoint} {
		p, err := url.Parse(u)
		// No fragment (RFC 6749 §3.1, §3.2): the client appends its query.
		if u == "" || err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || strings.Contains(u, "#") {
			return nil, fmt.Errorf("smart-configuration: no usable %s", name)
		}
		// The client appends its parameters after the endpoint's own: one
		// of them there too would reach the issuer twice.
		for k := range p.Query() {
			if name == "authorization_endpoint" && slices.Contains(authorizeParams, k) {
				return nil, fmt.Errorf("smart-configuration: authorization_endpoint sets %s itself", k)
			}
		}
	}
	if len(sc.CodeChallengeMethodsSupported) > 0 && !slices.Contains(sc.CodeChallengeMethodsSupported, "S256") {
		return nil, errors.New("smart-configuration: the server does not support PKCE S256")
	}
	return &sc, nil
}

// tokenResponse is what the viewer keeps of the token endpoint's answer:
// the bearer token, its lifetime and the SMART launch's patient context.
type tokenResponse struct {
	AccessToken string
	ExpiresIn   int64
	Patient     string
}

// serveCallback is the redirect URI: GET /view/callback?code=…&state=….
// It takes the browser's pending launch (once), checks state, exchanges the
// code with the PKCE verifier, keeps the token in a new session and sends
// the browser to the launch patient's page.
// See: https://hl7.org/fhir/smart-app-launch/app-launch.html#obtain-access-token
func (v *Viewer) serveCallback(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(launchCookie)
	if err != nil {
		v.renderError(w, r, http.StatusUnauthorized, pageLaunchExpired)
		return
	}
	v.clearCookie(w, launchCookie)
	pl, ok := v.launches.take(c.Value)
	if !ok {
		v.renderError(w, r, http.StatusUnauthorized, pageLaunchExpired)
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(pl.State)) != 1 {
		v.renderError(w, r, http.StatusBadRequest, pageLaunchExpired)
		return
	}
	if q.Get("error") != "" {
		v.renderError(w, r, http.StatusForbidden, pageSignInRefused)
		return
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		v.renderError(w, r, http.StatusBadRequest, pageBadLaunch)
		return
	}
	tok, status, err := v.exchange(r.Context(), pl, code)
	if err != nil {
		v.cfg.Logger.WithFields(logrus.Fields{"request_id": requestID(w), "status": status, "error": err.Error()}).Warn("viewer: the authorization code was not exchanged")
		if status == http.StatusBadRequest || status == http.StatusUnauthorized {
			// invalid_grant: the code expired or was used; launch again.
			v.renderError(w, r, http.StatusUnauthorized, pageLaunchExpired)
		} else {
			v.renderError(w, r, http.StatusBadGateway, pageSignInFailed)
		}
		return
	}
	ttl := v.cfg.SessionTTL
	if tok.ExpiresIn > 0 && time.Duration(tok.ExpiresIn)*time.Second < ttl {
		ttl = time.Duration(tok.ExpiresIn) * time.Second
	}
	// A new session id at every sign-in: none chosen before it is trusted.
	if old, err := r.Cookie(sessionCookie); err == nil {
		v.sessions.delete(old.Value)
	}
	id, err := v.sessions.put(session{Token: tok.AccessToken, Patient: tok.Patient}, ttl)
	if err != nil {
		v.renderError(w, r, http.StatusInternalServerError, pageSignInFailed)
		return
	}
	v.setCookie(w, sessionCookie, id, ttl)
	http.Redirect(w, r, summaryPath(tok.Patient), http.StatusSeeOther)
}

// exchange trades the code for a token at the token endpoint (a public
// client: client_id and the PKCE verifier, no secret). It returns the
// endpoint's status with any error. The issuer client follows no redirect
// (a 30x is an answer, refused here as any other non-2xx) and is bounded by
// issuerTimeout.
func (v *Viewer) exchange(ctx context.Context, pl pendingLaunch, code string) (*tokenResponse, int, error) {
	ctx, cancel := context.WithTimeout(ctx, issuerTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, v.issuer)
	tok, err := v.oauthConfig("", pl.TokenEndpoint).Exchange(ctx, code, oauth2.VerifierOption(pl.Verifier))
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		// Neither the body nor the description is logged: the issuer's
		// words, which may hold anything. The status and an error code do.
		return nil, re.Response.StatusCode, fmt.Errorf("token endpoint: status %d, error %q", re.Response.StatusCode, safeCode(re.ErrorCode))
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return nil, 0, errors.New("the token endpoint could not be reached")
	}
	if err != nil {
		// Not the library's message: a JSON error may quote the body.
		return nil, 0, errors.New("token endpoint: the answer is cut short, not JSON, or has no access_token")
	}
	patient, _ := tok.Extra("patient").(string)
	switch {
	case tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer"):
		return nil, http.StatusOK, errors.New("token endpoint: the token is not a bearer token")
	case !nhsnumber.Valid(patient):
		// The viewer shows one patient: a launch without a patient
		// context (or with something else) cannot be shown.
		return nil, http.StatusOK, errors.New("token endpoint: no patient context (or not an NHS number)")
	}
	return &tokenResponse{AccessToken: tok.AccessToken, ExpiresIn: tok.ExpiresIn, Patient: patient}, http.StatusOK, nil
}

// safeCode echoes an OAuth error code only when it is one (for the log).
func safeCode(s string) string {
	if len(s) > 40 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "?"
	}
	return s
}
