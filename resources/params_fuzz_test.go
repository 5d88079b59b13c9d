package resources_test

import (
	"net/url"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// FuzzSearchParams feeds arbitrary query strings to the search parameter
// parsers: they may refuse (a categorised error) but never panic, and what
// they accept is well-formed.
func FuzzSearchParams(f *testing.F) {
	for _, s := range []string{
		"patient=9000000009", "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", "subject=Patient/9000000009",
		"birthdate=ge2010-10-21&birthdate=le2010-10-23", "birthdate=eq2010", "category=http://snomed.info/sct|123,|abc,x",
		"patient=%FF", "birthdate=gt9999-12-31", "birthdate=lt0001-01-01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if nhs, ok, err := resources.PatientNHSNumber(q, "patient"); ok && err == nil && len(nhs) != 10 {
			t.Fatalf("accepted patient %q", nhs)
		} else if err != nil && fhirerr.As(err) == nil {
			t.Fatalf("uncategorised error %v", err)
		}
		if vs := q["birthdate"]; len(vs) > 0 {
			r, err := resources.ParseDateParams("birthdate", vs)
			if err != nil && fhirerr.As(err) == nil {
				t.Fatalf("uncategorised error %v", err)
			}
			_ = r.Empty()
		}
		for _, tok := range resources.ParseTokens(q.Get("category")) {
			_ = tok.Matches("s", "c")
		}
	})
}
