package server

import (
	"context"
	"net/url"
	"testing"

	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// flags is a Flag-like provider declaring the patient parameters the
// preamble reads: patient and subject.
type flags struct{}

func (flags) ResourceType() string  { return "Flag" }
func (flags) Profile() string       { return "" }
func (flags) Documentation() string { return "flags" }
func (flags) SearchParams() []resources.SearchParam {
	return []resources.SearchParam{
		{Name: "patient", Type: resources.TypeReference, Modifiers: resources.PatientParamModifiers},
		{Name: "subject", Type: resources.TypeReference, Modifiers: resources.PatientParamModifiers},
		{Name: "category", Type: resources.TypeToken},
	}
}
func (flags) Search(context.Context, *resources.Query) (*resources.SearchResult, error) {
	return &resources.SearchResult{}, nil
}

// TestTouchSearch: a patient-bound token's search must name its patient,
// and no other, through the provider's own patient parameters.
func TestTouchSearch(t *testing.T) {
	const own, other = "9000000009", "9000000017"
	tests := []struct {
		query string
		ok    bool
	}{
		{"patient=" + own, true},
		{"patient=Patient/" + own, true},
		{"patient:identifier=https://fhir.nhs.uk/Id/nhs-number|" + own, true},
		{"subject=" + own + "&patient=" + own, true},
		{"patient=" + other, false},
		{"subject=" + other, false},
		{"patient=" + own + "&subject=" + other, false},
		{"patient:identifier=" + other, false},
		{"category=safety", false},
		{"", false},
		{"patient=" + own + "&patient:identifier=" + other, false}, // given twice: the provider refuses it, so must we
		{"_id=" + own, false},                                      // not a Flag patient parameter
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		a := &access{ri: &request.Info{}, provider: flags{}, scope: own}
		if _, err := a.touchSearch(q); (err == nil) != tt.ok {
			t.Errorf("%q: err %v, want ok %v", tt.query, err, tt.ok)
		}
	}
}

// FuzzTouchSearch: whatever the query, a search the preamble lets a
// patient-bound token make reads, through the providers' own parsing of
// its patient parameters, that patient and no other.
func FuzzTouchSearch(f *testing.F) {
	const own = "9000000009"
	for _, s := range []string{"patient=9000000009", "patient=9000000017", "subject=Patient/9000000009&patient:identifier=9000000017",
		"patient:Patient=9000000009", "patient=a/b/Patient/9000000009", "patient=9000000009,9000000017", "patient:identifier=|9000000009"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		a := &access{ri: &request.Info{}, provider: flags{}, scope: own}
		if _, err := a.touchSearch(q); err != nil {
			return
		}
		named := false
		for _, name := range []string{"patient", "subject"} {
			nhs, ok, err := resources.PatientNHSNumber(q, name)
			if ok && err == nil {
				named = true
				if nhs != own {
					t.Fatalf("%q: admitted, but the provider would search %s", raw, nhs)
				}
			}
		}
		if !named {
			t.Fatalf("%q: admitted a search that names no patient", raw)
		}
	})
}
