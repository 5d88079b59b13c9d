package viewer

import (
	"testing"
	"time"
)

// TestRelatedPeopleFailureIsNoMissingAlert: $summary also fans out to PDS's
// related people; when they cannot be read the page names the source among
// its failures, and never as an alert service that did not answer.
func TestRelatedPeopleFailureIsNoMissingAlert(t *testing.T) {
	raw := []byte(`{"resourceType":"Bundle","type":"searchset","entry":[
	 {"resource":{"resourceType":"Patient","id":"9000000009"}},
	 {"resource":{"resourceType":"RelatedPerson","id":"9000000009-507B7621","patient":{"reference":"Patient/9000000009"}}},
	 {"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"incomplete",
	   "diagnostics":"RelatedPerson could not be reached or read: its records are missing from this answer: the pds service did not answer in time"}]},"search":{"mode":"outcome"}}]}`)
	s, err := ParseSummary(raw, "9000000009", time.Now(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Failures) != 1 || s.Failures[0].Source != "RelatedPerson" {
		t.Errorf("failures %+v", s.Failures)
	}
	if len(s.Flags.Missing) != 0 || len(s.Flags.Items) != 0 {
		t.Errorf("alerts missing %v, items %v", s.Flags.Missing, s.Flags.Items)
	}
}
