package cdshooks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/resources"
)

const testRoot = "https://facade.example.nhs.uk"

// schema compiles one definition of testdata/cds-hooks.schema.json.
func schema(t testing.TB, def string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(readTestdata(t, "cds-hooks.schema.json")))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("cds-hooks.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("cds-hooks.schema.json#/$defs/" + def)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t testing.TB, s *jsonschema.Schema, raw []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// The schema is the spec's: every example of the spec it covers validates,
// and what the spec's tables forbid does not.
func TestSchemaTakesTheSpecExamples(t *testing.T) {
	for file, def := range map[string]string{
		"discovery-response.json": "discovery", "response-cards.json": "response", "response-no-cards.json": "response",
		"feedback-accepted.json": "feedback", "feedback-overridden.json": "feedback", "feedback-overridden-with-reason.json": "feedback",
		"patient-view-request.json": "request",
	} {
		if err := validate(t, schema(t, def), readTestdata(t, file)); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
	for _, tc := range []struct{ def, doc string }{
		{"response", `{}`},
		{"response", `{"cards":[{"summary":"x","source":{"label":"s"}}]}`},                      // no indicator
		{"response", `{"cards":[{"summary":"x","indicator":"urgent","source":{"label":"s"}}]}`}, // unknown indicator
		{"response", `{"cards":[{"summary":"` + strings.Repeat("x", 140) + `","indicator":"info","source":{"label":"s"}}]}`},
		{"response", `{"cards":[{"summary":"x","indicator":"info","source":{"label":"s"},"links":[{"label":"l","url":"https://x","type":"absolute","appContext":"c"}]}]}`},
		{"discovery", `{"services":[{"hook":"patient-view","id":"x"}]}`}, // no description
		{"feedback", `{"feedback":[{"card":"c","outcome":"accepted","outcomeTimestamp":"2020-12-11T00:00:00Z"}]}`},
	} {
		if validate(t, schema(t, tc.def), []byte(tc.doc)) == nil {
			t.Errorf("%s validates %s", tc.def, tc.doc)
		}
	}
}

// fakeAPI stands in for the facade's FHIR API: canned answers by path,
// an optional delay, and the bearer tokens it was sent.
type fakeAPI struct {
	mu      sync.Mutex
	answers map[string]func(w http.ResponseWriter)
	delay   time.Duration
	tokens  []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.tokens = append(f.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	for prefix, a := range f.answers {
		if strings.HasPrefix(r.URL.Path, prefix) {
			a(w)
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
}

func answer(status int, body []byte) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// capture is an audit trail in a slice: every record, refusals included.
type capture struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (c *capture) Write(_ context.Context, r audit.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r)
	return nil
}

func (c *capture) all() []audit.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]audit.Record(nil), c.recs...)
}

// challenged is a refusal of the facade's own policy, with its challenge.
func challenged(status int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		answer(status, nil)(w)
	}
}

type harness struct {
	svc   *Service
	api   *fakeAPI
	audit *capture
	key   jose.JSONWebKey
	id    *Identity
}

func newHarness(t *testing.T, api *fakeAPI, change func(*Config)) *harness {
	t.Helper()
	return newHarnessClient(t, api, nil, change)
}

// newHarnessClient is newHarness with the trusted client's registration
// changed by client.
func newHarnessClient(t *testing.T, api *fakeAPI, client func(*Client), change func(*Config)) *harness {
	t.Helper()
	key := specKey(t)
	c := Client{Issuer: testIss, Keys: NewStaticKeys(jose.JSONWebKey{Key: key.Public().Key, KeyID: "example-kid", Use: "sig"}), Role: "R8000", OrgODS: "Y05868"}
	if client != nil {
		client(&c)
	}
	v, err := NewVerifier([]Client{c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewIdentity(testRoot+"/cds-services", testRoot+"/fhir")
	if err != nil {
		t.Fatal(err)
	}
	log := &capture{}
	cfg := Config{Root: testRoot, FHIRBase: testRoot + "/fhir", API: api, Verifier: v, Identity: id, Allergies: true,
		ViewerLaunchURL: testRoot + "/view/launch", Audit: log, CORSOrigins: []string{"https://ehr.example.nhs.uk"}}
	if change != nil {
		change(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{svc: svc, api: api, audit: log, key: key, id: id}
}

func (h *harness) jwt(t *testing.T, aud string) string {
	now := time.Now()
	return sign(t, jose.ES384, h.key.Key, map[string]any{"typ": "JWT", "kid": "example-kid"},
		map[string]any{"iss": testIss, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": randomID()})
}

func (h *harness) do(t *testing.T, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, testRoot+path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if _, ok := hdr["Authorization"]; !ok {
		r.Header.Set("Authorization", "Bearer "+h.jwt(t, testRoot+strings.TrimSuffix(path, "/")))
	}
	for k, v := range hdr {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.svc.ServeHTTP(w, r)
	return w
}

func hook(patientID string, prefetch string) string {
	if prefetch == "" {
		prefetch = "{}"
	}
	return `{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{"userId":"Practitioner/example","patientId":"` + patientID + `"},"prefetch":` + prefetch + `}`
}

func TestDiscovery(t *testing.T) {
	h := newHarness(t, &fakeAPI{}, nil)
	w := h.do(t, http.MethodGet, "/cds-services", "", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if err := validate(t, schema(t, "discovery"), w.Body.Bytes()); err != nil {
		t.Error(err)
	}
	var d struct {
		Services []struct {
			Hook, ID string
			Prefetch map[string]string
		}
	}
	_ = json.Unmarshal(w.Body.Bytes(), &d)
	if len(d.Services) != 1 || d.Services[0].Hook != "patient-view" || d.Services[0].ID != DefaultServiceID ||
		d.Services[0].Prefetch["patient"] != "Patient/{{context.patientId}}" || d.Services[0].Prefetch["allergies"] == "" {
		t.Errorf("discovery %s", w.Body)
	}
	// A token for the service is not one for discovery (aud is exact).
	if w := h.do(t, http.MethodGet, "/cds-services", "", map[string]string{"Authorization": "Bearer " + h.jwt(t, h.svc.ServiceURL())}); w.Code != http.StatusUnauthorized {
		t.Errorf("a service token at discovery: %d", w.Code)
	}
}

func TestPatientView(t *testing.T) {
	flags := searchset([]string{cpisFlag, fgmFlag, raLipRead, ovmFlag})
	allergies := searchset([]string{wasp})
	ok := map[string]func(http.ResponseWriter){"/fhir/Flag": answer(200, flags), "/fhir/AllergyIntolerance": answer(200, allergies)}
	prefetched := `{"patient":{"resourceType":"Patient","id":"local-42","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}}`
	cases := []struct {
		name    string
		answers map[string]func(http.ResponseWriter)
		delay   time.Duration
		body    string
		status  int
		want    []string // indicator:topic
		detail  string
	}{
		{name: "every alert", answers: ok, body: hook("9000000009", ""), status: 200,
			want: []string{"critical:child-protection", "warning:fgm-risk", "warning:reasonable-adjustments", "info:overseas-visitor", "info:allergies"}},
		{name: "a local id with the prefetched Patient", answers: ok, body: hook("local-42", prefetched), status: 200,
			want: []string{"critical:child-protection", "warning:fgm-risk", "warning:reasonable-adjustments", "info:overseas-visitor", "info:allergies"}},
		{name: "nothing recorded", answers: map[string]func(http.ResponseWriter){"/fhir/": answer(200, searchset(nil))}, body: hook("9000000017", ""), status: 200},
		{name: "unknown to the national services", answers: map[string]func(http.ResponseWriter){}, body: hook("9000000017", ""), status: 200},
		{name: "CP-IS down", answers: map[string]func(http.ResponseWriter){
			"/fhir/Flag":               answer(200, searchset([]string{fgmFlag}, resources.SourceCPIS+" could not be reached or read")),
			"/fhir/AllergyIntolerance": answer(200, searchset(nil))},
			body: hook("9000000009", ""), status: 200, want: []string{"warning:not-checked", "warning:fgm-risk"}, detail: resources.SourceCPIS},
		{name: "every flag source down", answers: map[string]func(http.ResponseWriter){
			"/fhir/Flag": answer(504, nil), "/fhir/AllergyIntolerance": answer(200, allergies)},
			body: hook("9000000009", ""), status: 200, want: []string{"warning:not-checked", "info:allergies"}, detail: resources.SourceFGM},
		{name: "past the budget", answers: ok, delay: 2 * time.Second, body: hook("9000000009", ""), status: 200,
			want: []string{"warning:not-checked"}, detail: SourceSCR},
		{name: "access refused by the facade's policy", answers: map[string]func(http.ResponseWriter){"/fhir/": challenged(403)},
			body: hook("9000000009", ""), status: 200, want: []string{"warning:not-checked"}, detail: "refused"},
		{name: "SCR withholds the allergies (no consent)", answers: map[string]func(http.ResponseWriter){
			"/fhir/Flag": answer(200, searchset(nil)), "/fhir/AllergyIntolerance": answer(403, nil)},
			body: hook("9000000009", ""), status: 200},
		{name: "a local id and no prefetch: 412", body: hook("local-42", ""), status: http.StatusPreconditionFailed},
		{name: "a prefetched Patient of another id", body: hook("local-43", prefetched), status: http.StatusBadRequest},
		{name: "a Patient without an NHS number: 412, not an empty answer", body: hook("local-42", `{"patient":{"resourceType":"Patient","id":"local-42"}}`), status: http.StatusPreconditionFailed},
		{name: "a prefetched null Patient and no fhirServer: 412", body: hook("local-42", `{"patient":null}`), status: http.StatusPreconditionFailed},
		{name: "another hook", body: strings.Replace(hook("9000000009", ""), "patient-view", "order-sign", 1), status: 400},
		{name: "no userId", body: strings.Replace(hook("9000000009", ""), `"userId":"Practitioner/example",`, "", 1), status: 400},
		{name: "not JSON", body: "{", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, &fakeAPI{answers: tc.answers, delay: tc.delay}, func(c *Config) { c.Budget = 150 * time.Millisecond })
			start := time.Now()
			w := h.do(t, http.MethodPost, "/cds-services/ncrs-alerts", tc.body, nil)
			if time.Since(start) > time.Second {
				t.Errorf("answered in %v: the budget does not hold", time.Since(start))
			}
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if w.Code != 200 {
				var oo outcome
				if json.Unmarshal(w.Body.Bytes(), &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
					t.Errorf("error body %s", w.Body)
				}
				return
			}
			if err := validate(t, schema(t, "response"), w.Body.Bytes()); err != nil {
				t.Errorf("%v\n%s", err, w.Body)
			}
			var resp Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.Cards == nil {
				t.Fatalf("%v %s", err, w.Body)
			}
			var got []string
			for _, c := range resp.Cards {
				got = append(got, c.Indicator+":"+c.Source.Topic.Code)
				checkCard(t, c)
				if len(c.Links) != 1 || c.Links[0].Type != "smart" || c.Links[0].AppContext != `{"patient":"9000000009"}` {
					t.Errorf("links %+v", c.Links)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("cards %v, want %v", got, tc.want)
			}
			if tc.detail != "" && !strings.Contains(w.Body.String(), tc.detail) {
				t.Errorf("no %q in %s", tc.detail, w.Body)
			}
		})
	}
}

// The in-process calls carry a token of the service's identity bound to
// the patient, naming the user and the client; the audit trail records the
// call with both.
func TestPatientViewIdentityAndAudit(t *testing.T) {
	api := &fakeAPI{answers: map[string]func(http.ResponseWriter){"/fhir/": answer(200, searchset(nil))}}
	h := newHarness(t, api, nil)
	if w := h.do(t, http.MethodPost, "/cds-services/ncrs-alerts", hook("9000000009", ""), nil); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(api.tokens) != 2 {
		t.Fatalf("%d calls", len(api.tokens))
	}
	tok, err := jwt.ParseSigned(api.tokens[0], []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := tok.Claims(&h.id.key.PublicKey, &c); err != nil {
		t.Fatal(err)
	}
	if c["sub"] != "Practitioner/example" || c["client_id"] != testIss || c["patient"] != "9000000009" || c["org_ods"] != "Y05868" ||
		c["iss"] != testRoot+"/cds-services" || c["aud"] != testRoot+"/fhir" || !strings.HasPrefix(c["scope"].(string), "patient/Flag.rs") {
		t.Errorf("claims %v", c)
	}
	recs := h.audit.all()
	if len(recs) != 1 || recs[0].User != "Practitioner/example" || recs[0].ClientID != testIss || recs[0].Patients[0] != "9000000009" || recs[0].ResourceType != AuditResourceType {
		t.Errorf("audit %+v", recs)
	}
}

func TestRefusalsAre401(t *testing.T) {
	h := newHarness(t, &fakeAPI{}, nil)
	for _, tc := range []struct{ name, auth string }{
		{"no JWT", "-"},
		{"garbage", "Bearer nonsense"},
		{"discovery's aud at the service", "Bearer " + h.jwt(t, testRoot+"/cds-services")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": tc.auth}
			if tc.auth == "-" {
				hdr["Authorization"] = ""
			}
			w := h.do(t, http.MethodPost, "/cds-services/ncrs-alerts", hook("9000000009", ""), hdr)
			if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("%d %v", w.Code, w.Header())
			}
			var oo outcome
			if json.Unmarshal(w.Body.Bytes(), &oo) != nil || oo.Issue[0].Code != "login" || oo.Issue[0].Diagnostics == "" {
				t.Errorf("body %s", w.Body)
			}
		})
	}
	recs := h.audit.all()
	if len(recs) != 3 || recs[0].Status != 401 || recs[0].User != "" {
		t.Errorf("refusals not audited: %+v", recs)
	}
}

func TestFeedback(t *testing.T) {
	api := &fakeAPI{answers: map[string]func(http.ResponseWriter){"/fhir/Flag": answer(200, searchset([]string{cpisFlag})), "/fhir/AllergyIntolerance": answer(200, searchset(nil))}}
	h := newHarness(t, api, nil)
	w := h.do(t, http.MethodPost, "/cds-services/ncrs-alerts", hook("9000000009", ""), nil)
	var resp Response
	_ = json.Unmarshal(w.Body.Bytes(), &resp)
	if len(resp.Cards) != 1 {
		t.Fatalf("%s", w.Body)
	}
	card := resp.Cards[0].UUID
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"the spec's accepted", string(readTestdata(t, "feedback-accepted.json")), 200},
		{"the spec's overridden", string(readTestdata(t, "feedback-overridden.json")), 200},
		{"the spec's overridden with a reason", string(readTestdata(t, "feedback-overridden-with-reason.json")), 200},
		{"our card, overridden", `{"feedback":[{"card":"` + card + `","outcome":"overridden","overrideReason":{"reason":{"code":"already-aware","system":"` + OverrideReasonSystem + `"},"userComment":"known to us"},"outcomeTimestamp":"2026-01-01T10:00:00Z"}]}`, 200},
		{"no card", `{"feedback":[{"outcome":"overridden","outcomeTimestamp":"2026-01-01T10:00:00Z"}]}`, 400},
		{"accepted without suggestions", `{"feedback":[{"card":"x","outcome":"accepted","outcomeTimestamp":"2026-01-01T10:00:00Z"}]}`, 400},
		{"another outcome", `{"feedback":[{"card":"x","outcome":"ignored","outcomeTimestamp":"2026-01-01T10:00:00Z"}]}`, 400},
		{"no timestamp", `{"feedback":[{"card":"x","outcome":"overridden"}]}`, 400},
		{"empty", `{"feedback":[]}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := h.do(t, http.MethodPost, "/cds-services/ncrs-alerts/feedback", tc.body, nil); w.Code != tc.status {
				t.Errorf("%d %s", w.Code, w.Body)
			}
		})
	}
	recs := h.audit.all()
	found := false
	for _, r := range recs {
		if r.Interaction == "cds-feedback-overridden" && len(r.Patients) == 1 && r.Patients[0] == "9000000009" && r.User == "Practitioner/example" {
			found = true
		}
	}
	if !found {
		t.Errorf("the feedback on our card is not audited with its patient and user: %+v", recs)
	}
}

func TestRoutingAndCORS(t *testing.T) {
	h := newHarness(t, &fakeAPI{}, nil)
	cases := []struct {
		name, method, path, origin string
		status                     int
		allowOrigin                string
	}{
		{"unknown service", http.MethodPost, "/cds-services/other", "", 404, ""},
		{"GET on the service", http.MethodGet, "/cds-services/ncrs-alerts", "", 405, ""},
		{"preflight from the EHR", http.MethodOptions, "/cds-services/ncrs-alerts", "https://ehr.example.nhs.uk", 204, "https://ehr.example.nhs.uk"},
		{"preflight from elsewhere", http.MethodOptions, "/cds-services/ncrs-alerts", "https://evil.example", 403, ""},
		{"discovery from the EHR", http.MethodGet, "/cds-services", "https://ehr.example.nhs.uk", 200, "https://ehr.example.nhs.uk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, testRoot+tc.path, nil)
			r.Header.Set("Authorization", "Bearer "+h.jwt(t, testRoot+tc.path))
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
				r.Header.Set("Access-Control-Request-Method", "POST")
			}
			if tc.method != http.MethodOptions {
				r.Header.Del("Access-Control-Request-Method")
			}
			w := httptest.NewRecorder()
			h.svc.ServeHTTP(w, r)
			if w.Code != tc.status || w.Header().Get("Access-Control-Allow-Origin") != tc.allowOrigin {
				t.Errorf("%d %q, want %d %q: %s", w.Code, w.Header().Get("Access-Control-Allow-Origin"), tc.status, tc.allowOrigin, w.Body)
			}
			_, _ = io.Copy(io.Discard, w.Body)
		})
	}
}
