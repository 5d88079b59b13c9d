package bna_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/bna"
	"github.com/carerecords/fhir-facade/sandbox/pds"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const (
	id1 = "11111111-1111-4111-8111-111111111111"
	id2 = "22222222-2222-4222-8222-222222222222"
	id3 = "33333333-3333-4333-8333-333333333333"
)

func body(edit func(m map[string]any)) string {
	m := map[string]any{
		"motherNhsNumber": "9000000009",
		"baby": map[string]any{"sex": "female", "birthDateTime": "2026-11-25T09:30:00Z", "birthOrder": 1,
			"numberOfBabies": 1, "birthWeightGrams": 3400},
		"placeOfBirthOds": "RGT01",
		"notifiedBy":      map[string]any{"sdsUserId": "910000000001", "ods": "Y05868"},
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

type reply struct {
	status int
	body   map[string]any
}

func post(t *testing.T, h http.Handler, id, b string, hdr map[string]string) reply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, bna.BasePath+bna.NotificationsPath, strings.NewReader(b))
	if id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	req.Header.Set("Authorization", "Bearer t")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := reply{status: rec.Code}
	if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
		t.Fatalf("not JSON: %s", rec.Body.String())
	}
	return r
}

func newSims() (*pds.Simulator, *bna.Simulator) {
	p := pds.New(pds.Options{Open: true})
	return p, bna.New(bna.Options{PDS: p, Now: func() time.Time { return now }})
}

// TestNotifyCreatesTheBabyInPDS: 201 with a new valid NHS number, whose PDS
// record carries the mother's family name, no given name and the link.
func TestNotifyCreatesTheBabyInPDS(t *testing.T) {
	p, sim := newSims()
	r := post(t, sim, id1, body(nil), nil)
	nhs, _ := r.body["nhsNumber"].(string)
	if r.status != 201 || !nhsnumber.Valid(nhs) || r.body["pdsVersion"] != "1" {
		t.Fatalf("notify: %d %v", r.status, r.body)
	}
	req := httptest.NewRequest(http.MethodGet, pds.BasePath+"/Patient/"+nhs, nil)
	req.Header.Set("X-Request-ID", id1)
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	var baby struct {
		Name []struct {
			Family string
			Given  []string
		}
		BirthDate            string
		MultipleBirthInteger int
		Contact              []struct {
			Extension []struct {
				URL             string
				ValueIdentifier struct{ Value string }
			}
			Relationship []struct{ Coding []struct{ Code string } }
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &baby); err != nil || rec.Code != 200 {
		t.Fatalf("read baby: %d %s", rec.Code, rec.Body)
	}
	if len(baby.Name) != 1 || baby.Name[0].Family != "Smith" || len(baby.Name[0].Given) != 0 || baby.BirthDate != "2026-11-25" || baby.MultipleBirthInteger != 1 {
		t.Errorf("baby %s", rec.Body)
	}
	if len(baby.Contact) != 1 || baby.Contact[0].Relationship[0].Coding[0].Code != "MTH" ||
		baby.Contact[0].Extension[0].URL != pds.MotherNHSNumberURL || baby.Contact[0].Extension[0].ValueIdentifier.Value != "9000000009" {
		t.Errorf("no link to the mother: %s", rec.Body)
	}
}

// TestIdempotencyAndDuplicates: the same id is the same answer, never a
// second baby; the same birth under a new id is 409; a twin is a new baby.
func TestIdempotencyAndDuplicates(t *testing.T) {
	_, sim := newSims()
	first := post(t, sim, id1, body(nil), nil)
	again := post(t, sim, strings.ToUpper(id1), body(nil), nil)
	if first.status != 201 || again.status != 201 || again.body["nhsNumber"] != first.body["nhsNumber"] {
		t.Fatalf("replay: %v then %v", first, again)
	}
	if dup := post(t, sim, id2, body(nil), nil); dup.status != 409 || dup.body["error"] != bna.CodeDuplicate {
		t.Fatalf("duplicate: %v", dup)
	}
	twin := post(t, sim, id3, body(func(m map[string]any) {
		b := m["baby"].(map[string]any)
		b["birthOrder"], b["numberOfBabies"] = 2, 2
	}), nil)
	if twin.status != 201 || twin.body["nhsNumber"] == first.body["nhsNumber"] {
		t.Fatalf("twin: %v", twin)
	}
	if n := sim.Notified(); n != 2 {
		t.Errorf("%d babies, want 2", n)
	}
}

// TestRequestIDReusedForAnotherNotification: under a used request id, the
// same notification (however spelled) is the first answer, and any other
// is 422 REQUEST_ID_REUSED that creates no baby and leaves the first
// answer in place.
func TestRequestIDReusedForAnotherNotification(t *testing.T) {
	_, sim := newSims()
	first := post(t, sim, id1, body(nil), nil)
	if first.status != 201 {
		t.Fatalf("first: %v", first)
	}
	baby := func(k string, v any) func(m map[string]any) {
		return func(m map[string]any) { m["baby"].(map[string]any)[k] = v }
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{name: "identical", body: body(nil), status: 201},
		{name: "same instant, another offset", body: body(baby("birthDateTime", "2026-11-25T10:30:00+01:00")), status: 201},
		{name: "same values, other order and spacing",
			body:   `{ "notifiedBy": {"ods":"Y05868","sdsUserId":"910000000001"}, "placeOfBirthOds":"RGT01", "baby": {"birthWeightGrams":3400,"numberOfBabies":1,"birthOrder":1,"birthDateTime":"2026-11-25T09:30:00.000Z","sex":"female"}, "motherNhsNumber":"9000000009" }`,
			status: 201},
		{name: "corrected birth time", body: body(baby("birthDateTime", "2026-11-25T09:35:00Z")), status: 422, code: bna.CodeRequestIDReused},
		{name: "corrected sex", body: body(baby("sex", "male")), status: 422, code: bna.CodeRequestIDReused},
		{name: "corrected weight", body: body(baby("birthWeightGrams", 3450)), status: 422, code: bna.CodeRequestIDReused},
		{name: "twins after all", body: body(baby("numberOfBabies", 2)), status: 422, code: bna.CodeRequestIDReused},
		{name: "another mother", body: body(func(m map[string]any) { m["motherNhsNumber"] = "9000000017" }), status: 422, code: bna.CodeRequestIDReused},
		{name: "another place of birth", body: body(func(m map[string]any) { m["placeOfBirthOds"] = "RGT02" }), status: 422, code: bna.CodeRequestIDReused},
		{name: "another notifier", body: body(func(m map[string]any) { m["notifiedBy"] = map[string]any{"sdsUserId": "910000000002", "ods": "Y05868"} }),
			status: 422, code: bna.CodeRequestIDReused},
		{name: "invalid is still invalid", body: body(baby("sex", "other")), status: 400, code: bna.CodeInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, sim, id1, tt.body, nil)
			if r.status != tt.status {
				t.Fatalf("status %d %v, want %d", r.status, r.body, tt.status)
			}
			if tt.code != "" && r.body["error"] != tt.code {
				t.Errorf("error %v, want %s", r.body["error"], tt.code)
			}
			if tt.status == 201 && r.body["nhsNumber"] != first.body["nhsNumber"] {
				t.Errorf("baby %v, want the first %v", r.body["nhsNumber"], first.body["nhsNumber"])
			}
			if tt.status == 422 && r.body["field"] != "X-Request-ID" {
				t.Errorf("field %v", r.body["field"])
			}
		})
	}
	if n := sim.Notified(); n != 1 {
		t.Errorf("%d babies, want 1", n)
	}
	// A correction under a new id is a new notification.
	if r := post(t, sim, id2, body(baby("birthDateTime", "2026-11-25T09:35:00Z")), nil); r.status != 201 || r.body["nhsNumber"] == first.body["nhsNumber"] {
		t.Errorf("correction under a new id: %v", r)
	}
}

func TestNotifyErrors(t *testing.T) {
	_, sim := newSims()
	baby := func(k string, v any) func(m map[string]any) {
		return func(m map[string]any) { m["baby"].(map[string]any)[k] = v }
	}
	tests := []struct {
		name   string
		id     string
		edit   func(m map[string]any)
		raw    string
		hdr    map[string]string
		status int
		code   string
		field  string
	}{
		{name: "no request id", status: 400, code: bna.CodeInvalidValue, field: "X-Request-ID"},
		{name: "request id not a UUID", id: "1234", status: 400, code: bna.CodeInvalidValue, field: "X-Request-ID"},
		{name: "no token", id: id1, hdr: map[string]string{"Authorization": ""}, status: 401, code: bna.CodeAccessDenied},
		{name: "invalid mother", id: id1, edit: func(m map[string]any) { m["motherNhsNumber"] = "9000000000" }, status: 400, code: bna.CodeInvalidNHSNumber, field: "motherNhsNumber"},
		{name: "unknown mother", id: id1, edit: func(m map[string]any) { m["motherNhsNumber"] = "9111231130" }, status: 404, code: bna.CodeMotherNotFound},
		{name: "invalidated mother", id: id2, edit: func(m map[string]any) { m["motherNhsNumber"] = pds.InvalidatedNHSNumber }, status: 404, code: bna.CodeMotherNotFound},
		{name: "sex", id: id3, edit: baby("sex", "other"), status: 400, code: bna.CodeInvalidValue, field: "baby.sex"},
		{name: "birth in the future", id: id3, edit: baby("birthDateTime", "2027-01-01T00:00:00Z"), status: 400, code: bna.CodeInvalidValue, field: "baby.birthDateTime"},
		{name: "birth time not an instant", id: id3, edit: baby("birthDateTime", "2026-11-25"), status: 400, code: bna.CodeInvalidValue, field: "baby.birthDateTime"},
		{name: "birth order beyond the babies", id: id3, edit: baby("birthOrder", 2), status: 400, code: bna.CodeInvalidValue, field: "baby.birthOrder"},
		{name: "no babies", id: id3, edit: baby("numberOfBabies", 0), status: 400, code: bna.CodeInvalidValue, field: "baby.numberOfBabies"},
		{name: "weight", id: id3, edit: baby("birthWeightGrams", 0), status: 400, code: bna.CodeInvalidValue, field: "baby.birthWeightGrams"},
		{name: "place of birth", id: id3, edit: func(m map[string]any) { m["placeOfBirthOds"] = "x" }, status: 400, code: bna.CodeInvalidValue, field: "placeOfBirthOds"},
		{name: "notifier", id: id3, edit: func(m map[string]any) { m["notifiedBy"] = map[string]any{"ods": "Y05868"} }, status: 400, code: bna.CodeInvalidValue, field: "notifiedBy.sdsUserId"},
		{name: "unknown member", id: id3, edit: func(m map[string]any) { m["pets"] = 1 }, status: 400, code: bna.CodeInvalidValue, field: "body"},
		{name: "not JSON", id: id3, raw: "{", status: 400, code: bna.CodeInvalidValue, field: "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.raw
			if b == "" {
				b = body(tt.edit)
			}
			r := post(t, sim, tt.id, b, tt.hdr)
			if r.status != tt.status || r.body["error"] != tt.code || (tt.field != "" && r.body["field"] != tt.field) {
				t.Fatalf("got %d %v, want %d %s %s", r.status, r.body, tt.status, tt.code, tt.field)
			}
		})
	}
	if sim.Notified() != 0 {
		t.Errorf("errors created %d babies", sim.Notified())
	}
}

func TestFaultAndRoutes(t *testing.T) {
	_, sim := newSims()
	sim.SetFault(&bna.Fault{Status: 503, Body: `{"error":"SERVICE_UNAVAILABLE"}`, Count: 1})
	if r := post(t, sim, id1, body(nil), nil); r.status != 503 {
		t.Fatalf("fault: %v", r)
	}
	if r := post(t, sim, id1, body(nil), nil); r.status != 201 {
		t.Fatalf("after the fault: %v", r)
	}
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, bna.BasePath+bna.NotificationsPath, nil))
	if rec.Code != 405 {
		t.Errorf("GET: %d", rec.Code)
	}
}
