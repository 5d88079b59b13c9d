package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"
	patientpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"github.com/sirupsen/logrus"

	"github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/server"
)

// people is a Patient provider with three patients born on different days.
type people struct{}

var births = map[string]string{"p1": "1990-05-01", "p2": "1970-01-31", "p3": "2001-12-24"}

func person(id string) *resources.Resource {
	t, _ := timeOfDay(births[id])
	return &resources.Resource{Type: "Patient", ID: id, VersionID: "1", Message: &patientpb.Patient{
		Id:        &dtpb.Id{Value: id},
		Meta:      &dtpb.Meta{VersionId: &dtpb.Id{Value: "1"}},
		Gender:    &patientpb.Patient_GenderCode{Value: codes_go_proto.AdministrativeGenderCode_FEMALE},
		BirthDate: &dtpb.Date{ValueUs: t, Timezone: "Z", Precision: dtpb.Date_DAY},
		Name:      []*dtpb.HumanName{{Family: &dtpb.String{Value: "Smith"}}},
		Telecom:   []*dtpb.ContactPoint{{Value: &dtpb.String{Value: "01632960000"}}},
	}}
}

func (people) ResourceType() string  { return "Patient" }
func (people) Profile() string       { return "" }
func (people) Documentation() string { return "people" }
func (people) SortParams() map[string]string {
	return map[string]string{"birthdate": "birthDate"}
}
func (people) SearchParams() []resources.SearchParam {
	return []resources.SearchParam{{Name: "_id", Type: resources.TypeToken}, {Name: "family", Type: resources.TypeString}}
}
func (people) Read(_ context.Context, id string) (*resources.Resource, error) {
	if _, ok := births[id]; !ok {
		return nil, fhirerr.New(fhirerr.NotFound, "no such patient")
	}
	return person(id), nil
}
func (people) Search(_ context.Context, q *resources.Query) (*resources.SearchResult, error) {
	out := &resources.SearchResult{}
	for _, id := range []string{"p1", "p2", "p3"} {
		if v := q.Params.Get("_id"); v != "" && v != id {
			continue
		}
		out.Entries = append(out.Entries, resources.SearchEntry{Resource: person(id), Mode: "match"})
	}
	out.Total = len(out.Entries)
	return out, nil
}

// alerts is a Flag provider: one flag per patient, referencing it.
type alerts struct{}

func flagFor(pid string) *resources.Resource {
	return &resources.Resource{Type: "Flag", ID: "f-" + pid, Message: &flagpb.Flag{
		Id:      &dtpb.Id{Value: "f-" + pid},
		Status:  &flagpb.Flag_StatusCode{Value: codes_go_proto.FlagStatusCode_ACTIVE},
		Code:    &dtpb.CodeableConcept{Text: &dtpb.String{Value: "alert"}},
		Subject: &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: pid}}},
	}}
}

func (alerts) ResourceType() string  { return "Flag" }
func (alerts) Profile() string       { return "" }
func (alerts) Documentation() string { return "alerts" }
func (alerts) Includes() []resources.Include {
	return []resources.Include{{Param: "patient", Element: "subject", Target: "Patient"}}
}
func (alerts) SearchParams() []resources.SearchParam {
	return []resources.SearchParam{{Name: "patient", Type: resources.TypeReference}}
}
func (alerts) Search(_ context.Context, q *resources.Query) (*resources.SearchResult, error) {
	pids := []string{"p1", "p2"}
	if v := q.Params.Get("patient"); v != "" {
		pids = []string{strings.TrimPrefix(v, "Patient/")}
	}
	out := &resources.SearchResult{}
	for _, pid := range pids {
		out.Entries = append(out.Entries, resources.SearchEntry{Resource: flagFor(pid), Mode: "match"})
	}
	out.Total = len(out.Entries)
	return out, nil
}

func newSearchServer(t *testing.T) string {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	ts, _ := startServer(t, server.Config{Logger: log}, resources.NewRegistry(people{}, alerts{}))
	return ts.URL + "/fhir"
}

// entryIDs lists type/id of each entry with its search mode.
func entryIDs(t *testing.T, r result) []string {
	t.Helper()
	var out []string
	es, _ := r.body["entry"].([]any)
	for _, e := range es {
		m := e.(map[string]any)
		res := m["resource"].(map[string]any)
		out = append(out, m["search"].(map[string]any)["mode"].(string)+":"+res["resourceType"].(string)+"/"+idOf(res))
	}
	return out
}

func idOf(res map[string]any) string {
	id, _ := res["id"].(string)
	return id
}

func TestSearchIncludes(t *testing.T) {
	base := newSearchServer(t)
	tests := []struct {
		name  string
		path  string
		want  string
		code  string
		extra string
	}{
		{name: "include", path: "/Flag?_include=Flag:patient", want: "match:Flag/f-p1,match:Flag/f-p2,include:Patient/p1,include:Patient/p2"},
		{name: "include with target", path: "/Flag?_include=Flag:patient:Patient", want: "match:Flag/f-p1,match:Flag/f-p2,include:Patient/p1,include:Patient/p2"},
		{name: "include wildcard", path: "/Flag?_include=*", want: "match:Flag/f-p1,match:Flag/f-p2,include:Patient/p1,include:Patient/p2"},
		{name: "revinclude", path: "/Patient?_id=p2&_revinclude=Flag:patient", want: "match:Patient/p2,include:Flag/f-p2"},
		{name: "unknown include", path: "/Flag?_include=Flag:author", code: "not-supported"},
		{name: "include of another type", path: "/Patient?_include=Flag:patient", code: "invalid"},
		{name: "unknown revinclude", path: "/Patient?_revinclude=Observation:subject", code: "not-supported"},
		{name: "sort ascending", path: "/Patient?_sort=birthdate", want: "match:Patient/p2,match:Patient/p1,match:Patient/p3"},
		{name: "sort descending", path: "/Patient?_sort=-birthdate", want: "match:Patient/p3,match:Patient/p1,match:Patient/p2"},
		{name: "sort unsupported", path: "/Patient?_sort=family", code: "not-supported"},
		{name: "bad _total", path: "/Patient?_total=exact", code: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "GET", base+tt.path, nil, "")
			if tt.code != "" {
				if r.status != 400 || issue0(t, r)["code"] != tt.code {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				return
			}
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if got := strings.Join(entryIDs(t, r), ","); got != tt.want {
				t.Errorf("entries %s\nwant    %s", got, tt.want)
			}
		})
	}
}

func TestSearchSubsetsAndLinks(t *testing.T) {
	base := newSearchServer(t)
	r := do(t, "GET", base+"/Patient?_elements=birthDate&_count=1&_sort=birthdate&_total=accurate", nil, "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	p := r.body["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	if _, ok := p["telecom"]; ok {
		t.Error("_elements kept telecom")
	}
	if p["birthDate"] != "1970-01-31" {
		t.Errorf("birthDate %v", p["birthDate"])
	}
	tag, _ := json.Marshal(p["meta"])
	if !strings.Contains(string(tag), "SUBSETTED") {
		t.Errorf("no SUBSETTED tag: %s", tag)
	}
	next := links(t, r)["next"]
	u, _ := url.Parse(next)
	for k, want := range map[string]string{"_elements": "birthDate", "_count": "1", "_sort": "birthdate", "_total": "accurate", "_offset": "1"} {
		if got := u.Query().Get(k); got != want {
			t.Errorf("next link %s=%q, want %q (%s)", k, got, want, next)
		}
	}
	tests := []struct {
		name    string
		query   string
		present []string
		absent  []string
	}{
		{name: "summary true", query: "_summary=true", present: []string{"birthDate", "name", "gender", "telecom"}},
		{name: "summary data", query: "_summary=data", present: []string{"birthDate", "telecom"}},
		{name: "summary text", query: "_summary=text", present: []string{"id", "meta"}, absent: []string{"birthDate", "telecom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "GET", base+"/Patient/p1?"+tt.query, nil, "")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			for _, k := range tt.present {
				if _, ok := r.body[k]; !ok {
					t.Errorf("%s missing", k)
				}
			}
			for _, k := range tt.absent {
				if _, ok := r.body[k]; ok {
					t.Errorf("%s present", k)
				}
			}
			if r.body["resourceType"] != "Patient" {
				t.Error("resourceType lost")
			}
		})
	}
	c := do(t, "GET", base+"/Patient?_summary=count", nil, "")
	if c.status != 200 || c.body["total"] != 3.0 || c.body["entry"] != nil {
		t.Errorf("_summary=count: %s", c.raw)
	}
	n := do(t, "GET", base+"/Patient?_total=none", nil, "")
	if _, ok := n.body["total"]; ok {
		t.Errorf("_total=none still has total: %s", n.raw)
	}
	bad := do(t, "GET", base+"/Patient/p1?_summary=count", nil, "")
	if bad.status != 400 {
		t.Errorf("_summary=count on a read: %d", bad.status)
	}
	both := do(t, "GET", base+"/Patient?_summary=true&_elements=gender", nil, "")
	if both.status != 400 {
		t.Errorf("_summary with _elements: %d", both.status)
	}
}

func timeOfDay(d string) (int64, error) {
	t, err := timeParse(d)
	return t.UnixMicro(), err
}

func TestBatch(t *testing.T) {
	base := newSearchServer(t)
	batch := `{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Patient/p1"}},
		{"request":{"method":"GET","url":"Patient/nobody"}},
		{"request":{"method":"GET","url":"Flag?patient=Patient/p2"}},
		{"request":{"method":"GET","url":"` + base + `/Patient/p3?_elements=birthDate"}},
		{"request":{"method":"DELETE","url":"Patient/p1"}},
		{"request":{"method":"GET","url":"https://elsewhere.example/fhir/Patient/p1"}}
	]}`
	r := do(t, "POST", base, map[string]string{"Content-Type": "application/fhir+json"}, batch)
	if r.status != 200 || r.body["type"] != "batch-response" {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := []string{"200", "404", "200", "200", "405", "400"}
	es := r.body["entry"].([]any)
	if len(es) != len(want) {
		t.Fatalf("%d entries", len(es))
	}
	for i, e := range es {
		m := e.(map[string]any)
		status := m["response"].(map[string]any)["status"].(string)
		if !strings.HasPrefix(status, want[i]) {
			t.Errorf("entry %d: status %s, want %s", i, status, want[i])
		}
	}
	if es[0].(map[string]any)["response"].(map[string]any)["etag"] != `W/"1"` {
		t.Errorf("entry 0 etag: %v", es[0])
	}
	if es[2].(map[string]any)["resource"].(map[string]any)["type"] != "searchset" {
		t.Errorf("entry 2 is not a searchset: %v", es[2])
	}
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{name: "transaction", body: `{"resourceType":"Bundle","type":"transaction"}`, status: 400},
		{name: "not a batch", body: `{"resourceType":"Bundle","type":"searchset"}`, status: 400},
		{name: "not a Bundle", body: `{"resourceType":"Patient"}`, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "POST", base, map[string]string{"Content-Type": "application/fhir+json"}, tt.body)
			if r.status != tt.status {
				t.Errorf("status %d: %s", r.status, r.raw)
			}
		})
	}
}

func TestSearchMissingModifier(t *testing.T) {
	base := newSearchServer(t)
	tests := []struct {
		name, query, want string
		status            int
	}{
		{name: "present", query: "birthdate:missing=false", want: "match:Patient/p1,match:Patient/p2,match:Patient/p3", status: 200},
		{name: "absent", query: "birthdate:missing=true", want: "", status: 200},
		{name: "bad value", query: "birthdate:missing=maybe", status: 400},
		{name: "not sortable", query: "family:missing=true", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "GET", base+"/Patient?"+tt.query, nil, "")
			if r.status != tt.status {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if tt.status == 200 {
				if got := strings.Join(entryIDs(t, r), ","); got != tt.want {
					t.Errorf("entries %s, want %s", got, tt.want)
				}
				if !strings.Contains(links(t, r)["self"], url.QueryEscape("birthdate:missing")) {
					t.Errorf("self link lacks the filter: %s", links(t, r)["self"])
				}
			}
		})
	}
}
