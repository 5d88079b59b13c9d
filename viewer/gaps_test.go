package viewer_test

import (
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/viewer"
)

// TestSummaryGapsAndNotGiven: a dose recorded as not given is shown as
// not given, with its reason, never as a vaccination; an immunisation
// history read in part and a Summary Care Record not read (consent
// withheld) leave their sections marked incomplete, never "none".
func TestSummaryGapsAndNotGiven(t *testing.T) {
	const raw = `{"resourceType":"Bundle","type":"searchset","entry":[
	 {"resource":{"resourceType":"Patient","id":"9000000009","birthDate":"2000-01-01"}},
	 {"resource":{"resourceType":"Immunization","id":"i1","status":"not-done","statusReason":{"coding":[{"code":"310376006","display":"Immunization consent not given"}]},
	   "vaccineCode":{"text":"COVID-19 vaccine"},"occurrenceDateTime":"2020-12-31","patient":{"reference":"Patient/9000000009"}}},
	 {"resource":{"resourceType":"MedicationStatement","id":"m1","status":"completed","statusReason":[{"text":"Inferred by the facade"}],
	   "medicationCodeableConcept":{"text":"Co-codamol"},"subject":{"reference":"Patient/9000000009"}}},
	 {"resource":{"resourceType":"Immunization","id":"i2","status":"completed","vaccineCode":{"text":"Flu vaccine"},"occurrenceDateTime":"2021-08-02","patient":{"reference":"Patient/9000000009"}}},
	 {"resource":{"resourceType":"OperationOutcome","issue":[
	   {"severity":"error","code":"incomplete","diagnostics":"the immunisation record's HPV history could not be read completely: the answer was cut short"},
	   {"severity":"warning","code":"suppressed","diagnostics":"The patient has withheld consent to share their Summary Care Record, so it was not read: this answer says nothing about their allergies or medications."}]},
	  "search":{"mode":"outcome"}}]}`
	s, err := viewer.ParseSummary([]byte(raw), "9000000009", time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), func(id string) string { return id })
	if err != nil {
		t.Fatal(err)
	}
	var notGiven, given int
	for _, v := range s.Vaccinations.Items {
		if v.NotGiven {
			notGiven++
			if v.Reason != "Immunization consent not given" {
				t.Errorf("reason %q", v.Reason)
			}
		} else {
			given++
		}
	}
	if notGiven != 1 || given != 1 {
		t.Errorf("%d not given, %d given; want 1 and 1", notGiven, given)
	}
	if len(s.Vaccinations.Missing) == 0 {
		t.Error("the vaccinations section is not marked incomplete")
	}
	if len(s.Allergies.Missing) == 0 || len(s.Medications.Missing) == 0 {
		t.Error("consent withheld does not mark allergies and medications incomplete")
	}
	if len(s.Flags.Missing) != 0 {
		t.Errorf("gaps filed under alerts: %v", s.Flags.Missing)
	}
}
