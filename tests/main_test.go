// Package tests holds the black-box tests: the whole facade, wired as
// cmd/facade wires it, on the embedded sandbox, over HTTP on a free loopback
// port. Every JSON body the facade sends is validated against the official
// FHIR R4 JSON schema.
package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// env is the facade under test, shared by the tests of this package.
var env struct {
	app  *app.App
	url  string // FHIR base, e.g. http://127.0.0.1:41234/fhir
	root string // http://127.0.0.1:41234
	logs *syncBuffer
	// tokens by dev role, minted once by the facade's local issuer: every
	// request without its own Authorization header carries tokens["clinician"].
	tokens map[string]string
}

// bearer returns the Authorization header value for a dev role.
func bearer(role string) string { return "Bearer " + env.tokens[role] }

// tokenTransport adds the default token to requests for the facade under
// test that carry none, so every test, Go or newman-driven, runs with
// authentication on through this one helper.
type tokenTransport struct{ next http.RoundTripper }

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		tok := ""
		if env.root != "" && strings.HasPrefix(r.URL.String(), env.root) {
			tok = env.tokens["clinician"]
		} else if v, ok := otherFacades.Load(r.URL.Host); ok {
			tok = v.(string)
		}
		if tok != "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return t.next.RoundTrip(r)
}

// otherFacades maps the host:port of facades that tests start themselves
// (startOwnFacade) to a clinician token of theirs.
var otherFacades sync.Map

// startOwnFacade starts a facade of its own for a test (with the policy the
// test needs) on a free loopback port, stopped at the end of the test.
// Requests to it through http.DefaultClient carry a clinician token of its
// own issuer, as requests to the shared facade do.
func startOwnFacade(t *testing.T, cfg app.Config) (*app.App, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = logrus.New()
		cfg.Logger.SetOutput(io.Discard)
	}
	ts := httptest.NewUnstartedServer(nil)
	if cfg.Addr == "" {
		cfg.Addr = ts.Listener.Addr().String() // its public base
	}
	a, err := app.New(cfg)
	if err != nil {
		ts.Close()
		t.Fatal(err)
	}
	ts.Config.Handler = a.Handler
	ts.Start()
	t.Cleanup(func() { ts.Close(); a.Close() })
	if a.Issuer != nil {
		tok, err := a.DevToken("clinician", "")
		if err != nil {
			t.Fatal(err)
		}
		host := strings.TrimPrefix(ts.URL, "http://")
		otherFacades.Store(host, tok)
		t.Cleanup(func() { otherFacades.Delete(host) })
	}
	return a, ts
}

// syncBuffer collects the facade's log lines for the no-patient-data check.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// backendTimeout is short so the timeout test is quick.
const backendTimeout = 700 * time.Millisecond

func TestMain(m *testing.M) {
	env.logs = &syncBuffer{}
	log := logrus.New()
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetOutput(env.logs)
	// The address is known before the facade is built: it is its public base.
	ts := httptest.NewUnstartedServer(nil)
	a, err := app.New(app.Config{Addr: ts.Listener.Addr().String(), Logger: log, BackendTimeout: backendTimeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start facade:", err)
		os.Exit(1)
	}
	ts.Config.Handler = a.Handler
	ts.Start()
	env.app, env.root, env.url = a, ts.URL, ts.URL+"/fhir"
	env.tokens = map[string]string{}
	for _, role := range []string{"clinician", "admin", "auditor"} {
		tok, err := a.DevToken(role, "")
		if err != nil {
			fmt.Fprintln(os.Stderr, "mint a token:", err)
			os.Exit(1)
		}
		env.tokens[role] = tok
	}
	http.DefaultClient.Transport = tokenTransport{next: http.DefaultTransport}
	order := populationOrder()
	code := m.Run()
	// population.Default() is shared by every simulator in the process; a
	// test that re-orders or edits it corrupts every later test's sandbox.
	if populationOrder() != order {
		fmt.Fprintln(os.Stderr, "FAIL: a test modified population.Default() in place (copy it before sorting or editing)")
		code = 1
	}
	ts.Close()
	a.Close()
	// The operational logs of the whole run carry no patient identifier.
	if leaks := patientDataIn(env.logs.String()); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the facade's logs of this run carry patient data: %v\n", leaks)
		code = 1
	}
	os.Exit(code)
}

// populationOrder is the shared default population's NHS numbers in order.
func populationOrder() string {
	var b strings.Builder
	for _, p := range population.Default() {
		b.WriteString(p.NHSNumber)
	}
	return b.String()
}

// patientDataIn returns what in text looks like patient data: any valid NHS
// number, and the names of the sandbox's patients.
func patientDataIn(text string) []string {
	var found []string
	for _, m := range regexp.MustCompile(`\b\d{10}\b`).FindAllString(text, -1) {
		if nhsnumber.Valid(m) {
			found = append(found, m)
		}
	}
	for _, name := range []string{"Smith", "Smythe", "Smyth", "Jane", "Janet", "Jayne", "GARTON", "KNAPP", "CUFF", "Zebedee"} {
		if strings.Contains(text, name) {
			found = append(found, name)
		}
	}
	return found
}

// response is one HTTP answer from the facade, its JSON body decoded.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends a request to the facade; every JSON body it answers with must be
// a valid FHIR R4 resource.
func call(t *testing.T, method, path string, hdr map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = env.url + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: invalid JSON: %v", method, path, err)
		}
		if _, isFHIR := r.body["resourceType"]; isFHIR {
			if err := profiles.Validate(raw); err != nil {
				t.Errorf("%s %s: response does not validate against the FHIR R4 schema: %v", method, path, err)
			}
			if err := checkUKCore(raw); err != nil {
				t.Errorf("%s %s: %v", method, path, err)
			}
		}
	}
	return r
}

func get(t *testing.T, path string) response {
	t.Helper()
	return call(t, http.MethodGet, path, nil, "")
}

// outcomeIssue returns issue[0] of an OperationOutcome body.
func outcomeIssue(t *testing.T, r response) map[string]any {
	t.Helper()
	if r.body["resourceType"] != "OperationOutcome" {
		t.Fatalf("want an OperationOutcome, got %s", r.raw)
	}
	return r.body["issue"].([]any)[0].(map[string]any)
}

// entries returns the Bundle's entries split by search mode. A document
// ($summary) is read alike: its records are the matches, its
// OperationOutcome the outcome; its Composition and author are not records
// (documentEntries checks them).
func entries(t *testing.T, r response) (matches, outcomes []map[string]any) {
	t.Helper()
	if r.body["resourceType"] == "Bundle" && r.body["type"] == "document" {
		return documentEntries(t, r)
	}
	if r.body["resourceType"] != "Bundle" || r.body["type"] != "searchset" {
		t.Fatalf("want a searchset Bundle, got %s", r.raw)
	}
	es, _ := r.body["entry"].([]any)
	for _, e := range es {
		m := e.(map[string]any)
		switch m["search"].(map[string]any)["mode"] {
		case "outcome":
			outcomes = append(outcomes, m)
		default:
			matches = append(matches, m)
		}
	}
	return matches, outcomes
}

func linkURL(r response, rel string) string {
	ls, _ := r.body["link"].([]any)
	for _, l := range ls {
		m := l.(map[string]any)
		if m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
