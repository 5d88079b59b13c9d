package ukcore

import (
	"embed"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/profiles/extensions"
)

//go:embed definitions
var definitions embed.FS

// element is one ElementDefinition of a snapshot, reduced to what the
// checker applies. Elements form a tree: children by name, slices of a
// repeating element beside it.
type element struct {
	id        string
	path      string
	name      string // last path segment: "identifier", "value[x]"
	sliceName string
	min       int
	max       int // -1 is *
	types     []typeRef
	binding   *binding
	fixed     any // JSON form of fixed[x]
	fixedKey  string
	pattern   any // JSON form of pattern[x]
	patKey    string
	slicing   *slicing
	invs      []invariant
	children  []*element
	// shared marks children borrowed from a datatype's tree: they must be
	// copied before a differential changes anything under them.
	shared bool
	slices []*element
}

type typeRef struct {
	code     string
	profiles []string
}

type binding struct {
	strength string
	valueSet string
	// base marks a binding of the R4 specification itself; on a code the
	// R4 JSON schema already enforces it (profiles.Validate).
	base bool
}

type slicing struct {
	discriminators []discriminator
	rules          string
}

type discriminator struct{ typ, path string }

type invariant struct {
	key, severity, human, expression string
	// base marks the R4 specification's own invariants (ele-1, ext-1, ...),
	// as opposed to those a profile's differential adds.
	base bool
}

// ---- the two source formats, decoded into one shape ----

// rawElement is an ElementDefinition as read from FHIR XML or JSON.
type rawElement struct {
	ID         string
	Path       string
	SliceName  string
	Min        *int
	Max        *string
	Types      []typeRef
	Binding    *binding
	Fixed      any
	FixedKey   string
	Pattern    any
	PatternKey string
	Slicing    *slicing
	Invariants []invariant
}

// rawSD is a StructureDefinition with its snapshot (R4 base, JSON) or its
// differential (UK Core XML, and the HL7 extensions' JSON).
type rawSD struct {
	URL, Version, Name, Type, Kind, Base, Derivation string
	Snapshot, Differential                           []rawElement
}

// FHIR XML puts every primitive in a value attribute.
type xval struct {
	Value string `xml:"value,attr"`
}

// xnode is any XML element, kept whole: fixed[x]/pattern[x] and the
// StructureDefinition's elements are read from it.
type xnode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []xnode    `xml:",any"`
}

func (n xnode) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (n xnode) child(name string) (xnode, bool) {
	for _, c := range n.Children {
		if c.XMLName.Local == name {
			return c, true
		}
	}
	return xnode{}, false
}

func (n xnode) val(name string) string {
	c, ok := n.child(name)
	if !ok {
		return ""
	}
	v, _ := c.attr("value")
	return v
}

func (n xnode) all(name string) []xnode {
	var out []xnode
	for _, c := range n.Children {
		if c.XMLName.Local == name {
			out = append(out, c)
		}
	}
	return out
}

// toJSON turns a FHIR XML value into its JSON shape: a primitive is its value
// attribute (a string; match compares primitives by their text), a complex
// value an object whose members are lists.
func (n xnode) toJSON() any {
	if v, ok := n.attr("value"); ok && len(n.Children) == 0 {
		return v
	}
	obj := map[string]any{}
	for _, c := range n.Children {
		k := c.XMLName.Local
		list, _ := obj[k].([]any)
		obj[k] = append(list, c.toJSON())
	}
	return obj
}

func parseXMLSD(b []byte) (*rawSD, error) {
	var root xnode
	if err := xml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	if root.XMLName.Local != "StructureDefinition" {
		return nil, fmt.Errorf("root is %s, want StructureDefinition", root.XMLName.Local)
	}
	sd := &rawSD{URL: root.val("url"), Version: root.val("version"), Name: root.val("name"),
		Type: root.val("type"), Kind: root.val("kind"), Base: root.val("baseDefinition"),
		Derivation: root.val("derivation")}
	diff, ok := root.child("differential")
	if !ok {
		return nil, fmt.Errorf("%s: no differential", sd.URL)
	}
	for _, x := range diff.all("element") {
		e := rawElement{Path: x.val("path"), SliceName: x.val("sliceName")}
		e.ID, _ = x.attr("id")
		if v := x.val("min"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("%s: min %q", e.ID, v)
			}
			e.Min = &n
		}
		if v := x.val("max"); v != "" {
			e.Max = &v
		}
		for _, t := range x.all("type") {
			tr := typeRef{code: t.val("code")}
			for _, p := range t.all("profile") {
				v, _ := p.attr("value")
				tr.profiles = append(tr.profiles, v)
			}
			e.Types = append(e.Types, tr)
		}
		if b, ok := x.child("binding"); ok {
			e.Binding = &binding{strength: b.val("strength"), valueSet: b.val("valueSet")}
		}
		if s, ok := x.child("slicing"); ok {
			sl := &slicing{rules: s.val("rules")}
			for _, d := range s.all("discriminator") {
				sl.discriminators = append(sl.discriminators, discriminator{typ: d.val("type"), path: d.val("path")})
			}
			e.Slicing = sl
		}
		for _, c := range x.all("constraint") {
			e.Invariants = append(e.Invariants, invariant{key: c.val("key"), severity: c.val("severity"),
				human: c.val("human"), expression: c.val("expression")})
		}
		for _, c := range x.Children {
			k := c.XMLName.Local
			switch {
			case strings.HasPrefix(k, "fixed"):
				e.Fixed, e.FixedKey = c.toJSON(), k
			case strings.HasPrefix(k, "pattern"):
				e.Pattern, e.PatternKey = c.toJSON(), k
			}
		}
		sd.Differential = append(sd.Differential, e)
	}
	return sd, nil
}

// jsonElement is an ElementDefinition in FHIR JSON.
type jsonElement struct {
	ID        string  `json:"id"`
	Path      string  `json:"path"`
	SliceName string  `json:"sliceName"`
	Min       *int    `json:"min"`
	Max       *string `json:"max"`
	Type      []struct {
		Code    string   `json:"code"`
		Profile []string `json:"profile"`
	} `json:"type"`
	Binding *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
	Slicing *struct {
		Discriminator []struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"discriminator"`
		Rules string `json:"rules"`
	} `json:"slicing"`
	Constraint []struct {
		Key        string `json:"key"`
		Severity   string `json:"severity"`
		Human      string `json:"human"`
		Expression string `json:"expression"`
	} `json:"constraint"`
}

func (j jsonElement) raw(all map[string]json.RawMessage) (rawElement, error) {
	e := rawElement{ID: j.ID, Path: j.Path, SliceName: j.SliceName, Min: j.Min, Max: j.Max}
	for _, t := range j.Type {
		e.Types = append(e.Types, typeRef{code: t.Code, profiles: t.Profile})
	}
	if j.Binding != nil {
		e.Binding = &binding{strength: j.Binding.Strength, valueSet: j.Binding.ValueSet}
	}
	if j.Slicing != nil {
		sl := &slicing{rules: j.Slicing.Rules}
		for _, d := range j.Slicing.Discriminator {
			sl.discriminators = append(sl.discriminators, discriminator{typ: d.Type, path: d.Path})
		}
		e.Slicing = sl
	}
	for _, c := range j.Constraint {
		e.Invariants = append(e.Invariants, invariant{key: c.Key, severity: c.Severity, human: c.Human, expression: c.Expression})
	}
	for k, v := range all {
		var dst *any
		switch {
		case strings.HasPrefix(k, "fixed"):
			dst, e.FixedKey = &e.Fixed, k
		case strings.HasPrefix(k, "pattern"):
			dst, e.PatternKey = &e.Pattern, k
		default:
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return e, fmt.Errorf("%s.%s: %w", j.ID, k, err)
		}
	}
	return e, nil
}

func parseJSONSD(b []byte) (*rawSD, error) {
	var doc struct {
		ResourceType string `json:"resourceType"`
		URL          string `json:"url"`
		Version      string `json:"version"`
		Name         string `json:"name"`
		Type         string `json:"type"`
		Kind         string `json:"kind"`
		Base         string `json:"baseDefinition"`
		Derivation   string `json:"derivation"`
		Snapshot     struct {
			Element []json.RawMessage `json:"element"`
		} `json:"snapshot"`
		Differential struct {
			Element []json.RawMessage `json:"element"`
		} `json:"differential"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if doc.ResourceType != "StructureDefinition" {
		return nil, fmt.Errorf("resourceType is %s, want StructureDefinition", doc.ResourceType)
	}
	sd := &rawSD{URL: doc.URL, Version: doc.Version, Name: doc.Name, Type: doc.Type, Kind: doc.Kind,
		Base: doc.Base, Derivation: doc.Derivation}
	conv := func(list []json.RawMessage) ([]rawElement, error) {
		var out []rawElement
		for _, r := range list {
			var j jsonElement
			var all map[string]json.RawMessage
			if err := json.Unmarshal(r, &j); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(r, &all); err != nil {
				return nil, err
			}
			e, err := j.raw(all)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	var err error
	if sd.Snapshot, err = conv(doc.Snapshot.Element); err != nil {
		return nil, err
	}
	if sd.Differential, err = conv(doc.Differential.Element); err != nil {
		return nil, err
	}
	return sd, nil
}

// readDefinitions parses every embedded StructureDefinition, ValueSet and
// CodeSystem.
func readDefinitions() (sds []*rawSD, terms *terminology, err error) {
	terms = newTerminology()
	err = fs.WalkDir(definitions, "definitions", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := definitions.ReadFile(p)
		if err != nil {
			return err
		}
		base := path.Base(p)
		switch {
		case strings.HasPrefix(base, "ValueSet-"):
			err = terms.addValueSet(b, strings.HasSuffix(base, ".xml"))
		case strings.HasPrefix(base, "CodeSystem-"):
			err = terms.addCodeSystem(b, strings.HasSuffix(base, ".xml"))
		case strings.HasSuffix(base, ".xml"):
			var sd *rawSD
			if sd, err = parseXMLSD(b); err == nil {
				sds = append(sds, sd)
			}
		case strings.HasSuffix(base, ".json"):
			var sd *rawSD
			if sd, err = parseJSONSD(b); err == nil {
				sds = append(sds, sd)
			}
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// UK Core's RelatedPerson and Practitioner, and what they bind, written
	// by us from reading the published files (derived.go).
	if sds, err = addDerived(sds, terms); err != nil {
		return nil, nil, err
	}
	// The facade's own extensions, checked like UK Core's (profiles/extensions).
	if err := extensions.Err(); err != nil {
		return nil, nil, err
	}
	for _, id := range extensions.IDs() {
		b, _ := extensions.Definition(id)
		sd, err := parseJSONSD(b)
		if err != nil {
			return nil, nil, fmt.Errorf("extension %s: %w", id, err)
		}
		sds = append(sds, sd)
	}
	return sds, terms, nil
}
