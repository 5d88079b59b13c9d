package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

// The patient-bound tokens of these tests are bound to ownPatient; every
// request tries to reach victim, who has RA flags, documents and a record.
const (
	ownPatient = "9000000017"
	victim     = "9000000009"
	// victimRAFlag is one of victim's reasonable adjustments in the sandbox.
	victimRAFlag = "ra-9000000009.1512d9fd-5ed8-4c63-80c5-348885c3f809"
	// victimDocument is one of victim's documents (NRL pointer Y05868-…).
	victimDocument = "Y05868-1000000091"
)

// patientToken mints a token of a dev role bound to patient, with scopes.
func patientToken(t *testing.T, role, patient, scope string) string {
	t.Helper()
	c, err := env.app.Issuer.DevClaims(issuer.DevClientID, role, patient, strings.Fields(scope), "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := env.app.Issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// crossPatientAttempt is one request a patient-bound token makes at
// another patient's record.
type crossPatientAttempt struct {
	name    string
	method  string
	path    string
	role    string // dev role of the patient-bound token (clinician if "")
	hdr     map[string]string
	body    string
	backend func() int64 // requests the backend that holds the record has had
	// maxBackendCalls is how many requests that backend may see: 0 for a
	// write (nothing may be read or written before the refusal), 1 for a
	// document (its NRL pointer, read to learn whose it is; never its holder).
	maxBackendCalls int64
	// entry says the refusal is a batch entry's, not the whole answer's.
	entry bool
	// unnamed says the request is refused before it names the other
	// patient to anyone (the patient is only in a body it never reads):
	// its audit record names no patient.
	unnamed bool
}

// TestEveryRouteHoldsAPatientBoundToken walks every FHIR route the facade
// serves and proves a token bound to one patient cannot read, search,
// write or run an operation on another patient's record through it: each
// attempt is 403, reaches no backend that holds the other record (beyond
// learning whose a document is), and is in the audit trail under the user's
// name, with the patient it tried to reach. A route without attempts here
// fails the test: a new handler cannot be added without being walked.
func TestEveryRouteHoldsAPatientBoundToken(t *testing.T) {
	sb := env.app.Sandbox
	ra, nrl, pds := sb.RA.Requests, sb.NRL.Requests, sb.PDS.Requests
	ifMatch := map[string]string{"Content-Type": "application/fhir+json", "If-Match": `W/"1"`}
	attempts := map[string][]crossPatientAttempt{
		"POST /fhir": {{name: "batch entry reads the other patient", method: "POST", path: "/",
			hdr:   map[string]string{"Content-Type": "application/fhir+json"},
			body:  `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/` + victim + `"}}]}`,
			entry: true}},
		"GET /fhir/metadata": nil, // public: the server's description, no patient
		"POST /fhir/{type}/_search": {{name: "POST _search with the patient in the body", method: "POST", path: "/Flag/_search",
			hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "patient=" + victim, backend: ra}},
		"GET /fhir/{type}/{id}/$op": {{name: "summary", method: "GET", path: "/Patient/" + victim + "/$summary", backend: ra}},
		"POST /fhir/{type}/{id}/$op": {
			{name: "summary, no body", method: "POST", path: "/Patient/" + victim + "/$summary", backend: ra},
			{name: "summary, Parameters", method: "POST", path: "/Patient/" + victim + "/$summary", hdr: fhirJSON, body: `{"resourceType":"Parameters"}`, backend: ra},
		},
		"POST /fhir/{type}/$op": {{name: "notify a birth", method: "POST", path: "/Patient/$notify-birth",
			hdr: map[string]string{"Content-Type": "application/fhir+json"}, body: birthParams(nil), unnamed: true}},
		"GET /fhir/{type}/{id}/_history/{vid}": {{name: "vread", method: "GET", path: "/Patient/" + victim + "/_history/1"}},
		"GET /fhir/Patient/{id}/{type}": {
			{name: "related people", method: "GET", path: "/Patient/" + victim + "/RelatedPerson", backend: pds},
			{name: "flags", method: "GET", path: "/Patient/" + victim + "/Flag", backend: ra},
		},
		"GET /fhir/{type}/{id}": {
			{name: "Patient", method: "GET", path: "/Patient/" + victim},
			{name: "RA flag by id", method: "GET", path: "/Flag/" + victimRAFlag, backend: ra},
			{name: "related person by id", method: "GET", path: "/RelatedPerson/" + victim + "-507B7621", backend: pds},
			{name: "document", method: "GET", path: "/Binary/" + victimDocument, hdr: map[string]string{"Cache-Control": "no-cache"}, backend: nrl, maxBackendCalls: 1},
		},
		"PUT /fhir/{type}/{id}": {
			{name: "their flag, their subject", method: "PUT", path: "/Flag/" + victimRAFlag, hdr: ifMatch,
				body: withID(raFlag(victim, ""), victimRAFlag), backend: ra},
			{name: "their flag, own subject", method: "PUT", path: "/Flag/" + victimRAFlag, hdr: ifMatch,
				body: withID(raFlag(ownPatient, ""), victimRAFlag), backend: ra},
			{name: "own flag id, their subject", method: "PUT", path: "/Flag/ra-" + ownPatient + ".00000000-0000-4000-8000-000000000000", hdr: ifMatch,
				body: withID(raFlag(victim, ""), "ra-"+ownPatient+".00000000-0000-4000-8000-000000000000"), backend: ra},
		},
		"PATCH /fhir/{type}/{id}": {{name: "demographics", method: "PATCH", path: "/Patient/" + victim, role: "admin",
			hdr: map[string]string{"Content-Type": "application/json-patch+json", "If-Match": `W/"2"`}, body: `[{"op":"replace","path":"/gender","value":"male"}]`}},
		"GET /fhir/{type}": {
			{name: "flags", method: "GET", path: "/Flag?patient=" + victim, backend: ra},
			{name: "flags by identifier", method: "GET", path: "/Flag?patient:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|"+victim), backend: ra},
			{name: "Patient by identifier", method: "GET", path: "/Patient?identifier=" + victim},
			{name: "related people", method: "GET", path: "/RelatedPerson?patient=" + victim, backend: pds},
		},
		"POST /fhir/{type}": {
			{name: "a flag for them", method: "POST", path: "/Flag", hdr: fhirJSON, body: raFlag(victim, ""), backend: ra},
			{name: "a flag for them, subject by identifier", method: "POST", path: "/Flag", hdr: fhirJSON, backend: ra,
				body: strings.Replace(raFlag(victim, ""), `"subject":{"reference":"Patient/`+victim+`"}`, `"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"`+victim+`"}}`, 1)},
			{name: "a Patient, matching them", method: "POST", path: "/Patient", role: "admin",
				hdr:  map[string]string{"Content-Type": "application/fhir+json", "If-None-Exist": "family=Smith&birthdate=eq2010-10-22"},
				body: newPatientJSON("Smith", "female", "LS1 6AE"), unnamed: true},
		},
	}
	tokens := map[string]string{
		"clinician": patientToken(t, "clinician", ownPatient, "launch/patient patient/*.cruds"),
		"admin":     patientToken(t, "admin", ownPatient, "launch/patient patient/Patient.cruds"),
	}
	for _, ep := range env.app.Endpoints() {
		key := ep.Method + " " + ep.Route
		cases, ok := attempts[key]
		if !ok {
			t.Errorf("route %s is not walked: add the attempts a patient-bound token could make through it", key)
			continue
		}
		delete(attempts, key)
		for _, a := range cases {
			t.Run(key+"/"+a.name, func(t *testing.T) {
				role := a.role
				if role == "" {
					role = "clinician"
				}
				hdr := map[string]string{"Authorization": tokens[role], "X-Request-ID": uuid.NewString()}
				for k, v := range a.hdr {
					hdr[k] = v
				}
				var before int64
				if a.backend != nil {
					before = a.backend()
				}
				r := call(t, a.method, a.path, hdr, a.body)
				if a.entry {
					e := asList(r.body["entry"])
					if r.status != 200 || len(e) != 1 || !strings.HasPrefix(e[0].(map[string]any)["response"].(map[string]any)["status"].(string), "403") {
						t.Fatalf("batch %d: %s", r.status, r.raw)
					}
				} else {
					if r.status != http.StatusForbidden {
						t.Fatalf("status %d, want 403: %s", r.status, r.raw)
					}
					if outcomeIssue(t, r)["code"] != "forbidden" {
						t.Errorf("issue %v", outcomeIssue(t, r))
					}
				}
				if strings.Contains(string(r.raw), "Smith") || strings.Contains(string(r.raw), victimRAFlag) {
					t.Errorf("the refusal carries the other patient's data: %s", r.raw)
				}
				if a.backend != nil {
					if n := a.backend() - before; n > a.maxBackendCalls {
						t.Errorf("the backend holding the other patient's record had %d requests, want at most %d", n, a.maxBackendCalls)
					}
				}
				if a.unnamed {
					return
				}
				ev := auditEventFor(t, victim, hdr["X-Request-ID"])
				if ev == nil {
					t.Fatal("the attempt is not in the audit trail under the patient it tried to reach")
				}
				if got := agentUser(ev); got != "910000000001" && got != "910000000004" {
					t.Errorf("audit agent %q, want the dev user", got)
				}
				if !a.entry && ev["outcome"] != "4" {
					t.Errorf("audit outcome %v, want 4 (minor failure: refused)", ev["outcome"])
				}
			})
		}
	}
	for key := range attempts {
		t.Errorf("attempts for %s, which the facade no longer serves", key)
	}
}

// withID puts id into a resource's JSON.
func withID(body, id string) string {
	return strings.Replace(body, `{"resourceType":"Flag",`, `{"resourceType":"Flag","id":"`+id+`",`, 1)
}

// auditEventFor returns the AuditEvent of request id about patient, from
// the auditor's search of the trail, or nil.
func auditEventFor(t *testing.T, patient, id string) map[string]any {
	t.Helper()
	r := call(t, "GET", "/AuditEvent?patient="+patient+"&_count=50", map[string]string{"Authorization": bearer("auditor")}, "")
	if r.status != 200 {
		t.Fatalf("audit search: %d %s", r.status, r.raw)
	}
	matches, _ := entries(t, r)
	for _, m := range matches {
		ev := m["resource"].(map[string]any)
		if strings.Contains(string(mustJSON(ev["entity"])), `"value":"`+id+`"`) {
			return ev
		}
	}
	return nil
}

// agentUser is the user id the AuditEvent's requesting agent names.
func agentUser(ev map[string]any) string {
	for _, a := range asList(ev["agent"]) {
		am := a.(map[string]any)
		if am["requestor"] != true {
			continue
		}
		who, _ := am["who"].(map[string]any)
		if id, ok := who["identifier"].(map[string]any); ok {
			v, _ := id["value"].(string)
			return v
		}
		d, _ := who["display"].(string)
		return d
	}
	return ""
}

// TestConditionalCreateHidesAMatch: a conditional create whose search
// finds a record the caller may not read answers 403 with nothing of the
// record; a caller who may read it gets the match (200), as FHIR says.
func TestConditionalCreateHidesAMatch(t *testing.T) {
	const search = "family=Smith&gender=female&birthdate=eq2010-10-22"
	hdr := func(scope string) map[string]string {
		return map[string]string{"Content-Type": "application/fhir+json", "If-None-Exist": search,
			"Authorization": "Bearer " + mintRole(t, "admin", scope), "X-Request-ID": uuid.NewString()}
	}
	body := newPatientJSON("Smith", "female", "LS1 6AE")
	createOnly := hdr("user/Patient.c")
	r := call(t, http.MethodPost, "/Patient", createOnly, body)
	if r.status != http.StatusForbidden {
		t.Fatalf("create-only caller: %d %s, want 403", r.status, r.raw)
	}
	if strings.Contains(string(r.raw), victim) || strings.Contains(string(r.raw), "Smith") {
		t.Errorf("the refusal names the match: %s", r.raw)
	}
	if ev := auditEventFor(t, victim, createOnly["X-Request-ID"]); ev == nil {
		t.Error("the refused create is not audited under the matched patient")
	}
	r = call(t, http.MethodPost, "/Patient", hdr("user/Patient.cr"), body)
	if r.status != http.StatusOK || r.body["id"] != victim {
		t.Fatalf("a caller who may read: %d %s, want 200 with the match", r.status, r.raw)
	}
}

// TestAuditNamesWhoAndWhat: every access attempt on a patient's record is
// in the trail under the caller's own name (user, role profile, role,
// organisation, client) — refused (401, 403), rejected (428) and
// successful alike — and names only the patients the interaction itself
// is about.
func TestAuditNamesWhoAndWhat(t *testing.T) {
	type want struct {
		user, altID, role, org, client string
		outcome                        string
		desc                           string
	}
	clinician := want{user: "910000000001", altID: "555254240100", role: "R8000", org: "Y05868", client: issuer.DevClientID}
	auditor := want{user: "910000000005", altID: "555254240104", role: "facade-auditor", org: "Y05868", client: issuer.DevClientID}
	with := func(w want, outcome, desc string) want { w.outcome, w.desc = outcome, desc; return w }
	tests := []struct {
		name   string
		method string
		path   string
		authz  string
		hdr    map[string]string
		body   string
		status int
		want   want
	}{
		{name: "a read", method: "GET", path: "/Patient/" + victim, authz: bearer("clinician"), status: 200, want: with(clinician, "0", "success (HTTP 200)")},
		{name: "an empty search", method: "GET", path: "/AllergyIntolerance?patient=" + victim + "&clinical-status=inactive", authz: bearer("clinician"), status: 200, want: with(clinician, "0", "success (HTTP 200)")},
		{name: "no valid token", method: "GET", path: "/Patient/" + victim, authz: "Bearer not-a-token", status: 401, want: want{user: "unauthenticated", outcome: "4", desc: "refused (HTTP 401)"}},
		{name: "a flag the role may not read", method: "GET", path: "/Flag/" + victimRAFlag, authz: bearer("auditor"), status: 403, want: with(auditor, "4", "refused (HTTP 403)")},
		{name: "an update without If-Match", method: "PUT", path: "/Flag/" + victimRAFlag, authz: bearer("clinician"), hdr: fhirJSON,
			body: withID(raFlag(victim, ""), victimRAFlag), status: 428, want: with(clinician, "4", "rejected (HTTP 428)")},
		{name: "a POST _search", method: "POST", path: "/Flag/_search", authz: bearer("clinician"), hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			body: "patient=" + victim, status: 200, want: with(clinician, "0", "success (HTTP 200)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uuid.NewString()
			hdr := map[string]string{"Authorization": tt.authz, "X-Request-ID": id}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			r := call(t, tt.method, tt.path, hdr, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			ev := auditEventFor(t, victim, id)
			if ev == nil {
				t.Fatal("not in the audit trail")
			}
			if got := agentUser(ev); got != tt.want.user {
				t.Errorf("agent %q, want %q", got, tt.want.user)
			}
			if ev["outcome"] != tt.want.outcome || ev["outcomeDesc"] != tt.want.desc {
				t.Errorf("outcome %v %q, want %s %q", ev["outcome"], ev["outcomeDesc"], tt.want.outcome, tt.want.desc)
			}
			if tt.want.altID == "" {
				return
			}
			raw := string(mustJSON(ev["agent"]))
			for _, s := range []string{`"altId":"` + tt.want.altID + `"`, `"code":"` + tt.want.role + `"`, `"value":"` + tt.want.org + `"`, `"value":"` + tt.want.client + `"`} {
				if !strings.Contains(raw, s) {
					t.Errorf("agents %s lack %s", raw, s)
				}
			}
		})
	}

	// Parameters the interaction does not use name nobody.
	id := uuid.NewString()
	if r := call(t, "GET", "/Patient/"+victim+"?patient="+ownPatient+"&subject="+ownPatient, map[string]string{"X-Request-ID": id}, ""); r.status != 200 {
		t.Fatalf("read: %d %s", r.status, r.raw)
	}
	if auditEventFor(t, ownPatient, id) != nil {
		t.Error("a parameter the read does not use put another patient in its audit record")
	}
	if auditEventFor(t, victim, id) == nil {
		t.Error("the read is not audited under its patient")
	}
}
