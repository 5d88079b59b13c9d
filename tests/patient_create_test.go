package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// newPatientJSON is a Patient a registration clerk asks PDS to create
// (synthetic data).
func newPatientJSON(family, gender, postcode string) string {
	return `{"resourceType":"Patient",
	 "name":[{"use":"usual","family":"` + family + `","given":["Ada"],"prefix":["Ms"]}],
	 "gender":"` + gender + `","birthDate":"1990-03-04",
	 "address":[{"use":"home","line":["1 Trevelyan Square","Boar Lane"],"city":"Leeds","postalCode":"` + postcode + `","period":{"start":"2020-01-01"}}],
	 "telecom":[{"system":"phone","value":"01632960001","use":"home"}],
	 "extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-RegisteringAuthority","extension":[
	   {"url":"registeringAuthorityType","valueCodeableConcept":{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/UKCore-RegisteringAuthorityType","code":"x"}]}},
	   {"url":"organisationIdentifier","valueString":"RGS"}]}]}`
}

func createHeaders(role, ifNoneExist string) map[string]string {
	h := map[string]string{"Content-Type": "application/fhir+json", "Authorization": bearer(role)}
	if ifNoneExist != "" {
		h["If-None-Exist"] = ifNoneExist
	}
	return h
}

// TestCreatePatientConditional: POST /Patient is PDS's NHS number
// allocation, conditional on the caller's search (If-None-Exist), which
// the facade runs itself.
func TestCreatePatientConditional(t *testing.T) {
	search := "family=Quenby-Create&given=Ada&birthdate=eq1990-03-04&address-postalcode=" + url.QueryEscape("LS1 6AE")

	created := call(t, http.MethodPost, "/Patient", createHeaders("admin", search), newPatientJSON("Quenby-Create", "female", "LS1 6AE"))
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	id, _ := created.body["id"].(string)
	if !nhsnumber.Valid(id) {
		t.Fatalf("allocated %q, not a valid NHS number", id)
	}
	if loc := created.header.Get("Location"); !strings.HasSuffix(loc, "/fhir/Patient/"+id+"/_history/1") {
		t.Errorf("Location %q", loc)
	}
	if created.header.Get("ETag") != `W/"1"` || created.header.Get("Last-Modified") == "" {
		t.Errorf("ETag %q Last-Modified %q", created.header.Get("ETag"), created.header.Get("Last-Modified"))
	}
	if lines := created.body["address"].([]any)[0].(map[string]any)["line"].([]any); len(lines) != 3 {
		t.Errorf("address lines %v: the city is a line in PDS", lines)
	}

	read := call(t, http.MethodGet, "/Patient/"+id, map[string]string{"Authorization": bearer("admin")}, "")
	if read.status != 200 || read.body["id"] != id {
		t.Fatalf("read back: %d %s", read.status, read.raw)
	}

	// The same request again: the search finds the record now: 200 with it.
	again := call(t, http.MethodPost, "/Patient", createHeaders("admin", search), newPatientJSON("Quenby-Create", "female", "LS1 6AE"))
	if again.status != http.StatusOK || again.body["id"] != id {
		t.Fatalf("repeat: %d %s, want 200 with %s", again.status, again.raw, id)
	}
	if again.header.Get("Location") != "" {
		t.Errorf("an existing patient has no Location: %q", again.header.Get("Location"))
	}
}

func TestCreatePatientRefusals(t *testing.T) {
	tests := []struct {
		name        string
		role        string
		ifNoneExist string
		body        string
		status      int
		code        string // issue.code
		expression  string
		detail      string // issue.details.coding[0].code
	}{
		{name: "no If-None-Exist", role: "admin", body: newPatientJSON("Rafferty-Create", "female", "LS1 6AE"),
			status: 428, code: "required", expression: "If-None-Exist"},
		{name: "several matches", role: "admin", ifNoneExist: "family=McMatch-Multiple&birthdate=eq1997-08-20",
			body: newPatientJSON("Rafferty-Create", "female", "LS1 6AE"), status: 412, code: "conflict", expression: "If-None-Exist"},
		{name: "an NHS number is no search", role: "admin", ifNoneExist: "identifier=9000000009",
			body: newPatientJSON("Rafferty-Create", "female", "LS1 6AE"), status: 400, code: "invalid", expression: "If-None-Exist"},
		{name: "unknown search parameter", role: "admin", ifNoneExist: "family=Rafferty-Create&birthdate=eq1990-03-04&shoe-size=9",
			body: newPatientJSON("Rafferty-Create", "female", "LS1 6AE"), status: 400, code: "invalid", expression: "If-None-Exist"},
		{name: "gender other", role: "admin", ifNoneExist: "family=Rafferty-Create&birthdate=eq1990-03-04",
			body: newPatientJSON("Rafferty-Create", "other", "LS1 6AE"), status: 400, code: "invalid", expression: "Patient.gender"},
		{name: "PDS finds a duplicate the search did not", role: "admin", ifNoneExist: "family=McMatch-Single&birthdate=eq1990-03-04",
			body: newPatientJSON("McMatch-Single", "female", "BAP 4WG"), status: 409, code: "duplicate", detail: "SINGLE_MATCH"},
		{name: "clinician may not allocate NHS numbers", role: "clinician", ifNoneExist: "family=Rafferty-Create&birthdate=eq1990-03-04",
			body: newPatientJSON("Rafferty-Create", "female", "LS1 6AE"), status: 403, code: "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, http.MethodPost, "/Patient", createHeaders(tt.role, tt.ifNoneExist), tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			is := outcomeIssue(t, r)
			if is["code"] != tt.code {
				t.Errorf("issue.code %v, want %s", is["code"], tt.code)
			}
			if tt.expression != "" {
				if ex, _ := is["expression"].([]any); len(ex) == 0 || ex[0] != tt.expression {
					t.Errorf("expression %v, want %s", is["expression"], tt.expression)
				}
			}
			if tt.detail != "" {
				if got := is["details"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]; got != tt.detail {
					t.Errorf("details code %v, want %s", got, tt.detail)
				}
			}
			if strings.Contains(string(r.raw), "5900054586") {
				t.Errorf("PDS's diagnostics (with an NHS number) leaked: %s", r.raw)
			}
		})
	}
}

// TestCapabilityDeclaresConditionalCreate: the CapabilityStatement says
// what POST /Patient does: create, conditional only.
func TestCapabilityDeclaresConditionalCreate(t *testing.T) {
	r := get(t, "/metadata")
	for _, res := range r.body["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		m := res.(map[string]any)
		if m["type"] != "Patient" {
			continue
		}
		create := false
		for _, i := range m["interaction"].([]any) {
			create = create || i.(map[string]any)["code"] == "create"
		}
		if !create || m["conditionalCreate"] != true {
			t.Errorf("Patient: create %v, conditionalCreate %v", create, m["conditionalCreate"])
		}
		return
	}
	t.Fatal("no Patient in the CapabilityStatement")
}
