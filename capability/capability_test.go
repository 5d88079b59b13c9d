package capability_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/capability"
	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/resources"
)

type readOnly struct{}

func (readOnly) ResourceType() string  { return "Flag" }
func (readOnly) Profile() string       { return "" }
func (readOnly) Documentation() string { return "read only" }
func (readOnly) Read(context.Context, string) (*resources.Resource, error) {
	return nil, nil
}

type searchOnly struct{}

func (searchOnly) ResourceType() string  { return "AllergyIntolerance" }
func (searchOnly) Profile() string       { return "https://example.org/profile" }
func (searchOnly) Documentation() string { return "search only" }
func (searchOnly) SearchParams() []resources.SearchParam {
	return []resources.SearchParam{{Name: "patient", Type: resources.TypeReference, Documentation: "the patient"}}
}
func (searchOnly) Search(context.Context, *resources.Query) (*resources.SearchResult, error) {
	return nil, nil
}

// The statement lists exactly the interactions each provider implements and
// the parameters it declares, and validates against the R4 schema.
func TestBuild(t *testing.T) {
	reg := resources.NewRegistry(readOnly{}, searchOnly{})
	st := capability.Build(reg, capability.Options{BaseURL: "http://x/fhir", Version: "1.2.3", Date: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	b, err := st.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := profiles.Validate(b); err != nil {
		t.Fatalf("CapabilityStatement does not validate: %v", err)
	}
	var doc struct {
		FHIRVersion string `json:"fhirVersion"`
		Rest        []struct {
			Resource []struct {
				Type        string `json:"type"`
				Interaction []struct {
					Code string `json:"code"`
				} `json:"interaction"`
				SearchParam []struct {
					Name string `json:"name"`
				} `json:"searchParam"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		typ          string
		interactions string
		params       int
	}{
		{name: "search only", typ: "AllergyIntolerance", interactions: "search-type", params: 1},
		{name: "read only", typ: "Flag", interactions: "read", params: 0},
	}
	if doc.FHIRVersion != "4.0.1" || len(doc.Rest) != 1 || len(doc.Rest[0].Resource) != len(tests) {
		t.Fatalf("statement: %s", b)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doc.Rest[0].Resource[i]
			if r.Type != tt.typ {
				t.Fatalf("resource %d is %s, want %s (sorted by type)", i, r.Type, tt.typ)
			}
			var codes []string
			for _, x := range r.Interaction {
				codes = append(codes, x.Code)
			}
			if len(codes) != 1 || codes[0] != tt.interactions {
				t.Errorf("interactions %v, want %s", codes, tt.interactions)
			}
			if len(r.SearchParam) != tt.params {
				t.Errorf("%d search params, want %d", len(r.SearchParam), tt.params)
			}
		})
	}
}
