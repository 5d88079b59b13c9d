package pds_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

const contentTypePatch = "application/json-patch+json"

// fixturesOnly is a simulator over the sandbox's patients alone, fresh for
// each test that changes records.
func fixturesOnly(t *testing.T, opts pds.Options) *pds.Simulator {
	t.Helper()
	opts.Open = true
	if opts.Population == nil {
		opts.Population = []population.Person{}
	}
	return pds.New(opts)
}

// patchPatient sends a PATCH with a JSON body. headers default to a valid
// X-Request-ID, the JSON Patch content type and ifMatch; a "" value removes
// a header.
func patchPatient(t *testing.T, h http.Handler, id, ifMatch, body string, headers map[string]string) response {
	t.Helper()
	hdr := map[string]string{"Content-Type": contentTypePatch}
	if ifMatch != "" {
		hdr["If-Match"] = ifMatch
	}
	for k, v := range headers {
		hdr[k] = v
	}
	status, header, raw := serve(t, h, http.MethodPatch, pds.BasePath+"/Patient/"+id, body, hdr)
	r := response{status: status, header: header, raw: raw}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("PATCH %s: body is not JSON: %v\n%s", id, err, raw)
	}
	return r
}

// patches wraps operations as PDS takes them.
func patches(ops ...string) string {
	return `{"patches":[` + strings.Join(ops, ",") + `]}`
}

// specExample reads a request example of the OpenAPI specification.
func specExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/spec-requests/PatientPatch/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectVersion reads a patient and checks its ETag and meta.versionId.
func expectVersion(t *testing.T, h http.Handler, id string, version int) response {
	t.Helper()
	r := get(t, h, "/Patient/"+id)
	if r.status != http.StatusOK {
		t.Fatalf("read %s: status %d", id, r.status)
	}
	want := `W/"` + strconv.Itoa(version) + `"`
	if got := r.header.Get("ETag"); got != want {
		t.Errorf("read %s: ETag = %s, want %s", id, got, want)
	}
	if got := str(t, r.body, "meta", "versionId"); got != strconv.Itoa(version) {
		t.Errorf("read %s: meta.versionId = %q, want %d", id, got, version)
	}
	return r
}

// TestPatchOperations applies each kind of operation for real and reads the
// record back.
func TestPatchOperations(t *testing.T) {
	today := time.Now().UTC().Format(time.DateOnly)
	tests := []struct {
		name    string
		id      string
		body    string
		headers map[string]string
		checks  map[string]string // JSON path (a/0/b) → wanted string; "<absent>" for none
	}{
		{name: "replace a simple item (spec update-gender)", id: "9000000009", body: specExample(t, "update-gender"),
			checks: map[string]string{"gender": "male", "name/0/family": "Smith"}},
		{name: "add a name at /name/- (spec add-name)", id: "9000000009", body: specExample(t, "add-name"),
			checks: map[string]string{"name/0/id": "123", "name/1/use": "old", "name/1/family": "Bloggs", "name/1/given/2": "Maximus",
				"name/1/prefix/0": "Dr", "name/1/period/start": "2019-12-31"}},
		{name: "add a name to a record without names", id: "9000000033",
			body:   patches(`{"op":"add","path":"/name/-","value":{"use":"usual","family":"Doe","given":["Jo"],"prefix":["Mrs."]}}`),
			checks: map[string]string{"name/0/family": "Doe", "name/0/period/start": today, "name/0/prefix/0": "Mrs"}},
		{name: "add simple items to a minimal record", id: "9000000033",
			body: patches(`{"op":"add","path":"/gender","value":"female"}`, `{"op":"add","path":"/birthDate","value":"1990-02-03"}`,
				`{"op":"add","path":"/multipleBirthInteger","value":2}`),
			checks: map[string]string{"gender": "female", "birthDate": "1990-02-03"}},
		{name: "add a sub-element at an index, the item's id mirrored (spec)", id: "9000000009",
			body:   patches(`{"op":"add","path":"/name/0/id","value":"123"}`, `{"op":"add","path":"/name/0/given/0","value":"Rose"}`),
			checks: map[string]string{"name/0/given/0": "Rose", "name/0/given/1": "Jane"}},
		{name: "replace parts of a list item (spec update-address)", id: "9000000009", body: specExample(t, "update-address"),
			checks: map[string]string{"address/0/line/0": "2 Whitehall Quay", "address/0/line/1": "Boar Lane", "address/0/postalCode": "LS1 4BU"}},
		{name: "replace a whole list item (spec update-address-alternative)", id: "9000000009", body: specExample(t, "update-address-alternative"),
			checks: map[string]string{"address/0/id": "456", "address/0/line/2": "West Yorkshire", "address/0/line/3": "<absent>"}},
		{name: "test then remove an extension (spec delete-extension)", id: "9000000009", body: specExample(t, "delete-extension"),
			checks: map[string]string{"extension/1/url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicalApplianceSupplier",
				"extension/7/url": "<absent>"}},
		{name: "add an extension to a record without any (spec add-extension)", id: "9000000033", body: specExample(t, "add-extension"),
			checks: map[string]string{"extension/0/valueReference/identifier/value": "Y12345"}},
		{name: "remove a name after a test of its id", id: "9000000009",
			body: patches(`{"op":"add","path":"/name/-","value":{"use":"nickname","family":"Smith","given":["Janey"]}}`,
				`{"op":"test","path":"/name/1/use","value":"nickname"}`,
				`{"op":"test","path":"/name/1/family","value":"Smith"}`,
				`{"op":"test","path":"/name/1","value":{"use":"nickname","family":"Smith","given":["Janey"]}}`,
				`{"op":"remove","path":"/name/1"}`),
			checks: map[string]string{"name/1/family": "<absent>"}},
		{name: "remove the only emergency contact: the list goes", id: "9000000009",
			body:   patches(`{"op":"test","path":"/contact/0/id","value":"C123"}`, `{"op":"remove","path":"/contact/0"}`),
			checks: map[string]string{"contact": "<absent>"}},
		{name: "remove a simple item", id: "9000000009", body: patches(`{"op":"remove","path":"/multipleBirthInteger"}`),
			checks: map[string]string{"gender": "female"}},
		{name: "add a date of death with an informal death notification (Postman)", id: "9000000033",
			body: patches(`{"op":"add","path":"/deceasedDateTime","value":"2020-01-01"}`,
				`{"op":"add","path":"/extension/-","value":{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus",
				"extension":[{"url":"deathNotificationStatus","valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-DeathNotificationStatus","version":"1.0.0","code":"1"}]}},
				{"url":"systemEffectiveDate","valueDateTime":"2020-02-27T16:14:58+00:00"}]}}`),
			checks: map[string]string{"deceasedDateTime": "2020-01-01", "extension/0/extension/0/valueCodeableConcept/coding/0/code": "1"}},
		{name: "replace a whole extension keeping its url", id: "9000000009",
			body: patches(`{"op":"replace","path":"/extension/4","value":{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication",
				"extension":[{"url":"language","valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-HumanLanguage","code":"de","display":"German"}]}}]}}`),
			checks: map[string]string{"extension/4/extension/0/valueCodeableConcept/coding/0/code": "de", "extension/4/extension/1": "<absent>"}},
		{name: "add a telecom, given an id and period", id: "9000000009",
			body:   patches(`{"op":"add","path":"/telecom/-","value":{"system":"phone","value":"07700900123","use":"mobile"}}`),
			checks: map[string]string{"telecom/3/value": "07700900123", "telecom/3/period/start": today}},
		{name: "escaped pointer tokens and a correction flag", id: "9000000009",
			body:   `{"correction":true,"patches":[{"op":"test","path":"/extension/6/url","value":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace"},{"op":"replace","path":"/gender","value":"unknown"}]}`,
			checks: map[string]string{"gender": "unknown"}},
		{name: "content type with parameters", id: "9000000009", body: specExample(t, "update-gender"),
			headers: map[string]string{"Content-Type": "application/json-patch+json; charset=utf-8"},
			checks:  map[string]string{"gender": "male"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := fixturesOnly(t, pds.Options{})
			r := patchPatient(t, sim, tt.id, `W/"2"`, tt.body, tt.headers)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200\n%s", r.status, r.raw)
			}
			if got := r.header.Get("ETag"); got != `W/"3"` {
				t.Errorf("ETag = %q, want W/\"3\"", got)
			}
			if got := str(t, r.body, "meta", "versionId"); got != "3" {
				t.Errorf("meta.versionId = %q, want 3", got)
			}
			if got := str(t, r.body, "id"); got != tt.id {
				t.Errorf("id = %q", got)
			}
			if got := r.header.Get("X-Request-Id"); got != testRequestID {
				t.Errorf("X-Request-Id = %q", got)
			}
			read := expectVersion(t, sim, tt.id, 3)
			for path, want := range tt.checks {
				for _, body := range []map[string]any{r.body, read.body} {
					v := walk(body, pathOf(path)...)
					if want == "<absent>" {
						if v != nil {
							t.Errorf("%s = %v, want none", path, v)
						}
						continue
					}
					if got := fmt.Sprint(v); got != want {
						t.Errorf("%s = %q, want %q", path, got, want)
					}
				}
			}
			if string(r.raw) != string(read.raw) {
				t.Errorf("PATCH answer and read differ:\n%s\n%s", r.raw, read.raw)
			}
		})
	}
}

// pathOf turns "a/0/b" into walk's keys and indexes.
func pathOf(p string) []any {
	var out []any
	for _, s := range strings.Split(p, "/") {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		} else {
			out = append(out, s)
		}
	}
	return out
}

// TestPatchErrors covers every refusal: its status, code, severity and
// diagnostics, and that the record and its version are left untouched.
func TestPatchErrors(t *testing.T) {
	nameOp := func(value string) string { return patches(`{"op":"add","path":"/name/-","value":` + value + `}`) }
	tests := []struct {
		name     string
		id       string
		ifMatch  string
		body     string
		headers  map[string]string
		status   int
		code     string
		severity string // default error
		diag     string // substring of diagnostics
	}{
		// Request.
		{name: "invalid NHS number", id: "9000000000", body: specExample(t, "update-gender"), status: 400, code: "INVALID_RESOURCE_ID"},
		{name: "unknown patient", id: "9111231130", body: specExample(t, "update-gender"), status: 404, code: "RESOURCE_NOT_FOUND", severity: "information"},
		{name: "invalidated patient", id: pds.InvalidatedNHSNumber, body: specExample(t, "update-gender"), status: 404, code: "INVALIDATED_RESOURCE"},
		{name: "missing X-Request-ID", id: "9000000009", body: specExample(t, "update-gender"), headers: map[string]string{"X-Request-ID": ""},
			status: 400, code: "MISSING_VALUE", diag: "X-Request-ID header must be supplied"},
		{name: "X-Request-ID not a UUID", id: "9000000009", body: specExample(t, "update-gender"), headers: map[string]string{"X-Request-ID": "12345"},
			status: 400, code: "INVALID_VALUE"},
		{name: "missing If-Match", id: "9000000009", ifMatch: "-", body: specExample(t, "update-gender"), status: 412, code: "PRECONDITION_FAILED",
			diag: "If-Match header must be supplied to update this resource"},
		{name: "If-Match without W/", id: "9000000009", ifMatch: `"2"`, body: specExample(t, "update-gender"), status: 412, code: "PRECONDITION_FAILED", diag: `'"2"' in header 'If-Match'`},
		{name: "If-Match not a number", id: "9000000009", ifMatch: `W/"two"`, body: specExample(t, "update-gender"), status: 412, code: "PRECONDITION_FAILED"},
		{name: "If-Match too big", id: "9000000009", ifMatch: `W/"99999999999999999999"`, body: specExample(t, "update-gender"), status: 412, code: "PRECONDITION_FAILED"},
		{name: "stale If-Match", id: "9000000009", ifMatch: `W/"1"`, body: specExample(t, "update-gender"), status: 409, code: "RESOURCE_VERSION_MISMATCH"},
		{name: "If-Match ahead of the record", id: "9000000009", ifMatch: `W/"3"`, body: specExample(t, "update-gender"), status: 409, code: "RESOURCE_VERSION_MISMATCH"},
		{name: "content type application/fhir+json", id: "9000000009", body: specExample(t, "update-gender"),
			headers: map[string]string{"Content-Type": "application/fhir+json"}, status: 400, code: "UNSUPPORTED_SERVICE"},
		{name: "content type text/json", id: "9000000009", body: specExample(t, "update-gender"),
			headers: map[string]string{"Content-Type": "text/json"}, status: 400, code: "UNSUPPORTED_SERVICE"},
		{name: "no content type", id: "9000000009", body: specExample(t, "update-gender"),
			headers: map[string]string{"Content-Type": ""}, status: 400, code: "UNSUPPORTED_SERVICE"},

		// Body.
		{name: "not JSON", id: "9000000009", body: `{"patches":`, status: 400, code: "INVALID_UPDATE", diag: "not valid JSON"},
		{name: "nested too deep", id: "9000000009", body: `{"patches":[{"op":"add","path":"/x","value":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}]}`,
			status: 400, code: "INVALID_UPDATE", diag: "not valid JSON"},
		{name: "body too large", id: "9000000009", body: `{"patches":[{"op":"add","path":"/x","value":"` + strings.Repeat("x", 1<<20) + `"}]}`,
			status: 400, code: "INVALID_UPDATE", diag: "larger than"},
		{name: "a bare JSON Patch array", id: "9000000009", body: `[{"op":"replace","path":"/gender","value":"male"}]`, status: 400, code: "INVALID_UPDATE"},
		{name: "no patches attribute", id: "9000000009", body: `{"correction":false}`, status: 400, code: "INVALID_UPDATE", diag: "Invalid update with error - No patches found"},
		{name: "empty patches list", id: "9000000009", body: `{"correction":false,"patches":[]}`, status: 400, code: "TOO_FEW_VALUES_SUBMITTED", diag: "'patches'"},
		{name: "patches not a list", id: "9000000009", body: `{"patches":{"op":"remove","path":"/gender"}}`, status: 400, code: "INVALID_UPDATE"},
		{name: "unknown body member", id: "9000000009", body: `{"patches":[{"op":"replace","path":"/gender","value":"male"}],"pets":1}`, status: 400, code: "ADDITIONAL_PROPERTIES", diag: "('pets' was unexpected)"},
		{name: "correction not a boolean", id: "9000000009", body: `{"correction":"yes","patches":[{"op":"replace","path":"/gender","value":"male"}]}`, status: 400, code: "INVALID_VALUE"},
		{name: "unsupported op", id: "9000000009", body: patches(`{"op":"replace","path":"/gender","value":"male"}`, `{"op":"move","from":"/gender","path":"/x"}`),
			status: 400, code: "INVALID_VALUE", diag: "Invalid value - 'move' in field '1/op'"},
		{name: "missing op", id: "9000000009", body: patches(`{"path":"/gender","value":"male"}`), status: 400, code: "INVALID_UPDATE", diag: "'0/op'"},
		{name: "missing path", id: "9000000009", body: patches(`{"op":"replace","value":"male"}`), status: 400, code: "INVALID_UPDATE", diag: "'0/path'"},
		{name: "missing value", id: "9000000009", body: patches(`{"op":"replace","path":"/gender"}`), status: 400, code: "INVALID_UPDATE", diag: "'0/value'"},
		{name: "path not a JSON Pointer", id: "9000000009", body: patches(`{"op":"replace","path":"gender","value":"male"}`), status: 400, code: "INVALID_VALUE"},
		{name: "bad escape in a path", id: "9000000009", body: patches(`{"op":"replace","path":"/gen~2der","value":"male"}`), status: 400, code: "INVALID_VALUE"},
		{name: "whole resource", id: "9000000009", body: patches(`{"op":"replace","path":"","value":{}}`), status: 400, code: "INVALID_UPDATE"},

		// Operations that cannot apply (Postman "Invalid patch operations").
		{name: "remove an index out of bounds", id: "9000000009", body: patches(`{"op":"test","path":"/name/5/id","value":"1"}`, `{"op":"remove","path":"/name/5"}`),
			status: 400, code: "INVALID_UPDATE", diag: "index '5' is out of bounds"},
		{name: "replace a missing member", id: "9000000033", body: patches(`{"op":"replace","path":"/gender","value":"male"}`),
			status: 400, code: "INVALID_UPDATE", diag: "can't replace non-existent object 'gender'"},
		{name: "remove a missing member", id: "9000000033", body: patches(`{"op":"remove","path":"/gender"}`), status: 400, code: "INVALID_UPDATE"},
		{name: "add below a missing member", id: "9000000033", body: patches(`{"op":"add","path":"/name/0/family","value":"X"}`), status: 400, code: "INVALID_UPDATE"},
		{name: "add at an index past the end", id: "9000000009", body: patches(`{"op":"add","path":"/name/0/id","value":"123"}`, `{"op":"add","path":"/name/0/given/5","value":"X"}`),
			status: 400, code: "INVALID_UPDATE", diag: "index '5' is out of bounds"},
		{name: "failed test", id: "9000000009", body: patches(`{"op":"test","path":"/gender","value":"male"}`, `{"op":"replace","path":"/birthDate","value":"2010-10-21"}`),
			status: 400, code: "INVALID_UPDATE", diag: "test failed for path '/gender'"},
		{name: "failed whole-object test (spec delete-name-alternative)", id: "9000000009", body: specExample(t, "delete-name-alternative"),
			status: 400, code: "INVALID_UPDATE", diag: "test failed for path '/name/0'"},

		// PDS's patch rules.
		{name: "add a name at an index", id: "9000000009", body: patches(`{"op":"add","path":"/name/0","value":{"use":"old","family":"X"}}`),
			status: 400, code: "INVALID_UPDATE", diag: "'/name/-'"},
		{name: "remove a list item without a test", id: "9000000009", body: patches(`{"op":"remove","path":"/extension/1"}`),
			status: 400, code: "INVALID_UPDATE", diag: "removal '/extension/1' is not immediately preceded by equivalent test - instead it is the first item"},
		{name: "remove a list item after an unrelated test", id: "9000000009", body: patches(`{"op":"test","path":"/extension/0/url","value":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy"}`, `{"op":"remove","path":"/extension/1"}`),
			status: 400, code: "INVALID_UPDATE", diag: "instead it is 'test /extension/0/url'"},
		{name: "change a name without its id", id: "9000000009", body: patches(`{"op":"replace","path":"/name/0/given/0","value":"Anne"}`),
			status: 400, code: "INVALID_UPDATE", diag: "no id or url found for path with root /name/0"},
		{name: "replace a whole name without its id", id: "9000000009", body: patches(`{"op":"replace","path":"/name/0","value":{"use":"usual","family":"Smith"}}`),
			status: 400, code: "INVALID_UPDATE", diag: "no id or url found for path with root /name/0"},
		{name: "another object id", id: "9000000009", body: patches(`{"op":"replace","path":"/address/0/id","value":"123456"}`),
			status: 400, code: "INVALID_UPDATE", diag: "no 'address' resources with object id '123456'"},
		{name: "replace an extension with another kind", id: "9000000009", body: patches(`{"op":"replace","path":"/extension/4","value":{"url":"https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-NHSCommunication"}}`),
			status: 400, code: "INVALID_UPDATE", diag: "no id or url found for path with root /extension/4"},

		// The result must still be a PDS Patient with the same identity.
		{name: "unknown field", id: "9000000009", body: patches(`{"op":"add","path":"/pets","value":"cat"}`),
			status: 400, code: "INVALID_UPDATE", diag: "Update unsupported for resource - 'pets'"},
		{name: "change the id", id: "9000000009", body: patches(`{"op":"replace","path":"/id","value":"9000000017"}`),
			status: 400, code: "INVALID_UPDATE", diag: "'id'"},
		{name: "change the identifier", id: "9000000009", body: patches(`{"op":"replace","path":"/identifier/0/value","value":"9000000017"}`),
			status: 400, code: "INVALID_UPDATE", diag: "'identifier'"},
		{name: "change the version", id: "9000000009", body: patches(`{"op":"replace","path":"/meta/versionId","value":"7"}`),
			status: 400, code: "INVALID_UPDATE", diag: "'meta'"},
		{name: "lift the restriction", id: "9000000009", body: patches(`{"op":"replace","path":"/meta/security/0/code","value":"R"}`),
			status: 400, code: "INVALID_UPDATE", diag: "'meta'"},
		{name: "unknown name member (Postman add-name's text)", id: "9000000009", body: nameOp(`{"use":"old","family":"Bloggs","text":"Dr Joe Bloggs"}`),
			status: 400, code: "ADDITIONAL_PROPERTIES", diag: "('text' was unexpected)"},
		{name: "name prefix not a list (Postman add-name)", id: "9000000009", body: nameOp(`{"use":"old","family":"Bloggs","prefix":"Dr"}`),
			status: 400, code: "VALIDATION_ERROR", diag: "'name/1/prefix' must be a list"},
		{name: "name without family", id: "9000000009", body: nameOp(`{"use":"old","given":["Jo"]}`),
			status: 400, code: "VALIDATION_ERROR", diag: "'name/1/family'"},
		{name: "name use not allowed", id: "9000000009", body: nameOp(`{"use":"official","family":"Bloggs"}`),
			status: 400, code: "INVALID_VALUE", diag: "'official' in field 'name/1/use'"},
		{name: "six given names", id: "9000000009", body: nameOp(`{"use":"old","family":"Bloggs","given":["A","B","C","D","E","F"]}`),
			status: 400, code: "TOO_MANY_VALUES_SUBMITTED", diag: "'name/1/given'"},
		{name: "unsupported characters", id: "9000000009", body: nameOp(`{"use":"old","family":"Bl@ggs"}`),
			status: 400, code: "UNSUPPORTED_CHARACTERS_IN_FIELD", diag: "'name/1/family'"},
		{name: "family name too long", id: "9000000009", body: nameOp(`{"use":"old","family":"` + strings.Repeat("a", 36) + `"}`),
			status: 400, code: "INVALID_VALUE"},
		{name: "suffix not starting A-Z", id: "9000000009", body: nameOp(`{"use":"old","family":"Bloggs","suffix":["phd"]}`),
			status: 400, code: "INVALID_VALUE"},
		{name: "second usual name", id: "9000000009", body: nameOp(`{"use":"usual","family":"Bloggs"}`),
			status: 403, code: "FORBIDDEN_UPDATE", severity: "information", diag: "multiple usual names cannot be added"},
		{name: "second nickname", id: "9000000009", body: patches(`{"op":"add","path":"/name/-","value":{"use":"nickname","family":"A"}}`, `{"op":"add","path":"/name/-","value":{"use":"nickname","family":"B"}}`),
			status: 400, code: "INVALID_UPDATE"},
		{name: "remove the usual name (spec delete-name)", id: "9000000009", body: specExample(t, "delete-name"),
			status: 403, code: "FORBIDDEN_UPDATE", severity: "information", diag: "not permitted to remove usual name"},
		{name: "change a name's use", id: "9000000009", body: patches(`{"op":"test","path":"/name/0/id","value":"123"}`, `{"op":"replace","path":"/name/0/use","value":"old"}`),
			status: 400, code: "INVALID_UPDATE", diag: "cannot be changed from 'usual' to 'old'"},
		{name: "remove the gender (spec delete-gender)", id: "9000000009", body: specExample(t, "delete-gender"),
			status: 403, code: "FORBIDDEN_UPDATE", severity: "information", diag: "source not permitted to remove 'gender'"},
		{name: "gender other", id: "9000000009", body: patches(`{"op":"replace","path":"/gender","value":"other"}`), status: 400, code: "UNSUPPORTED_VALUE"},
		{name: "gender not a code", id: "9000000009", body: patches(`{"op":"replace","path":"/gender","value":"robot"}`), status: 400, code: "INVALID_VALUE"},
		{name: "gender not a string", id: "9000000009", body: patches(`{"op":"replace","path":"/gender","value":1}`), status: 400, code: "VALIDATION_ERROR"},
		{name: "birth date malformed", id: "9000000009", body: patches(`{"op":"replace","path":"/birthDate","value":"2010-13-01"}`), status: 400, code: "INVALID_VALUE"},
		{name: "birth date in the future", id: "9000000009", body: patches(`{"op":"replace","path":"/birthDate","value":"2999-01-01"}`), status: 400, code: "INVALID_UPDATE", diag: "future"},
		{name: "birth date after death", id: "9000000009", body: patches(`{"op":"replace","path":"/birthDate","value":"2010-10-23"}`), status: 400, code: "INVALID_UPDATE", diag: "before the date of birth"},
		{name: "remove the birth date", id: "9000000009", body: patches(`{"op":"remove","path":"/birthDate"}`), status: 403, code: "FORBIDDEN_UPDATE", severity: "information",
			diag: "source not permitted to remove 'birthDate'"},
		{name: "multiple birth order out of range", id: "9000000009", body: patches(`{"op":"replace","path":"/multipleBirthInteger","value":10}`), status: 400, code: "INVALID_VALUE"},
		{name: "period end before start", id: "9000000009", body: nameOp(`{"use":"old","family":"Bloggs","period":{"start":"2020-01-01","end":"2019-01-01"}}`),
			status: 400, code: "INVALID_UPDATE", diag: "before its start"},
		{name: "period without start", id: "9000000009", body: nameOp(`{"use":"old","family":"Bloggs","period":{"end":"2019-01-01"}}`),
			status: 400, code: "INVALID_UPDATE", diag: "needs a start date"},
		{name: "period start in the future", id: "9000000009", body: nameOp(`{"use":"old","family":"Bloggs","period":{"start":"2999-01-01"}}`),
			status: 400, code: "INVALID_UPDATE", diag: "future"},
		{name: "work address", id: "9000000009", body: patches(`{"op":"add","path":"/address/-","value":{"use":"work","line":["1 A Street"],"postalCode":"LS1 1AA"}}`),
			status: 400, code: "UNSUPPORTED_VALUE"},
		{name: "second home address", id: "9000000009", body: patches(`{"op":"add","path":"/address/-","value":{"use":"home","line":["1 A Street"],"postalCode":"LS1 1AA"}}`),
			status: 400, code: "INVALID_UPDATE", diag: "more than one 'home' address"},
		{name: "billing address without an end", id: "9000000009", body: patches(`{"op":"add","path":"/address/-","value":{"use":"billing","period":{"start":"2024-01-01"},"line":["1 A Street"]}}`),
			status: 400, code: "INVALID_UPDATE", diag: "start and an end"},
		{name: "six address lines", id: "9000000009", body: patches(`{"op":"add","path":"/address/-","value":{"use":"billing","period":{"start":"2024-01-01","end":"2024-03-01"},"line":["1","2","3","4","5","6"]}}`),
			status: 400, code: "TOO_MANY_VALUES_SUBMITTED"},
		{name: "invalid e-mail", id: "9000000009", body: patches(`{"op":"add","path":"/telecom/-","value":{"system":"email","value":"not-an-email","use":"work"}}`),
			status: 400, code: "INVALID_VALUE"},
		{name: "change a telecom's system", id: "9000000009", body: patches(`{"op":"test","path":"/telecom/0/id","value":"789"}`, `{"op":"replace","path":"/telecom/0/system","value":"fax"}`),
			status: 400, code: "INVALID_UPDATE", diag: "keeps its system and use"},
		{name: "emergency contact other than C", id: "9000000009", body: patches(`{"op":"add","path":"/contact/-","value":{"relationship":[{"coding":[{"code":"N"}]}],"telecom":[{"system":"phone","value":"01632960000"}]}}`),
			status: 400, code: "INVALID_VALUE"},
		{name: "second general practice", id: "9000000009", body: patches(`{"op":"add","path":"/generalPractitioner/-","value":{"type":"Organization","identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y23456"}}}`),
			status: 400, code: "TOO_MANY_VALUES_SUBMITTED"},
		{name: "second nominated pharmacy (spec add-extension)", id: "9000000009", body: specExample(t, "add-extension"), status: 400, code: "TOO_MANY_VALUES_SUBMITTED"},
		{name: "unknown extension", id: "9000000033", body: patches(`{"op":"add","path":"/extension/-","value":{"url":"https://example.org/pets"}}`),
			status: 400, code: "INVALID_VALUE", diag: "https://example.org/pets"},
		{name: "date of death without a death notification", id: "9000000033", body: specExample(t, "add-deceased-date-time"),
			status: 400, code: "INVALID_UPDATE", diag: "death notification status must be added"},

		// What may not be changed at all.
		{name: "restricted patient", id: "9000000025", body: specExample(t, "update-gender"),
			status: 403, code: "FORBIDDEN_UPDATE", severity: "information", diag: "restricted"},
		{name: "change the date of death once set (Postman)", id: "9000000009", body: patches(`{"op":"replace","path":"/deceasedDateTime","value":"2010-10-23"}`),
			status: 403, code: "FORBIDDEN_UPDATE", severity: "information", diag: "date of death cannot be changed"},
		{name: "remove the date of death", id: "9000000009", body: patches(`{"op":"remove","path":"/deceasedDateTime"}`),
			status: 403, code: "FORBIDDEN_UPDATE", severity: "information"},
		{name: "replace a formal death notification (spec update-extension)", id: "9000000009", body: specExample(t, "update-extension"),
			status: 403, code: "FORBIDDEN_UPDATE", severity: "information", diag: "formal death notification"},
		{name: "set a formal death notification", id: "9000000033", body: patches(`{"op":"add","path":"/deceasedDateTime","value":"2020-01-01"}`,
			`{"op":"add","path":"/extension/-","value":{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus","extension":[{"url":"deathNotificationStatus","valueCodeableConcept":{"coding":[{"code":"2"}]}}]}}`),
			status: 403, code: "FORBIDDEN_UPDATE", severity: "information"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := fixturesOnly(t, pds.Options{})
			before := get(t, sim, "/Patient/"+tt.id)
			ifMatch := tt.ifMatch
			switch ifMatch {
			case "":
				ifMatch = `W/"2"`
			case "-":
				ifMatch = ""
			}
			r := patchPatient(t, sim, tt.id, ifMatch, tt.body, tt.headers)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tt.status, r.raw)
			}
			if got := r.errorCode(t); got != tt.code {
				t.Errorf("code = %q, want %q\n%s", got, tt.code, r.raw)
			}
			severity := tt.severity
			if severity == "" {
				severity = "error"
			}
			if got := str(t, r.body, "issue", 0, "severity"); got != severity {
				t.Errorf("severity = %q, want %q", got, severity)
			}
			if got := str(t, r.body, "issue", 0, "details", "coding", 0, "system"); got != pds.SpineErrorSystem {
				t.Errorf("system = %q", got)
			}
			if got := str(t, r.body, "issue", 0, "diagnostics"); !strings.Contains(got, tt.diag) {
				t.Errorf("diagnostics = %q, want it to contain %q", got, tt.diag)
			}
			if r.header.Get("ETag") != "" {
				t.Errorf("an error carries ETag %s", r.header.Get("ETag"))
			}
			after := get(t, sim, "/Patient/"+tt.id)
			if string(before.raw) != string(after.raw) || before.header.Get("ETag") != after.header.Get("ETag") {
				t.Errorf("the record changed:\n%s\n%s", before.raw, after.raw)
			}
		})
	}
}

// TestPatchErrorBodiesMatchTheSandbox compares the PATCH errors with the
// sandbox's templates.
func TestPatchErrorBodiesMatchTheSandbox(t *testing.T) {
	tests := []struct {
		name     string
		id       string
		ifMatch  string
		body     string
		template string
		diag     string // "" when the template has none
	}{
		{name: "PRECONDITION_FAILED", id: "9000000009", body: patches(`{"op":"replace","path":"/gender","value":"male"}`), template: "PRECONDITION_FAILED",
			diag: "Invalid request with error - If-Match header must be supplied to update this resource"},
		{name: "RESOURCE_VERSION_MISMATCH", id: "9000000009", ifMatch: `W/"1"`, body: patches(`{"op":"replace","path":"/gender","value":"male"}`), template: "RESOURCE_VERSION_MISMATCH"},
		{name: "INVALID_UPDATE", id: "9000000009", ifMatch: `W/"2"`, body: `{"correction":false}`, template: "INVALID_UPDATE",
			diag: "Invalid update with error - No patches found"},
		{name: "TOO_FEW_VALUES_SUBMITTED", id: "9000000009", ifMatch: `W/"2"`, body: `{"patches":[]}`, template: "TOO_FEW_VALUES_SUBMITTED",
			diag: "Invalid update with error - too few values submitted for 'patches'"},
		{name: "FORBIDDEN_UPDATE", id: "9000000025", ifMatch: `W/"2"`, body: patches(`{"op":"replace","path":"/gender","value":"male"}`), template: "FORBIDDEN_UPDATE",
			diag: "Forbidden update with error - the record of a restricted (sensitive) patient cannot be updated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := patchPatient(t, fixturesOnly(t, pds.Options{}), tt.id, tt.ifMatch, tt.body, nil)
			want := mustFixture(t, "fixtures/errorResponses/"+tt.template+".json")
			issue := walk(want, "issue", 0).(map[string]any)
			if tt.diag == "" {
				delete(issue, "diagnostics")
			} else {
				issue["diagnostics"] = tt.diag
			}
			got, _ := json.Marshal(r.body)
			wantRaw, _ := json.Marshal(want)
			if string(got) != string(wantRaw) {
				t.Errorf("body = %s\nwant   %s", got, wantRaw)
			}
		})
	}
}

// TestPatchIsAllOrNothing: when any operation, or the result, fails, no
// operation is applied.
func TestPatchIsAllOrNothing(t *testing.T) {
	tests := []struct {
		name string
		body string
		code string
	}{
		{name: "the third operation cannot apply", code: "INVALID_UPDATE", body: patches(
			`{"op":"replace","path":"/gender","value":"male"}`,
			`{"op":"replace","path":"/birthDate","value":"2010-10-21"}`,
			`{"op":"replace","path":"/multipleBirthInteger/0","value":3}`,
			`{"op":"add","path":"/name/-","value":{"use":"old","family":"Bloggs"}}`)},
		{name: "the third operation is a failing test", code: "INVALID_UPDATE", body: patches(
			`{"op":"replace","path":"/gender","value":"male"}`,
			`{"op":"add","path":"/name/-","value":{"use":"old","family":"Bloggs"}}`,
			`{"op":"test","path":"/name/1/family","value":"Smith"}`)},
		{name: "the third operation makes the result invalid", code: "INVALID_VALUE", body: patches(
			`{"op":"replace","path":"/gender","value":"male"}`,
			`{"op":"replace","path":"/birthDate","value":"2010-10-21"}`,
			`{"op":"replace","path":"/multipleBirthInteger","value":12}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := fixturesOnly(t, pds.Options{})
			before := expectVersion(t, sim, "9000000009", 2)
			r := patchPatient(t, sim, "9000000009", `W/"2"`, tt.body, nil)
			if r.status != http.StatusBadRequest || r.errorCode(t) != tt.code {
				t.Fatalf("got %d %s, want 400 %s\n%s", r.status, r.errorCode(t), tt.code, r.raw)
			}
			after := expectVersion(t, sim, "9000000009", 2)
			if string(before.raw) != string(after.raw) {
				t.Errorf("the record changed:\n%s\n%s", before.raw, after.raw)
			}
			if got := str(t, after.body, "gender"); got != "female" {
				t.Errorf("gender = %q", got)
			}
			// The same version can still be updated.
			if r := patchPatient(t, sim, "9000000009", `W/"2"`, specExample(t, "update-gender"), nil); r.status != http.StatusOK {
				t.Errorf("a valid update afterwards: status %d\n%s", r.status, r.raw)
			}
		})
	}
}

// TestPatchVersionsAndSearch: versions increase, stale versions are
// refused, and reads and searches see each new version.
func TestPatchVersionsAndSearch(t *testing.T) {
	sim := fixturesOnly(t, pds.Options{BaseURL: "https://pds.test" + pds.BasePath})
	rename := func(version int, family string) response {
		t.Helper()
		return patchPatient(t, sim, "9000000009", `W/"`+strconv.Itoa(version)+`"`,
			patches(`{"op":"test","path":"/name/0/id","value":"123"}`, `{"op":"replace","path":"/name/0/family","value":"`+family+`"}`), nil)
	}
	if r := rename(2, "Jones"); r.status != 200 || r.header.Get("ETag") != `W/"3"` {
		t.Fatalf("first update: %d %s\n%s", r.status, r.header.Get("ETag"), r.raw)
	}
	if r := rename(2, "Brown"); r.status != 409 || r.errorCode(t) != "RESOURCE_VERSION_MISMATCH" {
		t.Fatalf("update of the old version: %d %s", r.status, r.errorCode(t))
	}
	if r := rename(3, "Taylor"); r.status != 200 || r.header.Get("ETag") != `W/"4"` {
		t.Fatalf("second update: %d %s\n%s", r.status, r.header.Get("ETag"), r.raw)
	}
	read := expectVersion(t, sim, "9000000009", 4)
	if got := str(t, read.body, "name", 0, "family"); got != "Taylor" {
		t.Errorf("family = %q", got)
	}

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{name: "the new family name finds the patient", query: "family=Taylor&birthdate=eq2010-10-22", want: []string{"9000000009"}},
		{name: "the old one no longer does", query: "family=Smith&gender=female&birthdate=eq2010-10-22", want: nil},
		{name: "but a history search does", query: "family=Smith&gender=female&birthdate=eq2010-10-22&_history=true", want: []string{"9000000009"}},
		{name: "so does an intermediate name", query: "family=Jones&birthdate=eq2010-10-22&_history=true", want: []string{"9000000009"}},
		{name: "wildcards see the new version", query: "family=Tay*&birthdate=eq2010-10-22", want: []string{"9000000009"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, sim, "/Patient?"+tt.query)
			if r.status != 200 {
				t.Fatalf("status %d\n%s", r.status, r.raw)
			}
			if got := r.entryIDs(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
			if len(tt.want) > 0 {
				if got := str(t, r.body, "entry", 0, "resource", "name", 0, "family"); got != "Taylor" {
					t.Errorf("search result family = %q, want Taylor", got)
				}
				if got := str(t, r.body, "entry", 0, "resource", "meta", "versionId"); got != "4" {
					t.Errorf("search result version = %q, want 4", got)
				}
			}
		})
	}
}

// TestPatchConcurrentSameVersion: of many updates made against the same
// version at once, exactly one wins; run with -race.
func TestPatchConcurrentSameVersion(t *testing.T) {
	sim := fixturesOnly(t, pds.Options{})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	const n = 64
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		winner   string
	)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			gender := []string{"male", "unknown"}[i%2]
			req, _ := http.NewRequest(http.MethodPatch, srv.URL+pds.BasePath+"/Patient/9000000009",
				strings.NewReader(patches(`{"op":"replace","path":"/gender","value":"`+gender+`"}`)))
			req.Header.Set("X-Request-ID", fmt.Sprintf("%08X-0000-4000-8000-%012d", i, i))
			req.Header.Set("Content-Type", contentTypePatch)
			req.Header.Set("If-Match", `W/"2"`)
			<-start
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == 200 {
				winner = gender
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if statuses[200] != 1 || statuses[409] != n-1 {
		t.Fatalf("statuses = %v, want one 200 and %d 409", statuses, n-1)
	}
	r := expectVersion(t, sim, "9000000009", 3)
	if got := str(t, r.body, "gender"); got != winner {
		t.Errorf("gender = %q, want the winner's %q", got, winner)
	}
}

// TestPatchConcurrentChain: concurrent writers that reread on conflict all
// get through, one version at a time, while others read and search.
func TestPatchConcurrentChain(t *testing.T) {
	sim := fixturesOnly(t, pds.Options{})
	const writers, each = 8, 5
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for done := 0; done < each; {
				r := get(t, sim, "/Patient/9000000009")
				etag := r.header.Get("ETag")
				p := patchPatient(t, sim, "9000000009", etag, patches(`{"op":"add","path":"/name/-","value":{"use":"old","family":"W`+strconv.Itoa(w)+`"}}`), nil)
				switch p.status {
				case 200:
					done++
				case 409:
				default:
					t.Errorf("status %d\n%s", p.status, p.raw)
					return
				}
				get(t, sim, "/Patient?family=Smith&birthdate=eq2010-10-22&_history=true")
			}
		}(w)
	}
	wg.Wait()
	r := expectVersion(t, sim, "9000000009", 2+writers*each)
	if names, _ := r.body["name"].([]any); len(names) != 1+writers*each {
		t.Errorf("%d names, want %d", len(names), 1+writers*each)
	}
}

// TestPatchSimulatorsAreIndependent: simulators share the population's
// database, not their updates.
func TestPatchSimulatorsAreIndependent(t *testing.T) {
	a, b := pds.New(pds.Options{Open: true}), pds.New(pds.Options{Open: true})
	p := somePerson(t, func(p population.Person) bool { return !p.Restricted && !p.Deceased() })
	etag := `W/"` + strconv.Itoa(p.VersionID) + `"`
	r := patchPatient(t, a, p.NHSNumber, etag, patches(`{"op":"replace","path":"/gender","value":"unknown"}`), nil)
	if r.status != 200 {
		t.Fatalf("status %d\n%s", r.status, r.raw)
	}
	expectVersion(t, a, p.NHSNumber, p.VersionID+1)
	if got := str(t, expectVersion(t, b, p.NHSNumber, p.VersionID).body, "gender"); got != p.Gender {
		t.Errorf("the other simulator sees gender %q, want %q", got, p.Gender)
	}
	if got := str(t, expectVersion(t, pds.New(pds.Options{Open: true}), p.NHSNumber, p.VersionID).body, "gender"); got != p.Gender {
		t.Errorf("a new simulator sees gender %q, want %q", got, p.Gender)
	}
}

// TestPatchSyntheticAndSuperseded: synthetic people carry their own
// versions and object ids; a superseded number updates the superseding
// record, as a read of it returns that record.
func TestPatchSyntheticAndSuperseded(t *testing.T) {
	sim := pds.New(pds.Options{Open: true})
	p := somePerson(t, func(p population.Person) bool { return !p.Restricted && !p.Deceased() && p.Phone != "" })
	read := get(t, sim, "/Patient/"+p.NHSNumber)
	id := str(t, read.body, "telecom", 0, "id")
	r := patchPatient(t, sim, p.NHSNumber, read.header.Get("ETag"), patches(
		`{"op":"test","path":"/telecom/0/id","value":"`+id+`"}`,
		`{"op":"replace","path":"/telecom/0/value","value":"01632960999"}`), nil)
	if r.status != 200 {
		t.Fatalf("status %d\n%s", r.status, r.raw)
	}
	expectVersion(t, sim, p.NHSNumber, p.VersionID+1)
	s := get(t, sim, "/Patient?family="+p.Family+"&birthdate=eq"+p.BirthDate+"&phone=01632960999")
	if got := s.entryIDs(); len(got) != 1 || got[0] != p.NHSNumber {
		t.Errorf("search by the new phone number: %v", got)
	}

	sup := get(t, sim, "/Patient/"+pds.SupersedingNHSNumber)
	r = patchPatient(t, sim, pds.SupersededNHSNumber, sup.header.Get("ETag"), specExample(t, "update-gender"), nil)
	if r.status != 200 || str(t, r.body, "id") != pds.SupersedingNHSNumber {
		t.Fatalf("update through the superseded number: %d %s\n%s", r.status, str(t, r.body, "id"), r.raw)
	}
	if got := str(t, get(t, sim, "/Patient/"+pds.SupersedingNHSNumber).body, "gender"); got != "male" {
		t.Errorf("superseding patient's gender = %q", got)
	}
}

// TestStatelessPatches: the sandbox's behaviour, for NHS England's Postman
// collection: operations are checked and applied to a copy that is
// returned, nothing is stored, and business rules are not applied.
func TestStatelessPatches(t *testing.T) {
	sim := fixturesOnly(t, pds.Options{StatelessPatches: true})
	tests := []struct {
		name    string
		id      string
		ifMatch string
		body    string
		status  int
		code    string
		check   [2]string
	}{
		{name: "Postman add-name, not a valid HumanName", id: "9000000009", body: patches(`{"op":"add","path":"/name/-","value":{"use":"old","text":"Dr Joe Bloggs","prefix":"Dr","family":"Bloggs"}}`),
			status: 200, check: [2]string{"name/1/prefix", "Dr"}},
		{name: "the same version again", id: "9000000009", body: patches(`{"op":"replace","path":"/name/0/given/0","value":"Anne"}`),
			status: 200, check: [2]string{"name/0/given/0", "Anne"}},
		{name: "remove without a test", id: "9000000009", body: patches(`{"op":"remove","path":"/name/0"}`),
			status: 200, check: [2]string{"name", "[]"}},
		{name: "change the date of death", id: "9000000009", body: patches(`{"op":"replace","path":"/deceasedDateTime","value":"2010-10-23"}`),
			status: 200, check: [2]string{"deceasedDateTime", "2010-10-23"}},
		{name: "add to a list the record does not hold", id: "9000000033", body: patches(`{"op":"add","path":"/extension/-","value":{"url":"x"}}`),
			status: 200, check: [2]string{"extension/0/url", "x"}},
		{name: "stale version", id: "9000000009", ifMatch: `W/"1"`, body: patches(`{"op":"remove","path":"/name/0"}`), status: 409, code: "RESOURCE_VERSION_MISMATCH"},
		{name: "operation out of bounds", id: "9000000009", body: patches(`{"op":"remove","path":"/name/5"}`), status: 400, code: "INVALID_UPDATE"},
		{name: "failed test", id: "9000000009", body: patches(`{"op":"test","path":"/extension/4/url","value":"https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-NHSCommunication"}`, `{"op":"remove","path":"/extension/4"}`),
			status: 400, code: "INVALID_UPDATE"},
		{name: "no patches", id: "9000000009", body: `{"patches":[]}`, status: 400, code: "TOO_FEW_VALUES_SUBMITTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ifMatch := tt.ifMatch
			if ifMatch == "" {
				ifMatch = `W/"2"`
			}
			r := patchPatient(t, sim, tt.id, ifMatch, tt.body, nil)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tt.status, r.raw)
			}
			if tt.code != "" {
				if got := r.errorCode(t); got != tt.code {
					t.Errorf("code = %q, want %q", got, tt.code)
				}
			} else {
				if r.header.Get("ETag") != `W/"3"` || str(t, r.body, "meta", "versionId") != "3" {
					t.Errorf("version %s / %s, want 3", r.header.Get("ETag"), str(t, r.body, "meta", "versionId"))
				}
				if got := fmt.Sprint(walk(r.body, pathOf(tt.check[0])...)); got != tt.check[1] {
					t.Errorf("%s = %q, want %q", tt.check[0], got, tt.check[1])
				}
			}
			expectVersion(t, sim, tt.id, 2)
		})
	}
	if got := str(t, get(t, sim, "/Patient/9000000009").body, "name", 0, "given", 0); got != "Jane" {
		t.Errorf("stored given name = %q, want Jane", got)
	}
}
