package resources_test

import (
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

func TestMedicationSearch(t *testing.T) {
	f := &fakeSCR{latest: askConsent(), summaries: [][]byte{sandboxSummary(t)}}
	p := resources.NewMedicationStatement(f, nil)
	const acute, repeat = "9000000009-fa60be641f3411eba2a8000c29a364eb-ma1", "9000000009-fa60be641f3411eba2a8000c29a364eb-mr1"
	tests := []struct {
		params string
		want   []string
	}{
		{"patient=9000000009", []string{acute, repeat}},
		{"patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", []string{acute, repeat}},
		// The 2020 acute issue's supply has long run out: completed, not active.
		{"patient=9000000009&status=active", []string{repeat}},
		{"patient=9000000009&status=completed", []string{acute}},
		{"patient=9000000009&status=stopped", nil},
		{"patient=9000000009&status=stopped,active", []string{repeat}},
		{"patient=9000000009&status=http://hl7.org/fhir/CodeSystem/medication-statement-status|active", []string{repeat}},
		{"patient=9000000009&status=urn:other|active", nil},
		{"patient=9000000009&effective=2020-05-12", []string{acute, repeat}},
		{"patient=9000000009&effective=gt2020-05-12", nil},
		{"patient=9000000009&effective=ge2020-05", []string{acute, repeat}},
		{"patient=9000000009&effective=le2019", nil},
	}
	for _, tt := range tests {
		t.Run(tt.params, func(t *testing.T) {
			r, err := search(t, p, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(r); strings.Join(got, ",") != strings.Join(tt.want, ",") || r.Total != len(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"status=active", "patient=9000000009&status=discontinued", "patient=9000000009&effective=May-2020"} {
		if _, err := search(t, p, bad); fhirerr.CategoryOf(err) != fhirerr.Invalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSCRProvidersDeclareTheirParameters(t *testing.T) {
	for _, p := range []resources.Searcher{resources.NewAllergyIntolerance(nil, nil), resources.NewMedicationStatement(nil, nil)} {
		for _, sp := range p.SearchParams() {
			if sp.Example == "" || sp.Documentation == "" || sp.Definition == "" {
				t.Errorf("%+v", sp)
			}
		}
	}
}
