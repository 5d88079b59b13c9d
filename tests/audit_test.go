package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every access to a patient's data is in the audit trail, successful or
// not, and searchable as AuditEvent.
func TestAuditTrail(t *testing.T) {
	const nhs = "9000000017"
	get(t, "/Patient/"+nhs)
	get(t, "/Flag?patient="+nhs)
	get(t, "/AllergyIntolerance?patient=Patient/"+nhs)
	get(t, "/Patient/"+nhs+"/$summary")
	r := call(t, "GET", "/AuditEvent?patient="+nhs+"&_count=50", map[string]string{"Authorization": bearer("auditor")}, "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	matches, _ := entries(t, r)
	seen := map[string]bool{}
	for _, m := range matches {
		ev := m["resource"].(map[string]any)
		var detail string
		for _, e := range ev["entity"].([]any) {
			for _, d := range asList(e.(map[string]any)["detail"]) {
				detail = d.(map[string]any)["valueString"].(string)
			}
		}
		sub := ev["subtype"].([]any)[0].(map[string]any)["code"].(string)
		seen[detail+" "+sub] = true
		if !strings.Contains(string(mustJSON(ev)), "Patient/"+nhs) {
			t.Errorf("event without the patient: %s", mustJSON(ev))
		}
	}
	for _, want := range []string{"Patient read", "Flag search-type", "AllergyIntolerance search-type", "Patient operation"} {
		if !seen[want] {
			t.Errorf("no audit event for %q (have %v)", want, seen)
		}
	}
	// A refused access is audited too.
	get(t, "/Patient/9111231130")
	r = call(t, "GET", "/AuditEvent?patient=9111231130", map[string]string{"Authorization": bearer("auditor")}, "")
	if matches, _ := entries(t, r); len(matches) == 0 {
		t.Error("the 404 read of 9111231130 is not in the audit trail")
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// The audit trail is searched by who (agent:identifier, the SDS user id)
// and by outcome (AuditEvent.outcome codes, any of several), besides the
// patient and date; the codes an event shows are those it is found by.
func TestAuditEventSearchByAgentAndOutcome(t *testing.T) {
	const nhs = "9000000009"
	get(t, "/Patient/"+nhs)                // answered: 0
	get(t, "/Patient/"+nhs+"/_history/99") // not found (a version PDS does not keep): 4
	auditor := map[string]string{"Authorization": bearer("auditor")}
	search := func(t *testing.T, q string) response {
		t.Helper()
		return call(t, "GET", "/AuditEvent?patient="+nhs+"&_count=200"+q, auditor, "")
	}
	events := func(t *testing.T, r response) []map[string]any {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		matches, _ := entries(t, r)
		var out []map[string]any
		for _, m := range matches {
			out = append(out, resourceOf(m))
		}
		return out
	}
	all := events(t, search(t, ""))
	var user string
	outcomes := map[string]int{}
	for _, ev := range all {
		outcomes[ev["outcome"].(string)]++
		for _, a := range asList(ev["agent"]) {
			if id := mapOf(mapOf(a.(map[string]any)["who"])["identifier"]); id["system"] == "https://fhir.nhs.uk/Id/sds-user-id" && user == "" {
				user = id["value"].(string)
			}
		}
	}
	if user == "" || outcomes["0"] == 0 || outcomes["4"] == 0 {
		t.Fatalf("want events answered and refused, with a user: %v, user %q", outcomes, user)
	}
	for _, tt := range []struct {
		query string
		want  func(ev map[string]any) bool
		count int // at least this many (each search is audited too: the trail grows); 0 none
	}{
		{"&outcome=0", func(ev map[string]any) bool { return ev["outcome"] == "0" }, outcomes["0"]},
		{"&outcome=http://hl7.org/fhir/audit-event-outcome|4", func(ev map[string]any) bool { return ev["outcome"] == "4" }, outcomes["4"]},
		{"&outcome=4,8", func(ev map[string]any) bool { return ev["outcome"] == "4" || ev["outcome"] == "8" }, outcomes["4"] + outcomes["8"]},
		{"&outcome=12", nil, 0},
		{"&agent:identifier=https://fhir.nhs.uk/Id/sds-user-id|" + user, func(ev map[string]any) bool {
			return strings.Contains(string(mustJSON(ev["agent"])), `"value":"`+user+`"`)
		}, -1},
		{"&agent:identifier=no-such-user", nil, 0},
	} {
		t.Run(tt.query, func(t *testing.T) {
			got := events(t, search(t, tt.query))
			if len(got) < tt.count || tt.count == 0 && len(got) != 0 {
				t.Errorf("%d events, want %d", len(got), tt.count)
			}
			for _, ev := range got {
				if !tt.want(ev) {
					t.Errorf("an event that does not match: %s", mustJSON(ev))
				}
			}
		})
	}
	// By user alone, across patients: a second patient's access by the same
	// user is found with the first's.
	get(t, "/Patient/9000000017")
	r := call(t, "GET", "/AuditEvent?_count=200&agent:identifier=https://fhir.nhs.uk/Id/sds-user-id|"+user, auditor, "")
	patients := map[string]bool{}
	for _, ev := range events(t, r) {
		if !strings.Contains(string(mustJSON(ev["agent"])), `"value":"`+user+`"`) {
			t.Errorf("an event of another user: %s", mustJSON(ev["agent"]))
		}
		for _, e := range asList(ev["entity"]) {
			if ref, _ := mapOf(e.(map[string]any)["what"])["reference"].(string); strings.HasPrefix(ref, "Patient/") {
				patients[ref] = true
			}
		}
	}
	if !patients["Patient/9000000009"] || !patients["Patient/9000000017"] {
		t.Errorf("by user alone: the patients %v, want both 9000000009 and 9000000017", patients)
	}
	if r := call(t, "GET", "/AuditEvent?outcome=0", auditor, ""); r.status != 400 || !strings.Contains(string(r.raw), "needs the patient") {
		t.Errorf("neither patient nor user: %d %s", r.status, r.raw)
	}
	for _, q := range []string{"&outcome=5", "&outcome=http://example.org|0", "&agent=Practitioner/1", "&agent:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"} {
		t.Run("refused "+q, func(t *testing.T) {
			if r := search(t, q); r.status != 400 || outcomeIssue(t, r)["code"] != "invalid" {
				t.Errorf("status %d: %s", r.status, r.raw)
			}
		})
	}
}
