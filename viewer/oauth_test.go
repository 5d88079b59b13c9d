package viewer_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/viewer"
)

// issuerStub is a facade whose discovery document and token endpoint a
// test writes: what an issuer might answer, well or badly.
func issuerStub(t *testing.T, discovery string, token http.HandlerFunc, mod func(*viewer.Config)) *viewer.Viewer {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, discovery)
	})
	if token != nil {
		mux.HandleFunc("POST /oauth/token", token)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg := viewer.Config{FHIRBase: base, API: mux, Now: func() time.Time { return now }, Logger: log}
	if mod != nil {
		mod(&cfg)
	}
	v, err := viewer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func discovery(authz, token string) string {
	return `{"authorization_endpoint":"` + authz + `","token_endpoint":"` + token + `","code_challenge_methods_supported":["S256"]}`
}

// TestLaunchAuthorizationEndpoint: the viewer's parameters follow an
// endpoint's own query, and an endpoint that would make them ambiguous is
// not used.
func TestLaunchAuthorizationEndpoint(t *testing.T) {
	tests := []struct {
		name, authz string
		status      int
	}{
		{"own query kept", root + "/oauth/authorize?tenant=a", http.StatusFound},
		{"state preset", root + "/oauth/authorize?state=fixed", http.StatusBadGateway},
		{"client_id preset", root + "/oauth/authorize?client_id=other", http.StatusBadGateway},
		{"code_challenge preset", root + "/oauth/authorize?code_challenge=x", http.StatusBadGateway},
		{"fragment", root + "/oauth/authorize#x", http.StatusBadGateway},
		{"not http", "javascript:alert(1)", http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := issuerStub(t, discovery(tt.authz, root+"/oauth/token"), nil, nil)
			w := newBrowser(t, v).get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=x")
			if w.Code != tt.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if tt.status != http.StatusFound {
				if loc := w.Header().Get("Location"); loc != "" {
					t.Errorf("redirected to %s", loc)
				}
				return
			}
			loc, _ := url.Parse(w.Header().Get("Location"))
			q := loc.Query()
			if q.Get("tenant") != "a" || len(q["state"]) != 1 || len(q["client_id"]) != 1 || q.Get("launch") != "x" || q.Get("aud") != base {
				t.Errorf("authorize query %v", q)
			}
		})
	}
}

// signInWith launches on v and calls back with a code, as the issuer would
// after authorize; it returns the callback's answer.
func signInWith(t *testing.T, v *viewer.Viewer) (*browser, *httptest.ResponseRecorder) {
	t.Helper()
	b := newBrowser(t, v)
	w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=x")
	if w.Code != http.StatusFound {
		t.Fatalf("launch: %d %s", w.Code, w.Body)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	return b, b.get("/view/callback?code=the-code&state=" + url.QueryEscape(loc.Query().Get("state")))
}

// TestExchangeAnswers: what the token endpoint answers, and what the
// callback makes of it. Only a 2xx JSON bearer token with an NHS number as
// patient context starts a session.
func TestExchangeAnswers(t *testing.T) {
	var elsewhere atomic.Int32
	tests := []struct {
		name   string
		token  http.HandlerFunc
		status int
		says   string
	}{
		{"bearer with patient", answer(200, "application/json", `{"access_token":"a","token_type":"Bearer","expires_in":600,"patient":"9000000009"}`), http.StatusSeeOther, ""},
		{"token type omitted", answer(200, "application/json", `{"access_token":"a","patient":"9000000009"}`), http.StatusSeeOther, ""},
		{"not a bearer token", answer(200, "application/json", `{"access_token":"a","token_type":"mac","patient":"9000000009"}`), 502, "Sign-in failed"},
		{"no access token", answer(200, "application/json", `{"token_type":"Bearer","patient":"9000000009"}`), 502, "Sign-in failed"},
		{"patient not an NHS number", answer(200, "application/json", `{"access_token":"a","token_type":"Bearer","patient":"Patient/123"}`), 502, "Sign-in failed"},
		{"patient not a string", answer(200, "application/json", `{"access_token":"a","token_type":"Bearer","patient":9000000009}`), 502, "Sign-in failed"},
		{"not JSON", answer(200, "application/json", `<html>`), 502, "Sign-in failed"},
		{"error with 200", answer(200, "application/json", `{"error":"invalid_grant","access_token":"a","patient":"9000000009"}`), 502, "Sign-in failed"},
		{"invalid_grant", answer(400, "application/json", `{"error":"invalid_grant"}`), 401, "expired"},
		{"invalid_client", answer(401, "application/json", `{"error":"invalid_client"}`), 401, "expired"},
		{"server error", answer(503, "text/html", `down`), 502, "Sign-in failed"},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, root+"/elsewhere", http.StatusTemporaryRedirect)
		}, 502, "Sign-in failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := issuerStub(t, discovery(root+"/oauth/authorize", root+"/oauth/token"), tt.token, func(c *viewer.Config) {
				c.API.(*http.ServeMux).HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) })
			})
			b, w := signInWith(t, v)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.says) {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if started := b.cookies["viewer_session"] != nil; started != (tt.status == http.StatusSeeOther) {
				t.Errorf("session started: %v", started)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the token endpoint's redirect was followed %d times", n)
	}
}

func answer(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// roundTrip is an http.RoundTripper from a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestExchangeWithANationalIssuer: a token endpoint on another origin is
// reached through Config.HTTPClient's transport, as a public client (the
// client id and PKCE verifier in the form, no secret, no Basic auth); one
// that cannot be reached fails the sign-in.
func TestExchangeWithANationalIssuer(t *testing.T) {
	const tokenURL = "https://issuer.example/token"
	t.Run("the exchange request", func(t *testing.T) {
		var form url.Values
		var auth string
		v := issuerStub(t, discovery("https://issuer.example/authorize", tokenURL), nil, func(c *viewer.Config) {
			c.HTTPClient = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
				if r.URL.String() != tokenURL || r.Method != http.MethodPost {
					return nil, errors.New("unexpected " + r.Method + " " + r.URL.String())
				}
				auth = r.Header.Get("Authorization")
				_ = r.ParseForm()
				form = r.PostForm
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
					Body: io.NopCloser(strings.NewReader(`{"access_token":"a","token_type":"Bearer","expires_in":60,"patient":"9000000009"}`))}, nil
			})}
		})
		b, w := signInWith(t, v)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/view/Patient/9000000009" {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if c := b.cookies["viewer_session"]; c == nil || c.MaxAge != 60 {
			t.Errorf("session cookie %+v: the token's lifetime bounds the session", c)
		}
		if auth != "" {
			t.Errorf("Authorization %q sent to the token endpoint", auth)
		}
		want := url.Values{"grant_type": {"authorization_code"}, "code": {"the-code"}, "redirect_uri": {root + "/view/callback"}, "client_id": {viewer.DefaultClientID}}
		for k, vals := range want {
			if strings.Join(form[k], ",") != vals[0] {
				t.Errorf("%s = %q, want %q", k, form[k], vals[0])
			}
		}
		if len(form.Get("code_verifier")) != 43 || form.Has("client_secret") || len(form) != 5 {
			t.Errorf("form %v", form)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		v := issuerStub(t, discovery("https://issuer.example/authorize", tokenURL), nil, func(c *viewer.Config) {
			c.HTTPClient = &http.Client{Transport: roundTrip(func(*http.Request) (*http.Response, error) {
				return nil, errors.New("dial tcp: connection refused")
			})}
		})
		b, w := signInWith(t, v)
		if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "Sign-in failed") || b.cookies["viewer_session"] != nil {
			t.Errorf("status %d: %s", w.Code, w.Body)
		}
	})
}
