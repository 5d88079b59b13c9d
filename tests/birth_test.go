package tests

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

// birthSeq makes each test's births distinct (the simulator refuses the same
// mother, birth time and order twice).
var birthSeq atomic.Int64

// birthTime is a distinct recent instant for one notification.
func birthTime() string {
	return time.Now().UTC().Add(-time.Duration(birthSeq.Add(1)) * time.Minute).Truncate(time.Second).Format(time.RFC3339)
}

// birthParams is a $notify-birth Parameters body; params replace defaults by
// name ("" drops the parameter).
func birthParams(params map[string]string) string {
	def := []struct{ name, value string }{
		{"mother-nhs-number", `"valueIdentifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}`},
		{"baby-sex", `"valueCode":"female"`},
		{"birth-date-time", `"valueDateTime":"` + birthTime() + `"`},
		{"birth-order", `"valuePositiveInt":1`},
		{"number-of-babies", `"valuePositiveInt":1`},
		{"birth-weight", `"valueQuantity":{"value":3400,"unit":"g","system":"http://unitsofmeasure.org","code":"g"}`},
		{"place-of-birth", `"valueIdentifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"RGT01"}`},
	}
	var parts []string
	for _, d := range def {
		v := d.value
		if o, ok := params[d.name]; ok {
			v = o
		}
		if v != "" {
			parts = append(parts, `{"name":"`+d.name+`",`+v+`}`)
		}
	}
	if extra, ok := params["extra"]; ok {
		parts = append(parts, extra)
	}
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(parts, ",") + `]}`
}

func birthHeaders(t *testing.T, role, requestID string) map[string]string {
	t.Helper()
	auth := bearer(role)
	if _, ok := env.tokens[role]; !ok {
		auth = "Bearer " + mintRole(t, role, "user/*.rs user/Flag.cu user/Patient.c")
	}
	h := map[string]string{"Content-Type": "application/fhir+json", "Authorization": auth}
	if requestID != "" {
		h["X-Request-ID"] = requestID
	}
	return h
}

func newRequestID() string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", time.Now().UnixNano()&0xffffffff, birthSeq.Add(1))
}

// TestNotifyBirth: a birth for 9000000009 gives a baby with a new NHS
// number, readable from PDS with the link to the mother; the same request
// again is the same baby; the same birth under a new request id is 409.
func TestNotifyBirth(t *testing.T) {
	id := newRequestID()
	body := birthParams(nil)
	r := call(t, http.MethodPost, "/Patient/$notify-birth", birthHeaders(t, "nurse", id), body)
	if r.status != http.StatusCreated {
		t.Fatalf("notify: %d %s", r.status, r.raw)
	}
	baby, _ := r.body["id"].(string)
	if !nhsnumber.Valid(baby) || baby == "9000000009" {
		t.Fatalf("baby id %q", baby)
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/fhir/Patient/"+baby+"/_history/1") || r.header.Get("ETag") != `W/"1"` || r.header.Get("Last-Modified") == "" {
		t.Errorf("Location %q ETag %q Last-Modified %q", loc, r.header.Get("ETag"), r.header.Get("Last-Modified"))
	}

	read := get(t, "/Patient/"+baby)
	if read.status != 200 {
		t.Fatalf("read the baby: %d %s", read.status, read.raw)
	}
	name := read.body["name"].([]any)[0].(map[string]any)
	if name["family"] != "Smith" || name["given"] != nil || read.body["gender"] != "female" {
		t.Errorf("baby's name/gender: %s", read.raw)
	}
	contacts, _ := read.body["contact"].([]any)
	if len(contacts) != 1 || !strings.Contains(fmt.Sprint(contacts[0]), "9000000009") || !strings.Contains(fmt.Sprint(contacts[0]), "MTH") {
		t.Fatalf("no link to the mother: %s", read.raw)
	}

	again := call(t, http.MethodPost, "/Patient/$notify-birth", birthHeaders(t, "nurse", id), body)
	if again.status != http.StatusCreated || again.body["id"] != baby {
		t.Fatalf("same X-Request-ID: %d %v, want the same baby %s", again.status, again.body["id"], baby)
	}
	dup := call(t, http.MethodPost, "/Patient/$notify-birth", birthHeaders(t, "nurse", newRequestID()), body)
	if dup.status != http.StatusConflict || outcomeIssue(t, dup)["code"] != "duplicate" {
		t.Fatalf("same birth, new request: %d %s", dup.status, dup.raw)
	}
}

// TestNotifyBirthCorrectionNeedsNewRequestID: a corrected notification
// resent with the first one's X-Request-ID is 409 with an OperationOutcome
// saying to use a new id, and creates nothing; the identical resend is
// still the same baby; the correction under a new id is accepted.
func TestNotifyBirthCorrectionNeedsNewRequestID(t *testing.T) {
	id := newRequestID()
	born := birthTime()
	body := func(edits map[string]string) string {
		p := map[string]string{"birth-date-time": `"valueDateTime":"` + born + `"`}
		for k, v := range edits {
			p[k] = v
		}
		return birthParams(p)
	}
	first := call(t, http.MethodPost, "/Patient/$notify-birth", birthHeaders(t, "clinician", id), body(nil))
	if first.status != http.StatusCreated {
		t.Fatalf("notify: %d %s", first.status, first.raw)
	}
	baby, _ := first.body["id"].(string)

	corrections := []struct {
		name  string
		edits map[string]string
	}{
		{name: "birth time", edits: map[string]string{"birth-date-time": `"valueDateTime":"` + birthTime() + `"`}},
		{name: "sex", edits: map[string]string{"baby-sex": `"valueCode":"male"`}},
		{name: "weight", edits: map[string]string{"birth-weight": `"valueQuantity":{"value":3.45,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}`}},
		{name: "twins", edits: map[string]string{"number-of-babies": `"valuePositiveInt":2`}},
	}
	for _, c := range corrections {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, http.MethodPost, "/Patient/$notify-birth", birthHeaders(t, "clinician", id), body(c.edits))
			if r.status != http.StatusConflict {
				t.Fatalf("same X-Request-ID, corrected %s: %d %s", c.name, r.status, r.raw)
			}
			is := outcomeIssue(t, r)
			diag := fmt.Sprint(is["diagnostics"], is["details"])
			if is["code"] != "conflict" || !strings.Contains(diag, "already used for a different birth notification") || !strings.Contains(diag, "new X-Request-ID") {
				t.Errorf("issue %v", is)
			}
			if strings.Contains(string(r.raw), baby) {
				t.Errorf("the refusal names the first baby: %s", r.raw)
			}
		})
	}

	again := call(t, http.MethodPost, "/Patient/$notify-birth", birthHeaders(t, "clinician", id), body(nil))
	if again.status != http.StatusCreated || again.body["id"] != baby {
		t.Fatalf("identical resend: %d %v, want the same baby %s", again.status, again.body["id"], baby)
	}
	fixed := call(t, http.MethodPost, "/Patient/$notify-birth", birthHeaders(t, "clinician", newRequestID()),
		body(map[string]string{"birth-date-time": `"valueDateTime":"` + birthTime() + `"`}))
	if fixed.status != http.StatusCreated || fixed.body["id"] == baby {
		t.Fatalf("correction under a new X-Request-ID: %d %s", fixed.status, fixed.raw)
	}
}

func TestNotifyBirthRefusals(t *testing.T) {
	tests := []struct {
		name   string
		role   string
		params map[string]string
		status int
		code   string
		param  string // named in issue.expression
	}{
		{name: "admin staff may not notify", role: "admin", status: 403, code: "forbidden"},
		{name: "nurse manager may not notify", role: "nurse-manager", status: 403, code: "forbidden"},
		{name: "missing parameter", role: "clinician", params: map[string]string{"baby-sex": ""}, status: 400, code: "required", param: "baby-sex"},
		{name: "invalid mother NHS number", role: "clinician", params: map[string]string{"mother-nhs-number": `"valueString":"9000000000"`}, status: 400, code: "invalid", param: "mother-nhs-number"},
		{name: "birth order beyond number of babies", role: "clinician", params: map[string]string{"birth-order": `"valuePositiveInt":3`}, status: 400, code: "invalid", param: "birth-order"},
		{name: "birth in the future", role: "clinician", params: map[string]string{"birth-date-time": `"valueDateTime":"2999-01-01T00:00:00Z"`}, status: 400, code: "invalid", param: "birth-date-time"},
		{name: "weight in pounds", role: "clinician", params: map[string]string{"birth-weight": `"valueQuantity":{"value":7,"code":"[lb_av]","system":"http://unitsofmeasure.org"}`}, status: 400, code: "invalid", param: "birth-weight"},
		{name: "unknown parameter", role: "clinician", params: map[string]string{"extra": `{"name":"eye-colour","valueString":"blue"}`}, status: 400, code: "invalid", param: "eye-colour"},
		{name: "mother not found", role: "health-professional", params: map[string]string{"mother-nhs-number": `"valueString":"9111231130"`}, status: 404, code: "not-found", param: "mother-nhs-number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := birthHeaders(t, tt.role, newRequestID())
			r := call(t, http.MethodPost, "/Patient/$notify-birth", h, birthParams(tt.params))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			is := outcomeIssue(t, r)
			if is["code"] != tt.code {
				t.Errorf("issue.code %v, want %s", is["code"], tt.code)
			}
			if tt.param != "" {
				if ex, _ := is["expression"].([]any); len(ex) == 0 || !strings.Contains(ex[0].(string), "'"+tt.param+"'") {
					t.Errorf("expression %v does not name %s", is["expression"], tt.param)
				}
			}
		})
	}
	// Not a Parameters resource; GET is not the operation.
	if r := call(t, http.MethodPost, "/Patient/$notify-birth", birthHeaders(t, "clinician", ""), `{"resourceType":"Patient"}`); r.status != 400 {
		t.Errorf("a Patient body: %d", r.status)
	}
	if r := call(t, http.MethodGet, "/Patient/$notify-birth", nil, ""); r.status != 405 {
		t.Errorf("GET: %d", r.status)
	}
	if r := call(t, http.MethodPost, "/Patient/$unknown-op", birthHeaders(t, "clinician", ""), birthParams(nil)); r.status != 404 {
		t.Errorf("unknown type operation: %d", r.status)
	}
}

// TestNotifyBirthDeclared: the CapabilityStatement names the operation and
// its OperationDefinition is served.
func TestNotifyBirthDeclared(t *testing.T) {
	r := get(t, "/metadata")
	if !strings.Contains(string(r.raw), `"name":"notify-birth"`) || !strings.Contains(string(r.raw), "/OperationDefinition/Patient-notify-birth") {
		t.Fatal("the CapabilityStatement does not declare $notify-birth")
	}
	d := get(t, "/OperationDefinition/Patient-notify-birth")
	if d.status != 200 || d.body["type"] != true || d.body["instance"] != false || d.body["affectsState"] != true {
		t.Fatalf("OperationDefinition: %d %s", d.status, d.raw)
	}
}

// mintRole mints a token of the facade's local issuer for a dev role (or
// "nurse-manager": a nurse's token with the role R8002) with the given
// scopes ("" for the role's default).
func mintRole(t *testing.T, role, scope string) string {
	t.Helper()
	dev := role
	if role == "nurse-manager" {
		dev = "nurse"
	}
	c, err := env.app.Issuer.DevClaims(issuer.DevClientID, dev, "", strings.Fields(scope), "")
	if err != nil {
		t.Fatal(err)
	}
	if role == "nurse-manager" {
		c.Roles = []string{"R8002"}
	}
	tok, err := env.app.Issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
