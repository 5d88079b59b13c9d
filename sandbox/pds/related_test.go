package pds_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

func TestRelatedPeople(t *testing.T) {
	sim := openSimulator(t)
	tests := []struct {
		name    string
		id      string
		headers map[string]string
		status  int
		code    string
		stub    string   // the sandbox Bundle whose resources must be returned as they are
		ids     []string // entry resource ids
	}{
		{name: "several (Postman: Multiple Related Persons exists)", id: "9000000009", status: 200,
			stub: "related_person_9000000009.json", ids: []string{"507B7621", "B3380E98"}},
		{name: "one (Postman: Single Related Person exists)", id: "9000000017", status: 200,
			stub: "related_person_9000000017.json", ids: []string{"F4CF8B96"}},
		{name: "restricted patient: an empty bundle (Postman: Related Persons do not exist)", id: "9000000025", status: 200},
		{name: "other fixture patient: none", id: "9000000033", status: 200},
		{name: "superseded: the superseding patient's", id: pds.SupersededNHSNumber, status: 200},
		{name: "unknown patient", id: "9111231130", status: 404, code: "RESOURCE_NOT_FOUND"},
		{name: "invalid NHS number", id: "9000000000", status: 400, code: "INVALID_RESOURCE_ID"},
		{name: "invalidated", id: pds.InvalidatedNHSNumber, status: 404, code: "INVALIDATED_RESOURCE"},
		{name: "missing X-Request-ID", id: "9000000009", headers: map[string]string{"X-Request-ID": ""}, status: 400, code: "MISSING_VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, sim, http.MethodGet, pds.BasePath+"/Patient/"+tt.id+"/RelatedPerson", tt.headers)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tt.status, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/fhir+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.code != "" {
				if got := r.errorCode(t); got != tt.code {
					t.Errorf("code = %q, want %q", got, tt.code)
				}
				return
			}
			if r.body["resourceType"] != "Bundle" || r.body["type"] != "searchset" {
				t.Errorf("not a searchset: %s", r.raw)
			}
			if _, err := time.Parse(time.RFC3339, str(t, r.body, "timestamp")); err != nil {
				t.Errorf("timestamp: %v", err)
			}
			if total, _ := r.body["total"].(float64); int(total) != len(tt.ids) {
				t.Errorf("total = %v, want %d", r.body["total"], len(tt.ids))
			}
			if got := r.entryIDs(); !reflect.DeepEqual(got, tt.ids) {
				t.Errorf("ids = %v, want %v", got, tt.ids)
			}
			if len(tt.ids) == 0 {
				if _, has := r.body["entry"]; has {
					t.Errorf("an empty bundle carries entry: %s", r.raw)
				}
				return
			}
			want := mustFixture(t, "fixtures/relatedPersonResponses/"+tt.stub)
			for i, id := range tt.ids {
				if got, want := walk(r.body, "entry", i, "resource"), walk(want, "entry", i, "resource"); !reflect.DeepEqual(got, want) {
					t.Errorf("entry %d differs from the sandbox's", i)
				}
				if got, want := str(t, r.body, "entry", i, "fullUrl"), "https://pds.test"+pds.BasePath+"/Patient/"+tt.id+"/RelatedPerson/"+id; got != want {
					t.Errorf("fullUrl = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestRelatedPeopleSynthetic(t *testing.T) {
	sim, other := openSimulator(t), pds.New(pds.Options{Open: true, BaseURL: "https://pds.test" + pds.BasePath})
	byNHS := map[string]population.Person{}
	for _, p := range population.Default() {
		byNHS[p.NHSNumber] = p
	}
	const sample = 1500
	with := 0
	for _, p := range population.Default()[:sample] {
		r := get(t, sim, "/Patient/"+p.NHSNumber+"/RelatedPerson")
		if r.status != 200 {
			t.Fatalf("%s: status %d", p.NHSNumber, r.status)
		}
		entries, _ := r.body["entry"].([]any)
		if p.Restricted && len(entries) > 0 {
			t.Errorf("restricted %s has related people", p.NHSNumber)
		}
		if len(entries) == 0 {
			continue
		}
		with++
		if len(entries) != 1 {
			t.Errorf("%s: %d related people", p.NHSNumber, len(entries))
		}
		again := get(t, other, "/Patient/"+p.NHSNumber+"/RelatedPerson")
		if !reflect.DeepEqual(walk(r.body, "entry"), walk(again.body, "entry")) {
			t.Errorf("%s: not deterministic", p.NHSNumber)
		}
		rel := str(t, r.body, "entry", 0, "resource", "patient", "identifier", "value")
		o, ok := byNHS[rel]
		switch {
		case !ok:
			t.Errorf("%s: related %s is not in the population", p.NHSNumber, rel)
		case o.Family != p.Family || o.Title == "" || o.Deceased() || o.Restricted || rel == p.NHSNumber:
			t.Errorf("%s: related %+v is not a living unrestricted adult of the family", p.NHSNumber, o)
		}
		code := str(t, r.body, "entry", 0, "resource", "relationship", 0, "coding", 0, "code")
		if wantCode := map[bool]string{true: "Guardian", false: "Personal"}[p.Title == ""]; code != wantCode {
			t.Errorf("%s: relationship %q, want %q", p.NHSNumber, code, wantCode)
		}
		if !strings.HasSuffix(str(t, r.body, "entry", 0, "fullUrl"), "/Patient/"+p.NHSNumber+"/RelatedPerson/"+str(t, r.body, "entry", 0, "resource", "id")) {
			t.Errorf("fullUrl %q", str(t, r.body, "entry", 0, "fullUrl"))
		}
		var resource map[string]json.RawMessage
		_ = json.Unmarshal(mustJSON(t, walk(r.body, "entry", 0, "resource")), &resource)
		for _, k := range []string{"id", "resourceType", "patient", "active", "period", "relationship", "extension"} {
			if _, has := resource[k]; !has {
				t.Errorf("%s: related person lacks %s", p.NHSNumber, k)
			}
		}
	}
	// "Mostly none".
	if with == 0 || with > sample/4 {
		t.Errorf("%d of %d synthetic people have related people", with, sample)
	}
	t.Logf("%d of %d synthetic people have a related person", with, sample)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A baby registered by RegisterBirth has its mother as its RelatedPerson;
// a restricted mother's baby (restricted too) has none.
func TestRelatedPeopleOfABaby(t *testing.T) {
	sim := openSimulator(t)
	born := time.Date(2026, 7, 1, 23, 30, 0, 0, time.UTC) // 2 July in England
	tests := []struct {
		mother string
		want   int
	}{
		{"9000000009", 1},
		{"9000000025", 0},
	}
	for _, tt := range tests {
		t.Run(tt.mother, func(t *testing.T) {
			baby, _, err := sim.RegisterBirth(pds.Birth{MotherNHSNumber: tt.mother, Gender: "female", BirthDateTime: born, BirthOrder: 1})
			if err != nil {
				t.Fatal(err)
			}
			r := get(t, sim, "/Patient/"+baby+"/RelatedPerson")
			entries, _ := r.body["entry"].([]any)
			if r.status != 200 || len(entries) != tt.want {
				t.Fatalf("status %d, %d related people, want %d", r.status, len(entries), tt.want)
			}
			if tt.want == 0 {
				return
			}
			if got := str(t, r.body, "entry", 0, "resource", "patient", "identifier", "value"); got != tt.mother {
				t.Errorf("related person %s, want the mother %s", got, tt.mother)
			}
			if got := str(t, r.body, "entry", 0, "resource", "relationship", 0, "coding", 1, "code"); got != "MTH" {
				t.Errorf("relationship %s, want MTH", got)
			}
			if got := str(t, r.body, "entry", 0, "resource", "period", "start"); got != "2026-07-02" {
				t.Errorf("period.start %s, want the birth date in England", got)
			}
		})
	}
}
