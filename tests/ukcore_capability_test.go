package tests

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/carerecords/fhir-facade/backends/bna"
	"github.com/carerecords/fhir-facade/mappers/declared"
	"github.com/carerecords/fhir-facade/profiles/extensions"
	sandboxcpis "github.com/carerecords/fhir-facade/sandbox/cpis"
	sandboxpds "github.com/carerecords/fhir-facade/sandbox/pds"
)

// seen is what every FHIR answer of the run declared (checkUKCore notes
// each): the meta.profile of each resource type, and every extension url.
var seen = struct {
	sync.Mutex
	profiles   map[string]map[string]bool // resource type -> profile -> true
	extensions map[string]string          // url -> a path where it was seen
}{profiles: map[string]map[string]bool{}, extensions: map[string]string{}}

// noteDeclared records the profiles and extension urls of a FHIR answer
// (every resource in it: Bundle entries, contained).
func noteDeclared(raw []byte) {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return
	}
	seen.Lock()
	defer seen.Unlock()
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case []any:
			for _, item := range x {
				walk(item, path)
			}
		case map[string]any:
			if rt, ok := x["resourceType"].(string); ok {
				path = rt
				meta, _ := x["meta"].(map[string]any)
				if seen.profiles[rt] == nil {
					seen.profiles[rt] = map[string]bool{}
				}
				for _, p := range strs(meta["profile"]) {
					seen.profiles[rt][p] = true
				}
				if len(strs(meta["profile"])) == 0 {
					seen.profiles[rt][""] = true // one served without a profile
				}
			}
			for k, child := range x {
				if k == "extension" || k == "modifierExtension" {
					for _, e := range asList(child) {
						if m, ok := e.(map[string]any); ok {
							if u, ok := m["url"].(string); ok && strings.Contains(u, "/") {
								seen.extensions[u] = path + "." + k
							}
						}
					}
				}
				walk(child, path+"."+k)
			}
		}
	}
	walk(doc, "")
}

// ukcoreAnswers asks the sandbox's patients for every type with a UK Core
// profile, every source of flags (RA, CP-IS, FGM-IS, OVM) and $summary, and
// the dev clinician's own Practitioner, so the tests below see them even
// when run alone.
func ukcoreAnswers(t *testing.T) {
	t.Helper()
	if r := get(t, "/Practitioner/"+sampleIDs["Practitioner"]); r.status != 200 {
		t.Fatalf("GET the caller's Practitioner: %d %.300s", r.status, r.raw)
	}
	for _, nhs := range []string{"9000000009", "9000000017"} {
		paths := []string{"/Patient/" + nhs, "/Patient/" + nhs + "/$summary"}
		for typ, param := range map[string]string{"AllergyIntolerance": "patient", "MedicationStatement": "patient",
			"Flag": "patient", "Immunization": "patient", "DocumentReference": "subject", "RelatedPerson": "patient"} {
			paths = append(paths, "/"+typ+"?"+param+"="+nhs)
		}
		paths = append(paths, "/Flag?patient="+nhs+"&status=inactive") // ended plans and statuses too
		for _, p := range paths {
			if r := get(t, p); r.status != 200 {
				t.Fatalf("GET %s: %d %.300s", p, r.status, r.raw)
			}
		}
	}
}

// TestCapabilityProfilesAreTrue: the CapabilityStatement claims, for each
// type, exactly the UK Core profile that type's served resources declare,
// and every type served declaring a UK Core profile has it claimed; the one
// exception, Composition (served only inside $summary's document), is
// named by the $summary OperationDefinition instead.
func TestCapabilityProfilesAreTrue(t *testing.T) {
	ukcoreAnswers(t)
	_, rest := statementDoc(t)
	claimed := map[string][]string{}
	listed := map[string]bool{}
	for _, r := range asList(rest["resource"]) {
		res := r.(map[string]any)
		typ := res["type"].(string)
		listed[typ] = true
		if sp := strs(res["supportedProfile"]); len(sp) > 0 {
			claimed[typ] = sp
		}
		if p, ok := res["profile"].(string); ok && !slices.Contains(claimed[typ], p) {
			t.Errorf("%s: profile %s is not among its supportedProfile %v", typ, p, claimed[typ])
		}
	}
	if len(claimed) == 0 {
		t.Fatal("the CapabilityStatement claims no supportedProfile")
	}
	seen.Lock()
	served := map[string]map[string]bool{}
	for typ, ps := range seen.profiles {
		served[typ] = maps.Clone(ps)
	}
	seen.Unlock()
	// Claimed: every resource of the type served declares it (and only it).
	for typ, profs := range claimed {
		got := served[typ]
		if len(got) == 0 {
			t.Errorf("%s: claims %v, but no %s was served to check it", typ, profs, typ)
			continue
		}
		if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, profs) {
			t.Errorf("%s: claims %v, its served resources declare %v (\"\" = none)", typ, profs, keys)
		}
		if want, _ := declared.Profile(typ); !slices.Equal(profs, []string{want}) {
			t.Errorf("%s: claims %v, the mappers declare %s", typ, profs, want)
		}
	}
	// Declared: every served type with a UK Core profile has it claimed.
	for typ, got := range served {
		for p := range got {
			if !strings.HasPrefix(p, "https://fhir.hl7.org.uk/StructureDefinition/UKCore-") || slices.Contains(claimed[typ], p) {
				continue
			}
			if typ == "Composition" && !listed[typ] {
				od := get(t, "/OperationDefinition/Patient-summary")
				if od.status != 200 || !strings.Contains(string(od.raw), p) {
					t.Errorf("Composition declares %s: neither claimed nor named by the $summary OperationDefinition: %.400s", p, od.raw)
				}
				continue
			}
			t.Errorf("%s declares %s, which the CapabilityStatement does not claim (supportedProfile %v)", typ, p, claimed[typ])
		}
	}
	if !served["Composition"][declared.Composition] {
		t.Errorf("no Composition declaring %s was served ($summary)", declared.Composition)
	}
}

// knownPublishers are the bases of extension URLs published by others
// (HL7, HL7 UK, NHS England, SMART), which the national services send and
// the facade passes on; this test cannot resolve them offline.
var knownPublishers = []string{"http://hl7.org/fhir/StructureDefinition/", "https://fhir.hl7.org.uk/StructureDefinition/",
	"https://fhir.nhs.uk/", "http://fhir-registry.smarthealthit.org/StructureDefinition/"}

// TestExtensionURLsResolve: every extension url the facade answered with in
// this run (checkUKCore notes them) is another publisher's, or resolves on
// the facade that emitted it to a StructureDefinition whose url is exactly
// it; none is a placeholder (.invalid). The facade's own are seen at least:
// CP-IS's and OVM's on 9000000009's and 9000000017's flags.
func TestExtensionURLsResolve(t *testing.T) {
	ukcoreAnswers(t)
	seen.Lock()
	urls := maps.Clone(seen.extensions)
	seen.Unlock()
	own := map[string]bool{}
	for u, where := range urls {
		switch {
		case strings.Contains(u, ".invalid"):
			t.Errorf("%s (at %s): a placeholder left the facade", u, where)
		case strings.HasPrefix(u, env.url+"/"):
			id, _ := extensions.ID(u)
			own[id] = true
			r := get(t, strings.TrimPrefix(u, env.url))
			if r.status != 200 || r.body["resourceType"] != "StructureDefinition" || r.body["url"] != u {
				t.Errorf("%s (at %s) does not resolve to its StructureDefinition: %d %.300s", u, where, r.status, r.raw)
			}
		case slices.ContainsFunc(knownPublishers, func(p string) bool { return strings.HasPrefix(u, p) }):
		default:
			if _, ok := extensions.ID(u); !ok || !strings.HasPrefix(u, "http://127.0.0.1:") {
				// Another test facade's base is fine for a published id.
				t.Errorf("%s (at %s): neither another publisher's nor published by the facade", u, where)
			}
		}
	}
	for _, id := range []string{extensions.OVMRecordingOrganisationContact, extensions.CPISLocalAuthorityContact, extensions.CPISContactType} {
		if !own[id] {
			t.Errorf("no answer carried the facade's %s extension: its resolution went unchecked", id)
		}
	}
}

// TestStructureDefinitionsPublished: each extension the facade publishes is
// read publicly at its canonical, valid R4 (call checks), listed in the
// CapabilityStatement's StructureDefinition documentation; the simulators'
// contracts name the same placeholders the definitions do.
func TestStructureDefinitionsPublished(t *testing.T) {
	_, rest := statementDoc(t)
	var doc string
	for _, r := range asList(rest["resource"]) {
		res := r.(map[string]any)
		if res["type"] == "StructureDefinition" {
			doc, _ = res["documentation"].(string)
			if !slices.Equal(interactionCodes(res), []string{"read"}) {
				t.Errorf("StructureDefinition interactions %v, want read only", interactionCodes(res))
			}
		}
	}
	for _, id := range extensions.IDs() {
		canonical := extensions.Canonical(env.url, id)
		if !strings.Contains(doc, id) {
			t.Errorf("the CapabilityStatement does not list %s: %q", id, doc)
		}
		status, body := publicGet(t, canonical)
		if status != 200 || body["url"] != canonical || body["id"] != id || body["kind"] != "complex-type" || body["type"] != "Extension" {
			t.Errorf("GET %s without a token: %d %v", canonical, status, body)
		}
		if r := get(t, "/StructureDefinition/"+id); r.status != 200 {
			t.Errorf("GET StructureDefinition/%s: %d", id, r.status)
		}
	}
	if r := get(t, "/StructureDefinition/patient-birthTime"); r.status != 404 {
		t.Errorf("an HL7 extension is not the facade's to serve: %d %.200s", r.status, r.raw)
	}
	for name, got := range map[string]string{
		"sandbox/cpis ContactTypeURL":     sandboxcpis.ContactTypeURL,
		"sandbox/pds MotherNHSNumberURL":  sandboxpds.MotherNHSNumberURL,
		"backends/bna MotherNHSNumberURL": bna.MotherNHSNumberURL,
	} {
		if id, ok := extensions.ID(got); !ok || got != extensions.Prefix+id {
			t.Errorf("%s is %s: not a published extension's placeholder", name, got)
		}
	}
}
