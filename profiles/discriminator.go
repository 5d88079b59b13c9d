package profiles

import (
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/message"
)

// The FHIR schema's root carries an OpenAPI-style discriminator next to its
// oneOf over resource types:
//
//	"discriminator": {"propertyName": "resourceType",
//	                  "mapping": {"Account": "#/definitions/Account", ...}},
//	"oneOf": [{"$ref": "#/definitions/Account"}, ...]
//
// and definitions/ResourceList has the same oneOf without it. JSON Schema
// itself ignores the discriminator, so a validator tries every branch, and
// keeps every failing branch's errors, until one matches.
//
// Every mapped definition requires resourceType and pins it with a const
// equal to its own name. So for an object whose resourceType is a mapped
// name, only that branch can match and the oneOf holds exactly when that
// branch does; for anything else (not an object, no resourceType, an
// unknown one) no branch can match, or, for non-objects, every branch does,
// and the oneOf fails. Validating against the mapped branch, and failing
// everything else with a plain message, therefore accepts exactly what the
// oneOf accepts. useDiscriminator checks those preconditions on the
// document before relying on them, and the tests compare both ways on the
// spec's examples and on broken resources.

// vocabURL only names the vocabulary inside the compiler.
const vocabURL = "urn:carerecords:fhir-facade:discriminator"

// useDiscriminator rewrites the parsed schema document so that the root and
// ResourceList dispatch on resourceType instead of evaluating their oneOf,
// and registers the keyword that does so.
func useDiscriminator(c *jsonschema.Compiler, doc any) error {
	root, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("FHIR schema is not an object")
	}
	disc, ok := root["discriminator"].(map[string]any)
	if !ok {
		return fmt.Errorf("FHIR schema has no root discriminator")
	}
	prop, mapping, ok := parseDiscriminator(disc)
	if !ok || prop != "resourceType" {
		return fmt.Errorf("FHIR schema root discriminator is not on resourceType")
	}
	defs, ok := root["definitions"].(map[string]any)
	if !ok {
		return fmt.Errorf("FHIR schema has no definitions")
	}
	for name, ref := range mapping {
		if err := checkPinned(defs, name, ref); err != nil {
			return err
		}
	}
	resourceList, ok := defs["ResourceList"].(map[string]any)
	if !ok {
		return fmt.Errorf("FHIR schema has no ResourceList definition")
	}
	for _, at := range []struct {
		where string
		obj   map[string]any
	}{{"root", root}, {"ResourceList", resourceList}} {
		if err := checkOneOfIsMapping(at.obj, mapping); err != nil {
			return fmt.Errorf("FHIR schema %s: %w", at.where, err)
		}
		delete(at.obj, "oneOf")
		at.obj["discriminator"] = disc
	}
	c.RegisterVocabulary(&jsonschema.Vocabulary{URL: vocabURL, Compile: compileDiscriminator})
	return nil
}

// parseDiscriminator reads {"propertyName": p, "mapping": {name: ref}}.
func parseDiscriminator(v any) (prop string, mapping map[string]string, ok bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return "", nil, false
	}
	prop, ok = obj["propertyName"].(string)
	if !ok {
		return "", nil, false
	}
	m, ok := obj["mapping"].(map[string]any)
	if !ok || len(m) == 0 {
		return "", nil, false
	}
	mapping = make(map[string]string, len(m))
	for name, ref := range m {
		s, ok := ref.(string)
		if !ok {
			return "", nil, false
		}
		mapping[name] = s
	}
	return prop, mapping, true
}

// checkPinned checks that ref is #/definitions/name and that the definition
// requires resourceType and pins it to name.
func checkPinned(defs map[string]any, name, ref string) error {
	if ref != "#/definitions/"+name {
		return fmt.Errorf("FHIR schema discriminator maps %s to %s", name, ref)
	}
	def, _ := defs[name].(map[string]any)
	props, _ := def["properties"].(map[string]any)
	rt, _ := props["resourceType"].(map[string]any)
	if rt["const"] != name {
		return fmt.Errorf("FHIR schema definition %s does not pin resourceType to %q", name, name)
	}
	required, _ := def["required"].([]any)
	if !slices.Contains(required, any("resourceType")) {
		return fmt.Errorf("FHIR schema definition %s does not require resourceType", name)
	}
	return nil
}

// checkOneOfIsMapping checks that obj's oneOf is exactly one $ref per mapped
// resource type.
func checkOneOfIsMapping(obj map[string]any, mapping map[string]string) error {
	oneOf, ok := obj["oneOf"].([]any)
	if !ok {
		return fmt.Errorf("no oneOf")
	}
	seen := make(map[string]bool, len(oneOf))
	for _, branch := range oneOf {
		b, _ := branch.(map[string]any)
		ref, _ := b["$ref"].(string)
		name, ok := strings.CutPrefix(ref, "#/definitions/")
		if len(b) != 1 || !ok || mapping[name] != ref || seen[name] {
			return fmt.Errorf("oneOf branch %v is not a distinct mapped resource type", branch)
		}
		seen[name] = true
	}
	if len(seen) != len(mapping) {
		return fmt.Errorf("oneOf has %d resource types, discriminator %d", len(seen), len(mapping))
	}
	return nil
}

func compileDiscriminator(ctx *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
	prop, mapping, ok := parseDiscriminator(obj["discriminator"])
	if !ok {
		return nil, nil
	}
	d := &discriminator{prop: prop, branches: make(map[string]*jsonschema.Schema, len(mapping))}
	for name, ref := range mapping {
		sch, err := ctx.EnqueueRef(ref)
		if err != nil {
			return nil, err
		}
		d.branches[name] = sch
	}
	return d, nil
}

// discriminator validates an object against the branch its prop names.
type discriminator struct {
	prop     string
	branches map[string]*jsonschema.Schema
}

func (d *discriminator) Validate(ctx *jsonschema.ValidatorContext, v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		ctx.AddError(&kind.Type{Got: jsonType(v), Want: []string{"object"}})
		return
	}
	value, ok := obj[d.prop]
	if !ok {
		ctx.AddError(&kind.Required{Missing: []string{d.prop}})
		return
	}
	name, _ := value.(string)
	sch, ok := d.branches[name]
	if !ok {
		ctx.AddError(&unknownResourceType{Got: value, Suggest: d.suggest(name)})
		return
	}
	if err := ctx.Validate(sch, v, nil); err != nil {
		ctx.AddErr(err)
	}
}

// suggest returns the resource type spelled like name but for case.
func (d *discriminator) suggest(name string) string {
	for known := range d.branches {
		if strings.EqualFold(known, name) {
			return known
		}
	}
	return ""
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return "number"
	}
}

// unknownResourceType is the error for a resourceType that the schema does
// not define.
type unknownResourceType struct {
	Got     any
	Suggest string
}

func (*unknownResourceType) KeywordPath() []string { return []string{"discriminator"} }

func (k *unknownResourceType) LocalizedString(p *message.Printer) string {
	got := p.Sprintf("%v", k.Got)
	if s, ok := k.Got.(string); ok {
		got = p.Sprintf("%q", s)
	}
	if k.Suggest != "" {
		return p.Sprintf("unknown resourceType %s (did you mean %q?)", got, k.Suggest)
	}
	return p.Sprintf("unknown resourceType %s", got)
}
