package tests

import (
	"strings"
	"testing"

	sandboxpds "github.com/carerecords/fhir-facade/sandbox/pds"
)

// A superseded NHS number: PDS answers it with the record that replaced it
// (the PDS simulator's synthetic pair: the public sandbox shows no superseded
// read, and answers its own 9000000041 and 9732019395 with 404). The other
// services hold the person's records under the current number only, so
// clinical searches and $summary made with the old number are made again
// with the current one, and the answer names both numbers: never an empty
// record for the right person.
const (
	supersededNHS  = sandboxpds.SupersededNHSNumber
	supersedingNHS = sandboxpds.SupersedingNHSNumber
)

func TestSupersededNumberFindsTheCurrentRecords(t *testing.T) {
	for _, path := range []string{
		"/AllergyIntolerance?patient=" + supersededNHS,
		"/MedicationStatement?patient=Patient/" + supersededNHS,
		"/Immunization?patient=" + supersededNHS,
		"/Flag?patient=" + supersededNHS,
		"/Patient/" + supersededNHS + "/$summary",
	} {
		t.Run(path, func(t *testing.T) {
			old, cur := get(t, path), get(t, strings.ReplaceAll(path, supersededNHS, supersedingNHS))
			if old.status != 200 || cur.status != 200 {
				t.Fatalf("status %d (old number), %d (current): %s", old.status, cur.status, old.raw)
			}
			oldMatches, outcomes := entries(t, old)
			curMatches, _ := entries(t, cur)
			if len(oldMatches) != len(curMatches) {
				t.Errorf("%d entries with the old number, %d with the current one", len(oldMatches), len(curMatches))
			}
			for _, m := range oldMatches {
				if raw := string(mustJSON(m["resource"])); strings.Contains(raw, "Patient/"+supersededNHS) && !strings.Contains(raw, `"type":"replaces"`) {
					t.Errorf("an entry is the old number's: %s", raw)
				}
			}
			said := false
			for _, o := range outcomes {
				for _, is := range asList(o["resource"].(map[string]any)["issue"]) {
					d, _ := is.(map[string]any)["diagnostics"].(string)
					if strings.Contains(d, supersededNHS) && strings.Contains(d, supersedingNHS) && strings.Contains(d, "superseded") {
						said = true
					}
				}
			}
			if !said {
				t.Errorf("the answer does not say the number was superseded: %s", old.raw)
			}
			if strings.Contains(path, "$summary") {
				if !strings.Contains(string(old.raw), `"type":"replaces"`) {
					t.Error("the summary's Patient does not link the superseded number")
				}
				// The document is the current record's, and says so.
				checkSummaryComposition(t, old, supersedingNHS)
				comp := resourceOf(asList(old.body["entry"])[0].(map[string]any))
				about := ""
				for _, sec := range asList(comp["section"]) {
					if mapOf(sec)["title"] == "About this summary" {
						about = sectionText(mapOf(sec))
					}
				}
				if !strings.Contains(about, "NHS number "+supersededNHS+" has been superseded by "+supersedingNHS) {
					t.Errorf("the document does not say the number was superseded: %q", about)
				}
			}
		})
	}
	if r := get(t, "/AllergyIntolerance?patient="+supersedingNHS); strings.Contains(string(r.raw), "superseded") {
		t.Error("a search with the current number says it was superseded")
	}
}

// A token bound to the superseded number sees the current record's data:
// PDS says they are the same person.
func TestSupersededNumberUnderAPatientBoundToken(t *testing.T) {
	tok := patientToken(t, "clinician", supersededNHS, "launch/patient patient/*.rs")
	r := call(t, "GET", "/AllergyIntolerance?patient="+supersededNHS, map[string]string{"Authorization": tok}, "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	r = call(t, "GET", "/Patient/"+supersededNHS+"/$summary", map[string]string{"Authorization": tok}, "")
	if r.status != 200 {
		t.Fatalf("summary: status %d: %s", r.status, r.raw)
	}
}
