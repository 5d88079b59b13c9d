package redact_test

import (
	"os"
	"testing"

	"github.com/carerecords/fhir-facade/model/redact"
	"github.com/carerecords/fhir-facade/profiles"
	"google.golang.org/protobuf/proto"
)

// FuzzLocating redacts arbitrary valid R4 resources: the output leaks no
// address, telecom, narrative, ODS/SDS identifier or reference to a
// locating type, still validates, is labelled exactly when something was
// removed, is stable under a second redaction, and the input is untouched.
func FuzzLocating(f *testing.F) {
	for _, tc := range cases {
		f.Add([]byte(tc.json))
	}
	for _, name := range []string{
		"../../profiles/testdata/hl7-r4-examples/Patient-example.json",
		"../../model/fhirjson/testdata/hl7-r4-examples/Immunization-example.json",
		"../../profiles/testdata/hl7-r4-examples/MedicationStatement-example001.json",
		"../../profiles/testdata/hl7-r4-examples/DocumentReference-example.json",
	} {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	// Compile the schema and build the codecs before the first input: each
	// fuzz worker would otherwise spend seconds on it, on the clock of the
	// input that runs first.
	if _, err := profiles.Warm(); err != nil {
		f.Fatal(err)
	}
	if _, _, err := codecs(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := unmarshal(raw)
		if err != nil {
			return
		}
		if profiles.Validate(render(t, in)) != nil {
			return // only valid resources are promised a valid result
		}
		before := proto.Clone(in)

		out, removed := redact.Locating(in)

		if !proto.Equal(in, before) {
			t.Fatal("the input was modified")
		}
		got := render(t, out)
		if l := leaks(got); len(l) > 0 {
			t.Fatalf("leaks %v in\n%s", l, got)
		}
		if err := profiles.Validate(got); err != nil {
			t.Fatalf("no longer valid R4: %v\n%s", err, got)
		}
		if removed != labelled(got) && !labelled(render(t, in)) {
			t.Fatalf("removed = %v but labelled = %v:\n%s", removed, labelled(got), got)
		}
		again, removedAgain := redact.Locating(out)
		if removedAgain || !proto.Equal(out, again) {
			t.Fatalf("a second redaction removed more:\n%s\n%s", got, render(t, again))
		}
	})
}

// BenchmarkLocating redacts a typical SCR MedicationStatement: an
// informationSource naming the practice, a contained Organization with an
// address, a note by a Practitioner, a narrative.
func BenchmarkLocating(b *testing.B) {
	in := parse(b, []byte(medicationJSON))
	b.ReportAllocs()
	for b.Loop() {
		if _, removed := redact.Locating(in); !removed {
			b.Fatal("nothing removed")
		}
	}
}

// BenchmarkLocatingClean redacts a MedicationStatement with nothing to
// remove: the cost every resource of a restricted patient pays.
func BenchmarkLocatingClean(b *testing.B) {
	in := parse(b, []byte(`{"resourceType": "MedicationStatement", "id": "scr-9000000009-m2", "status": "active",
		"medicationCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "323509004", "display": "Amoxicillin 500mg capsules"}]},
		"subject": {"reference": "Patient/9000000009", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
		"effectivePeriod": {"start": "2024-01-02"}, "dateAsserted": "2024-01-02",
		"dosage": [{"text": "One capsule three times a day"}]}`))
	b.ReportAllocs()
	for b.Loop() {
		if _, removed := redact.Locating(in); removed {
			b.Fatal("something removed")
		}
	}
}
