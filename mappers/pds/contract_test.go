package pds_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/pds"
)

// The real payloads the PDS simulator's contract test holds the simulator
// to (docs/backends.md, "PDS"): the public sandbox's stubs, which the
// simulator embeds, and the bodies derived from its mock. They are read
// where they are kept, not copied again (origin and licence:
// sandbox/pds/testdata/real-sandbox/SOURCES.md).
const (
	sandboxStubs   = "../../sandbox/pds/fixtures"
	sandboxDerived = "../../sandbox/pds/testdata/real-sandbox/derived"
)

// TestContractRealPayloads maps every Patient the public sandbox answers
// with 200 or 201 (read, every entry of every search answer, patch, create,
// birth details; specification examples too) and requires no error: the
// facade can show whatever the real sandbox sends, 9000000015 included,
// whose NHS number fails the Modulus 11 check. Each result is also printed
// by jsonformat, which validates it.
func TestContractRealPayloads(t *testing.T) {
	var files []string
	for _, pattern := range []string{
		sandboxStubs + "/patientResponses/*.json",
		sandboxStubs + "/searchResponses/*.json",
		sandboxStubs + "/spec-examples/*.json",
		sandboxStubs + "/postPatientResponses/new_patient.json",
		sandboxStubs + "/postPdsRecordAtBirthResponses/*.json",
		sandboxDerived + "/*.20[01].*.json",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) < 60 {
		t.Fatalf("only %d payload files found: are the simulator's fixtures where they should be?", len(files))
	}

	var cases []payloadCase
	for _, f := range files {
		cases = append(cases, patientsIn(t, f)...)
	}
	if len(cases) < 100 {
		t.Fatalf("only %d Patients in %d files", len(cases), len(files))
	}
	m := marshaller(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := pds.Decode(c.raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			out, err := pds.Patient(p)
			if err != nil {
				t.Fatalf("Patient: %v", err)
			}
			if _, err := m.MarshalResource(out); err != nil {
				t.Fatalf("the mapped Patient does not print: %v", err)
			}
			if out.GetId().GetValue() != p.ID {
				t.Errorf("id %q, want %q", out.GetId().GetValue(), p.ID)
			}
		})
	}
}

// payloadCase is one Patient out of a payload file.
type payloadCase struct {
	name string
	raw  json.RawMessage
}

// patientsIn returns the Patient of a file, or those of its Bundle's
// entries (an OperationOutcome or an empty Bundle has none).
func patientsIn(t *testing.T, file string) []payloadCase {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	name := strings.TrimSuffix(filepath.Base(file), ".json")
	switch head.ResourceType {
	case "Patient":
		return []payloadCase{{name, raw}}
	case "Bundle":
		var out []payloadCase
		for i, e := range head.Entry {
			var rt struct {
				ResourceType string `json:"resourceType"`
			}
			if json.Unmarshal(e.Resource, &rt) == nil && rt.ResourceType == "Patient" {
				out = append(out, payloadCase{fmt.Sprintf("%s#%d", name, i), e.Resource})
			}
		}
		return out
	}
	return nil
}
