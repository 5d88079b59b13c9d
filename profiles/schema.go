// Package profiles validates FHIR R4 resources against the official FHIR R4
// JSON schema (draft-06), embedded in the binary.
//
// The schema file (fhir.schema.json) is the one published with FHIR R4
// 4.0.1, byte for byte. Its root, and its ResourceList definition (used for
// Bundle.entry.resource, DomainResource.contained and
// Parameters.parameter.resource), are a oneOf over all 146 resource types,
// which a generic validator evaluates branch by branch: about 70 times slower
// than validating against the one branch that can match. The schema also
// carries a discriminator naming that branch by resourceType, so this
// package evaluates both oneOfs through the discriminator instead (see
// discriminator.go for why that is equivalent). Everything else is
// validated exactly as the schema says.
//
// See: http://hl7.org/fhir/R4/json.html#schema
package profiles

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed fhir.schema.json
var schemaJSON []byte

// schemaURL names the embedded schema inside the compiler. It is the
// schema's own id; nothing is ever fetched from it.
const schemaURL = "http://hl7.org/fhir/json-schema/4.0"

var (
	compileOnce     sync.Once
	compiled        *jsonschema.Schema
	compileErr      error
	compileDuration time.Duration
)

// Warm compiles the schema now rather than on the first call to Validate,
// and reports how long compilation took (the same duration on every call;
// it is measured once). Call it at start-up so the first request does not
// pay for it.
func Warm() (time.Duration, error) {
	_, err := schema()
	return compileDuration, err
}

// Validate checks one FHIR JSON resource of any type against the FHIR R4
// JSON schema. A resource that does not conform, or is not JSON at all, gets
// a *ValidationError listing the failing paths. Any other error means the
// validator itself could not be built.
func Validate(resource []byte) error {
	sch, err := schema()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(resource))
	if err != nil {
		return &ValidationError{Issues: []Issue{{Message: truncate("not valid JSON: "+err.Error(), maxMessageBytes)}}}
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("profiles: validating: %w", err)
	}
	return newValidationError(inst, verr)
}

func schema() (*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		start := time.Now()
		compiled, compileErr = compile(schemaJSON, true)
		compileDuration = time.Since(start)
	})
	return compiled, compileErr
}

// compile builds a validator from the FHIR schema document. With dispatch
// set, both oneOfs over resource types are evaluated through the schema's
// discriminator; without it (only for tests comparing the two) the schema is
// compiled untouched.
func compile(raw []byte, dispatch bool) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("profiles: parsing FHIR schema: %w", err)
	}
	applyErrata(doc)
	c := jsonschema.NewCompiler()
	// The file declares draft-06 in $schema; say so again in case it did not.
	c.DefaultDraft(jsonschema.Draft6)
	// The draft-06 metaschema is built into the library; any other URL the
	// schema mentioned would be a fetch, and we never fetch.
	c.UseLoader(noFetch{})
	if dispatch {
		if err := useDiscriminator(c, doc); err != nil {
			return nil, fmt.Errorf("profiles: %w", err)
		}
	}
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("profiles: adding FHIR schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("profiles: compiling FHIR schema: %w", err)
	}
	if sch.DraftVersion != 6 {
		return nil, fmt.Errorf("profiles: FHIR schema compiled as draft %d, want draft-06", sch.DraftVersion)
	}
	return sch, nil
}

// noFetch refuses to load any schema by URL: the FHIR schema is
// self-contained and validation must never touch the network.
type noFetch struct{}

func (noFetch) Load(url string) (any, error) {
	return nil, fmt.Errorf("refusing to fetch %s: only the embedded FHIR schema is available", url)
}
