package resources

import (
	"context"
	"os"
	"testing"
)

// BenchmarkPatientPatch is the facade's local check of a patch (parse,
// apply to the current record, validate the result) before PDS is called.
func BenchmarkPatientPatch(b *testing.B) {
	record, err := os.ReadFile("../backends/pds/testdata/patient_9000000009.json")
	if err != nil {
		b.Fatal(err)
	}
	const body = `{"patches":[{"op":"test","path":"/name/0/id","value":"123"},` +
		`{"op":"replace","path":"/gender","value":"female"},` +
		`{"op":"add","path":"/telecom/-","value":{"system":"email","value":"jane.smith@example.com","use":"home"}}]}`
	p := NewPatient(&patchPDS{body: record}, nil).Writable().(Patcher)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Patch(context.Background(), "9000000009", []byte(body), "application/json-patch+json", "2"); err != nil {
			b.Fatal(err)
		}
	}
}
