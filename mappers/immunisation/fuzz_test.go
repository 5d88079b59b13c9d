package immunisation_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/immunisation"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// FuzzMap feeds arbitrary bytes as the API's answer for 9000000009. Whatever
// the input, Map must not panic; a refusal is a BadGateway error; what it
// accepts is only the patient's: every resource has an id, unique in the
// answer, that ParseID reads back as 9000000009, and the patient
// Patient/9000000009; and an answer is complete exactly when it names no
// problem.
//
// The seed corpus is every testdata/*.in.json; run with
//
//	go test -run '^$' -fuzz FuzzMap -fuzztime 30s ./mappers/immunisation/
func FuzzMap(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/*.in.json")
	for _, in := range inputs {
		raw, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(strings.Replace(string(bundle(record("A", byReference, ""), includedPatient("urn:uuid:p", "9000000009"))), "urn:uuid:p", "Patient/P1", 1)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := immunisation.Map(raw, "9000000009")
		if err != nil {
			if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
				t.Fatalf("error of category %v: %v", fhirerr.CategoryOf(err), err)
			}
			return
		}
		ids := map[string]bool{}
		for _, im := range h.Immunizations {
			id := im.GetId().GetValue()
			if nhs, ok := immunisation.ParseID(id); !ok || nhs != "9000000009" || ids[id] {
				t.Fatalf("id %q", id)
			}
			ids[id] = true
			if im.GetPatient().GetPatientId().GetValue() != "9000000009" {
				t.Fatalf("patient %v", im.GetPatient())
			}
		}
		if h.Complete() != (h.Problems() == "") {
			t.Fatalf("Complete %v, Problems %q", h.Complete(), h.Problems())
		}
	})
}
