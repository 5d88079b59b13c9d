package ukcore

import (
	"slices"
	"strings"
)

// AllChecks lists, per embedded UK Core profile, the rules its snapshot
// states that this package cannot evaluate offline, whatever the resource:
// bindings to value sets it cannot expand, the differential's invariants
// with no hand-written check, slices it cannot discriminate, and extension
// slices whose definition is not embedded. (R4's own invariants other than
// ext-1 are never evaluated; they are summed up in one line per profile.)
// Path is the element id.
func AllChecks() ([]Unchecked, error) {
	r, err := load()
	if err != nil {
		return nil, err
	}
	var urls []string
	for url, p := range r.profiles {
		if p.typ != "Extension" || strings.HasPrefix(url, "https://fhir.hl7.org.uk/") {
			urls = append(urls, url)
		}
	}
	slices.Sort(urls)
	var out []Unchecked
	for _, url := range urls {
		p := r.profiles[url]
		for _, d := range derivedProfiles {
			if d.sd.URL == url {
				for _, u := range d.unchecked {
					u.Profile = url
					out = append(out, u)
				}
			}
		}
		base := map[string]bool{}
		r.uncheckedIn(p, p.root, 0, map[*element]bool{}, base, &out)
		if len(base) > 0 {
			keys := make([]string, 0, len(base))
			for k := range base {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			out = append(out, Unchecked{Profile: url, Path: p.typ, Rule: "R4 invariants",
				Reason: "no FHIRPath engine; the JSON schema covers structure: " + strings.Join(keys, ", ")})
		}
	}
	return out, nil
}

// uncheckedIn walks a profile's tree, into datatypes no deeper than the
// resource's own elements need (depth bounds the Extension recursion).
func (r *registry) uncheckedIn(p *profile, e *element, depth int, seen map[*element]bool, base map[string]bool, out *[]Unchecked) {
	if seen[e] || depth > 6 {
		return
	}
	seen[e] = true
	add := func(rule, reason string) {
		u := Unchecked{Profile: p.url, Path: e.id, Rule: rule, Reason: reason}
		if !slices.Contains(*out, u) {
			*out = append(*out, u)
		}
	}
	if b := e.binding; b != nil && (b.strength == "required" || b.strength == "extensible") {
		coded := false
		for _, t := range e.types {
			coded = coded || t.code == "CodeableConcept" || t.code == "Coding" || (t.code == "code" && !b.base)
		}
		if x := r.terms.expand(b.valueSet); coded && x.codes == nil {
			add(b.strength+" binding", x.reason)
		}
	}
	for _, inv := range e.invs {
		switch {
		case inv.base && inv.key != "ext-1":
			base[inv.key] = true
		case !inv.base && invariants[inv.key] == nil:
			add("invariant "+inv.key, "no FHIRPath engine: "+inv.expression)
		}
	}
	for _, s := range e.slices {
		if e.slicing == nil && e.name != "extension" && e.name != "modifierExtension" {
			add("slicing", "sliced without a discriminator")
		}
		if len(s.types) == 1 && s.types[0].code == "Extension" {
			for _, prof := range s.types[0].profiles {
				if r.profiles[prof] == nil {
					*out = append(*out, Unchecked{Profile: p.url, Path: s.id, Rule: "extension definition",
						Reason: prof + " is not embedded (only the slice's cardinality and the R4 Extension rules are checked)"})
				}
			}
		}
		r.uncheckedIn(p, s, depth+1, seen, base, out)
	}
	for _, c := range e.children {
		r.uncheckedIn(p, c, depth+1, seen, base, out)
	}
}
