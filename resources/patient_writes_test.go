package resources

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/carerecords/fhir-facade/backends/pds"
)

// readPDS only reads; createPDS also creates; patchPDSOnly also patches.
type readPDS struct{ PDSClient }

type createPDS struct{ readPDS }

func (createPDS) Create(context.Context, json.RawMessage) (*pds.Patient, error) { return nil, nil }

type patchPDSOnly struct{ readPDS }

func (patchPDSOnly) Patch(context.Context, string, string, json.RawMessage) (*pds.Patient, error) {
	return nil, nil
}

type bothPDS struct{ createPDS }

func (bothPDS) Patch(context.Context, string, string, json.RawMessage) (*pds.Patient, error) {
	return nil, nil
}

// TestPatientWritesFollowTheConnection: the registered Patient provider
// implements create and patch exactly when its PDS connection can, so the
// CapabilityStatement and the routes never offer a write that would fail.
func TestPatientWritesFollowTheConnection(t *testing.T) {
	for _, tt := range []struct {
		name             string
		client           PDSClient
		creates, patches bool
	}{
		{"read only", readPDS{}, false, false},
		{"creates", createPDS{}, true, false},
		{"patches", patchPDSOnly{}, false, true},
		{"both", bothPDS{}, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPatient(tt.client, nil).Writable()
			_, c := p.(Creator)
			_, cc := p.(ConditionalCreator)
			_, pt := p.(Patcher)
			if c != tt.creates || cc != tt.creates || pt != tt.patches {
				t.Errorf("create %v, conditional create %v, patch %v; want create %v, patch %v", c, cc, pt, tt.creates, tt.patches)
			}
			for _, must := range []bool{is[Reader](p), is[Searcher](p)} {
				if !must {
					t.Error("the writable Patient lost read or search")
				}
			}
			if p.ResourceType() != "Patient" {
				t.Errorf("type %q", p.ResourceType())
			}
		})
	}
}

func is[T any](p Provider) bool { _, ok := p.(T); return ok }
