package resources

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/profiles/extensions"
)

// StructureDefinitions serves the definitions of the facade's own
// extensions (profiles/extensions), read-only and public like the
// OperationDefinitions: GET [base]/StructureDefinition/[id]. The embedded
// definitions name their placeholder canonical; the server renders it as
// [base]/StructureDefinition/[id], the URL they are read at, which is also
// the url every resource carrying the extension names.
type StructureDefinitions struct {
	byID map[string]*Resource
	ids  []string
}

// NewStructureDefinitions builds the provider from every published
// extension definition; one that is not a valid R4 StructureDefinition is
// an error (at start, not on a read).
func NewStructureDefinitions() (*StructureDefinitions, error) {
	if err := extensions.Err(); err != nil {
		return nil, err
	}
	um, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return nil, err
	}
	s := &StructureDefinitions{byID: map[string]*Resource{}}
	for _, id := range extensions.IDs() {
		b, _ := extensions.Definition(id)
		cr, err := um.Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("StructureDefinition/%s: %w", id, err)
		}
		m := cr.ProtoReflect()
		fd := m.Descriptor().Fields().ByName("structure_definition")
		if !m.Has(fd) {
			return nil, fmt.Errorf("StructureDefinition/%s: not a StructureDefinition", id)
		}
		s.byID[id] = &Resource{Type: "StructureDefinition", ID: id, Message: m.Get(fd).Message().Interface(), RenderKey: "structdef/" + id, Rendering: new(Rendering)}
		s.ids = append(s.ids, id)
	}
	return s, nil
}

// ResourceType implements Provider.
func (*StructureDefinitions) ResourceType() string { return "StructureDefinition" }

// Profile implements Provider.
func (*StructureDefinitions) Profile() string { return "" }

// Documentation implements Provider: it names every extension published,
// each read at [base]/StructureDefinition/[id], its canonical URL.
func (s *StructureDefinitions) Documentation() string {
	return "The definitions of the facade's own extensions, each at its canonical URL [base]/StructureDefinition/[id] " +
		"(docs/conformance.md): " + strings.Join(s.ids, ", ") + "."
}

// IDs lists the ids served, sorted.
func (s *StructureDefinitions) IDs() []string { return append([]string(nil), s.ids...) }

// Read implements Reader.
func (s *StructureDefinitions) Read(_ context.Context, id string) (*Resource, error) {
	if r, ok := s.byID[id]; ok {
		return r, nil
	}
	return nil, fhirerr.New(fhirerr.NotFound, "no such StructureDefinition: this server publishes only its own extensions' (%s)", strings.Join(s.ids, ", "))
}
