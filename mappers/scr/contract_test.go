package scr_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/scr"
)

// The real GET /Bundle payloads the SCR simulator's contract test holds the
// simulator to (docs/backends.md, "SCR"), read where they are kept (origin
// and licence: sandbox/scr/testdata/real-sandbox/SOURCES.md).
const sandboxSCR = "../../sandbox/scr/"

// TestContractRealPayloads maps every 200 GET /Bundle payload of the real
// service the contract knows and requires no error: the summary the public
// sandbox answers for 9000000009 (the specification's example, with the
// clinical status displays the service's mapping adds), the service's own
// expectation of a mapped summary, and its empty answer to a summary that is
// no longer the latest (Found false).
func TestContractRealPayloads(t *testing.T) {
	display := regexp.MustCompile(`("system": "http://hl7.org/fhir/ValueSet/condition-clinical",\s*"code": "active")`)
	tests := []struct {
		name, file, nhs, uuid string
		edit                  func([]byte) []byte
		found                 bool
		allergies, meds       int
	}{
		{name: "sandbox summary of 9000000009", file: "fixtures/GetScrBundle.json", nhs: "9000000009", uuid: "FA60BE64-1F34-11EB-A2A8-000C29A364EB",
			edit: func(b []byte) []byte { return display.ReplaceAll(b, []byte(`$1, "display": "Active"`)) }, found: true, allergies: 1, meds: 2},
		{name: "the service's mapped summary", file: "testdata/real-sandbox/uat-expected/get_scr/success/1-basic.response.json", nhs: "9995000180", uuid: "FA60BE64-1F34-11EB-A2A8-000C29A364EB",
			found: true, allergies: 1, meds: 2},
		{name: "not the latest summary", file: "testdata/real-sandbox/uat-expected/get_scr/no_results/1-basic.response.json", nhs: "9000000009", uuid: "D18B57ED-992E-45A2-A6AF-55200D20F48E"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile(sandboxSCR + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				raw = tt.edit(raw)
			}
			rec, err := scr.MapAt(raw, tt.nhs, tt.uuid, goldenNow)
			if err != nil {
				t.Fatalf("MapAt: %v", err)
			}
			if rec.Found != tt.found || len(rec.Allergies) != tt.allergies || len(rec.Medications) != tt.meds {
				t.Errorf("found %v, %d allergies, %d medications; want %v, %d, %d", rec.Found, len(rec.Allergies), len(rec.Medications), tt.found, tt.allergies, tt.meds)
			}
			render(t, rec) // every resource prints with jsonformat
		})
	}
}
