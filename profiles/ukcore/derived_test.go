package ukcore

import (
	"strings"
	"testing"
)

// TestDerivedPersonRelationshipType: the value set written from UK Core's
// compose expands, from the embedded v2 0131 and v3 RoleCode and the derived
// UK Core code system, to the 131 codes the published file's own expansion
// counts, split as its compose says.
func TestDerivedPersonRelationshipType(t *testing.T) {
	r, err := load()
	if err != nil {
		t.Fatal(err)
	}
	x := r.terms.expand(ukcoreVS + "UKCore-PersonRelationshipType")
	if x.codes == nil {
		t.Fatalf("not expanded: %s", x.reason)
	}
	total := 0
	for sys, want := range map[string]int{
		"http://terminology.hl7.org/CodeSystem/v2-0131":      11, // 12 less O
		"http://terminology.hl7.org/CodeSystem/v3-RoleCode":  109,
		ukcoreCS + "UKCore-AdditionalPersonRelationshipRole": 11,
	} {
		if got := len(x.codes[sys]); got != want {
			t.Errorf("%s: %d codes, want %d", sys, got, want)
		}
		total += len(x.codes[sys])
	}
	if total != 131 || len(x.codes) != 3 {
		t.Errorf("%d codes in %d systems, want 131 in 3", total, len(x.codes))
	}
	for _, c := range []struct {
		system, code string
		in           bool
	}{
		{"http://terminology.hl7.org/CodeSystem/v3-RoleCode", "MTH", true},
		{"http://terminology.hl7.org/CodeSystem/v3-RoleCode", "GGRMTH", true}, // three levels down
		{"http://terminology.hl7.org/CodeSystem/v3-RoleCode", "_PersonalRelationshipRoleType", false},
		{"http://terminology.hl7.org/CodeSystem/v3-RoleCode", "NOK", false}, // a contact role
		{"http://terminology.hl7.org/CodeSystem/v2-0131", "N", true},
		{"http://terminology.hl7.org/CodeSystem/v2-0131", "O", false},
		{ukcoreCS + "UKCore-AdditionalPersonRelationshipRole", "Guardian", true},
	} {
		if _, in := x.codes[c.system][c.code]; in != c.in {
			t.Errorf("%s|%s in the value set: %v, want %v", c.system, c.code, in, c.in)
		}
	}
}

// TestFilters: is-a includes the code, descendent-of does not; a filter the
// package cannot evaluate is a reason, never an empty selection.
func TestFilters(t *testing.T) {
	cs := &codeSystem{url: "urn:cs", content: "complete", hierarchy: "is-a",
		codes:    map[string]string{"A": "", "B": "", "C": "", "D": ""},
		children: map[string][]string{"A": {"B"}, "B": {"C"}}}
	for _, c := range []struct {
		f      vsFilter
		want   string // sorted codes
		reason string
	}{
		{vsFilter{"concept", "is-a", "A"}, "ABC", ""},
		{vsFilter{"concept", "descendent-of", "A"}, "BC", ""},
		{vsFilter{"concept", "is-a", "D"}, "D", ""},
		{vsFilter{"concept", "is-a", "Z"}, "", "no such code"},
		{vsFilter{"concept", "=", "A"}, "", "not evaluated offline"},
		{vsFilter{"constraint", "=", "<< 123"}, "", "not evaluated offline"},
	} {
		sel, reason := cs.filtered([]vsFilter{c.f})
		var got []byte
		for _, k := range []string{"A", "B", "C", "D"} {
			if sel[k] {
				got = append(got, k...)
			}
		}
		if string(got) != c.want || (c.reason == "") != (reason == "") || !strings.Contains(reason, c.reason) {
			t.Errorf("%v: %q, %q; want %q, %q", c.f, got, reason, c.want, c.reason)
		}
	}
	flat := &codeSystem{url: "urn:flat", content: "complete", codes: map[string]string{"A": ""}}
	if _, reason := flat.filtered([]vsFilter{{"concept", "is-a", "A"}}); reason == "" {
		t.Error("is-a on a code system without an is-a hierarchy was evaluated")
	}
}

func TestConcepts(t *testing.T) {
	got, ok := Concepts(ukcoreCS + "UKCore-AdditionalPersonRelationshipRole")
	if !ok || len(got) != 11 || got["Guardian"] != "Guardian of patient" {
		t.Errorf("UK Core's additional roles: %v, %v", got, ok)
	}
	if got, ok := Concepts("http://terminology.hl7.org/CodeSystem/v2-0131"); !ok || got["N"] != "Next-of-Kin" {
		t.Errorf("v2 0131: %v, %v", got, ok)
	}
	if _, ok := Concepts("urn:none"); ok {
		t.Error("a code system not embedded")
	}
}
