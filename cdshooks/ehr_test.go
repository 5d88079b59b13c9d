package cdshooks

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestNormalizeFHIRServer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://EHR.example.nhs.uk/fhir/", "https://ehr.example.nhs.uk/fhir"},
		{"https://ehr.example.nhs.uk:443/fhir", "https://ehr.example.nhs.uk/fhir"},
		{"https://ehr.example.nhs.uk:8443", "https://ehr.example.nhs.uk:8443"},
		{"http://127.0.0.1:9080/r4", "http://127.0.0.1:9080/r4"},
		{"http://localhost/fhir", "http://localhost/fhir"},
		{"http://[::1]:80/fhir", "http://[::1]/fhir"},
		{"http://ehr.example.nhs.uk/fhir", ""}, // http off loopback
		{"ftp://ehr.example.nhs.uk/fhir", ""},
		{"https://user:pw@ehr.example.nhs.uk/fhir", ""},
		{"https://ehr.example.nhs.uk/fhir?x=1", ""},
		{"https://ehr.example.nhs.uk/fhir#f", ""},
		{"https://ehr.example.nhs.uk/a/../b", ""},
		{"https://ehr.example.nhs.uk/a%2Fb", ""},
		{"/fhir", ""},
		{"", ""},
	} {
		got, err := NormalizeFHIRServer(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestAllowsFHIRServer(t *testing.T) {
	c := &Client{FHIRServers: []string{"https://ehr.example.nhs.uk/fhir", "https://tenants.example.nhs.uk"}}
	for in, want := range map[string]bool{
		"https://ehr.example.nhs.uk/fhir":            true,
		"https://EHR.example.nhs.uk:443/fhir/":       true,
		"https://ehr.example.nhs.uk/fhir/r4":         true,
		"https://ehr.example.nhs.uk/fhirx":           false, // a prefix of a segment is not under it
		"https://ehr.example.nhs.uk/":                false,
		"https://ehr.example.nhs.uk.evil.example/fh": false,
		"https://tenants.example.nhs.uk/t1/fhir":     true,
		"http://tenants.example.nhs.uk/t1/fhir":      false,
		"https://tenants.example.nhs.uk:8443/fhir":   false,
		"https://other.example.nhs.uk/fhir":          false,
	} {
		if _, got := c.allowsFHIRServer(in); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
	if _, ok := (&Client{}).allowsFHIRServer("https://ehr.example.nhs.uk/fhir"); ok {
		t.Error("a client with no registered server allows one")
	}
}

func TestGrantsPatientRead(t *testing.T) {
	for scope, want := range map[string]bool{
		"user/Patient.read user/Observation.read": true,
		"patient/Patient.read":                    true,
		"patient/*.read":                          true,
		"user/*.*":                                true,
		"system/Patient.rs":                       true,
		"patient/Patient.r":                       true,
		"user/Patient.cruds":                      true,
		"patient/Patient.rs?_security=x":          true,
		"user/Observation.read":                   false,
		"patient/Patient.write":                   false,
		"patient/Patient.cu":                      false,
		"launch/patient openid":                   false,
		"Patient.read":                            false,
		"":                                        false,
	} {
		if got := grantsPatientRead(scope); got != want {
			t.Errorf("%q: %v, want %v", scope, got, want)
		}
	}
}

// ehrAuth is a fhirAuthorization with fields replaced by over (nil deletes).
func ehrAuth(over map[string]any) string {
	a := map[string]any{"access_token": "ehr-token-4f1c", "token_type": "Bearer", "expires_in": 300,
		"scope": "user/Patient.read", "subject": "ncrs-alerts"}
	for k, v := range over {
		if v == nil {
			delete(a, k)
		} else {
			a[k] = v
		}
	}
	b, _ := json.Marshal(a)
	return string(b)
}

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		raw      string
		expected string
		ok       bool
	}{
		{"the spec's example", string(readTestdata(t, "fhir-authorization.json")), "", true},
		{"none", "", "", true},
		{"null", "null", "", true},
		{"complete", ehrAuth(nil), "", true},
		{"the registered subject", ehrAuth(nil), "ncrs-alerts", true},
		{"bound to this patient", ehrAuth(map[string]any{"scope": "patient/Patient.read", "patient": "local-42"}), "", true},
		{"token_type bearer, any case", ehrAuth(map[string]any{"token_type": "bearer"}), "", true},
		{"not an object", `"token"`, "", false},
		{"no access_token", ehrAuth(map[string]any{"access_token": nil}), "", false},
		{"a token with a line break", ehrAuth(map[string]any{"access_token": "a\r\nX-Evil: 1"}), "", false},
		{"token_type MAC", ehrAuth(map[string]any{"token_type": "MAC"}), "", false},
		{"no expires_in", ehrAuth(map[string]any{"expires_in": nil}), "", false},
		{"expired", ehrAuth(map[string]any{"expires_in": 0}), "", false},
		{"expires_in a string", ehrAuth(map[string]any{"expires_in": "300"}), "", false},
		{"no subject", ehrAuth(map[string]any{"subject": nil}), "", false},
		{"another subject than registered", ehrAuth(nil), "another-service", false},
		{"no Patient read in scope", ehrAuth(map[string]any{"scope": "user/Observation.read"}), "", false},
		{"no scope", ehrAuth(map[string]any{"scope": nil}), "", false},
		{"bound to another patient", ehrAuth(map[string]any{"scope": "patient/Patient.read", "patient": "local-43"}), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if tc.name == "the spec's example" {
				// The file is {"fhirAuthorization": {...}}.
				var wrap struct{ FHIRAuthorization json.RawMessage }
				if err := json.Unmarshal([]byte(raw), &wrap); err != nil {
					t.Fatal(err)
				}
				raw = string(wrap.FHIRAuthorization)
			}
			tok, err := bearer(json.RawMessage(raw), "local-42", tc.expected)
			if (err == nil) != tc.ok {
				t.Fatalf("token %q, error %v", tok, err)
			}
			if err != nil && strings.Contains(err.Error(), "ehr-token-4f1c") {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

// ehrServer is an EHR's FHIR server on loopback: it answers
// GET /fhir/Patient/{id} per answer and counts what it was asked.
type ehrServer struct {
	*httptest.Server
	mu     sync.Mutex
	hits   int
	tokens []string
}

func newEHRServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *ehrServer {
	e := &ehrServer{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.hits++
		e.tokens = append(e.tokens, r.Header.Get("Authorization"))
		e.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *ehrServer) count() (int, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits, append([]string(nil), e.tokens...)
}

// patientAnswer answers the Patient of id with identifiers, when the
// request carries want as its bearer token ("" takes any).
func patientAnswer(id, want string, identifiers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fhir/Patient/"+id {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if want != "" && r.Header.Get("Authorization") != "Bearer "+want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ids := []map[string]string{{"system": "https://ehr.example.nhs.uk/mrn", "value": "MRN-1"}}
		for _, v := range identifiers {
			ids = append(ids, map[string]string{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": v})
		}
		b, _ := json.Marshal(map[string]any{"resourceType": "Patient", "id": id, "identifier": ids})
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write(b)
	}
}

// hookWithServer is a patient-view request for patientID naming
// fhirServer with fhirAuthorization auth ("" sends none).
func hookWithServer(patientID, fhirServer, auth, prefetch string) string {
	var m map[string]any
	_ = json.Unmarshal([]byte(hook(patientID, prefetch)), &m)
	m["fhirServer"] = fhirServer
	if auth != "" {
		m["fhirAuthorization"] = json.RawMessage(auth)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// A local patient id without a prefetched Patient is read from the EHR's
// FHIR server, when the client registered it, with the token the EHR
// sent, and only there; every way it can fail is a 412 and no cards.
func TestPatientViewFromEHRFHIRServer(t *testing.T) {
	const token = "ehr-token-4f1c"
	good := newEHRServer(t, patientAnswer("local-42", token, "9000000009"))
	noNHS := newEHRServer(t, patientAnswer("local-42", ""))
	wrongID := newEHRServer(t, func(w http.ResponseWriter, _ *http.Request) {
		b, _ := json.Marshal(map[string]any{"resourceType": "Patient", "id": "local-99",
			"identifier": []any{map[string]string{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}}})
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write(b)
	})
	elsewhere := newEHRServer(t, patientAnswer("local-42", "", "9000000009"))
	redirect := newEHRServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	})
	huge := newEHRServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Patient","id":"local-42","text":"` + strings.Repeat("x", maxEHRPatient) + `"}`))
	})
	html := newEHRServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<html>login</html>`))
	})
	hang := newEHRServer(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	notRegistered := newEHRServer(t, patientAnswer("local-42", "", "9000000009"))

	flags := searchset([]string{cpisFlag})
	prefetched := `{"patient":{"resourceType":"Patient","id":"local-42","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}]}}`
	cases := []struct {
		name    string
		server  *ehrServer
		auth    string
		patient string
		pre     string
		status  int
		calls   int    // requests the server gets
		detail  string // in the 412's body
	}{
		{name: "resolved with the token", server: good, auth: ehrAuth(nil), status: 200, calls: 1},
		{name: "a wrong token: the EHR refuses", server: good, auth: ehrAuth(map[string]any{"access_token": "not-the-token"}),
			status: 412, calls: 1, detail: "refused"},
		{name: "no token where the EHR wants one", server: good, status: 412, calls: 1, detail: "HTTP 401"},
		{name: "no token to an open server", server: noNHS, status: 412, calls: 1, detail: "no NHS number"},
		{name: "a Patient without an NHS number", server: noNHS, auth: ehrAuth(nil), status: 412, calls: 1, detail: "no NHS number"},
		{name: "a Patient of another id", server: wrongID, auth: ehrAuth(nil), status: 412, calls: 1, detail: "id differs"},
		{name: "not a FHIR id", server: good, auth: ehrAuth(nil), patient: "local/42", status: 412, detail: "FHIR id"},
		{name: "an unknown patient", server: good, auth: ehrAuth(nil), patient: "local-7", status: 412, calls: 1, detail: "HTTP 404"},
		{name: "a redirect is not followed", server: redirect, auth: ehrAuth(nil), status: 412, calls: 1, detail: "redirect"},
		{name: "too large", server: huge, auth: ehrAuth(nil), status: 412, calls: 1, detail: "larger"},
		{name: "not FHIR JSON", server: html, auth: ehrAuth(nil), status: 412, calls: 1, detail: "FHIR JSON"},
		{name: "no answer within the budget", server: hang, auth: ehrAuth(nil), status: 412, calls: 1, detail: "in time"},
		{name: "a server not registered is never called", server: notRegistered, auth: ehrAuth(nil), status: 412, detail: "not a FHIR server registered"},
		{name: "a token for another patient is not used", server: good, auth: ehrAuth(map[string]any{"scope": "patient/Patient.read", "patient": "local-43"}),
			status: 412, detail: "another patient"},
		{name: "a token for another service is not used", server: good, auth: ehrAuth(map[string]any{"subject": "someone-else"}), status: 412, detail: "subject"},
		{name: "a token without Patient read is not used", server: good, auth: ehrAuth(map[string]any{"scope": "user/Observation.read"}), status: 412, detail: "scope"},
		{name: "an expired token is not used", server: good, auth: ehrAuth(map[string]any{"expires_in": 0}), status: 412, detail: "expired"},
		{name: "the prefetched Patient wins", server: good, auth: ehrAuth(nil), pre: prefetched, status: 200},
		{name: "an NHS number as patientId needs no server", server: good, auth: ehrAuth(nil), patient: "9000000009", status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeAPI{answers: map[string]func(http.ResponseWriter){"/fhir/Flag": answer(200, flags), "/fhir/AllergyIntolerance": answer(200, searchset(nil))}}
			var logs bytes.Buffer
			log := logrus.New()
			log.SetOutput(&logs)
			registered := func(c *Client) {
				c.FHIRServers = []string{good.URL + "/fhir", noNHS.URL, wrongID.URL, redirect.URL, huge.URL, html.URL, hang.URL}
				c.FHIRClientID = "ncrs-alerts"
			}
			h := newHarnessClient(t, api, registered, func(c *Config) { c.Budget = 300 * time.Millisecond; c.Logger = log })
			before, _ := tc.server.count()
			patient := tc.patient
			if patient == "" {
				patient = "local-42"
			}
			w := h.do(t, http.MethodPost, "/cds-services/ncrs-alerts", hookWithServer(patient, tc.server.URL+"/fhir", tc.auth, tc.pre), nil)
			hits, tokens := tc.server.count()
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if hits-before != tc.calls {
				t.Errorf("the EHR's server was asked %d times, want %d", hits-before, tc.calls)
			}
			if tc.detail != "" && !strings.Contains(w.Body.String(), tc.detail) {
				t.Errorf("no %q in %s", tc.detail, w.Body)
			}
			for _, out := range []string{w.Body.String(), logs.String()} {
				if strings.Contains(out, token) || strings.Contains(out, "not-the-token") {
					t.Errorf("the EHR's token leaked: %s", out)
				}
			}
			if strings.Contains(logs.String(), "9000000009") || strings.Contains(logs.String(), "local-42") {
				t.Errorf("the log names the patient: %s", logs.String())
			}
			// The national data is read under the service's own identity:
			// the EHR's token never reaches the facade's API.
			api.mu.Lock()
			for _, tok := range api.tokens {
				if tok == token {
					t.Error("the EHR's token was sent to the facade's API")
				}
			}
			n := len(api.tokens)
			api.mu.Unlock()
			if tc.status != 200 {
				if n != 0 {
					t.Errorf("a 412 asked the national services %d times", n)
				}
				return
			}
			if tc.name == "resolved with the token" && (len(tokens) == 0 || tokens[len(tokens)-1] != "Bearer "+token) {
				t.Errorf("the EHR was sent %q", tokens)
			}
			var resp Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Cards) != 1 || resp.Cards[0].Indicator != "critical" ||
				resp.Cards[0].Links[0].AppContext != `{"patient":"9000000009"}` {
				t.Errorf("cards %s", w.Body)
			}
		})
	}
	// Where a redirect pointed, and a server nobody registered: never called.
	for name, s := range map[string]*ehrServer{"the redirect's target": elsewhere, "the server not registered": notRegistered} {
		if n, _ := s.count(); n != 0 {
			t.Errorf("%s was called %d times", name, n)
		}
	}
}

// A registration of an http server off loopback is refused at start.
func TestFHIRServersRegistration(t *testing.T) {
	if _, err := NewVerifier([]Client{{Issuer: "x", Keys: NewStaticKeys(), FHIRServers: []string{"http://ehr.example.nhs.uk/fhir"}}}, nil); err == nil {
		t.Error("an http FHIR server off loopback was registered")
	}
	cs, err := ParseClients("https://ehr.example.nhs.uk/=https://ehr.example.nhs.uk/jwks.json;fhir=https://EHR.example.nhs.uk/fhir/;fhir=https://ehr.example.nhs.uk/t2;fhir_client_id=ncrs", nil)
	if err != nil || len(cs) != 1 || strings.Join(cs[0].FHIRServers, " ") != "https://ehr.example.nhs.uk/fhir https://ehr.example.nhs.uk/t2" || cs[0].FHIRClientID != "ncrs" {
		t.Fatalf("%+v %v", cs, err)
	}
	for _, bad := range []string{"fhir=http://ehr.example.nhs.uk/fhir", "fhir=https://ehr.example.nhs.uk/fhir?a=b", "fhir="} {
		if _, err := ParseClients("https://ehr.example.nhs.uk/=https://ehr.example.nhs.uk/jwks.json;"+bad, nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
