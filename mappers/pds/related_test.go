package pds_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/model/redact"
	"github.com/carerecords/fhir-facade/profiles/ukcore"
)

const ukcoreRelatedPerson = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-RelatedPerson"

// relatedGolden is what a testdata/related/<case>.golden.json holds: the
// RelatedPerson resources mapped (printed by jsonformat, each valid against
// the FHIR R4 JSON schema) and the problems reported.
type relatedGolden struct {
	RelatedPerson []json.RawMessage `json:"relatedPerson"`
	Problems      []string          `json:"problems,omitempty"`
}

// TestRelatedPeopleGolden maps PDS's related-people answers
// (testdata/related/SOURCES.md) for the patient each was answered for, and
// compares the result with the case's golden; the golden's resources must
// be the input's with exactly the documented changes (relatedExpected),
// parse back with jsonformat and pass the R4 JSON schema.
func TestRelatedPeopleGolden(t *testing.T) {
	cases := []struct {
		name   string
		nhs    string // the patient the answer was for
		people int
	}{
		{"stub_related_person_9000000009", "9000000009", 2},
		{"stub_related_person_9000000017", "9000000017", 1},
		{"spec_RelatedPersonBundle", "9000000009", 1},
		{"spec_Personal_Details_RelatedPersonBundle", "9000000017", 1},
		{"spec_Referenced_RelatedPersonBundle", "9000000009", 1},
		{"derived_empty_9000000025", "9000000025", 0},
		{"generated_9994392727", "9994392727", 1},
		{"generated_9992235934", "9992235934", 1},
	}
	inputs, _ := filepath.Glob("testdata/related/*.in.json")
	if len(inputs) != len(cases) {
		t.Errorf("%d cases for %d testdata/related inputs: every input needs a case", len(cases), len(inputs))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join("testdata", "related", tc.name)
			raw, err := os.ReadFile(base + ".in.json")
			if err != nil {
				t.Fatal(err)
			}
			got, err := pds.RelatedPeopleOf(raw, tc.nhs)
			if err != nil {
				t.Fatalf("RelatedPeopleOf: %v", err)
			}
			if len(got.People) != tc.people || !got.Complete() {
				t.Fatalf("%d people, problems %q; want %d, none", len(got.People), got.Problems, tc.people)
			}
			g := relatedGolden{RelatedPerson: goldentest.Compact(t, got.People...), Problems: got.Problems}
			golden := goldentest.Check(t, base+".golden.json", goldentest.JSON(t, g))
			var back relatedGolden
			if err := json.Unmarshal(golden, &back); err != nil {
				t.Fatal(err)
			}
			goldentest.ParseBack(t, back.RelatedPerson)
			want := relatedExpected(t, raw, tc.nhs)
			if len(want) != len(back.RelatedPerson) {
				t.Fatalf("golden holds %d resources, the input %d", len(back.RelatedPerson), len(want))
			}
			for i, r := range back.RelatedPerson {
				if got := goldentest.DecodeAny(t, r); !reflect.DeepEqual(got, want[i]) {
					w, _ := json.Marshal(want[i])
					t.Errorf("resource %d is not the input's with the documented changes:\n got %s\nwant %s", i, r, w)
				}
			}
		})
	}
}

// relatedExpected applies to each entry of a PDS answer (generic JSON) what
// the mapping is documented to change: the id prefixed with the patient's
// NHS number; meta.profile UK Core RelatedPerson; patient.identifier (the
// related person's NHS number) as an identifier, and patient the patient
// searched; each relationship coding a concept of its own, under its code
// system, a role under PDS's role system with UK Core's coding of it
// beside it; zero offsets as Z.
func relatedExpected(t *testing.T, raw []byte, nhs string) []any {
	t.Helper()
	b := goldentest.DecodeAny(t, raw).(map[string]any)
	entries, _ := b["entry"].([]any)
	out := make([]any, 0, len(entries))
	for _, e := range entries {
		res := e.(map[string]any)["resource"].(map[string]any)
		res["id"] = nhs + "-" + res["id"].(string)
		res["meta"] = map[string]any{"profile": []any{ukcoreRelatedPerson}}
		if p, _ := res["patient"].(map[string]any); p != nil {
			if id, _ := p["identifier"].(map[string]any); id != nil {
				res["identifier"] = []any{map[string]any{"system": nhsnumber.System, "value": id["value"]}}
			}
		}
		res["patient"] = map[string]any{"reference": "Patient/" + nhs}
		var rel []any
		for _, cc := range res["relationship"].([]any) {
			for _, c := range cc.(map[string]any)["coding"].([]any) {
				c := c.(map[string]any)
				if c["system"] == pds.RelationshipTypeValueSet {
					switch c["code"] {
					case "N", "U":
						c["system"] = pds.ContactRoleSystem
					case "PRN", "MTH", "FTH", "FAMMEMB", "SPS", "CHILD":
						c["system"] = pds.RoleCodeSystem
					}
				}
				concept := []any{c}
				if d, ok := pds.UKCoreRoles()[c["code"].(string)]; ok && c["system"] == pds.PDSRoleSystem {
					concept = append(concept, map[string]any{"system": pds.UKCoreRoleSystem, "code": c["code"], "display": d})
				}
				rel = append(rel, map[string]any{"coding": concept})
			}
		}
		res["relationship"] = rel
		out = append(out, goldentest.ZeroOffsetsAsZ(res))
	}
	return out
}

// TestRelatedPeopleProblems: an entry the facade cannot read is left out
// and named (never by its value), an invalid extension is left out of an
// entry kept, a short answer is said to be short, and an answer that is no
// searchset is an error.
func TestRelatedPeopleProblems(t *testing.T) {
	const good = `{"resourceType":"RelatedPerson","id":"A1","patient":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}},` +
		`"relationship":[{"coding":[{"system":"https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole","code":"Guardian"}]}]}`
	bundle := func(total int, entries ...string) string {
		var es []string
		for _, e := range entries {
			es = append(es, `{"resource":`+e+`}`)
		}
		return `{"resourceType":"Bundle","type":"searchset","total":` + strconv.Itoa(total) + `,"entry":[` + strings.Join(es, ",") + `]}`
	}
	with := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	tests := []struct {
		name     string
		body     string
		people   []string // ids mapped
		problems []string
		err      bool
	}{
		{name: "one good", body: bundle(1, good), people: []string{"9000000017-A1"}},
		{name: "bad NHS number of the related person", body: bundle(2, with(`"9000000009"`, `"9000000000"`)),
			people: []string{}, problems: []string{"entry[0]: patient.identifier.value: not a valid NHS number", "the answer counts 1 more related people than it holds"}},
		{name: "no id", body: bundle(2, good, with(`"id":"A1",`, ``)), people: []string{"9000000017-A1"},
			problems: []string{"entry[1]: id: missing, or not an id the facade can extend (1-53 of A-Z a-z 0-9 .)"}},
		{name: "duplicate id", body: bundle(2, good, good), people: []string{"9000000017-A1"},
			problems: []string{"entry[1]: id: a duplicate of another entry's"}},
		{name: "invalid date, never quoted", body: bundle(1, with(`"relationship"`, `"period":{"start":"Jane Smith"},"relationship"`)), people: []string{},
			problems: []string{"entry[0]: period.start: an invalid value"}},
		{name: "invalid extension left out of a person kept", body: bundle(1, with(`"relationship"`, `"extension":[{"url":"https://x.test/e"}],"relationship"`)),
			people: []string{"9000000017-A1"}, problems: []string{"entry[0].extension[0]: an invalid extension, left out"}},
		{name: "not a RelatedPerson", body: bundle(1, `{"resourceType":"Patient","id":"9000000009"}`), people: []string{},
			problems: []string{"entry[0]: resource: not a RelatedPerson"}},
		{name: "short answer", body: bundle(3, good), people: []string{"9000000017-A1"},
			problems: []string{"the answer counts 2 more related people than it holds"}},
		{name: "OperationOutcome", body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`, err: true},
		{name: "not JSON", body: `<html>`, err: true},
		{name: "a batch", body: `{"resourceType":"Bundle","type":"batch-response"}`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pds.RelatedPeopleOf([]byte(tt.body), "9000000017")
			if tt.err {
				if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
					t.Fatalf("err = %v, want a BadGateway", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, p := range got.People {
				ids = append(ids, p.GetId().GetValue())
			}
			if !reflect.DeepEqual(ids, tt.people) {
				t.Errorf("people = %v, want %v", ids, tt.people)
			}
			if !reflect.DeepEqual(got.Problems, tt.problems) {
				t.Errorf("problems = %q, want %q", got.Problems, tt.problems)
			}
			if strings.Contains(strings.Join(got.Problems, " "), "Jane") {
				t.Error("a problem quotes a value")
			}
		})
	}
}

func TestRelatedPersonID(t *testing.T) {
	tests := []struct {
		id, nhs, pdsID string
		ok             bool
	}{
		{"9000000009-507B7621", "9000000009", "507B7621", true},
		{pds.RelatedPersonID("9000000017", "F4CF8B96"), "9000000017", "F4CF8B96", true},
		{"9000000000-507B7621", "", "", false}, // bad check digit
		{"9000000009", "", "", false},
		{"9000000009-", "", "", false},
		{"9000000009-a-b", "", "", false},
		{"9000000009-" + strings.Repeat("A", 54), "", "", false},
		{"9000000009-a_b", "", "", false},
	}
	for _, tt := range tests {
		nhs, pdsID, ok := pds.ParseRelatedPersonID(tt.id)
		if nhs != tt.nhs || pdsID != tt.pdsID || ok != tt.ok {
			t.Errorf("ParseRelatedPersonID(%q) = %q, %q, %v; want %q, %q, %v", tt.id, nhs, pdsID, ok, tt.nhs, tt.pdsID, tt.ok)
		}
	}
}

// TestRelatedPeopleOfARestrictedPatientRedacted: PDS returns no related
// people for a restricted patient; were it to, what the server would serve
// (model/redact, as for every resource about such a patient) keeps no
// address or phone, is labelled REDACTED, and is still valid R4.
func TestRelatedPeopleOfARestrictedPatientRedacted(t *testing.T) {
	raw, err := os.ReadFile("testdata/related/stub_related_person_9000000009.in.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pds.RelatedPeopleOf(raw, "9000000009")
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range got.People {
		msg, _ := redact.Locating(rp)
		out := msg.(*rppb.RelatedPerson)
		if len(out.GetAddress()) != 0 || len(out.GetTelecom()) != 0 {
			t.Errorf("%s keeps an address or telecom", out.GetId().GetValue())
		}
		labelled := false
		for _, c := range out.GetMeta().GetSecurity() {
			labelled = labelled || c.GetCode().GetValue() == redact.SecurityCode
		}
		if had := len(rp.GetAddress())+len(rp.GetTelecom()) > 0; had != labelled {
			t.Errorf("%s: REDACTED label %v, want %v", out.GetId().GetValue(), labelled, had)
		}
		if out.GetPatient().GetPatientId().GetValue() != "9000000009" {
			t.Errorf("%s: the patient reference went", out.GetId().GetValue())
		}
		goldentest.Compact(t, out) // valid R4
	}
}

// TestRelatedPeopleMeetUKCore: every related person of the goldens meets UK
// Core RelatedPerson with no issue at all, not even an extensible binding's
// warning: each relationship concept has a code from
// UKCore-PersonRelationshipType.
func TestRelatedPeopleMeetUKCore(t *testing.T) {
	goldens, _ := filepath.Glob("testdata/related/*.golden.json")
	n := 0
	for _, path := range goldens {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var g relatedGolden
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		for i, r := range g.RelatedPerson {
			n++
			rep, err := ukcore.Validate(r, ukcore.Options{Require: []string{"RelatedPerson"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, issue := range rep.Issues {
				t.Errorf("%s relatedPerson[%d]: %v", path, i, issue)
			}
		}
	}
	if n == 0 {
		t.Fatal("no related person in the goldens")
	}
}

// TestRelationshipCodesInUKCore: each relationship code PDS documents (the
// type and next-of-kin codes under the R4 ValueSet URL, and each role under
// its own role system) is mapped into a concept that meets UK Core's
// extensible binding: a code of UKCore-PersonRelationshipType, no warning.
func TestRelationshipCodesInUKCore(t *testing.T) {
	type coding struct{ system, code string }
	var codes []coding
	for _, c := range []string{"SPS", "DOMPART", "PRN", "PRNFOST", "STPPRN", "CHILD", "MTH", "FTH", "SIS", "BRO", "FAMMEMB", "ONESELF", "N", "U"} {
		codes = append(codes, coding{pds.RelationshipTypeValueSet, c})
	}
	for c := range pds.UKCoreRoles() {
		codes = append(codes, coding{pds.PDSRoleSystem, c})
	}
	for _, c := range codes {
		t.Run(c.code, func(t *testing.T) {
			body := `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"RelatedPerson","id":"A1",` +
				`"relationship":[{"coding":[{"system":"` + c.system + `","code":"` + c.code + `"}]}]}}]}`
			got, err := pds.RelatedPeopleOf([]byte(body), "9000000009")
			if err != nil || len(got.People) != 1 {
				t.Fatalf("%v, %v", got, err)
			}
			for _, r := range goldentest.Compact(t, got.People[0]) {
				rep, err := ukcore.Validate(r, ukcore.Options{Require: []string{"RelatedPerson"}})
				if err != nil {
					t.Fatal(err)
				}
				for _, issue := range rep.Issues {
					t.Errorf("%s: %v", r, issue)
				}
			}
		})
	}
}

// TestUKCoreRoles: the mapping's table of UK Core's roles is the code
// system profiles/ukcore checks against, code for code and display for
// display.
func TestUKCoreRoles(t *testing.T) {
	want, ok := ukcore.Concepts(pds.UKCoreRoleSystem)
	if !ok {
		t.Fatalf("profiles/ukcore has no %s", pds.UKCoreRoleSystem)
	}
	if got := pds.UKCoreRoles(); !reflect.DeepEqual(got, want) {
		t.Errorf("roles %v, UK Core's %v", got, want)
	}
}
