package ra_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/ra"
)

// The contract with the public Reasonable Adjustment Flag sandbox
// (docs/backends.md, "RA"): one row per answer of the real sandbox, a hapi
// app serving canned files behind an Apigee proxy, each sending the same
// request to the simulator and comparing status, Content-Type and body.
// Expected bodies are the app's files (fixtures/, byte copies, which the
// simulator embeds), the proxy's errors (inline, from its policies) and the
// bodies derived by running the app (testdata/real-sandbox/derived/);
// testdata/real-sandbox/SOURCES.md gives their origin. Nothing the sandbox
// answers is random but the proxy's message_id (masked), so every other
// row compares compact bytes.
//
// Flag and Consent writes are departures: the simulator validates and keeps
// them (the sandbox answers any body with a canned resource); those rows
// check what the simulator answers instead.

type raRow struct {
	name      string
	method    string
	path      string            // under BasePath
	header    map[string]string // on top of X-Request-ID and NHSD-Session-URID; "" removes
	body      string            // "@file" reads testdata/spec-requests/file
	status    int
	ctype     string // expected media type
	want      string // fixtures/… or derived/…, or a literal JSON body
	mask      []string
	departure string
	check     func(t *testing.T, body map[string]any, hdr map[string]string)
}

func TestContractRealSandbox(t *testing.T) {
	q := func(path, nhs string) string {
		return path + "?patient=" + nhs + "&status=active&category=https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1%7CNRAF"
	}
	const (
		fhirJSON  = "application/fhir+json"
		plainJSON = "application/json"
		sandbox   = ra.SandboxNHSNumber
		unknown   = "9111231130"
	)
	write := map[string]string{"Content-Type": fhirJSON}
	badRequest := `{"error": "Bad Request"}`
	invalidQuery := `{"error": "invalid query parameters", "error_description": "required query parameters are missing or have empty values", "message_id": "<masked>"}`
	noRecord := "a person of the population without an RA record"
	rows := []raRow{
		{name: "flags of 5900026175", method: "GET", path: q("/Flag", sandbox), status: 200, ctype: fhirJSON, want: "fixtures/flagGET.json"},
		{name: "flags of a patient without a record", method: "GET", path: q("/Flag", unknown), status: 404, ctype: plainJSON, want: "fixtures/flagGETerror.json"},
		{name: "flags of 9000000009", method: "GET", path: q("/Flag", "9000000009"), status: 200, ctype: fhirJSON,
			departure: "9000000009 has an RA record with two adjustments (real: 404 PATIENT_NOT_FOUND, fixtures/flagGETerror.json)",
			check: func(t *testing.T, b map[string]any, _ map[string]string) {
				if b["resourceType"] != "Bundle" || b["total"] != 2.0 {
					t.Errorf("want a searchset of two flags: %v", b)
				}
			}},
		{name: "flags without status", method: "GET", path: "/Flag?patient=" + sandbox + "&category=x", status: 404, ctype: plainJSON, want: invalidQuery, mask: []string{"message_id"}},
		{name: "flags with an empty patient", method: "GET", path: "/Flag?patient=&status=active&category=x", status: 404, ctype: plainJSON, want: invalidQuery, mask: []string{"message_id"}},
		{name: "flags without X-Request-ID", method: "GET", path: q("/Flag", sandbox), header: map[string]string{"X-Request-ID": ""}, status: 400, ctype: plainJSON, want: badRequest},
		{name: "flags without NHSD-Session-URID", method: "GET", path: q("/Flag", sandbox), header: map[string]string{"NHSD-Session-URID": ""}, status: 400, ctype: plainJSON, want: badRequest},
		{name: "consent of 5900026175", method: "GET", path: q("/Consent", sandbox), status: 200, ctype: fhirJSON, want: "fixtures/consentGET.json"},
		{name: "consent of a patient without a record", method: "GET", path: q("/Consent", unknown), status: 404, ctype: plainJSON, want: "fixtures/consentGETerror.json"},
		{name: "impairments of 5900026175", method: "GET", path: "/List?patient=" + sandbox + "&status=active&code=x", status: 200, ctype: fhirJSON, want: "fixtures/listGET.json"},
		{name: "impairments of another patient", method: "GET", path: "/List?patient=" + unknown + "&status=active&code=x", status: 404, ctype: plainJSON, want: "fixtures/listGETerror.json"},
		{name: "impairments without code", method: "GET", path: q("/List", sandbox), status: 404, ctype: plainJSON, want: invalidQuery, mask: []string{"message_id"}},
		{name: "threshold codes of 5900026175", method: "GET", path: q("/ThresholdCode", sandbox), status: 200, ctype: fhirJSON, want: "fixtures/ThresholdCodeGET.json"},
		{name: "threshold codes of another patient", method: "GET", path: q("/ThresholdCode", unknown), status: 404, ctype: plainJSON, want: "fixtures/ThresholdCodeGETTerror.json",
			departure: "PATIENT_NOT_FOUND, the file the sandbox means to send (real: hapi's 404 because its route misspells the file name, derived/GET_ThresholdCode_other-patient.404.derived.json)"},
		{name: "underlying conditions of 5900026175", method: "GET", path: q("/UnderlyingConditionList", sandbox), status: 200, ctype: fhirJSON, want: "fixtures/underlyingConditionListGET.json"},
		{name: "underlying conditions of another patient", method: "GET", path: q("/UnderlyingConditionList", unknown), status: 404, ctype: plainJSON, want: "fixtures/underlyingConditionListGETTerror.json",
			departure: "PATIENT_NOT_FOUND, the file the sandbox means to send (real: hapi's 404, derived/GET_UnderlyingConditionList_other-patient.404.derived.json)"},

		{name: "create an impairment list", method: "POST", path: "/List", header: write, body: "{}", status: 201, ctype: fhirJSON, want: "fixtures/listPOST.json"},
		{name: "update an impairment list", method: "PUT", path: "/List/130f416a-055d-4a5d-a453-2b7c2de3b57b", header: write, body: "{}", status: 200, ctype: fhirJSON, want: "fixtures/listPUT.json"},
		{name: "create an underlying condition list", method: "POST", path: "/UnderlyingConditionList", header: write, body: "{}", status: 201, ctype: fhirJSON, want: "fixtures/underlyingConditionListPOST.json"},
		{name: "update an underlying condition list", method: "PUT", path: "/UnderlyingConditionList/2acb0536-0a8f-48c9-8a2f-6ee82860f186", header: write, body: "{}", status: 201, ctype: fhirJSON, want: "fixtures/underlyingConditionListPUT.json"},
		{name: "update a consent", method: "PUT", path: "/Consent/5900026175.a54f7fe6-fb35-4fef-a2dc-7a9df9ee7441", header: write, body: "{}", status: 200, ctype: fhirJSON, want: "fixtures/consentPUT.json"},
		{name: "remove a record", method: "POST", path: "/$removerarecord", header: write, body: "{}", status: 200, ctype: fhirJSON, want: "fixtures/removerarecordPOST.json"},
		{name: "a write without a body", method: "POST", path: "/Flag", header: write, status: 400, ctype: plainJSON, want: badRequest},
		{name: "a write as application/json", method: "POST", path: "/List", header: map[string]string{"Content-Type": "application/json"}, body: "{}", status: 400, ctype: plainJSON, want: badRequest},
		{name: "an unknown path", method: "GET", path: "/Patient/1", status: 404, ctype: plainJSON, want: "derived/unknown-route.404.derived.json"},

		{name: "create a flag", method: "POST", path: "/Flag", header: write, body: "@createFlag.json", status: 201, ctype: fhirJSON,
			departure: "the flag is validated and kept: the answer is it, with its own id, version and Location (real: the canned fixtures/flagPOST.json for any body)",
			check: func(t *testing.T, b map[string]any, h map[string]string) {
				if b["resourceType"] != "Flag" || !strings.HasPrefix(fmt.Sprint(b["id"]), sandbox+".") || h["Location"] == "" || !strings.HasSuffix(h["Etag"], "”") {
					t.Errorf("want the new flag: %v %v", h, b)
				}
			}},
		{name: "create a consent", method: "POST", path: "/Consent", header: map[string]string{"Content-Type": fhirJSON, "Prefer": "respond-async"}, body: "@createConsent.json", status: 400, ctype: fhirJSON,
			departure: "5900026175 already has a record: 400 INVALID_UPDATE (real: 202 with the canned fixtures/consentPOST.json); a patient without one gets 202 and a record, next row",
			check: func(t *testing.T, b map[string]any, _ map[string]string) {
				if b["resourceType"] != "OperationOutcome" {
					t.Errorf("want an OperationOutcome: %v", b)
				}
			}},
		{name: "create a consent for " + noRecord, method: "POST", path: "/Consent", header: map[string]string{"Content-Type": fhirJSON, "Prefer": "respond-async"}, status: 202, ctype: fhirJSON,
			departure: "a new record is kept (real: the canned fixtures/consentPOST.json)",
			check: func(t *testing.T, b map[string]any, h map[string]string) {
				if b["resourceType"] != "Consent" || h["Location"] == "" {
					t.Errorf("want the new consent: %v %v", h, b)
				}
			}},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			sim := ra.New(ra.Options{Open: true})
			body := tt.body
			switch {
			case strings.HasPrefix(body, "@"):
				b, err := os.ReadFile("testdata/spec-requests/" + body[1:])
				if err != nil {
					t.Fatal(err)
				}
				body = string(b)
			case strings.HasSuffix(tt.name, noRecord):
				b, err := os.ReadFile("testdata/spec-requests/createConsent.json")
				if err != nil {
					t.Fatal(err)
				}
				body = strings.ReplaceAll(string(b), "Patient/"+sandbox, "Patient/"+withoutRecord(t, sim))
			}
			req := httptest.NewRequest(tt.method, ra.BasePath+tt.path, strings.NewReader(body))
			req.Header.Set("X-Request-ID", "60E0B220-8136-4CA5-AE46-1D97EF59D068")
			req.Header.Set("NHSD-Session-URID", "555254240100")
			for k, v := range tt.header {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			got, _ := io.ReadAll(rec.Result().Body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d\n%s", rec.Code, tt.status, got)
			}
			if ct, _, _ := strings.Cut(rec.Header().Get("Content-Type"), ";"); ct != tt.ctype {
				t.Errorf("Content-Type %q, want %s", rec.Header().Get("Content-Type"), tt.ctype)
			}
			if tt.check != nil {
				var b map[string]any
				if err := json.Unmarshal(got, &b); err != nil {
					t.Fatalf("not JSON: %s", got)
				}
				h := map[string]string{}
				for k := range rec.Header() {
					h[k] = rec.Header().Get(k)
				}
				tt.check(t, b, h)
				return
			}
			want := []byte(tt.want)
			if !strings.HasPrefix(tt.want, "{") {
				p := tt.want
				if !strings.HasPrefix(p, "fixtures/") {
					p = "testdata/real-sandbox/" + p
				}
				var err error
				if want, err = os.ReadFile(p); err != nil {
					t.Fatal(err)
				}
			}
			if len(tt.mask) > 0 {
				got, want = masked(t, got, tt.mask), masked(t, want, tt.mask)
			}
			var g, w bytes.Buffer
			if err := json.Compact(&g, got); err != nil {
				t.Fatalf("not JSON: %s", got)
			}
			if err := json.Compact(&w, want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(g.Bytes(), w.Bytes()) {
				t.Errorf("body differs from %s\n got %s\nwant %s", tt.want, g.Bytes(), w.Bytes())
			}
		})
	}
}

// masked replaces the top-level members named by mask with a marker (both
// sides are re-encoded, so member order does not count for these rows).
func masked(t *testing.T, b []byte, mask []string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	for _, k := range mask {
		if _, ok := m[k]; ok {
			m[k] = "<masked>"
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// withoutRecord is a person of the population the simulator holds no RA
// record for.
func withoutRecord(t *testing.T, sim *ra.Simulator) string {
	t.Helper()
	for _, p := range population.Default() {
		if !sim.HasRecord(p.NHSNumber) && !p.Deceased() {
			return p.NHSNumber
		}
	}
	t.Fatal("everyone has a record")
	return ""
}
