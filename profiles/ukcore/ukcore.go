// Package ukcore checks FHIR R4 resources against the UK Core profiles the
// facade declares, offline, from the UK Core StructureDefinitions embedded
// in definitions/ and, for RelatedPerson and Practitioner (whose published
// files are not embedded), from the rules their differentials state, written
// as data in derived.go (see SOURCES.md).
//
// Why a Go checker: the reference FHIR validator (HL7's, in Java) is a jar
// download that this project's machines and CI cannot fetch, and it resolves
// packages from the FHIR package registry, also unreachable. The npm registry
// offers FHIR JSON-schema validators (what package profiles already does) and
// early FHIRSchema converters that load packages from that same registry; none
// validates a profile offline from files we ship. UK Core's differentials are
// small, so this package applies what they state directly.
//
// How: each profile's element tree is its R4 base type's snapshot (the R4
// StructureDefinitions in definitions/r4) with the differential applied:
// min/max, fixed[x] and pattern[x], type restrictions, bindings, slicing and
// invariants; slices are created where the differential names them. A
// resource is then checked element by element:
//
//   - cardinality of every element path, of the R4 base and of the profile,
//     including slices: extension slices by url (implicitly), other slices by
//     a value or pattern discriminator (Patient.identifier:nhsNumber by
//     system);
//   - fixed and pattern values; the types a choice element may take;
//   - bindings: required: a coding must come from the value set; extensible:
//     a code of one of the value set's systems must be in it (error) and a
//     concept with no coding from it is a warning; value sets are expanded
//     from the embedded ValueSets and CodeSystems (and the derived ones),
//     including "concept is-a" filters on a code system with an is-a
//     hierarchy (v3 RoleCode);
//   - every extension whose StructureDefinition is embedded (UK Core's NHS
//     number verification status and OVM charging category, HL7's patient and
//     organization extensions UK Core names, and the facade's own from
//     package extensions, under any deployment's base), wherever it sits,
//     against that definition, and its repeats against the definition's
//     max; a facade extension that is not published is an error;
//   - invariants: the differentials' own (UK Core's ukcore-imm-001) by hand,
//     and R4's ext-1.
//
// What cannot be checked offline is reported in Report.Unchecked, never
// passed silently: value sets not embedded or defined by filter (SNOMED CT
// ECL, BCP-47 languages), extension definitions not embedded, discriminators
// of another type, and FHIRPath invariants with no hand-written check.
// AllChecks lists them per profile. Must-support is not a validation rule and
// is not checked. Base R4 code bindings are left to the R4 JSON schema
// (package profiles), which enumerates them.
package ukcore

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Issue is one rule a resource breaks.
type Issue struct {
	Profile  string // canonical URL of the profile (or extension definition)
	Path     string // FHIRPath-like: Patient.identifier[0].extension[0]
	Rule     string // cardinality, fixed, pattern, type, required binding, ...
	Severity string // error or warning
	Message  string
}

func (i Issue) String() string {
	return fmt.Sprintf("%s %s: %s at %s: %s", i.Severity, i.Profile, i.Rule, i.Path, i.Message)
}

// Unchecked is a rule that applies but this package cannot evaluate offline.
type Unchecked struct {
	Profile, Path, Rule, Reason string
}

func (u Unchecked) String() string {
	return fmt.Sprintf("not checked: %s %s at %s: %s", u.Profile, u.Rule, u.Path, u.Reason)
}

// Report is what Validate found.
type Report struct {
	Issues    []Issue
	Unchecked []Unchecked
}

// Errors are the issues of severity error.
func (r *Report) Errors() []Issue {
	var out []Issue
	for _, i := range r.Issues {
		if i.Severity == "error" {
			out = append(out, i)
		}
	}
	return out
}

// Err is nil when the report has no error, or an error listing every one.
func (r *Report) Err() error {
	errs := r.Errors()
	if len(errs) == 0 {
		return nil
	}
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.String()
	}
	return fmt.Errorf("%d UK Core error(s):\n  %s", len(errs), strings.Join(lines, "\n  "))
}

// Options tune Validate.
type Options struct {
	// Require lists resource types that must declare their embedded UK
	// Core profile in meta.profile.
	Require []string
}

var (
	buildOnce sync.Once
	reg       *registry
	regErr    error
)

func load() (*registry, error) {
	buildOnce.Do(func() { reg, regErr = build() })
	return reg, regErr
}

// ProfileFor is the canonical URL of the embedded UK Core profile for a
// resource type.
func ProfileFor(resourceType string) (string, bool) {
	r, err := load()
	if err != nil {
		return "", false
	}
	for url, p := range r.profiles {
		if p.typ == resourceType && strings.HasPrefix(url, "https://fhir.hl7.org.uk/StructureDefinition/UKCore-") {
			return url, true
		}
	}
	return "", false
}

// Validate checks a resource against every profile its meta.profile names,
// and so each resource a Bundle's entries, contained or a Parameters carries.
// A declared profile that is not embedded is an error (nothing can be
// checked). The error result is for input that is not a JSON object, or
// definitions that do not load.
func Validate(resource []byte, opts Options) (*Report, error) {
	r, err := load()
	if err != nil {
		return nil, fmt.Errorf("ukcore: loading definitions: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(resource, &doc); err != nil {
		return nil, fmt.Errorf("ukcore: not a JSON object: %w", err)
	}
	rep := &Report{}
	r.resource(doc, "", opts, rep)
	return rep, nil
}

// Check validates a resource against the named profile only, declared or not.
func Check(resource []byte, canonical string) (*Report, error) {
	r, err := load()
	if err != nil {
		return nil, fmt.Errorf("ukcore: loading definitions: %w", err)
	}
	p := r.profiles[canonical]
	if p == nil {
		return nil, fmt.Errorf("ukcore: %s is not embedded", canonical)
	}
	var doc map[string]any
	if err := json.Unmarshal(resource, &doc); err != nil {
		return nil, fmt.Errorf("ukcore: not a JSON object: %w", err)
	}
	rep := &Report{}
	r.against(doc, p, p.typ, rep)
	return rep, nil
}

func (r *registry) resource(doc map[string]any, path string, opts Options, rep *Report) {
	rt, _ := doc["resourceType"].(string)
	if path == "" {
		path = rt
	}
	declared := false
	meta, _ := doc["meta"].(map[string]any)
	for _, v := range list(meta["profile"]) {
		s, _ := v.(string)
		url, _, _ := strings.Cut(s, "|")
		p := r.profiles[url]
		switch {
		case p == nil && strings.HasPrefix(url, "https://fhir.hl7.org.uk/"):
			rep.Issues = append(rep.Issues, Issue{Profile: url, Path: path + ".meta.profile", Rule: "profile", Severity: "error",
				Message: "a UK Core profile that is not embedded: nothing could be checked"})
		case p == nil:
			rep.Unchecked = append(rep.Unchecked, Unchecked{Profile: url, Path: path + ".meta.profile", Rule: "profile", Reason: "profile not embedded"})
		case p.typ != rt:
			rep.Issues = append(rep.Issues, Issue{Profile: url, Path: path + ".meta.profile", Rule: "profile", Severity: "error",
				Message: fmt.Sprintf("profiles a %s, this is a %s", p.typ, rt)})
		default:
			declared = declared || strings.HasPrefix(url, "https://fhir.hl7.org.uk/StructureDefinition/UKCore-")
			r.against(doc, p, path, rep)
		}
	}
	if !declared && slices.Contains(opts.Require, rt) {
		want, _ := ProfileFor(rt)
		rep.Issues = append(rep.Issues, Issue{Profile: want, Path: path + ".meta.profile", Rule: "declared", Severity: "error",
			Message: fmt.Sprintf("a %s must declare its UK Core profile", rt)})
	}
	for i, c := range list(doc["contained"]) {
		if m, ok := c.(map[string]any); ok {
			r.resource(m, fmt.Sprintf("%s.contained[%d]", path, i), opts, rep)
		}
	}
	for i, e := range list(doc["entry"]) {
		if m, ok := e.(map[string]any); ok {
			if res, ok := m["resource"].(map[string]any); ok {
				r.resource(res, fmt.Sprintf("%s.entry[%d].resource", path, i), opts, rep)
			}
		}
	}
	for i, e := range list(doc["parameter"]) {
		if m, ok := e.(map[string]any); ok {
			if res, ok := m["resource"].(map[string]any); ok {
				r.resource(res, fmt.Sprintf("%s.parameter[%d].resource", path, i), opts, rep)
			}
		}
	}
}

func (r *registry) against(doc map[string]any, p *profile, path string, rep *Report) {
	(&run{reg: r, prof: p, rep: rep}).element(p.root, doc, nil, path, p.typ)
	r.extensions(doc, path, rep, p)
}

// Concepts are the codes (and their displays) of a code system the checker
// embeds or derives, so that a mapper's own table of them can be held to it;
// ok is false for a code system it does not have.
func Concepts(system string) (codes map[string]string, ok bool) {
	r, err := load()
	if err != nil {
		return nil, false
	}
	cs := r.terms.codeSystems[system]
	if cs == nil {
		return nil, false
	}
	return maps.Clone(cs.codes), true
}
