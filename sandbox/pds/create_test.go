package pds_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// createBody is a valid PatientCreateRequest (synthetic data); edit
// changes it before it is sent.
func createBody(t *testing.T, edit func(m map[string]any)) string {
	t.Helper()
	m := map[string]any{
		"resourceType": "Patient",
		"name": []any{map[string]any{"use": "usual", "family": "Quilliam-Test", "given": []any{"Ada"},
			"prefix": []any{"Ms"}, "period": map[string]any{"start": "2020-01-01"}}},
		"gender":    "female",
		"birthDate": "1990-03-04",
		"address": []any{map[string]any{"use": "home", "line": []any{"1 Trevelyan Square", "", "Leeds"},
			"postalCode": "LS1 6AE", "period": map[string]any{"start": "2020-01-01"}}},
		"telecom": []any{map[string]any{"system": "phone", "value": "01632960001", "use": "home"}},
		"extension": []any{map[string]any{
			"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-RegisteringAuthority",
			"extension": []any{
				map[string]any{"url": "registeringAuthorityType", "valueCodeableConcept": map[string]any{"coding": []any{
					map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/UKCore-RegisteringAuthorityType", "code": "x"}}}},
				map[string]any{"url": "organisationIdentifier", "valueString": "RGS"},
			}}},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func postPatient(t *testing.T, h http.Handler, body string, headers map[string]string) response {
	t.Helper()
	hdr := map[string]string{"Content-Type": "application/json"}
	for k, v := range headers {
		hdr[k] = v
	}
	status, header, raw := serve(t, h, http.MethodPost, pds.BasePath+"/Patient", body, hdr)
	r := response{status: status, header: header, raw: raw}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("POST /Patient: body is not JSON: %v\n%s", err, raw)
	}
	return r
}

func TestCreateErrors(t *testing.T) {
	sim := pds.New(pds.Options{Open: true})
	tests := []struct {
		name    string
		edit    func(m map[string]any)
		headers map[string]string
		status  int
		code    string
		diag    string
	}{
		{name: "missing request id", headers: map[string]string{"X-Request-ID": ""}, status: 400, code: "MISSING_VALUE",
			diag: "Invalid request with error - X-Request-ID header must be supplied to access this resource"},
		{name: "invalid request id", headers: map[string]string{"X-Request-ID": "123456"}, status: 400, code: "INVALID_VALUE",
			diag: "Invalid value - '123456' in header 'X-Request-ID'"},
		{name: "not JSON media type", headers: map[string]string{"Content-Type": "text/plain"}, status: 400, code: "INVALID_VALUE"},
		{name: "missing name", edit: func(m map[string]any) { delete(m, "name") }, status: 400, code: "MISSING_VALUE", diag: "Missing value - 'name'"},
		{name: "missing address", edit: func(m map[string]any) { delete(m, "address") }, status: 400, code: "MISSING_VALUE", diag: "Missing value - 'address'"},
		{name: "missing gender", edit: func(m map[string]any) { delete(m, "gender") }, status: 400, code: "MISSING_VALUE", diag: "Missing value - 'gender'"},
		{name: "missing birthDate", edit: func(m map[string]any) { delete(m, "birthDate") }, status: 400, code: "MISSING_VALUE", diag: "Missing value - 'birthDate'"},
		{name: "address period", edit: func(m map[string]any) {
			delete(m["address"].([]any)[0].(map[string]any), "period")
		}, status: 400, code: "MISSING_VALUE", diag: "Missing value - 'address/0/period'"},
		{name: "given not a list", edit: func(m map[string]any) {
			m["name"].([]any)[0].(map[string]any)["given"] = "Ada"
		}, status: 400, code: "INVALID_VALUE", diag: `Invalid value - '"Ada"' in field 'name/0/given'`},
		{name: "gender other", edit: func(m map[string]any) { m["gender"] = "other" }, status: 400, code: "INVALID_VALUE",
			diag: "Invalid value - 'other' in field 'gender'"},
		{name: "bad birth date", edit: func(m map[string]any) { m["birthDate"] = "not-a-date" }, status: 400, code: "INVALID_VALUE",
			diag: "Invalid value - 'not-a-date' in field 'birthDate'"},
		{name: "unknown member", edit: func(m map[string]any) { m["pets"] = []any{"cat"} }, status: 400, code: "ADDITIONAL_PROPERTIES"},
		{name: "two names", edit: func(m map[string]any) { m["name"] = append(m["name"].([]any), m["name"].([]any)[0]) },
			status: 400, code: "TOO_MANY_VALUES_SUBMITTED"},
		{name: "no family name", edit: func(m map[string]any) { delete(m["name"].([]any)[0].(map[string]any), "family") },
			status: 400, code: "MISSING_VALUE", diag: "Missing value - 'name/0/family'"},
		{name: "no registering authority", edit: func(m map[string]any) { m["extension"] = []any{map[string]any{"url": "https://example.org/x"}} },
			status: 400, code: "MISSING_VALUE"},
		{name: "no extension", edit: func(m map[string]any) { delete(m, "extension") }, status: 400, code: "MISSING_VALUE", diag: "Missing value - 'extension'"},
		{name: "single match (sandbox data)", edit: func(m map[string]any) {
			m["name"].([]any)[0].(map[string]any)["family"] = "McMatch-Single"
			m["address"].([]any)[0].(map[string]any)["postalCode"] = "BAP 4WG"
		}, status: 200, code: "SINGLE_MATCH", diag: "Unable to create new patient. NHS number 5900054586 found for supplied demographic data."},
		{name: "multiple matches (sandbox data)", edit: func(m map[string]any) {
			m["name"].([]any)[0].(map[string]any)["family"] = "McMatch-Multiple"
			m["address"].([]any)[0].(map[string]any)["postalCode"] = "DN19 7UD"
		}, status: 200, code: "MULTIPLE_MATCHES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postPatient(t, sim, createBody(t, tt.edit), tt.headers)
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Fatalf("got %d %s, want %d %s\n%s", r.status, r.errorCode(t), tt.status, tt.code, r.raw)
			}
			if d := str(t, r.body, "issue", 0, "diagnostics"); tt.diag != "" && d != tt.diag {
				t.Errorf("diagnostics %q, want %q", d, tt.diag)
			}
		})
	}
	// None of these created anything: the first allocation is still the first number.
	r := postPatient(t, sim, createBody(t, nil), nil)
	if r.status != 201 || r.body["id"] != pds.FirstAllocatedNHSNumber {
		t.Fatalf("after refusals: %d id %v, want 201 %s", r.status, r.body["id"], pds.FirstAllocatedNHSNumber)
	}
}

// TestCreateThenReadSearchAndDuplicate: a created record is served like any
// other; the same demographics again are a duplicate; allocation is
// deterministic and collides with nobody.
func TestCreateThenReadSearchAndDuplicate(t *testing.T) {
	sim := pds.New(pds.Options{Open: true, BaseURL: "https://pds.test" + pds.BasePath})
	r := postPatient(t, sim, createBody(t, nil), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d\n%s", r.status, r.raw)
	}
	id, _ := r.body["id"].(string)
	if id != pds.FirstAllocatedNHSNumber || !nhsnumber.Valid(id) {
		t.Fatalf("allocated %q, want %s", id, pds.FirstAllocatedNHSNumber)
	}
	if got := r.header.Get("ETag"); got != `W/"1"` {
		t.Errorf("ETag %q, want W/\"1\"", got)
	}
	if lines := walk(r.body, "address", 0, "line").([]any); len(lines) != 2 {
		t.Errorf("blank address lines kept: %v", lines)
	}
	if str(t, r.body, "name", 0, "id") == "" || str(t, r.body, "identifier", 0, "value") != id {
		t.Errorf("name id or identifier missing: %s", r.raw)
	}
	if walk(r.body, "extension") != nil {
		t.Errorf("the registering authority is not persisted: %s", r.raw)
	}

	read := get(t, sim, "/Patient/"+id)
	if read.status != 200 || !bytes.Equal(read.raw, r.raw) {
		t.Fatalf("read: %d\n%s", read.status, read.raw)
	}
	found := get(t, sim, "/Patient?family=Quilliam-Test&birthdate=eq1990-03-04")
	if ids := found.entryIDs(); len(ids) != 1 || ids[0] != id {
		t.Fatalf("search found %v, want [%s]", ids, id)
	}

	dup := postPatient(t, sim, createBody(t, nil), nil)
	if dup.status != 200 || dup.errorCode(t) != "SINGLE_MATCH" || !strings.Contains(str(t, dup.body, "issue", 0, "diagnostics"), id) {
		t.Fatalf("duplicate: %d %s", dup.status, dup.raw)
	}

	// Allocation goes on, in order, never reusing a number anyone holds.
	seen := map[string]bool{id: true}
	for i := 0; i < 5; i++ {
		r := postPatient(t, sim, createBody(t, func(m map[string]any) {
			m["name"].([]any)[0].(map[string]any)["family"] = "Quilliam-Test" + strings.Repeat("x", i+1)
		}), nil)
		n, _ := r.body["id"].(string)
		if r.status != 201 || !nhsnumber.Valid(n) || seen[n] || population.IsReservedNHSNumber(n) || n <= id {
			t.Fatalf("create %d: %d id %q", i, r.status, n)
		}
		seen[n] = true
		id = n
	}
	// A fresh simulator allocates the same first number: deterministic.
	again := postPatient(t, pds.New(pds.Options{Open: true}), createBody(t, nil), nil)
	if again.body["id"] != pds.FirstAllocatedNHSNumber {
		t.Errorf("a fresh simulator allocated %v", again.body["id"])
	}
	for _, p := range population.Default() {
		if seen[p.NHSNumber] {
			t.Fatalf("allocated %s, a synthetic person's number", p.NHSNumber)
		}
	}
}
