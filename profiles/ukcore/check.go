package ukcore

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/carerecords/fhir-facade/profiles/extensions"
)

// run validates one resource against one profile and collects the findings.
type run struct {
	reg  *registry
	prof *profile
	rep  *Report
}

// issue records a finding once: an extension is walked both as part of its
// resource and against its own definition, and R4's rules hold in both.
func (v *run) issue(path, rule, severity, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, i := range v.rep.Issues {
		if i.Path == path && i.Rule == rule && i.Message == msg {
			return
		}
	}
	v.rep.Issues = append(v.rep.Issues, Issue{Profile: v.prof.url, Path: path, Rule: rule, Severity: severity, Message: msg})
}

func (v *run) unchecked(path, rule, reason string) {
	u := Unchecked{Profile: v.prof.url, Path: path, Rule: rule, Reason: reason}
	if !slices.Contains(v.rep.Unchecked, u) {
		v.rep.Unchecked = append(v.rep.Unchecked, u)
	}
}

// element checks one occurrence of e: val is its JSON value, ext the
// "_name" object of a primitive (its id and extensions), typ its type.
func (v *run) element(e *element, val any, ext map[string]any, path, typ string) {
	if e.fixed != nil && !equalJSON(e.fixed, val) {
		v.issue(path, "fixed", "error", "%s: must be exactly %s, is %s", e.fixedKey, show(e.fixed), show(val))
	}
	if e.pattern != nil && !matches(e.pattern, val) {
		v.issue(path, "pattern", "error", "%s: must contain %s, is %s", e.patKey, show(e.pattern), show(val))
	}
	if e.binding != nil && val != nil {
		v.binding(e.binding, val, path, typ)
	}
	obj, _ := val.(map[string]any)
	for _, inv := range e.invs {
		if inv.base {
			// Of R4's own invariants only ext-1 is evaluated: the others need
			// a FHIRPath engine (Unchecked lists them).
			if inv.key == "ext-1" && obj != nil && obj["extension"] != nil && hasChoice(obj, "value") {
				v.issue(path, "invariant ext-1", "error", "%s", inv.human)
			}
			continue
		}
		if check, ok := invariants[inv.key]; ok {
			if obj != nil && !check(obj) {
				v.issue(path, "invariant "+inv.key, inv.severity, "%s", inv.human)
			}
			continue
		}
		v.unchecked(path, "invariant "+inv.key, "no FHIRPath engine: "+inv.expression)
	}
	container := obj
	if isPrimitive(typ) {
		container = ext
	}
	kids := e.children
	if len(kids) == 0 {
		if t := v.reg.treeOf(typ); t != nil {
			kids = t.children
		}
	}
	if len(kids) == 0 {
		return
	}
	if container == nil {
		container = map[string]any{}
	}
	for _, c := range kids {
		v.child(c, container, path)
	}
}

// child checks the occurrences of c in obj: cardinality, type of a choice,
// slices, then each occurrence.
func (v *run) child(c *element, obj map[string]any, parent string) {
	key, typ := c.name, ""
	if len(c.types) == 1 {
		typ = c.types[0].code
	}
	if stem, ok := strings.CutSuffix(c.name, "[x]"); ok {
		key = stem
		for k := range obj {
			k = strings.TrimPrefix(k, "_")
			if suffix, ok := strings.CutPrefix(k, stem); ok && suffix != "" && unicode.IsUpper(rune(suffix[0])) {
				key, typ = k, suffix
				allowed := false
				for _, t := range c.types {
					if strings.EqualFold(t.code, suffix) {
						allowed, typ = true, t.code
					}
				}
				if !allowed {
					v.issue(parent+"."+k, "type", "error", "%s is not allowed: %s allows %s", suffix, c.id, typeCodes(c.types))
				}
				break
			}
		}
	}
	raw, prim := obj[key], obj["_"+key]
	items, exts := list(raw), list(prim)
	n := max(len(items), len(exts))
	path := parent + "." + key
	if n < c.min {
		v.issue(path, "cardinality", "error", "%s: minimum %d, found %d", c.id, c.min, n)
	}
	if c.max >= 0 && n > c.max {
		v.issue(path, "cardinality", "error", "%s: maximum %d, found %d", c.id, c.max, n)
	}
	_, array := raw.([]any)
	if _, a := prim.([]any); a {
		array = true
	}
	var matched map[*element][]int
	var unmatched []int
	if len(c.slices) > 0 && n > 0 {
		matched, unmatched = v.slice(c, items, path)
		for _, s := range c.slices {
			k := len(matched[s])
			if k < s.min {
				v.issue(c.id+":"+s.sliceName, "cardinality", "error", "slice %s: minimum %d, found %d", s.sliceName, s.min, k)
			}
			if s.max >= 0 && k > s.max {
				v.issue(path, "cardinality", "error", "slice %s: maximum %d, found %d", s.sliceName, s.max, k)
			}
		}
		if c.slicing != nil && c.slicing.rules == "closed" && len(unmatched) > 0 {
			v.issue(path, "slicing", "error", "%s: slicing is closed and %d occurrence(s) match no slice", c.id, len(unmatched))
		}
	} else if len(c.slices) > 0 {
		for _, s := range c.slices {
			if s.min > 0 {
				v.issue(c.id+":"+s.sliceName, "cardinality", "error", "slice %s: minimum %d, found 0", s.sliceName, s.min)
			}
		}
	}
	which := func(i int) *element {
		for s, idx := range matched {
			if slices.Contains(idx, i) {
				return s
			}
		}
		return c
	}
	for i := range n {
		var item any
		if i < len(items) {
			item = items[i]
		}
		var ext map[string]any
		if i < len(exts) {
			ext, _ = exts[i].(map[string]any)
		}
		p := path
		if array {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		v.element(which(i), item, ext, p, typ)
	}
}

// slice sorts the occurrences of a sliced element into its slices by the
// discriminator (for extensions, implicitly the url).
func (v *run) slice(c *element, items []any, path string) (map[*element][]int, []int) {
	discs := []discriminator{{typ: "value", path: "url"}}
	if c.slicing != nil {
		discs = c.slicing.discriminators
	} else if c.name != "extension" && c.name != "modifierExtension" {
		v.unchecked(path, "slicing", c.id+" is sliced without a discriminator")
		return nil, nil
	}
	matched := map[*element][]int{}
	var unmatched []int
	for i, item := range items {
		var hit *element
		for _, s := range c.slices {
			ok, reason := sliceMatches(s, discs, item)
			if reason != "" {
				v.unchecked(path, "slicing", "slice "+s.sliceName+": "+reason)
				continue
			}
			if ok {
				hit = s
				break
			}
		}
		if hit == nil {
			unmatched = append(unmatched, i)
		} else {
			matched[hit] = append(matched[hit], i)
		}
	}
	return matched, unmatched
}

// sliceMatches tells whether item belongs to slice s; reason is set when the
// discriminator cannot be evaluated.
func sliceMatches(s *element, discs []discriminator, item any) (bool, string) {
	for _, d := range discs {
		if d.typ != "value" && d.typ != "pattern" {
			return false, "discriminator type " + d.typ + " is not supported"
		}
		want, ok := discriminatorValue(s, d.path)
		if !ok {
			return false, "no fixed or pattern value at discriminator path " + d.path
		}
		got := jsonAt(item, d.path)
		if got == nil || !matches(want, got) {
			return false, ""
		}
	}
	return true, ""
}

// discriminatorValue is what a slice fixes at path: for an extension's url,
// the extension's profile.
func discriminatorValue(s *element, path string) (any, bool) {
	e := s
	for seg := range strings.SplitSeq(path, ".") {
		var next *element
		for _, c := range e.children {
			if c.name == seg {
				next = c
			}
		}
		if next == nil {
			return nil, false
		}
		e = next
	}
	if e.fixed != nil {
		return e.fixed, true
	}
	if e.pattern != nil {
		return e.pattern, true
	}
	if path == "url" && len(s.types) == 1 && len(s.types[0].profiles) == 1 {
		return s.types[0].profiles[0], true
	}
	return nil, false
}

// binding checks a coded value against its binding's value set:
// required: a coding must come from the value set; extensible: a coding
// from one of the value set's code systems must be one of its codes, and a
// value with no coding from the value set is a warning. Either way a code of
// a value-set system that is not in the value set is an error.
func (v *run) binding(b *binding, val any, path, typ string) {
	if b.strength != "required" && b.strength != "extensible" {
		return
	}
	type coding struct{ system, code string }
	var codings []coding
	switch typ {
	case "CodeableConcept":
		obj, _ := val.(map[string]any)
		for _, c := range list(obj["coding"]) {
			m, _ := c.(map[string]any)
			s, _ := m["system"].(string)
			k, _ := m["code"].(string)
			codings = append(codings, coding{s, k})
		}
	case "Coding":
		m, _ := val.(map[string]any)
		s, _ := m["system"].(string)
		k, _ := m["code"].(string)
		codings = append(codings, coding{s, k})
	case "code":
		if b.base {
			return // the R4 JSON schema enumerates R4's own code bindings
		}
		k, _ := val.(string)
		codings = append(codings, coding{"", k})
	default:
		return
	}
	x := v.reg.terms.expand(b.valueSet)
	if x.codes == nil {
		v.unchecked(path, b.strength+" binding", x.reason)
		return
	}
	in, wrong := false, false
	for _, c := range codings {
		if c.system == "" && typ == "code" {
			for _, codes := range x.codes {
				if _, ok := codes[c.code]; ok {
					in = true
				}
			}
			continue
		}
		codes, known := x.codes[c.system]
		if !known {
			continue
		}
		if _, ok := codes[c.code]; ok {
			in = true
		} else {
			wrong = true
			v.issue(path, b.strength+" binding", "error", "code %q of %s is not in value set %s", c.code, c.system, b.valueSet)
		}
	}
	if in || wrong {
		return
	}
	var got []string
	for _, c := range codings {
		got = append(got, c.system+"|"+c.code)
	}
	if b.strength == "required" {
		v.issue(path, "required binding", "error", "no code from value set %s (has %s)", b.valueSet, strings.Join(got, ", "))
	} else {
		v.issue(path, "extensible binding", "warning", "no code from value set %s (has %s)", b.valueSet, strings.Join(got, ", "))
	}
}

// extensions checks every extension in a resource whose definition is
// embedded against it (wherever it sits), and lists those under a UK Core
// URL whose definition is not embedded.
func (r *registry) extensions(val any, path string, rep *Report, top *profile) {
	switch x := val.(type) {
	case []any:
		for i, item := range x {
			r.extensions(item, fmt.Sprintf("%s[%d]", path, i), rep, top)
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			child := path + "." + strings.TrimPrefix(k, "_")
			if k == "resource" || k == "contained" {
				continue // another resource: checked on its own
			}
			if k == "extension" || k == "modifierExtension" {
				count := map[string]int{}
				for i, item := range list(x[k]) {
					p := fmt.Sprintf("%s[%d]", child, i)
					m, _ := item.(map[string]any)
					url, _ := m["url"].(string)
					if id, ok := extensions.ID(url); ok && r.profiles[url] == nil {
						// A facade extension under a deployment's base:
						// its definition is embedded under the placeholder.
						m = maps.Clone(m)
						url = extensions.Prefix + id
						m["url"] = url
					}
					if ext := r.profiles[url]; ext != nil && ext.typ == "Extension" {
						// The definition's max bounds its repeats on one element.
						if count[url]++; ext.root.max >= 0 && count[url] == ext.root.max+1 {
							rep.Issues = append(rep.Issues, Issue{Profile: url, Path: p, Rule: "cardinality", Severity: "error",
								Message: fmt.Sprintf("%s repeats on %s: at most %d", url, child, ext.root.max)})
						}
						(&run{reg: r, prof: ext, rep: rep}).element(ext.root, m, nil, p, "Extension")
					} else if strings.HasPrefix(url, extensions.Prefix) {
						rep.Issues = append(rep.Issues, Issue{Profile: top.url, Path: p + ".url", Rule: "extension definition", Severity: "error",
							Message: url + " names a facade extension that is not published (profiles/extensions)"})
					} else if strings.HasPrefix(url, "https://fhir.hl7.org.uk/StructureDefinition/") {
						u := Unchecked{Profile: top.url, Path: p, Rule: "extension definition",
							Reason: url + " is not embedded (only its cardinality and the R4 Extension rules are checked)"}
						if !slices.Contains(rep.Unchecked, u) {
							rep.Unchecked = append(rep.Unchecked, u)
						}
					}
					r.extensions(m, p, rep, top)
				}
				continue
			}
			r.extensions(x[k], child, rep, top)
		}
	}
}

// invariants are the profiles' own FHIRPath constraints, evaluated by hand.
var invariants = map[string]func(map[string]any) bool{
	// (status != 'not-done') or (status = 'not-done' and statusReason.exists())
	"ukcore-imm-001": func(o map[string]any) bool {
		return o["status"] != "not-done" || o["statusReason"] != nil
	},
}

func hasChoice(obj map[string]any, stem string) bool {
	for k := range obj {
		if s, ok := strings.CutPrefix(k, stem); ok && s != "" && unicode.IsUpper(rune(s[0])) {
			return true
		}
	}
	return false
}

func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// jsonAt is the value at a dotted path (the first of a list).
func jsonAt(v any, path string) any {
	for seg := range strings.SplitSeq(path, ".") {
		if l, ok := v.([]any); ok && len(l) > 0 {
			v = l[0]
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[seg]
	}
	return v
}

// equalJSON compares a fixed value with an instance's; primitives compare by
// their text (a fixed value read from XML is always text).
func equalJSON(want, got any) bool {
	switch w := want.(type) {
	case map[string]any, []any:
		return matches(want, got) && matches(got, want)
	default:
		return got != nil && text(w) == text(got)
	}
}

// matches tells whether got contains pattern: every member of the pattern is
// in got; each element of a pattern list matches some element of got's.
func matches(pattern, got any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, pv := range p {
			if !matches(pv, g[k]) {
				return false
			}
		}
		return true
	case []any:
		gl := list(got)
		for _, pv := range p {
			if !slices.ContainsFunc(gl, func(g any) bool { return matches(pv, g) }) {
				return false
			}
		}
		return true
	default:
		if l, ok := got.([]any); ok && len(l) == 1 {
			got = l[0]
		}
		return got != nil && text(p) == text(got)
	}
}

func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func show(v any) string {
	if v == nil {
		return "absent"
	}
	if reflect.TypeOf(v).Kind() == reflect.String {
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

func typeCodes(ts []typeRef) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.code)
	}
	return strings.Join(s, ", ")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
