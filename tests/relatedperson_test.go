package tests

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// 9000000009's related people in the public sandbox (the mapper's goldens
// pin the whole resources).
const (
	related1 = "9000000009-507B7621" // Mrs Jane Smith, guardian, with address and phone
	related2 = "9000000009-B3380E98" // guardian, no details
)

// The forms a client can ask for a patient's related people in: the type
// search by patient (NHS number, reference, identifier) and the Patient
// compartment.
func relatedPaths(nhs string) []string {
	return []string{
		"/RelatedPerson?patient=" + nhs,
		"/RelatedPerson?patient=Patient/" + nhs,
		"/RelatedPerson?patient:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|"+nhs),
		"/Patient/" + nhs + "/RelatedPerson",
	}
}

// TestRelatedPerson9000000009 lists and reads the public sandbox patient's
// related people as a FHIR client would, in every form.
func TestRelatedPerson9000000009(t *testing.T) {
	for _, path := range relatedPaths("9000000009") {
		t.Run(path, func(t *testing.T) {
			r := get(t, path)
			if r.status != 200 || r.body["total"] != 2.0 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if got := strings.Join(matchIDs(t, r), ","); got != related1+","+related2 {
				t.Errorf("ids %s", got)
			}
			matches, outcomes := entries(t, r)
			if len(outcomes) != 0 {
				t.Errorf("outcomes %v", outcomes)
			}
			if matches[0]["fullUrl"] != env.url+"/RelatedPerson/"+related1 {
				t.Errorf("fullUrl %v", matches[0]["fullUrl"])
			}
			rp := resourceOf(matches[0])
			raw := string(mustJSON(rp))
			for _, want := range []string{
				`"patient":{"reference":"Patient/9000000009"}`,
				`"family":"Smith"`, `"postalCode":"LS1 6AE"`, `"value":"01632960587"`,
				`"code":"Guardian"`, "Extension-UKCore-ContactRank", "Extension-UKCore-CopyCorrespondenceIndicator",
				"Extension-UKCore-ContactPreference", "Extension-UKCore-NHSCommunication",
			} {
				if !strings.Contains(raw, want) {
					t.Errorf("related person lacks %s: %s", want, raw)
				}
			}
			if strings.Contains(raw, "REDACTED") {
				t.Errorf("an unrestricted patient's related person is redacted: %s", raw)
			}
		})
	}
	r := get(t, "/RelatedPerson/"+related1)
	if r.status != 200 || r.body["id"] != related1 || r.body["resourceType"] != "RelatedPerson" {
		t.Fatalf("read: %d %s", r.status, r.raw)
	}
	r = get(t, "/RelatedPerson?patient=9000000009&_id="+related2)
	if got := strings.Join(matchIDs(t, r), ","); r.status != 200 || got != related2 {
		t.Errorf("_id: %d %s", r.status, got)
	}
}

// TestRelatedPersonReferenced: a related person who is a PDS patient
// themself (the simulator gives some synthetic children a guardian so) is
// named by their NHS number, and each relationship coding is a concept of
// its own, under its code system.
func TestRelatedPersonReferenced(t *testing.T) {
	r := get(t, "/Patient/9994392727/RelatedPerson")
	matches, _ := entries(t, r)
	if r.status != 200 || len(matches) != 1 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	raw := string(mustJSON(resourceOf(matches[0])))
	for _, want := range []string{
		`"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9998403448"}]`,
		`"patient":{"reference":"Patient/9994392727"}`,
		`{"coding":[{"code":"PRN","display":"parent","system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode"}]}`,
		`{"coding":[{"code":"N","display":"Next-of-Kin","system":"http://terminology.hl7.org/CodeSystem/v2-0131"}]}`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("lacks %s: %s", want, raw)
		}
	}
}

// TestRelatedPersonAnswers: no related people is an empty searchset (a
// restricted patient's too: PDS returns none, and the facade would withhold
// any); an unknown patient 404, an invalid NHS number 400, a superseded
// number the current patient's with a warning, in every form; a
// compartment search that names the patient twice, or a type not
// searchable by patient, is refused.
func TestRelatedPersonAnswers(t *testing.T) {
	tests := []struct {
		name   string
		nhs    string
		status int
		code   string // issue code of an error
		total  float64
		issue  string // diagnostics an outcome entry must hold
	}{
		{name: "none", nhs: "9000000033", status: 200},
		{name: "restricted", nhs: "9000000025", status: 200},
		{name: "unknown patient", nhs: "9111231130", status: 404, code: "not-found"},
		{name: "invalid NHS number", nhs: "9000000000", status: 400, code: "invalid"},
		{name: "superseded", nhs: supersededNHS, status: 200, issue: "has been superseded by " + supersedingNHS},
	}
	for _, tt := range tests {
		for _, path := range relatedPaths(tt.nhs) {
			t.Run(tt.name+path, func(t *testing.T) {
				r := get(t, path)
				if r.status != tt.status {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				if tt.code != "" {
					if got := outcomeIssue(t, r)["code"]; got != tt.code {
						t.Errorf("issue code %v, want %s", got, tt.code)
					}
					return
				}
				matches, _ := entries(t, r)
				if r.body["total"] != tt.total || len(matches) != int(tt.total) {
					t.Errorf("total %v, %d matches; want %v: %s", r.body["total"], len(matches), tt.total, r.raw)
				}
				if tt.issue != "" && !strings.Contains(strings.Join(outcomeTexts(t, r), "\n"), tt.issue) {
					t.Errorf("no outcome saying %q: %s", tt.issue, r.raw)
				}
			})
		}
	}
	for path, want := range map[string]int{
		"/Patient/9000000009/RelatedPerson?patient=9000000017": 400, // the compartment names the patient
		"/Patient/9000000009/Patient":                          404, // Patient is not searched by patient
		"/Patient/9000000009/Nonsense":                         404,
		"/RelatedPerson":                                       400, // the patient is required
		"/RelatedPerson/507B7621":                              404, // not an id the facade gives
		"/RelatedPerson/9000000009-00000000":                   404,
	} {
		if r := get(t, path); r.status != want {
			t.Errorf("%s: %d, want %d: %s", path, r.status, want, r.raw)
		}
	}
}

// TestRelatedPersonPatientBoundToken: a token bound to one patient, with
// the scope patient/RelatedPerson.read, reads that patient's related
// people in every form and nobody else's; PDS is not asked for the other
// patient's. Without a RelatedPerson scope it reads none.
func TestRelatedPersonPatientBoundToken(t *testing.T) {
	tok := patientToken(t, "clinician", ownPatient, "launch/patient patient/RelatedPerson.read")
	hdr := func(tok string) map[string]string {
		return map[string]string{"Authorization": tok, "X-Request-ID": uuid.NewString()}
	}
	for _, path := range relatedPaths(ownPatient) {
		r := call(t, "GET", path, hdr(tok), "")
		if got := strings.Join(matchIDs(t, r), ","); r.status != 200 || got != ownPatient+"-F4CF8B96" {
			t.Errorf("own, %s: %d %s", path, r.status, r.raw)
		}
	}
	if r := call(t, "GET", "/RelatedPerson/"+ownPatient+"-F4CF8B96", hdr(tok), ""); r.status != 200 {
		t.Errorf("own, read: %d %s", r.status, r.raw)
	}
	other := append(relatedPaths(victim), "/RelatedPerson/"+related1, "/RelatedPerson?patient="+ownPatient+"&_id="+related1)
	for _, path := range other[:len(other)-1] {
		before := env.app.Sandbox.PDS.Requests()
		r := call(t, "GET", path, hdr(tok), "")
		if r.status != 403 || outcomeIssue(t, r)["code"] != "forbidden" {
			t.Errorf("other, %s: %d %s", path, r.status, r.raw)
		}
		if n := env.app.Sandbox.PDS.Requests() - before; n != 0 {
			t.Errorf("other, %s: PDS was asked %d times", path, n)
		}
	}
	// An _id of another patient's related person finds nothing among the
	// token's own patient's.
	if r := call(t, "GET", other[len(other)-1], hdr(tok), ""); r.status != 200 || r.body["total"] != 0.0 {
		t.Errorf("_id of another's: %d %s", r.status, r.raw)
	}
	noScope := patientToken(t, "clinician", ownPatient, "launch/patient patient/Patient.read")
	if r := call(t, "GET", "/Patient/"+ownPatient+"/RelatedPerson", hdr(noScope), ""); r.status != 403 {
		t.Errorf("without a RelatedPerson scope: %d %s", r.status, r.raw)
	}
}

// TestRelatedPersonCapability: the CapabilityStatement says what the
// provider does (read, search by patient and _id, RelatedPerson:patient
// included, and RelatedPerson revincluded from Patient), and each works.
func TestRelatedPersonCapability(t *testing.T) {
	var rp, pt map[string]any
	for _, res := range capabilityResources(t) {
		switch res["type"] {
		case "RelatedPerson":
			rp = res
		case "Patient":
			pt = res
		}
	}
	if rp == nil {
		t.Fatal("RelatedPerson is not in the CapabilityStatement")
	}
	var interactions []string
	for _, x := range rp["interaction"].([]any) {
		interactions = append(interactions, x.(map[string]any)["code"].(string))
	}
	if got := strings.Join(interactions, ","); got != "read,search-type" {
		t.Errorf("interactions %s", got)
	}
	for _, p := range []string{"patient", "_id"} {
		if !advertises(rp, p) {
			t.Errorf("search parameter %s not advertised", p)
		}
	}
	if advertises(rp, "name") {
		t.Error("advertises a parameter it does not have")
	}
	if !strings.Contains(string(mustJSON(rp["searchInclude"])), "RelatedPerson:patient") ||
		!strings.Contains(string(mustJSON(pt["searchRevInclude"])), "RelatedPerson:patient") {
		t.Errorf("include %v, Patient revinclude %v", rp["searchInclude"], pt["searchRevInclude"])
	}
	r := get(t, "/RelatedPerson?patient=9000000009&_include=RelatedPerson:patient")
	if ids := strings.Join(entryIDs(t, r), ","); r.status != 200 || ids != related1+","+related2+",9000000009" {
		t.Errorf("_include: %d %s", r.status, ids)
	}
	r = get(t, "/Patient?_id=9000000009&_revinclude=RelatedPerson:patient")
	if ids := strings.Join(entryIDs(t, r), ","); r.status != 200 || ids != "9000000009,"+related1+","+related2 {
		t.Errorf("_revinclude: %d %s", r.status, ids)
	}
}

// entryIDs are the ids of a searchset's resources other than outcomes, in
// order.
func entryIDs(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, e := range asList(r.body["entry"]) {
		res := resourceOf(e.(map[string]any))
		if res["resourceType"] != "OperationOutcome" {
			out = append(out, res["id"].(string))
		}
	}
	return out
}
