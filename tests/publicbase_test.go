package tests

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

// toServer sends every request to one test server whatever host its URL
// names, with that host as Host: a client that reached the facade as
// localhost, as 127.0.0.1, or through a proxy that keeps the Host.
type toServer struct{ addr string }

func (t toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host, r.URL.Scheme, r.URL.Host = r.URL.Host, "http", t.addr
	return http.DefaultTransport.RoundTrip(r)
}

// One public base everywhere: whichever host a client names, links, the
// SMART endpoints, the token's iss and aud and the viewer's launch all say
// the facade's one base, so a token minted through one name works through
// another, and the viewer launches only for that base.
func TestOnePublicBase(t *testing.T) {
	tests := []struct {
		name string
		base string // FACADE_BASE_URL; empty: make run's default from the address
		// other is how else a client may name the facade (scheme://host).
		other func(addr string) string
	}{
		{name: "make run: 127.0.0.1, reached as localhost", other: func(addr string) string {
			return "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
		}},
		{name: "behind a proxy, reached directly", base: "https://fhir.example.nhs.uk/fhir", other: func(addr string) string { return "http://" + addr }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewUnstartedServer(nil)
			addr := ts.Listener.Addr().String()
			log := logrus.New()
			log.SetOutput(io.Discard)
			a, err := app.New(app.Config{Addr: addr, BaseURL: tt.base, Logger: log, BackendTimeout: backendTimeout})
			if err != nil {
				ts.Close()
				t.Fatal(err)
			}
			ts.Config.Handler = a.Handler
			ts.Start()
			t.Cleanup(func() { ts.Close(); a.Close() })

			base := tt.base
			if base == "" {
				base = "http://" + addr + "/fhir"
			}
			if a.BaseURL != base {
				t.Fatalf("BaseURL %q, want %q", a.BaseURL, base)
			}
			root, other := strings.TrimSuffix(base, "/fhir"), tt.other(addr)
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Transport: toServer{addr}, Jar: jar,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			send := func(method, u, bearer string, form url.Values) (*http.Response, map[string]any) {
				t.Helper()
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				req, err := http.NewRequest(method, u, body)
				if err != nil {
					t.Fatal(err)
				}
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if bearer != "" {
					req.Header.Set("Authorization", "Bearer "+bearer)
				}
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				var m map[string]any
				_ = json.Unmarshal(raw, &m)
				return res, m
			}

			// A token minted through the other name carries the one base.
			res, tok := send("POST", other+issuer.TokenPath, "", url.Values{"grant_type": {"client_credentials"}, "client_id": {issuer.DevClientID},
				"client_secret": {issuer.DevClientSecret}, "role": {"clinician"}})
			access, _ := tok["access_token"].(string)
			if res.StatusCode != 200 || strings.Count(access, ".") != 2 {
				t.Fatalf("token through %s: %d %v", other, res.StatusCode, tok)
			}
			var claims struct{ Iss, Aud string }
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[1])
			if err := json.Unmarshal(payload, &claims); err != nil || claims.Iss != root+"/oauth" || claims.Aud != base {
				t.Errorf("token iss %q aud %q (%v), want %s/oauth and %s", claims.Iss, claims.Aud, err, root, base)
			}
			// … and works through either name; links say the one base.
			for _, host := range []string{root, other} {
				res, bundle := send("GET", host+"/fhir/Patient?identifier=9000000009", access, nil)
				if res.StatusCode != 200 {
					t.Fatalf("search through %s: %d %v", host, res.StatusCode, bundle)
				}
				links, _ := bundle["link"].([]any)
				entries, _ := bundle["entry"].([]any)
				if len(links) == 0 || len(entries) == 0 {
					t.Fatalf("search through %s: %v", host, bundle)
				}
				for _, l := range links {
					if u, _ := l.(map[string]any)["url"].(string); !strings.HasPrefix(u, base+"/Patient?") {
						t.Errorf("through %s: link %q is not under %s", host, u, base)
					}
				}
				for _, e := range entries {
					if u, _ := e.(map[string]any)["fullUrl"].(string); !strings.HasPrefix(u, base+"/") {
						t.Errorf("through %s: fullUrl %q is not under %s", host, u, base)
					}
				}
			}

			// Discovery through the other name names the one base's endpoints.
			_, sc := send("GET", other+"/fhir/.well-known/smart-configuration", "", nil)
			for k, want := range map[string]string{"issuer": root + "/oauth", "token_endpoint": root + "/oauth/token", "authorization_endpoint": root + "/oauth/authorize"} {
				if sc[k] != want {
					t.Errorf("smart-configuration %s %v, want %s", k, sc[k], want)
				}
			}
			_, md := send("GET", other+"/fhir/metadata", "", nil)
			if impl, _ := md["implementation"].(map[string]any); impl["url"] != base {
				t.Errorf("CapabilityStatement implementation %v, want url %s", impl, base)
			}

			// The viewer launches for the one base only.
			launch := func() string {
				req, _ := http.NewRequest("POST", other+issuer.LaunchPath, strings.NewReader(url.Values{"patient": {"9000000009"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(issuer.DevClientID, issuer.DevClientSecret)
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var l struct{ Launch string }
				if err := json.NewDecoder(res.Body).Decode(&l); err != nil || res.StatusCode != http.StatusCreated {
					t.Fatalf("launch: %d %v", res.StatusCode, err)
				}
				return l.Launch
			}
			id := launch()
			for _, iss := range []string{other + "/fhir", "https://elsewhere.example/fhir"} {
				res, _ := send("GET", root+"/view/launch?"+url.Values{"iss": {iss}, "launch": {id}}.Encode(), "", nil)
				if res.StatusCode != http.StatusBadRequest {
					t.Errorf("launch with iss %s: %d, want 400", iss, res.StatusCode)
				}
			}
			res, _ = send("GET", root+"/view/launch?"+url.Values{"iss": {base + "/"}, "launch": {id}}.Encode(), "", nil)
			authz, _ := url.Parse(res.Header.Get("Location"))
			if res.StatusCode != http.StatusFound || !strings.HasPrefix(authz.String(), root+issuer.AuthorizePath+"?") || authz.Query().Get("aud") != base {
				t.Fatalf("launch with iss %s: %d, Location %s", base, res.StatusCode, authz)
			}
			// The rest of the launch: the issuer's code, the viewer's
			// callback trading it (in-process, as the proxy's name may not
			// be reachable from inside), the patient's page.
			res, _ = send("GET", authz.String(), "", nil)
			cb := res.Header.Get("Location")
			if res.StatusCode != http.StatusFound || !strings.HasPrefix(cb, root+"/view/callback?") {
				t.Fatalf("authorize: %d, Location %s", res.StatusCode, cb)
			}
			res, _ = send("GET", cb, "", nil)
			page := res.Header.Get("Location")
			if res.StatusCode != http.StatusSeeOther || page != "/view/Patient/9000000009" {
				t.Fatalf("callback: %d, Location %s", res.StatusCode, page)
			}
			if res, _ = send("GET", root+page, "", nil); res.StatusCode != http.StatusOK {
				t.Errorf("summary page: %d", res.StatusCode)
			}
		})
	}
}
