package jsonpatch_test

import (
	"os"
	"testing"

	"github.com/carerecords/fhir-facade/model/jsonpatch"
)

const benchPatch = `[{"op":"test","path":"/name/0/id","value":"123"},` +
	`{"op":"replace","path":"/gender","value":"female"},` +
	`{"op":"add","path":"/telecom/-","value":{"system":"email","value":"jane.smith@example.com","use":"home"}}]`

// BenchmarkPatch: a record as PDS sends it, patched, as JSON again.
func BenchmarkPatch(b *testing.B) {
	record, err := os.ReadFile("../../backends/pds/testdata/patient_9000000009.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ops, err := jsonpatch.Parse([]byte(benchPatch))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jsonpatch.Apply(record, ops); err != nil {
			b.Fatal(err)
		}
	}
}
