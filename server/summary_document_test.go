package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// TestBuildSection: what a section says for each way its sources answered.
// The safety case: emptyReason nilknown only when every source answered
// in full with nothing; records from a source read in part kept, and the
// list marked partial.
func TestBuildSection(t *testing.T) {
	allergies := summarySections[0]
	rec := []docEntry{{res: &resources.Resource{Type: "AllergyIntolerance", ID: "a1"},
		body: []byte(`{"resourceType":"AllergyIntolerance","id":"a1","code":{"text":"Wasp sting"},"clinicalStatus":{"coding":[{"code":"active"}]},"recordedDate":"2020-05-12"}`)}}
	down := &fhirerr.Error{Category: fhirerr.Unavailable, Message: "the scr service failed", Err: errors.New("http://scr.internal/ 503")}
	gap := resources.Issue{Severity: "error", Code: "incomplete", Diagnostics: "part of the record could not be read"}
	consent := resources.Issue{Severity: "warning", Code: "suppressed", Diagnostics: "The patient has withheld consent to share their Summary Care Record"}
	info := resources.Issue{Severity: "information", Code: "informational", Diagnostics: "no relevant information on allergies"}
	tests := []struct {
		name    string
		recs    []docEntry
		parts   []resources.SourcePart
		reason  string
		partial bool
		says    []string
		never   []string
	}{
		{name: "records", recs: rec, parts: []resources.SourcePart{{Type: "AllergyIntolerance"}},
			says: []string{"<li>Wasp sting — active — recorded 2020-05-12</li>"}, never: []string{"incomplete"}},
		{name: "source failed", parts: []resources.SourcePart{{Type: "AllergyIntolerance", Err: down}}, reason: "unavailable",
			says:  []string{"Allergies could not be retrieved from the Summary Care Record (SCR): the scr service failed.", "may have allergies that are not shown"},
			never: []string{"scr.internal", "No allergies"}},
		{name: "nothing read, a gap", parts: []resources.SourcePart{{Type: "AllergyIntolerance", Issues: []resources.Issue{gap}}}, reason: "unavailable",
			says: []string{"could not be retrieved completely", "Part of the record could not be read"}},
		{name: "read in part", recs: rec, parts: []resources.SourcePart{{Type: "AllergyIntolerance", Issues: []resources.Issue{gap}}}, partial: true,
			says: []string{"This list may be incomplete", "Wasp sting"}},
		{name: "consent withheld", parts: []resources.SourcePart{{Type: "AllergyIntolerance", Issues: []resources.Issue{consent}}}, reason: "withheld",
			says: []string{"withheld consent", "not a statement that the patient has no allergies"}},
		{name: "role does not allow", parts: []resources.SourcePart{{Type: "AllergyIntolerance", Withheld: true}}, reason: "withheld",
			says: []string{"Allergies are not included: your role or scopes do not allow them."}},
		{name: "nothing recorded", parts: []resources.SourcePart{{Type: "AllergyIntolerance", Issues: []resources.Issue{info}}}, reason: "nilknown",
			says: []string{"No allergies are recorded in the Summary Care Record (SCR). This says what that service holds, not that the patient has none.", "No relevant information on allergies"}},
		{name: "no source", reason: "notasked", says: []string{"Allergies were not asked for"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := buildSection(allergies, tt.recs, tt.parts)
			got := ""
			if ds.EmptyReason != nil {
				got = ds.EmptyReason.Coding[0].Code
				if ds.EmptyReason.Coding[0].System != emptyReasonSystem || ds.EmptyReason.Coding[0].Display == "" {
					t.Errorf("emptyReason %+v", ds.EmptyReason)
				}
			}
			if got != tt.reason || ds.partial != tt.partial {
				t.Errorf("emptyReason %q partial %v, want %q %v", got, ds.partial, tt.reason, tt.partial)
			}
			if (got == "") != (len(ds.Entry) > 0) {
				t.Errorf("emptyReason %q with %d entries (cmp-2)", got, len(ds.Entry))
			}
			div := strings.ReplaceAll(ds.Text.Div, "&#39;", "'")
			if ds.Text.Status != "generated" || !strings.HasPrefix(div, `<div xmlns="http://www.w3.org/1999/xhtml">`) {
				t.Errorf("narrative %+v", ds.Text)
			}
			for _, s := range tt.says {
				if !strings.Contains(div, s) {
					t.Errorf("narrative %q lacks %q", div, s)
				}
			}
			for _, s := range tt.never {
				if strings.Contains(div, s) {
					t.Errorf("narrative %q has %q", div, s)
				}
			}
		})
	}
}
