package ukcore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// registry holds the element trees: one per base R4 type (from the R4
// snapshot) and one per profile (its base's tree with the differential
// applied: the part of snapshot generation this checker needs).
type registry struct {
	types    map[string]*element // R4 type name -> tree
	profiles map[string]*profile // canonical URL -> profile
	terms    *terminology
}

// profile is one StructureDefinition derived by constraint: a UK Core
// profile or an extension definition.
type profile struct {
	url, version, name, typ string
	root                    *element
}

const r4Base = "http://hl7.org/fhir/StructureDefinition/"

func build() (*registry, error) {
	sds, terms, err := readDefinitions()
	if err != nil {
		return nil, err
	}
	r := &registry{types: map[string]*element{}, profiles: map[string]*profile{}, terms: terms}
	byURL := map[string]*rawSD{}
	for _, sd := range sds {
		byURL[sd.URL] = sd
		if sd.Derivation == "specialization" || sd.URL == r4Base+"Element" {
			root, err := tree(sd.Snapshot)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sd.URL, err)
			}
			r.types[sd.Type] = root
		}
	}
	if r.types["Element"] == nil || r.types["Extension"] == nil {
		return nil, fmt.Errorf("the R4 Element and Extension definitions are not embedded")
	}
	for _, root := range r.types {
		r.link(root, map[*element]bool{})
	}
	var derive func(url string, seen []string) (*profile, error)
	derive = func(url string, seen []string) (*profile, error) {
		if p := r.profiles[url]; p != nil {
			return p, nil
		}
		if slices.Contains(seen, url) {
			return nil, fmt.Errorf("%s derives from itself", url)
		}
		sd := byURL[url]
		base := r.types[sd.Type]
		if sd.Base != r4Base+sd.Type {
			if byURL[sd.Base] == nil {
				return nil, fmt.Errorf("%s: base %s is not embedded", url, sd.Base)
			}
			bp, err := derive(sd.Base, append(seen, url))
			if err != nil {
				return nil, err
			}
			base = bp.root
		}
		if base == nil {
			return nil, fmt.Errorf("%s: the R4 definition of %s is not embedded", url, sd.Type)
		}
		root := shallow(base)
		for _, d := range sd.Differential {
			if err := r.apply(root, d); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", url, d.ID, err)
			}
		}
		p := &profile{url: sd.URL, version: sd.Version, name: sd.Name, typ: sd.Type, root: root}
		r.profiles[url] = p
		return p, nil
	}
	for _, sd := range sds {
		if sd.Derivation == "constraint" && sd.URL != r4Base+"Element" {
			if _, err := derive(sd.URL, nil); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// tree builds the element tree of a snapshot (no slices: only the R4 base
// definitions are read this way).
func tree(snap []rawElement) (*element, error) {
	if len(snap) == 0 {
		return nil, fmt.Errorf("no snapshot")
	}
	byPath := map[string]*element{}
	var root *element
	for _, re := range snap {
		if re.SliceName != "" {
			continue
		}
		e := &element{id: re.ID, path: re.Path, name: re.Path[strings.LastIndex(re.Path, ".")+1:]}
		merge(e, re)
		for i := range e.invs {
			e.invs[i].base = true
		}
		if e.binding != nil {
			e.binding.base = true
		}
		byPath[re.Path] = e
		i := strings.LastIndex(re.Path, ".")
		if i < 0 {
			root = e
			continue
		}
		parent := byPath[re.Path[:i]]
		if parent == nil {
			return nil, fmt.Errorf("%s comes before its parent", re.Path)
		}
		parent.children = append(parent.children, e)
	}
	if root == nil {
		return nil, fmt.Errorf("snapshot has no root element")
	}
	return root, nil
}

// link gives each element whose type is a datatype with an embedded
// definition that datatype's children (shared, never copied: a profile copies
// only what its differential changes), and each primitive the children every
// Element has (id, extension), found in JSON under "_name".
func (r *registry) link(e *element, seen map[*element]bool) {
	if seen[e] {
		return
	}
	seen[e] = true
	if len(e.children) == 0 {
		if t := r.typeTree(e); t != nil && t != e {
			e.children, e.shared = t.children, true
		}
	}
	for _, c := range e.children {
		r.link(c, seen)
	}
}

// typeTree is the tree of e's one type, if it has one type whose definition is
// embedded.
func (r *registry) typeTree(e *element) *element {
	if len(e.types) != 1 {
		return nil
	}
	return r.treeOf(e.types[0].code)
}

func (r *registry) treeOf(code string) *element {
	if isPrimitive(code) {
		if strings.HasPrefix(code, "http://hl7.org/fhirpath/") {
			return nil // the id of an element: no extensions of its own
		}
		return r.types["Element"]
	}
	return r.types[code]
}

// isPrimitive tells a FHIR primitive type code (lower case, or a FHIRPath
// system type) from a complex one.
func isPrimitive(code string) bool {
	return code != "" && (unicode.IsLower(rune(code[0])) || strings.HasPrefix(code, "http://hl7.org/fhirpath/"))
}

// shallow copies e; its children and slices are shared until own() copies
// them.
func shallow(e *element) *element {
	c := *e
	c.shared = len(e.children) > 0 || len(e.slices) > 0
	return &c
}

// own makes e's children and slices its own copies, so a differential can
// change them without touching the base tree they came from.
func own(e *element) {
	if !e.shared {
		return
	}
	kids := make([]*element, len(e.children))
	for i, c := range e.children {
		kids[i] = shallow(c)
		kids[i].id = e.id + "." + c.name
	}
	sl := make([]*element, len(e.slices))
	for i, s := range e.slices {
		sl[i] = shallow(s)
	}
	e.children, e.slices, e.shared = kids, sl, false
}

// apply merges one differential element into the profile tree rooted at
// root, creating the slice it names if it is the first mention.
func (r *registry) apply(root *element, d rawElement) error {
	segs := splitID(d.ID)
	if len(segs) == 0 || segs[0] != root.name {
		return fmt.Errorf("id does not start with %s", root.name)
	}
	e := root
	for _, seg := range segs[1:] {
		name, slice, _ := strings.Cut(seg, ":")
		own(e)
		if len(e.children) == 0 {
			return fmt.Errorf("cannot go into %s: the R4 definition of its type %v is not embedded", e.id, e.types)
		}
		var child *element
		for _, c := range e.children {
			if c.name == name {
				child = c
			}
		}
		if child == nil {
			return fmt.Errorf("%s has no element %s in R4", e.id, name)
		}
		switch {
		case slice == "":
			e = child
		case strings.HasSuffix(name, "[x]") && strings.HasPrefix(slice, strings.TrimSuffix(name, "[x]")):
			// A type slice of a choice (value[x]:valueQuantity) is the choice
			// restricted to that type.
			t := slice[len(name)-3:]
			child.types = []typeRef{{code: lowerFirstIfPrimitive(t, child.types)}}
			e = child
		default:
			own(child)
			var s *element
			for _, x := range child.slices {
				if x.sliceName == slice {
					s = x
				}
			}
			if s == nil {
				s = shallow(child)
				s.slices, s.slicing, s.sliceName = nil, nil, slice
				s.id = child.id + ":" + slice
				s.shared = len(s.children) > 0
				// A new slice starts optional: the sliced element's own min
				// already counts every repetition.
				s.min = 0
				child.slices = append(child.slices, s)
			}
			e = s
		}
	}
	e.id = d.ID
	merge(e, d)
	if len(d.Types) == 1 && len(e.children) == 0 {
		if t := r.treeOf(d.Types[0].code); t != nil {
			e.children, e.shared = t.children, true
		}
	}
	return nil
}

// lowerFirstIfPrimitive names the type a choice's JSON suffix (Quantity,
// DateTime) stands for among the choice's type codes.
func lowerFirstIfPrimitive(suffix string, types []typeRef) string {
	for _, t := range types {
		if strings.EqualFold(t.code, suffix) {
			return t.code
		}
	}
	return suffix
}

// splitID splits an element id on the dots that separate path segments
// (a slice name may contain none: UK Core's do not).
func splitID(id string) []string { return strings.Split(id, ".") }

// merge copies onto e what re states.
func merge(e *element, re rawElement) {
	if re.Min != nil {
		e.min = *re.Min
	}
	if re.Max != nil {
		if *re.Max == "*" {
			e.max = -1
		} else if n, err := strconv.Atoi(*re.Max); err == nil {
			e.max = n
		}
	}
	if len(re.Types) > 0 {
		e.types = re.Types
	}
	if re.Binding != nil {
		e.binding = re.Binding
	}
	if re.Fixed != nil {
		e.fixed, e.fixedKey = re.Fixed, re.FixedKey
	}
	if re.Pattern != nil {
		e.pattern, e.patKey = re.Pattern, re.PatternKey
	}
	if re.Slicing != nil {
		e.slicing = re.Slicing
	}
	e.invs = append(slices.Clip(e.invs), re.Invariants...)
}
