package resources

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/profiles/extensions"
)

// TestStructureDefinitions: every published extension is read by its id,
// renders to a valid R4 StructureDefinition whose url is its placeholder
// canonical (the server rebases it), and an unknown id is 404.
func TestStructureDefinitions(t *testing.T) {
	s, err := NewStructureDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.IDs()) != len(extensions.IDs()) || len(s.IDs()) == 0 {
		t.Fatalf("ids %v, want %v", s.IDs(), extensions.IDs())
	}
	for _, id := range s.IDs() {
		res, err := s.Read(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.MarshalResource(res.Message)
		if err != nil {
			t.Fatal(err)
		}
		if err := profiles.Validate(b); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		want := `"url":"` + extensions.Prefix + id + `"`
		if !strings.Contains(string(b), want) || res.Type != "StructureDefinition" || res.ID != id {
			t.Errorf("%s: %s has no %s", id, b, want)
		}
	}
	_, err = s.Read(context.Background(), "patient-birthTime")
	var fe *fhirerr.Error
	if !errors.As(err, &fe) || fe.Category != fhirerr.NotFound {
		t.Errorf("unknown id: %v, want not found", err)
	}
}
