package tests

import (
	"strings"
	"testing"
)

// A restricted (sensitive) patient's locating details never leave the
// facade, whichever path asks: read, _elements, search, _include,
// $summary, batch.
func TestRestrictedPatientOnEveryPath(t *testing.T) {
	const nhs = "9000000025"
	locating := []string{`"address"`, `"telecom"`, `"generalPractitioner"`, `"managingOrganization"`, `"contact"`}
	paths := []string{
		"/Patient/" + nhs,
		"/Patient/" + nhs + "?_elements=address,telecom,generalPractitioner,contact",
		"/Patient/" + nhs + "?_summary=true",
		"/Patient?_id=" + nhs,
		"/Patient?identifier=" + nhs + "&_elements=address",
		"/Patient?family=Smythe&given=Janet&gender=female&birthdate=eq2005-06-16",
		"/Patient/" + nhs + "/$summary",
		"/Patient/" + nhs + "/$everything",
		"/Flag?patient=" + nhs + "&_include=Flag:patient",
		"/AllergyIntolerance?patient=" + nhs + "&_include=AllergyIntolerance:patient",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			r := get(t, p)
			if r.status != 200 {
				t.Fatalf("status %d: %.300s", r.status, r.raw)
			}
			for _, field := range locating {
				if strings.Contains(string(r.raw), field) && strings.Contains(string(r.raw), `"id":"`+nhs+`"`) {
					t.Errorf("%s shows %s of a restricted patient", p, field)
				}
			}
		})
	}
	// Searching by postcode or GP must not even reveal that a restricted
	// patient matches (PDS never returns them for those parameters).
	for _, q := range []string{
		"family=Smythe&birthdate=eq2005-06-16&address-postalcode=LS1%206AE",
		"family=Smythe&birthdate=eq2005-06-16&general-practitioner=Y12345",
	} {
		r := get(t, "/Patient?"+q)
		if strings.Contains(string(r.raw), nhs) {
			t.Errorf("search %s reveals the restricted patient", q)
		}
	}
	batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/` + nhs + `?_elements=address"}}]}`
	r := call(t, "POST", "", map[string]string{"Content-Type": "application/fhir+json"}, batch)
	if r.status != 200 || strings.Contains(string(r.raw), `"address"`) {
		t.Errorf("batch: %d %.300s", r.status, r.raw)
	}
}
