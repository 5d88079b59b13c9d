package tests

import (
	"strings"
	"testing"

	sandboxpds "github.com/carerecords/fhir-facade/backends/sandbox/pds"
	"github.com/carerecords/fhir-facade/resources"
)

func TestPatientSummary(t *testing.T) {
	for _, op := range []string{"$summary", "$everything"} {
		t.Run(op, func(t *testing.T) {
			r := get(t, "/Patient/9000000009/"+op)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			matches, outcomes := entries(t, r)
			// Information only (the SCR's "No relevant information"
			// categories, issue #16): nothing is missing.
			for _, o := range outcomes {
				for _, is := range resourceOf(o)["issue"].([]any) {
					d, _ := is.(map[string]any)["diagnostics"].(string)
					if sev := is.(map[string]any)["severity"]; sev != "information" && !sandboxHPVDefect(d) {
						t.Errorf("a %v issue with every backend up: %v", sev, is)
					}
				}
			}
			if len(matches) == 0 || matches[0]["resource"].(map[string]any)["resourceType"] != "Patient" {
				t.Fatalf("the Patient is not first: %s", r.raw)
			}
			types := map[string]bool{}
			for _, m := range matches {
				types[m["resource"].(map[string]any)["resourceType"].(string)] = true
			}
			for _, s := range resources.SummarySources(env.app.Resources.Providers()) {
				t.Logf("source %s", s.Type)
			}
			if self := linkURL(r, "self"); !strings.HasSuffix(self, "/Patient/9000000009/"+op) {
				t.Errorf("self %q", self)
			}
			if linkURL(r, "next") != "" {
				t.Error("an operation's answer is not paged")
			}
		})
	}
	tests := []struct {
		name   string
		path   string
		status int
		code   string
	}{
		{name: "unknown operation", path: "/Patient/9000000009/$lastn", status: 404, code: "not-supported"},
		{name: "invalid NHS number", path: "/Patient/9000000000/$summary", status: 400, code: "invalid"},
		{name: "unknown patient", path: "/Patient/9111231130/$summary", status: 404, code: "not-found"},
		{name: "invalidated patient", path: "/Patient/" + sandboxpds.InvalidatedNHSNumber + "/$summary", status: 410, code: "deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.path)
			if r.status != tt.status || outcomeIssue(t, r)["code"] != tt.code {
				t.Errorf("status %d: %s", r.status, r.raw)
			}
		})
	}
}

// With PDS down, the summary still answers with what the other backends
// gave, naming PDS as missing (or, with no other backend, fails as a whole).
func TestPatientSummaryWithPDSDown(t *testing.T) {
	env.app.Sandbox.PDS.SetFault(&sandboxpds.Fault{Status: 500, Body: "down", ContentType: "text/plain"})
	defer env.app.Sandbox.PDS.SetFault(nil)
	r := get(t, "/Patient/9000000009/$summary")
	if len(resources.SummarySources(env.app.Resources.Providers())) == 0 {
		if r.status != 502 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		return
	}
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	_, outcomes := entries(t, r)
	if len(outcomes) != 1 || !strings.Contains(string(r.raw), "Patient (PDS) could not be reached") {
		t.Errorf("missing source not named: %s", r.raw)
	}
}

func TestOperationDefinitions(t *testing.T) {
	caps := capabilityResources(t)
	found := 0
	for _, res := range caps {
		ops, _ := res["operation"].([]any)
		for _, o := range ops {
			def := o.(map[string]any)["definition"].(string)
			i := strings.Index(def, "/OperationDefinition/")
			r := get(t, def[i:])
			if r.status != 200 || r.body["resourceType"] != "OperationDefinition" {
				t.Errorf("%s: %d %s", def, r.status, r.raw)
			}
			found++
		}
	}
	if found < 2 {
		t.Errorf("%d operations declared, want $summary and $everything at least", found)
	}
}

// TestPatientSummaryReadsSCROnce: AllergyIntolerance and MedicationStatement
// come from the same Summary Care Record, and $summary asks for both at once;
// the SCR is read once (its two steps), not once per resource type.
func TestPatientSummaryReadsSCROnce(t *testing.T) {
	before := backendCalls(t, "scr")
	if r := get(t, "/Patient/9000000009/$summary"); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if n := backendCalls(t, "scr") - before; n != 2 {
		t.Errorf("$summary made %v SCR calls, want 2 (latest summary, then the summary)", n)
	}
}

// backendCalls is the facade's count of calls made to backend so far.
func backendCalls(t *testing.T, backend string) float64 {
	t.Helper()
	mfs, err := env.app.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "facade_backend_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "backend" && l.GetValue() == backend {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
