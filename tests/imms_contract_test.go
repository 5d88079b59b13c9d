package tests

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestImmunizationRealSandboxContract closes the Immunisation History
// contract end to end: for each of the public sandbox's answers for
// 9000000009 (which sandbox/immunisation's TestRealSandboxContract
// proves the simulator serves byte for byte), the facade serves exactly the
// resources the mapper's golden for that answer holds
// (mappers/immunisation/testdata/real_sandbox_*.golden.json), or fails as
// that golden says the mapper refuses it.
func TestImmunizationRealSandboxContract(t *testing.T) {
	tests := []struct {
		golden string
		query  string
	}{
		{golden: "real_sandbox_9000000009_covid19", query: "target-disease=COVID19"},
		// The facade asks for date.to a day later and applies le2020-12-20 itself.
		{golden: "real_sandbox_9000000009_covid19_date_to_2020-12-20", query: "target-disease=COVID19&date=le2020-12-20"},
		{golden: "real_sandbox_9000000009_flu", query: "target-disease=FLU"},
		{golden: "real_sandbox_9000000009_hpv", query: "target-disease=HPV"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			raw, err := os.ReadFile("../mappers/immunisation/testdata/" + tt.golden + ".golden.json")
			if err != nil {
				t.Fatal(err)
			}
			var g struct {
				Resources []json.RawMessage `json:"resources"`
				Error     string            `json:"error"`
			}
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			r := get(t, "/Immunization?patient=9000000009&"+tt.query)
			if g.Error != "" {
				// The refusal, as the client sees it: the mapper's message
				// (the golden's, less the logged detail), 502.
				msg := strings.TrimPrefix(strings.SplitN(g.Error, ": entry[", 2)[0], "immunisation: ")
				if r.status != 502 || !strings.Contains(outcomeIssue(t, r)["diagnostics"].(string), msg) {
					t.Errorf("%d %s, want 502 with %q", r.status, r.raw, msg)
				}
				return
			}
			matches, outcomes := entries(t, r)
			if r.status != 200 || len(outcomes) != 0 || len(matches) != len(g.Resources) {
				t.Fatalf("%d: %d resources, %d outcomes, want %d: %s", r.status, len(matches), len(outcomes), len(g.Resources), r.raw)
			}
			for i, m := range matches {
				var want map[string]any
				if err := json.Unmarshal(g.Resources[i], &want); err != nil {
					t.Fatal(err)
				}
				if got := resourceOf(m); !reflect.DeepEqual(got, want) {
					t.Errorf("resource %d:\n got %v\nwant %v", i, got, want)
				}
			}
		})
	}
}
