package nrl_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/nrl"
)

// sandboxSeed is the public NRL sandbox's seed data, as the NRL simulator
// embeds it (origin and licence: sandbox/nrl/testdata/real-sandbox/
// SOURCES.md): every pointer the sandbox answers with.
const sandboxSeed = "../../sandbox/nrl/fixtures/document-pointer.json"

// TestContractRealPayloads maps every DocumentReference the public sandbox
// serves (its seed data; searches and reads answer them as stored) and
// requires no error: the facade can show whatever the real sandbox sends.
func TestContractRealPayloads(t *testing.T) {
	raw, err := os.ReadFile(sandboxSeed)
	if err != nil {
		t.Fatal(err)
	}
	var seed []struct {
		ID       string `json:"id"`
		Document string `json:"document"`
	}
	if err := json.Unmarshal(raw, &seed); err != nil {
		t.Fatal(err)
	}
	if len(seed) != 11 {
		t.Fatalf("%d seeded pointers, want 11", len(seed))
	}
	for _, s := range seed {
		t.Run(s.ID, func(t *testing.T) {
			d, err := nrl.Decode([]byte(s.Document))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			out, err := nrl.DocumentReference(d)
			if err != nil {
				t.Fatalf("DocumentReference: %v", err)
			}
			if out.GetId().GetValue() != s.ID {
				t.Errorf("id %q", out.GetId().GetValue())
			}
		})
	}
}
