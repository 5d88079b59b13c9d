package server

import (
	"fmt"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carerecords/fhir-facade/profiles/extensions"
	"github.com/carerecords/fhir-facade/resources"
)

// renderer turns resource protos into compact FHIR JSON with google/fhir's
// jsonformat, and remembers what it rendered under the provider's RenderKey:
// jsonformat is the hot spot (≈400 µs for a 6 KB Patient), and a versioned
// record renders to the same bytes every time.
type renderer struct {
	m     *jsonformat.Marshaller
	cache *ristretto.Cache[string, *rendered]
	// base is the public FHIR base the facade's own extensions are
	// published under: their placeholder canonicals become
	// {base}/StructureDefinition/{id} as they leave (profiles/extensions).
	base string
}

// rendered is one cached rendering.
type rendered struct {
	body []byte
}

func newRenderer(maxBytes int64) (*renderer, error) {
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		return nil, err
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *rendered]{
		NumCounters: 100_000,
		MaxCost:     maxBytes,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &renderer{m: m, cache: c}, nil
}

// render returns the JSON of res: kept on res when it is a shared
// resource (Rendering), else in the renderer's cache under its RenderKey,
// else made afresh. The bytes may be shared: read-only.
func (rd *renderer) render(res *resources.Resource) ([]byte, error) {
	if res.RenderKey != "" {
		if b, ok := res.Rendering.Load(rd, res.RenderKey); ok {
			return b, nil
		}
		if v, ok := rd.cache.Get(res.RenderKey); ok {
			return v.body, nil
		}
	}
	b, err := rd.m.MarshalResource(res.Message)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", res.Type, err)
	}
	b = resourceTypeFirst(b)
	if rd.base != "" {
		b = extensions.Rebase(b, rd.base)
	}
	switch {
	case res.RenderKey != "" && res.Rendering != nil:
		// Kept on the shared resource itself, for as long as it is kept.
		res.Rendering.Store(rd, res.RenderKey, b)
	case res.RenderKey != "":
		rd.cache.Set(res.RenderKey, &rendered{body: b}, int64(len(b)+len(res.RenderKey)+64))
	}
	return b, nil
}

func (rd *renderer) close() { rd.cache.Close() }
