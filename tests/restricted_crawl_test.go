package tests

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/population"
)

// TestRestrictedPatientsCrawl: for every restricted patient of the
// sandbox, every resource type the facade serves — searched, read by id,
// in $summary and $everything — carries nothing that could locate them:
// no address or telecom, no reference to or identifier of an organisation,
// site, practitioner or location (the GP practice that authored an SCR
// medication, a vaccinating pharmacy, a flag's author). What was removed
// is labelled REDACTED.
func TestRestrictedPatientsCrawl(t *testing.T) {
	restricted := []string{"9000000025"}
	for _, p := range population.Default() {
		if p.Restricted && len(restricted) < 6 {
			restricted = append(restricted, p.NHSNumber)
		}
	}
	types := map[string]string{"AllergyIntolerance": "patient", "MedicationStatement": "patient", "Flag": "patient",
		"Immunization": "patient", "DocumentReference": "subject"}
	var redactedSeen int
	for _, nhs := range restricted {
		var answers []response
		for typ, param := range types {
			answers = append(answers, get(t, "/"+typ+"?"+param+"="+nhs))
		}
		answers = append(answers, get(t, "/Patient/"+nhs+"/$summary"), get(t, "/Patient/"+nhs+"/$everything"))
		var reads []string
		for _, a := range answers {
			if a.status != 200 {
				t.Errorf("%s: %d %.200s", nhs, a.status, a.raw)
				continue
			}
			matches, _ := entries(t, a)
			for _, m := range matches {
				res := m["resource"].(map[string]any)
				if typ, _ := res["resourceType"].(string); typ != "Patient" {
					reads = append(reads, typ+"/"+res["id"].(string))
				}
			}
			redactedSeen += checkNotLocating(t, nhs, a.raw)
		}
		for _, path := range reads {
			r := get(t, "/"+path)
			if r.status != 200 {
				t.Errorf("read %s: %d", path, r.status)
				continue
			}
			redactedSeen += checkNotLocating(t, nhs, r.raw)
		}
	}
	if redactedSeen == 0 {
		t.Error("nothing was labelled REDACTED: the crawl found nothing to redact, so it proves nothing")
	}
}

// locatingKeys are JSON members that locate someone wherever they appear.
var locatingKeys = regexp.MustCompile(`"(address|telecom|generalPractitioner|managingOrganization|custodian|location)":`)

// checkNotLocating fails for any locating detail in raw, an answer about
// restricted patient nhs, and returns how many resources say REDACTED.
func checkNotLocating(t *testing.T, nhs string, raw []byte) int {
	t.Helper()
	s := string(raw)
	if m := locatingKeys.FindString(s); m != "" {
		t.Errorf("%s: an answer has %s: %.300s", nhs, m, s)
	}
	for _, bad := range []string{"ods-organization-code", "Organization/", `"type":"Organization"`, `"type":"Location"`, "Practitioner/", "sds-user-id"} {
		if strings.Contains(s, bad) {
			i := strings.Index(s, bad)
			t.Errorf("%s: an answer names %s: …%s…", nhs, bad, s[max(0, i-200):min(len(s), i+100)])
		}
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		t.Errorf("%s: not JSON", nhs)
	}
	return strings.Count(s, `"code":"REDACTED"`)
}
