package profiles_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/carerecords/fhir-facade/profiles"
)

// BenchmarkValidatePatient validates PDS's Patient 9000000009 (about 6 KB
// compact), decoding included.
func BenchmarkValidatePatient(b *testing.B) {
	benchmarkValidate(b, patientFixture(b))
}

// BenchmarkValidateBundle validates the spec's searchset Bundle with
// MedicationStatement and AllergyIntolerance entries.
func BenchmarkValidateBundle(b *testing.B) {
	raw, err := os.ReadFile(examplesDir + "/Bundle-bundle-response-medsallergies.json")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkValidate(b, raw)
}

func benchmarkValidate(b *testing.B, raw []byte) {
	if _, err := profiles.Warm(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := profiles.Validate(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePatient is the decoding share of BenchmarkValidatePatient.
func BenchmarkDecodePatient(b *testing.B) {
	raw := patientFixture(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile is what Warm costs once per process.
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := profiles.Compile(profiles.SchemaJSON, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidatePatientOneOf is BenchmarkValidatePatient against the
// untouched schema, whose root oneOf tries resource types one by one: the
// cost the discriminator dispatch avoids.
func BenchmarkValidatePatientOneOf(b *testing.B) {
	sch, err := profiles.Compile(profiles.SchemaJSON, false)
	if err != nil {
		b.Fatal(err)
	}
	raw := patientFixture(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			b.Fatal(err)
		}
	}
}
