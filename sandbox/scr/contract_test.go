package scr_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/internal/jsoncompare"
	"github.com/carerecords/fhir-facade/sandbox/scr"
)

// The contract with the public SCR sandbox (docs/backends.md, "SCR"): one
// row per answer of the real sandbox (the service itself, in sandbox mode,
// over canned Spine answers), each sending the same request to the
// simulator and comparing status, Content-Type and body with the real
// payload: the service's own expectations (testdata/real-sandbox/
// uat-expected/, its answers verbatim where the sandbox's Spine answer is
// the one they were made from), the DocumentReference answer derived from
// them (fixtures/, which the simulator embeds) and bodies derived from its
// code (testdata/real-sandbox/derived/); testdata/real-sandbox/SOURCES.md
// gives their origin.
//
// Masked, because the real service makes them up per request: the Bundle
// id and the DocumentReference and Patient ids (random UUIDs), and so the
// fullUrls and references built on them. Rows marked static compare compact
// bytes as well.
//
// The full summary (GET /Bundle of 9000000009) cannot be derived: the
// sandbox maps a canned HL7v3 summary with the service's code. Its row
// compares the JSON skeleton (every member and array length, values
// masked) with the service's expectation of a mapped summary.

type scrRow struct {
	name   string
	method string
	path   string            // under BasePath
	header map[string]string // added to the request; "" removes
	body   string
	status int
	file   string // expected body: fixtures/… or testdata/real-sandbox/…; "" for none
	static bool
	mask   []string
	shape  bool // compare the JSON skeletons only
}

// contractBase is the real sandbox's base, which its answers' URLs carry.
const contractBase = "https://sandbox.api.service.nhs.uk/summary-care-record/FHIR/R4"

func TestContractRealSandbox(t *testing.T) {
	doc := func(nhs string) string { return docRefPath(nhs) }
	role := map[string]string{"Content-Type": "application/fhir+json", "NHSD-Session-URID": scr.SandboxSessionURID}
	permission := func(nhs string, codes ...string) string {
		parts := `{"name":"nhsNumber","valueIdentifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}}`
		if nhs == "" {
			parts = `{"name":"other","valueString":"x"}`
		}
		for _, c := range codes {
			parts += `,{"name":"permissionCode","valueCoding":{"system":"https://fhir.nhs.uk/CodeSystem/SCR-ACSPermission","code":"` + c + `"}}`
		}
		return `{"resourceType":"Parameters","parameter":[{"name":"setPermissions","part":[` + parts + `]}]}`
	}
	const upload = `{"resourceType":"Bundle","type":"document","entry":[{"resource":{"resourceType":"Composition"}},{"resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9111231130"}]}}]}`
	rows := []scrRow{
		{name: "latest summary of 9000000009", method: "GET", path: doc("9000000009"), status: 200, file: "fixtures/GET_DocumentReference_9000000009.200.derived.json",
			mask: []string{"id", "entry.*.fullUrl", "entry.*.resource.id", "entry.*.resource.subject.reference"}},
		{name: "latest summary with the API's parameters", method: "GET", path: doc("9000000009") + "&type=http://snomed.info/sct%7C196981000000101&_sort=date&_count=1", status: 200, file: "fixtures/GET_DocumentReference_9000000009.200.derived.json",
			mask: []string{"id", "entry.*.fullUrl", "entry.*.resource.id", "entry.*.resource.subject.reference"}},
		{name: "latest summary of 9000000033", method: "GET", path: doc("9000000033"), status: 403, file: "testdata/real-sandbox/uat-expected/get_scr_id/no_consent/1-basic.response.json", static: true},
		{name: "latest summary of 9111231130", method: "GET", path: doc("9111231130"), status: 403, file: "testdata/real-sandbox/uat-expected/get_scr_id/no_consent/1-basic.response.json", static: true},
		{name: "latest summary of a bad check digit", method: "GET", path: doc("9000000000"), status: 403, file: "testdata/real-sandbox/uat-expected/get_scr_id/no_consent/1-basic.response.json", static: true},
		{name: "patient without the system", method: "GET", path: "/DocumentReference?patient=9000000009", status: 400, file: "testdata/real-sandbox/derived/GET_DocumentReference.400.no-prefix.derived.json", static: true},
		{name: "summary of 9000000009", method: "GET", path: bundlePath("9000000009", scr.SandboxUUID), status: 200, file: "testdata/real-sandbox/uat-expected/get_scr/success/1-basic.response.json", shape: true},
		{name: "summary of 9000000009, not the latest", method: "GET", path: bundlePath("9000000009", "D18B57ED-992E-45A2-A6AF-55200D20F48E"), status: 200, file: "testdata/real-sandbox/uat-expected/get_scr/no_results/1-basic.response.json", mask: []string{"id"}},
		{name: "summary of 9000000033", method: "GET", path: bundlePath("9000000033", scr.SandboxUUID), status: 403, file: "testdata/real-sandbox/uat-expected/get_scr/no_consent/1-basic.response.json", static: true},
		{name: "summary of 9111231130", method: "GET", path: bundlePath("9111231130", "81CC2DA0-8882-11EB-B538-0800200C9A66"), status: 403, file: "testdata/real-sandbox/uat-expected/get_scr/no_consent/1-basic.response.json", static: true},
		{name: "set permission for 9000000009", method: "POST", path: "/$setPermission", header: role, body: permission("9000000009", "Yes"), status: 201},
		{name: "set permission for 9111231130", method: "POST", path: "/$setPermission", header: role, body: permission("9111231130", "Yes"), status: 400, file: "testdata/real-sandbox/uat-expected/set_acs/spine_error/1-nhsNumberNotFound.response.json", static: true},
		{name: "set permission without an NHS number", method: "POST", path: "/$setPermission", header: role, body: permission("", "Yes"), status: 400, file: "testdata/real-sandbox/uat-expected/set_acs/bad_request/1-nhsNumberMissing.response.json", static: true},
		{name: "set two permissions", method: "POST", path: "/$setPermission", header: role, body: permission("9000000009", "Yes", "No"), status: 400, file: "testdata/real-sandbox/uat-expected/set_acs/bad_request/2-duplicatePermission.response.json", static: true},
		{name: "upload for 9111231130", method: "POST", path: "/Bundle", header: role, body: upload, status: 201},
		{name: "upload without a Composition", method: "POST", path: "/Bundle", header: role, body: `{"resourceType":"Bundle","type":"document","entry":[]}`, status: 400, file: "testdata/real-sandbox/uat-expected/upload_scr/bad_request/1-missingComposition.response.json", static: true},
		{name: "privacy alert", method: "POST", path: "/AuditEvent", header: role, body: `{"resourceType":"AuditEvent"}`, status: 201},
	}
	sim := scr.New(scr.Options{Open: true, BaseURL: contractBase})
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, scr.BasePath+tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			got, _ := io.ReadAll(rec.Result().Body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d\n%s", rec.Code, tt.status, got)
			}
			if tt.file == "" {
				if len(bytes.TrimSpace(got)) != 0 {
					t.Errorf("body %s, want none", got)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/fhir+json" {
				t.Errorf("Content-Type %q", ct)
			}
			want, err := os.ReadFile(filepath.FromSlash(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tt.shape {
				if g, w := skeleton(t, got), skeleton(t, want); !reflect.DeepEqual(g, w) {
					t.Errorf("the summary's shape differs from %s", tt.file)
				}
				return
			}
			if msg := jsoncompare.Diff(got, want, jsoncompare.Options{Mask: tt.mask}); msg != "" {
				t.Errorf("body differs from %s (masked %v):\n%s", tt.file, tt.mask, msg)
			}
			if tt.static {
				var g, w bytes.Buffer
				if json.Compact(&g, got) != nil || json.Compact(&w, want) != nil || !bytes.Equal(g.Bytes(), w.Bytes()) {
					t.Errorf("static answer: bytes differ\n got %s\nwant %s", g.Bytes(), w.Bytes())
				}
			}
		})
	}
}

// skeleton is a JSON document with every string and number replaced by its
// type: what the shape comparison compares.
func skeleton(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				x[k] = walk(c)
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case string:
			return "string"
		case float64:
			return "number"
		}
		return v
	}
	return walk(v)
}
