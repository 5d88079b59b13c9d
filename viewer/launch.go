package viewer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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
	verifier, err := randomString(32) // 43 characters (RFC 7636 §4.1)
	if err != nil {
		v.renderError(w, r, http.StatusInternalServerError, pageSignInFailed)
		return
	}
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
	authz, _ := url.Parse(sc.AuthorizationEndpoint) // checked by discover
	aq := authz.Query()
	for k, val := range map[string]string{
		"response_type":         "code",
		"client_id":             v.cfg.ClientID,
		"redirect_uri":          v.redirectURI(),
		"scope":                 v.cfg.Scope,
		"state":                 state,
		"aud":                   v.baseURL,
		"launch":                launch,
		"code_challenge":        challenge(verifier),
		"code_challenge_method": "S256",
	} {
		aq.Set(k, val)
	}
	authz.RawQuery = aq.Encode()
	http.Redirect(w, r, authz.String(), http.StatusFound)
}

// redirectURI is the viewer's registered redirect URI.
func (v *Viewer) redirectURI() string { return v.root + CallbackPath }

// challenge is the PKCE S256 code challenge of verifier (RFC 7636 §4.2).
func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
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
	res, err := v.client.Do(req)
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
		if u == "" || err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return nil, fmt.Errorf("smart-configuration: no usable %s", name)
		}
	}
	if len(sc.CodeChallengeMethodsSupported) > 0 && !slices.Contains(sc.CodeChallengeMethodsSupported, "S256") {
		return nil, errors.New("smart-configuration: the server does not support PKCE S256")
	}
	return &sc, nil
}

// tokenResponse is the token endpoint's answer, with the SMART launch
// context.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	Patient     string `json:"patient"`
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
// endpoint's status with any error.
func (v *Viewer) exchange(ctx context.Context, pl pendingLaunch, code string) (*tokenResponse, int, error) {
	ctx, cancel := context.WithTimeout(ctx, issuerTimeout)
	defer cancel()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {v.redirectURI()},
		"client_id":     {v.cfg.ClientID},
		"code_verifier": {pl.Verifier},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pl.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := v.client.Do(req)
	if err != nil {
		return nil, 0, errors.New("the token endpoint could not be reached")
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&e)
		return nil, res.StatusCode, fmt.Errorf("token endpoint: status %d, error %q", res.StatusCode, safeCode(e.Error))
	}
	var tok tokenResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&tok); err != nil {
		return nil, res.StatusCode, errors.New("token endpoint: the answer is not JSON")
	}
	switch {
	case tok.AccessToken == "":
		return nil, res.StatusCode, errors.New("token endpoint: no access_token")
	case tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer"):
		return nil, res.StatusCode, errors.New("token endpoint: the token is not a bearer token")
	case !nhsnumber.Valid(tok.Patient):
		// The viewer shows one patient: a launch without a patient
		// context (or with something else) cannot be shown.
		return nil, res.StatusCode, errors.New("token endpoint: no patient context (or not an NHS number)")
	}
	return &tok, res.StatusCode, nil
}

// safeCode echoes an OAuth error code only when it is one (for the log).
func safeCode(s string) string {
	if len(s) > 40 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "?"
	}
	return s
}
