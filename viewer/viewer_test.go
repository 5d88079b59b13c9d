package viewer_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/viewer"
)

// The base and root of the fake facade the viewer is a client of.
const (
	base = "https://facade.test/fhir"
	root = "https://facade.test"
)

// now is the clock of every test: ages and dates do not drift.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fakeFacade is the facade's API as the viewer uses it: the SMART
// discovery document, a token endpoint that checks the authorization code
// with its PKCE challenge, $summary answers from testdata, and Binary.
type fakeFacade struct {
	t  *testing.T
	mu sync.Mutex
	// codes issued by authorize: code → (patient, challenge, redirect_uri)
	codes map[string]authz
	// tokenStatus, when set, is the token endpoint's status.
	tokenStatus int
	// noPatient: the token response names no patient.
	noPatient bool
	// summaries by NHS number: a file in testdata, a Bundle ([]byte), or a
	// status.
	summaries map[string]any
	// seen records every API request's Authorization header.
	seen []string
	mux  *http.ServeMux
}

type authz struct{ patient, challenge, redirect string }

func newFakeFacade(t *testing.T) *fakeFacade {
	f := &fakeFacade{t: t, codes: map[string]authz{}, summaries: map[string]any{
		"9000000009": "summary-full.json",
		"9000000025": "summary-restricted.json",
		"9000000033": "summary-minimal.json",
		"9000000017": "summary-partial.json",
		"9000000092": "summary-living.json",
		"9111231130": http.StatusNotFound,
		"9000000041": http.StatusGone,
		"9000000068": http.StatusForbidden,
		"9000000076": http.StatusGatewayTimeout,
		"9000000084": http.StatusUnauthorized,
	}}
	f.mux = http.NewServeMux()
	f.mux.HandleFunc("GET /fhir/.well-known/smart-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":%q,"token_endpoint":%q,"code_challenge_methods_supported":["S256"],"capabilities":["launch-ehr"],"grant_types_supported":["authorization_code"]}`,
			root+"/oauth", root+"/oauth/authorize", root+"/oauth/token")
	})
	f.mux.HandleFunc("POST /oauth/token", f.token)
	f.mux.HandleFunc("GET /fhir/Patient/{nhs}/{op}", f.summary)
	f.mux.HandleFunc("GET /fhir/Binary/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.note(r)
		if r.Header.Get("Authorization") != "Bearer tok-9000000009" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		switch r.PathValue("id") {
		case "Y07213-1000000107":
			w.Header().Set("Content-Type", "application/fhir+json")
			_, _ = io.WriteString(w, `{"resourceType":"Bundle","type":"document"}`)
		case "Y07213-1000000107.1":
			w.Header().Set("Content-Type", "application/pdf")
			_, _ = io.WriteString(w, "%PDF-1.4\n")
		case "Y04531-1000000114":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<script>alert(1)</script>")
		case "Y05868-1000000091":
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	return f
}

func (f *fakeFacade) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

func (f *fakeFacade) note(r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Header.Get("Authorization"))
	f.mu.Unlock()
}

// authorize is what the issuer's authorization endpoint does for a launch:
// a code bound to the launch's patient, the challenge and the redirect URI.
func (f *fakeFacade) authorize(q url.Values, patient string) string {
	code := "code-" + patient + "-" + q.Get("state")[:8]
	f.mu.Lock()
	f.codes[code] = authz{patient: patient, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	f.mu.Unlock()
	return code
}

func (f *fakeFacade) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	if f.tokenStatus != 0 {
		w.WriteHeader(f.tokenStatus)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	}
	f.mu.Lock()
	a, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code"))
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !ok, r.PostForm.Get("grant_type") != "authorization_code", r.PostForm.Get("client_id") != viewer.DefaultClientID,
		r.PostForm.Get("redirect_uri") != a.redirect, base64.RawURLEncoding.EncodeToString(sum[:]) != a.challenge:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	}
	patient := a.patient
	if f.noPatient {
		patient = ""
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-" + a.patient, "token_type": "Bearer", "expires_in": 3600, "scope": viewer.DefaultScope, "patient": patient})
}

func (f *fakeFacade) summary(w http.ResponseWriter, r *http.Request) {
	f.note(r)
	nhs := r.PathValue("nhs")
	if r.PathValue("op") != "$summary" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer tok-"+nhs {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	switch s := f.summaries[nhs].(type) {
	case string:
		raw, err := os.ReadFile("testdata/" + s)
		if err != nil {
			f.t.Error(err)
		}
		_, _ = w.Write(raw)
	case []byte:
		_, _ = w.Write(s)
	case int:
		if s == http.StatusNotFound {
			raw, _ := os.ReadFile("testdata/outcome-not-found.json")
			w.WriteHeader(s)
			_, _ = w.Write(raw)
			return
		}
		w.WriteHeader(s)
		_, _ = io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// newViewer is a viewer of the fake facade.
func newViewer(t *testing.T, f *fakeFacade, mod func(*viewer.Config)) *viewer.Viewer {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg := viewer.Config{FHIRBase: base, API: f, Now: func() time.Time { return now }, Logger: log}
	if mod != nil {
		mod(&cfg)
	}
	v, err := viewer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// browser is a minimal cookie-keeping user agent for the viewer.
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]*http.Cookie
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	return &browser{t: t, h: h, cookies: map[string]*http.Cookie{}}
}

func (b *browser) get(target string) *httptest.ResponseRecorder {
	b.t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for _, c := range b.cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}

// signIn launches for patient and follows the flow to the summary page's
// redirect, returning the callback's answer.
func signIn(t *testing.T, b *browser, f *fakeFacade, patient string) *httptest.ResponseRecorder {
	t.Helper()
	w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=L-" + patient)
	if w.Code != http.StatusFound {
		t.Fatalf("launch: %d %s", w.Code, w.Body)
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	code := f.authorize(q, patient)
	return b.get("/view/callback?code=" + url.QueryEscape(code) + "&state=" + url.QueryEscape(q.Get("state")))
}

func TestLaunchRedirectsToTheAuthorizationEndpoint(t *testing.T) {
	f := newFakeFacade(t)
	b := newBrowser(t, newViewer(t, f, nil))
	w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=abc123")
	if w.Code != http.StatusFound {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != root+"/oauth/authorize" {
		t.Errorf("redirected to %s", got)
	}
	q := loc.Query()
	want := map[string]string{
		"response_type": "code", "client_id": "facade-viewer", "redirect_uri": root + "/view/callback",
		"scope": "launch openid fhirUser patient/*.read", "aud": base, "launch": "abc123", "code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) < 22 || len(q.Get("code_challenge")) != 43 {
		t.Errorf("state %q, code_challenge %q", q.Get("state"), q.Get("code_challenge"))
	}
	c := b.cookies["viewer_launch"]
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/view" {
		t.Fatalf("launch cookie %+v", c)
	}
	if strings.Contains(w.Header().Get("Location"), c.Value) {
		t.Error("the pre-session id is in the URL")
	}
}

func TestLaunchRefusals(t *testing.T) {
	f := newFakeFacade(t)
	v := newViewer(t, f, nil)
	tests := []struct {
		name, query string
		status      int
		says        string
	}{
		{"foreign issuer", "iss=" + url.QueryEscape("https://evil.example/fhir") + "&launch=x", 400, "other than this one"},
		{"issuer on another scheme", "iss=" + url.QueryEscape("http://facade.test/fhir") + "&launch=x", 400, "other than this one"},
		{"issuer prefix trick", "iss=" + url.QueryEscape(base+".evil.example") + "&launch=x", 400, "other than this one"},
		{"no iss", "launch=x", 400, "incomplete"},
		{"no launch", "iss=" + url.QueryEscape(base), 400, "incomplete"},
		{"launch with markup", "iss=" + url.QueryEscape(base) + "&launch=%3Cscript%3E", 400, "incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newBrowser(t, v).get("/view/launch?" + tt.query)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.says) {
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
			if loc := w.Header().Get("Location"); loc != "" {
				t.Errorf("redirected to %s", loc)
			}
		})
	}
	// An issuer without S256 is not used.
	noPKCE := http.NewServeMux()
	noPKCE.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"authorization_endpoint":"https://facade.test/oauth/authorize","token_endpoint":"https://facade.test/oauth/token","code_challenge_methods_supported":["plain"]}`)
	})
	log := logrus.New()
	log.SetOutput(io.Discard)
	v2, _ := viewer.New(viewer.Config{FHIRBase: base, API: noPKCE, Logger: log})
	if w := newBrowser(t, v2).get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=x"); w.Code != http.StatusBadGateway {
		t.Errorf("no S256: %d", w.Code)
	}
}

func TestCallback(t *testing.T) {
	f := newFakeFacade(t)
	v := newViewer(t, f, nil)

	t.Run("signs in and shows the launch patient", func(t *testing.T) {
		b := newBrowser(t, v)
		w := signIn(t, b, f, "9000000009")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/view/Patient/9000000009" {
			t.Fatalf("callback: %d %s %s", w.Code, w.Header().Get("Location"), w.Body)
		}
		c := b.cookies["viewer_session"]
		if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/view" || c.MaxAge != 3600 {
			t.Fatalf("session cookie %+v", c)
		}
		if b.cookies["viewer_launch"] != nil {
			t.Error("the launch cookie outlives the callback")
		}
		page := b.get("/view/Patient/9000000009")
		if page.Code != 200 || !strings.Contains(page.Body.String(), "900 000 0009") {
			t.Fatalf("page: %d", page.Code)
		}
		if strings.Contains(page.Body.String(), "tok-") || strings.Contains(w.Header().Get("Location"), "tok-") {
			t.Error("the token is in the page or a URL")
		}
	})
	tests := []struct {
		name   string
		run    func(t *testing.T, b *browser) *httptest.ResponseRecorder
		status int
		says   string
	}{
		{"no launch cookie", func(t *testing.T, b *browser) *httptest.ResponseRecorder {
			return b.get("/view/callback?code=x&state=y")
		}, 401, "expired"},
		{"wrong state", func(t *testing.T, b *browser) *httptest.ResponseRecorder {
			w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=x")
			loc, _ := url.Parse(w.Header().Get("Location"))
			code := f.authorize(loc.Query(), "9000000009")
			return b.get("/view/callback?code=" + code + "&state=forged")
		}, 400, "expired"},
		{"replayed callback", func(t *testing.T, b *browser) *httptest.ResponseRecorder {
			w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=x")
			loc, _ := url.Parse(w.Header().Get("Location"))
			launchCookie := b.cookies["viewer_launch"]
			cb := "/view/callback?code=" + f.authorize(loc.Query(), "9000000009") + "&state=" + loc.Query().Get("state")
			if w := b.get(cb); w.Code != http.StatusSeeOther {
				t.Fatalf("first callback: %d", w.Code)
			}
			delete(b.cookies, "viewer_session")
			b.cookies["viewer_launch"] = launchCookie // an attacker's copy of the cookie
			return b.get(cb)
		}, 401, "expired"},
		{"issuer refused", func(t *testing.T, b *browser) *httptest.ResponseRecorder {
			w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=x")
			loc, _ := url.Parse(w.Header().Get("Location"))
			return b.get("/view/callback?error=access_denied&state=" + loc.Query().Get("state"))
		}, 403, "did not grant access"},
		{"PKCE verifier does not match", func(t *testing.T, b *browser) *httptest.ResponseRecorder {
			w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=x")
			loc, _ := url.Parse(w.Header().Get("Location"))
			q := loc.Query()
			q.Set("code_challenge", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
			return b.get("/view/callback?code=" + f.authorize(q, "9000000009") + "&state=" + q.Get("state"))
		}, 401, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, v)
			w := tt.run(t, b)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.says) {
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
			if b.cookies["viewer_session"] != nil {
				t.Error("a session was started")
			}
		})
	}
	t.Run("token without a patient context", func(t *testing.T) {
		f.noPatient = true
		defer func() { f.noPatient = false }()
		b := newBrowser(t, v)
		if w := signIn(t, b, f, "9000000009"); w.Code != http.StatusBadGateway || b.cookies["viewer_session"] != nil {
			t.Errorf("status %d", w.Code)
		}
	})
	t.Run("token endpoint down", func(t *testing.T) {
		f.tokenStatus = http.StatusInternalServerError
		defer func() { f.tokenStatus = 0 }()
		b := newBrowser(t, v)
		if w := signIn(t, b, f, "9000000009"); w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "Sign-in failed") {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestSummaryAccess: the session sees its launch patient only; without a
// session, or once it is over, a page says to launch again.
func TestSummaryAccess(t *testing.T) {
	f := newFakeFacade(t)
	clock := now
	v := newViewer(t, f, func(c *viewer.Config) { c.Now = func() time.Time { return clock } })
	b := newBrowser(t, v)
	signIn(t, b, f, "9000000009")
	tests := []struct {
		name, path string
		status     int
		says       string
	}{
		{"own patient", "/view/Patient/9000000009", 200, "SMITH, Jane (Mrs)"},
		{"another patient", "/view/Patient/9000000025", 403, "opened for a different patient"},
		{"another patient's document", "/view/Patient/9000000025/document/Y07213-1000000107", 403, "opened for a different patient"},
		{"invalid NHS number", "/view/Patient/9000000000", 400, "Not a valid NHS number"},
		{"unknown page", "/view/Patient/9000000009/everything", 404, "Page not found"},
		{"path traversal in a document id", "/view/Patient/9000000009/document/..%2F..%2Ffhir%2FPatient", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := b.get(tt.path)
			body := w.Body.String()
			if w.Code != tt.status || !strings.Contains(body, tt.says) {
				t.Fatalf("status %d: %s", w.Code, body)
			}
			// No page shows a patient other than the session's.
			for _, nhs := range nhsNumbersIn(body) {
				if nhs != "9000000009" {
					t.Errorf("the page shows NHS number %s", nhs)
				}
			}
			if tt.status != 200 && strings.Contains(body, "9000000009") || strings.Contains(body, "900 000 0009") && tt.status != 200 {
				t.Error("an error page names the session's patient")
			}
		})
	}
	t.Run("no session", func(t *testing.T) {
		w := newBrowser(t, v).get("/view/Patient/9000000009")
		if w.Code != 401 || !strings.Contains(w.Body.String(), "open this patient's record again from your clinical system") {
			t.Errorf("status %d: %s", w.Code, w.Body)
		}
	})
	t.Run("forged session id", func(t *testing.T) {
		other := newBrowser(t, v)
		other.cookies["viewer_session"] = &http.Cookie{Name: "viewer_session", Value: "forged"}
		if w := other.get("/view/Patient/9000000009"); w.Code != 401 {
			t.Errorf("status %d", w.Code)
		}
	})
	t.Run("expired session", func(t *testing.T) {
		clock = now.Add(61 * time.Minute) // the token lived 3600 s
		defer func() { clock = now }()
		if w := b.get("/view/Patient/9000000009"); w.Code != 401 || !strings.Contains(w.Body.String(), "session has ended") {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestAPIErrors: what the API answers becomes a page with the right status.
func TestAPIErrors(t *testing.T) {
	f := newFakeFacade(t)
	v := newViewer(t, f, nil)
	tests := []struct {
		nhs    string
		status int
		says   string
	}{
		{"9111231130", 404, "Patient not found"},
		{"9000000041", 410, "no longer in use"},
		{"9000000068", 403, "do not have access"},
		{"9000000076", 504, "could not be retrieved"},
		{"9000000084", 401, "session has ended"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			b := newBrowser(t, v)
			signIn(t, b, f, tt.nhs)
			w := b.get("/view/Patient/" + tt.nhs)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.says) {
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
			if tt.status == 401 {
				if b.cookies["viewer_session"] != nil {
					t.Error("the session outlives a refused token")
				}
				if w := b.get("/view/Patient/" + tt.nhs); w.Code != 401 {
					t.Errorf("after the refusal: %d", w.Code)
				}
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	f := newFakeFacade(t)
	for _, tt := range []struct {
		name, ancestors, wantFA, wantXFO string
	}{
		{"default", "", "frame-ancestors 'self'", "SAMEORIGIN"},
		{"an EHR may embed", "'self' https://ehr.example.nhs.uk", "frame-ancestors 'self' https://ehr.example.nhs.uk", ""},
		{"nobody may embed", "'none'", "frame-ancestors 'none'", "DENY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newViewer(t, f, func(c *viewer.Config) { c.FrameAncestors = tt.ancestors })
			b := newBrowser(t, v)
			signIn(t, b, f, "9000000009")
			for _, path := range []string{"/view/Patient/9000000009", "/view/Patient/9000000025", "/view/launch"} {
				w := b.get(path)
				h := w.Header()
				csp := h.Get("Content-Security-Policy")
				if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s: %v", path, h)
				}
				if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'none'") || !strings.HasSuffix(csp, tt.wantFA) {
					t.Errorf("%s: CSP %q", path, csp)
				}
				if h.Get("X-Frame-Options") != tt.wantXFO {
					t.Errorf("%s: X-Frame-Options %q", path, h.Get("X-Frame-Options"))
				}
				if strings.Contains(w.Body.String(), "<script") || strings.Contains(w.Body.String(), " style=") || strings.Contains(w.Body.String(), "<style") {
					t.Errorf("%s: inline script or style", path)
				}
			}
		})
	}
	for _, bad := range []string{"'self'; script-src *", "https://a.example\r\nX-Evil: 1", "'none' 'self'", "javascript:"} {
		if _, err := viewer.New(viewer.Config{FHIRBase: base, API: f, FrameAncestors: bad}); err == nil {
			t.Errorf("frame-ancestors %q accepted", bad)
		}
	}
	css := newBrowser(t, newViewer(t, f, nil)).get("/view/static/viewer.css")
	if css.Code != 200 || !strings.HasPrefix(css.Header().Get("Content-Type"), "text/css") {
		t.Errorf("css: %d %v", css.Code, css.Header())
	}
}

func TestDocuments(t *testing.T) {
	f := newFakeFacade(t)
	b := newBrowser(t, newViewer(t, f, nil))
	signIn(t, b, f, "9000000009")
	page := b.get("/view/Patient/9000000009").Body.String()
	for _, link := range []string{`href="/view/Patient/9000000009/document/Y07213-1000000107"`, `href="/view/Patient/9000000009/document/Y07213-1000000107.1"`} {
		if !strings.Contains(page, link) {
			t.Errorf("no link %s", link)
		}
	}
	tests := []struct {
		id, ct, disposition string
		status              int
		sandbox             bool
	}{
		{"Y07213-1000000107", "application/json; charset=utf-8", "inline", 200, true},
		{"Y07213-1000000107.1", "application/pdf", "inline", 200, false},
		{"Y04531-1000000114", "text/html", "attachment", 200, true},
		{"Y05868-1000000091", "text/html; charset=utf-8", "", 502, false},
		{"Y05868-9", "text/html; charset=utf-8", "", 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			w := b.get("/view/Patient/9000000009/document/" + tt.id)
			h := w.Header()
			if w.Code != tt.status || h.Get("Content-Type") != tt.ct || !strings.HasPrefix(h.Get("Content-Disposition"), tt.disposition) {
				t.Errorf("status %d, %v", w.Code, h)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Error("a document may be stored")
			}
			if tt.status == 200 && strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox") != tt.sandbox {
				t.Errorf("CSP %q", h.Get("Content-Security-Policy"))
			}
		})
	}
	for _, a := range f.seen {
		if a != "Bearer tok-9000000009" {
			t.Errorf("an API call carried %q", a)
		}
	}
}

// TestSessionsAreBounded: a flood of launches does not grow memory.
func TestSessionsAreBounded(t *testing.T) {
	f := newFakeFacade(t)
	v := newViewer(t, f, func(c *viewer.Config) { c.MaxSessions = 5 })
	var first *browser
	for i := 0; i < 20; i++ {
		b := newBrowser(t, v)
		if i == 0 {
			first = b
		}
		if w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=x"); w.Code != http.StatusFound {
			t.Fatalf("launch %d: %d", i, w.Code)
		}
	}
	// The store keeps the 5 it can; the first launch was dropped.
	if w := first.get("/view/callback?code=x&state=y"); w.Code != 401 {
		t.Errorf("status %d", w.Code)
	}
}

var tenDigits = regexp.MustCompile(`\b\d{10}\b|\b\d{3} \d{3} \d{4}\b`)

// nhsNumbersIn returns the valid NHS numbers in text, in either form.
func nhsNumbersIn(text string) []string {
	var out []string
	for _, m := range tenDigits.FindAllString(text, -1) {
		if m = strings.ReplaceAll(m, " ", ""); nhsnumber.Valid(m) {
			out = append(out, m)
		}
	}
	return out
}

// The launch cookie is SameSite=Lax unless other sites may frame the viewer
// over https: then SameSite=None and Partitioned, or a browser would not
// send it inside the EHR's frame.
func TestCookiesForEmbedding(t *testing.T) {
	tests := []struct {
		name, frameAncestors string
		wantSameSite         http.SameSite
		wantPartitioned      bool
	}{
		{"own origin only", "'self'", http.SameSiteLaxMode, false},
		{"never framed", "'none'", http.SameSiteLaxMode, false},
		{"an EHR on another site", "'self' https://ehr.example.nhs.uk", http.SameSiteNoneMode, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeFacade(t)
			b := newBrowser(t, newViewer(t, f, func(c *viewer.Config) { c.FrameAncestors = tt.frameAncestors }))
			if w := b.get("/view/launch?iss=" + url.QueryEscape(base) + "&launch=abc123"); w.Code != http.StatusFound {
				t.Fatalf("status %d", w.Code)
			}
			c := b.cookies["viewer_launch"]
			if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != tt.wantSameSite || c.Partitioned != tt.wantPartitioned {
				t.Fatalf("launch cookie %+v, want SameSite %v, Partitioned %v", c, tt.wantSameSite, tt.wantPartitioned)
			}
		})
	}
}

// post sends a form POST with the browser's cookies and an Origin header.
func (b *browser) post(target, origin string) *httptest.ResponseRecorder {
	b.t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(""))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	for _, c := range b.cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}

// Sign out ends the session: the summary page offers it, a form from
// another origin cannot use it, and afterwards the session is gone.
func TestSignOut(t *testing.T) {
	f := newFakeFacade(t)
	b := newBrowser(t, newViewer(t, f, nil))
	signIn(t, b, f, "9000000009")
	page := b.get("/view/Patient/9000000009")
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `action="/view/signout"`) {
		t.Fatalf("the summary page offers no sign-out: %d", page.Code)
	}
	if w := b.post("/view/signout", "https://evil.example"); w.Code != http.StatusForbidden {
		t.Fatalf("a cross-origin sign-out: %d", w.Code)
	}
	if w := b.get("/view/Patient/9000000009"); w.Code != http.StatusOK {
		t.Fatalf("the session did not survive a refused sign-out: %d", w.Code)
	}
	w := b.post("/view/signout", root)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "You have signed out") || strings.Contains(w.Body.String(), "9000000009") {
		t.Fatalf("sign-out: %d %s", w.Code, w.Body)
	}
	if b.cookies["viewer_session"] != nil {
		t.Error("the session cookie is still set")
	}
	if w := b.get("/view/Patient/9000000009"); w.Code != http.StatusUnauthorized {
		t.Errorf("after signing out: %d, want 401", w.Code)
	}
	if w := b.get("/view/signout"); w.Code == http.StatusOK {
		t.Error("GET signs out")
	}
}
