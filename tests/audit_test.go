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
