package ukcore

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// terminology expands the embedded value sets from their compose, using the
// embedded code systems. It never fetches: a value set it cannot expand
// (not embedded, a filter such as SNOMED CT ECL, a code system not embedded
// or not complete) is reported as not checked, never as passed.
type terminology struct {
	valueSets   map[string]*valueSet
	codeSystems map[string]*codeSystem

	mu       sync.Mutex
	expanded map[string]expansion
}

type valueSet struct {
	url, version     string
	include, exclude []vsInclude
}

type vsInclude struct {
	system    string
	concepts  []string
	filters   []vsFilter
	valueSets []string
}

// vsFilter is one filter of a value set's include: only "concept is-a" and
// "concept descendent-of" on an embedded code system with an is-a
// hierarchy are evaluated offline.
type vsFilter struct{ property, op, value string }

type codeSystem struct {
	url, version, content string
	// hierarchy is the code system's hierarchyMeaning: the meaning of its
	// nested concepts (is-a for v3 RoleCode).
	hierarchy string
	codes     map[string]string   // code -> display
	children  map[string][]string // code -> the codes nested under it
}

// expansion is a value set's codes by system; reason says why there is none.
type expansion struct {
	codes  map[string]map[string]string // system -> code -> display
	reason string
}

func newTerminology() *terminology {
	return &terminology{valueSets: map[string]*valueSet{}, codeSystems: map[string]*codeSystem{}, expanded: map[string]expansion{}}
}

func (t *terminology) addValueSet(b []byte, isXML bool) error {
	vs := &valueSet{}
	if isXML {
		var root xnode
		if err := xml.Unmarshal(b, &root); err != nil {
			return err
		}
		vs.url, vs.version = root.val("url"), root.val("version")
		compose, _ := root.child("compose")
		read := func(x xnode) vsInclude {
			in := vsInclude{system: x.val("system")}
			for _, f := range x.all("filter") {
				in.filters = append(in.filters, vsFilter{property: f.val("property"), op: f.val("op"), value: f.val("value")})
			}
			for _, c := range x.all("concept") {
				in.concepts = append(in.concepts, c.val("code"))
			}
			for _, v := range x.all("valueSet") {
				s, _ := v.attr("value")
				in.valueSets = append(in.valueSets, s)
			}
			return in
		}
		for _, x := range compose.all("include") {
			vs.include = append(vs.include, read(x))
		}
		for _, x := range compose.all("exclude") {
			vs.exclude = append(vs.exclude, read(x))
		}
	} else {
		type inc struct {
			System  string `json:"system"`
			Concept []struct {
				Code string `json:"code"`
			} `json:"concept"`
			Filter []struct {
				Property string `json:"property"`
				Op       string `json:"op"`
				Value    string `json:"value"`
			} `json:"filter"`
			ValueSet []string `json:"valueSet"`
		}
		var doc struct {
			URL     string `json:"url"`
			Version string `json:"version"`
			Compose struct {
				Include []inc `json:"include"`
				Exclude []inc `json:"exclude"`
			} `json:"compose"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		vs.url, vs.version = doc.URL, doc.Version
		read := func(x inc) vsInclude {
			in := vsInclude{system: x.System, valueSets: x.ValueSet}
			for _, f := range x.Filter {
				in.filters = append(in.filters, vsFilter{property: f.Property, op: f.Op, value: f.Value})
			}
			for _, c := range x.Concept {
				in.concepts = append(in.concepts, c.Code)
			}
			return in
		}
		for _, x := range doc.Compose.Include {
			vs.include = append(vs.include, read(x))
		}
		for _, x := range doc.Compose.Exclude {
			vs.exclude = append(vs.exclude, read(x))
		}
	}
	return t.addVS(vs)
}

func (t *terminology) addCodeSystem(b []byte, isXML bool) error {
	cs := &codeSystem{codes: map[string]string{}, children: map[string][]string{}}
	if isXML {
		var root xnode
		if err := xml.Unmarshal(b, &root); err != nil {
			return err
		}
		cs.url, cs.version, cs.content, cs.hierarchy = root.val("url"), root.val("version"), root.val("content"), root.val("hierarchyMeaning")
		var walk func(x xnode, parent string)
		walk = func(x xnode, parent string) {
			for _, c := range x.all("concept") {
				code := c.val("code")
				cs.codes[code] = c.val("display")
				if parent != "" {
					cs.children[parent] = append(cs.children[parent], code)
				}
				walk(c, code)
			}
		}
		walk(root, "")
	} else {
		type concept struct {
			Code    string    `json:"code"`
			Display string    `json:"display"`
			Concept []concept `json:"concept"`
		}
		var doc struct {
			URL       string    `json:"url"`
			Version   string    `json:"version"`
			Content   string    `json:"content"`
			Hierarchy string    `json:"hierarchyMeaning"`
			Concept   []concept `json:"concept"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		cs.url, cs.version, cs.content, cs.hierarchy = doc.URL, doc.Version, doc.Content, doc.Hierarchy
		var walk func(list []concept, parent string)
		walk = func(list []concept, parent string) {
			for _, c := range list {
				cs.codes[c.Code] = c.Display
				if parent != "" {
					cs.children[parent] = append(cs.children[parent], c.Code)
				}
				walk(c.Concept, c.Code)
			}
		}
		walk(doc.Concept, "")
	}
	return t.addCS(cs)
}

func (t *terminology) addCS(cs *codeSystem) error {
	if cs.url == "" {
		return fmt.Errorf("CodeSystem without url")
	}
	if t.codeSystems[cs.url] != nil {
		return fmt.Errorf("CodeSystem %s is embedded twice", cs.url)
	}
	t.codeSystems[cs.url] = cs
	return nil
}

func (t *terminology) addVS(vs *valueSet) error {
	if vs.url == "" {
		return fmt.Errorf("ValueSet without url")
	}
	if t.valueSets[vs.url] != nil {
		return fmt.Errorf("ValueSet %s is embedded twice", vs.url)
	}
	t.valueSets[vs.url] = vs
	return nil
}

// filtered is the codes of cs that the filters select (each narrowing the
// last), or a reason they cannot be evaluated offline.
func (cs *codeSystem) filtered(filters []vsFilter) (map[string]bool, string) {
	var out map[string]bool
	for _, f := range filters {
		if f.property != "concept" || (f.op != "is-a" && f.op != "descendent-of") || cs.hierarchy != "is-a" {
			return nil, fmt.Sprintf("filter %s %s %s on %s is not evaluated offline", f.property, f.op, f.value, cs.url)
		}
		if _, ok := cs.codes[f.value]; !ok {
			return nil, fmt.Sprintf("filter %s %s %s: %s has no such code", f.property, f.op, f.value, cs.url)
		}
		sel := map[string]bool{}
		var down func(code string)
		down = func(code string) {
			for _, c := range cs.children[code] {
				if !sel[c] {
					sel[c] = true
					down(c)
				}
			}
		}
		if f.op == "is-a" {
			sel[f.value] = true
		}
		down(f.value)
		if out != nil {
			for c := range out {
				if !sel[c] {
					delete(out, c)
				}
			}
		} else {
			out = sel
		}
	}
	return out, ""
}

// expand returns the codes of the value set named by canonical (a |version
// suffix must match the embedded version).
func (t *terminology) expand(canonical string) expansion {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expandLocked(canonical, nil)
}

func (t *terminology) expandLocked(canonical string, seen []string) expansion {
	if x, ok := t.expanded[canonical]; ok {
		return x
	}
	x := t.compute(canonical, seen)
	t.expanded[canonical] = x
	return x
}

func (t *terminology) compute(canonical string, seen []string) expansion {
	url, version, _ := strings.Cut(canonical, "|")
	vs := t.valueSets[url]
	if vs == nil {
		return expansion{reason: "value set " + url + " is not embedded (no offline copy)"}
	}
	if version != "" && version != vs.version {
		return expansion{reason: fmt.Sprintf("value set %s version %s is not embedded (have %s)", url, version, vs.version)}
	}
	for _, s := range seen {
		if s == canonical {
			return expansion{reason: "value set " + url + " includes itself"}
		}
	}
	seen = append(seen, canonical)
	codes := map[string]map[string]string{}
	add := func(system, code, display string) {
		if codes[system] == nil {
			codes[system] = map[string]string{}
		}
		codes[system][code] = display
	}
	part := func(in vsInclude, fn func(system, code, display string)) string {
		for _, ref := range in.valueSets {
			sub := t.expandLocked(ref, seen)
			if sub.codes == nil {
				return sub.reason
			}
			for sys, m := range sub.codes {
				for c, d := range m {
					fn(sys, c, d)
				}
			}
		}
		if in.system == "" {
			return ""
		}
		cs := t.codeSystems[in.system]
		if len(in.filters) > 0 {
			if cs == nil || cs.content != "complete" {
				return fmt.Sprintf("value set %s selects codes of %s by filter (e.g. SNOMED CT ECL), which needs a terminology server", url, in.system)
			}
			sel, reason := cs.filtered(in.filters)
			if reason != "" {
				return fmt.Sprintf("value set %s: %s", url, reason)
			}
			for c := range sel {
				if len(in.concepts) == 0 || slices.Contains(in.concepts, c) {
					fn(in.system, c, cs.codes[c])
				}
			}
			return ""
		}
		if len(in.concepts) > 0 {
			for _, c := range in.concepts {
				d := ""
				if cs != nil {
					d = cs.codes[c]
				}
				fn(in.system, c, d)
			}
			return ""
		}
		if cs == nil {
			return fmt.Sprintf("value set %s includes all of code system %s, which is not embedded", url, in.system)
		}
		if cs.content != "complete" {
			return fmt.Sprintf("value set %s includes all of code system %s, whose embedded copy is %s, not complete", url, in.system, cs.content)
		}
		for c, d := range cs.codes {
			fn(in.system, c, d)
		}
		return ""
	}
	for _, in := range vs.include {
		if r := part(in, add); r != "" {
			return expansion{reason: r}
		}
	}
	for _, ex := range vs.exclude {
		if r := part(ex, func(system, code, _ string) { delete(codes[system], code) }); r != "" {
			return expansion{reason: r}
		}
	}
	return expansion{codes: codes}
}
