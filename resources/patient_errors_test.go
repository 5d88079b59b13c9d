package resources

import (
	"context"
	"net/url"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// TestPatientSpineCodes: the Patient provider's own refusals of what PDS
// would refuse carry PDS's Spine code, so PDS clients find the code they
// test for; its refusals of what is the facade's own (an identifier search
// combined with other parameters) carry none.
func TestPatientSpineCodes(t *testing.T) {
	p := NewPatient(&patchPDS{}, nil)
	search := func(q string) func() error {
		return func() error {
			v, err := url.ParseQuery(q)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Search(context.Background(), &Query{Params: v})
			return err
		}
	}
	tests := []struct {
		name string
		call func() error
		want string // "" expects no Spine code
	}{
		{name: "read of an invalid NHS number", call: func() error { _, err := p.Read(context.Background(), "9000000000"); return err }, want: "INVALID_RESOURCE_ID"},
		{name: "search without parameters", call: search(""), want: "UNSUPPORTED_SERVICE"},
		{name: "birthdate without dashes", call: search("family=Smith&birthdate=20101022"), want: "INVALID_VALUE"},
		{name: "death-date without dashes", call: search("family=Smith&birthdate=2000-01-01&death-date=20101022"), want: "INVALID_VALUE"},
		{name: "birthdate prefix PDS does not take", call: search("family=Smith&birthdate=ne2010-10-22"), want: "INVALID_VALUE"},
		{name: "gender", call: search("family=Smith&birthdate=2010-10-22&gender=f"), want: "INVALID_VALUE"},
		{name: "_fuzzy-match", call: search("family=Smith&birthdate=2010-10-22&_fuzzy-match=yes"), want: "INVALID_VALUE"},
		{name: "_max-results", call: search("family=Smith&birthdate=2010-10-22&_max-results=51"), want: "INVALID_VALUE"},
		{name: "identifier with other parameters (the facade's own rule)", call: search("identifier=9000000009&family=Smith")},
		{name: "family:exact with a wildcard (the facade's own modifier)", call: search("family:exact=Sm*&birthdate=2010-10-22")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fhirerr.As(tt.call())
			if e == nil || e.Category == fhirerr.Internal {
				t.Fatalf("err = %v, want a categorised refusal", e)
			}
			switch {
			case tt.want == "" && e.Spine != nil:
				t.Errorf("Spine = %+v, want none", *e.Spine)
			case tt.want != "" && (e.Spine == nil || *e.Spine != *fhirerr.Spine(tt.want)):
				t.Errorf("Spine = %+v, want %s", e.Spine, tt.want)
			}
		})
	}
}
