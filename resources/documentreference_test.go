package resources_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"

	"github.com/carerecords/fhir-facade/backends/nrl"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// fakeNRL answers SearchAll and Read from canned pointers and records the
// queries it got.
type fakeNRL struct {
	mu        sync.Mutex
	pointers  []string // DocumentReference JSON, one page
	truncated bool
	total     int
	queries   []nrl.Query
	reads     []string
	readErr   map[string]error
}

func (f *fakeNRL) SearchAll(_ context.Context, q nrl.Query) (*nrl.SearchResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	p := &nrl.Page{Body: []byte(strings.Join(f.pointers, "\n"))}
	for _, s := range f.pointers {
		p.Entries = append(p.Entries, json.RawMessage(s))
	}
	total := f.total
	if total == 0 {
		total = len(p.Entries)
	}
	return &nrl.SearchResult{Pages: []*nrl.Page{p}, Total: total, Truncated: f.truncated}, nil
}

func (f *fakeNRL) Read(_ context.Context, id string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, id)
	if err := f.readErr[id]; err != nil {
		return nil, err
	}
	for _, s := range f.pointers {
		var r struct{ ID string }
		_ = json.Unmarshal([]byte(s), &r)
		if r.ID == id {
			return []byte(s), nil
		}
	}
	return nil, fhirerr.New(fhirerr.NotFound, "no DocumentReference with this id")
}

func pointerJSON(id, nhs, typeCode string) string {
	return `{"resourceType":"DocumentReference","id":"` + id + `","status":"current",
	 "type":{"coding":[{"system":"http://snomed.info/sct","code":"` + typeCode + `"}]},
	 "subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}},
	 "meta":{"lastUpdated":"2024-03-20T00:00:01.000Z"},
	 "content":[{"attachment":{"contentType":"application/pdf","url":"https://spine-proxy.national.ncrs.nhs.uk/https%3A%2F%2Fh.example%2F` + id + `.pdf"}},
	            {"attachment":{"contentType":"application/fhir+json","url":"https://spine-proxy.national.ncrs.nhs.uk/https%3A%2F%2Fh.example%2F` + id + `.json"}}]}`
}

func searchDocs(t *testing.T, p resources.Searcher, params string) (*resources.SearchResult, error) {
	t.Helper()
	v, err := url.ParseQuery(params)
	if err != nil {
		t.Fatal(err)
	}
	return p.Search(context.Background(), &resources.Query{Params: v, Count: 20})
}

func TestDocumentReferenceSearchParams(t *testing.T) {
	f := &fakeNRL{pointers: []string{
		pointerJSON("Y05868-1", "9000000009", "736253002"),
		pointerJSON("Y05868-2", "9000000009", "1382601000000107"),
		pointerJSON("Y05868-3", "9000000009", "861421000000109"),
	}}
	p := resources.NewDocumentReference(f, nil)
	tests := []struct {
		name    string
		params  string
		query   nrl.Query
		ids     []string
		errExpr string // expected fhirerr Invalid expression; "" for success
	}{
		{name: "subject reference", params: "subject=Patient/9000000009", query: nrl.Query{NHSNumber: "9000000009"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "absolute subject reference", params: "subject=https://fhir.example.org/fhir/Patient/9000000009", query: nrl.Query{NHSNumber: "9000000009"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "subject:identifier", params: "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", query: nrl.Query{NHSNumber: "9000000009"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "patient", params: "patient=9000000009", query: nrl.Query{NHSNumber: "9000000009"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "subject and patient agree", params: "patient=9000000009&subject=Patient/9000000009", query: nrl.Query{NHSNumber: "9000000009"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "one type goes to NRL", params: "patient=9000000009&type=http://snomed.info/sct|736253002", query: nrl.Query{NHSNumber: "9000000009", Type: "http://snomed.info/sct|736253002"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "a bare code is SNOMED CT", params: "patient=9000000009&type=736253002", query: nrl.Query{NHSNumber: "9000000009", Type: "http://snomed.info/sct|736253002"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "several types are matched by the facade", params: "patient=9000000009&type=736253002,http://snomed.info/sct|861421000000109", query: nrl.Query{NHSNumber: "9000000009"}, ids: []string{"Y05868-1", "Y05868-3"}},
		{name: "a type without system matches nothing", params: "patient=9000000009&type=|736253002", query: nrl.Query{NHSNumber: "9000000009"}},
		{name: "custodian ODS code", params: "patient=9000000009&custodian=y05868", query: nrl.Query{NHSNumber: "9000000009", Custodian: "Y05868"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "custodian reference", params: "patient=9000000009&custodian=Organization/Y05868", query: nrl.Query{NHSNumber: "9000000009", Custodian: "Y05868"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "custodian:identifier", params: "patient=9000000009&custodian:identifier=https://fhir.nhs.uk/Id/ods-organization-code|Y05868", query: nrl.Query{NHSNumber: "9000000009", Custodian: "Y05868"}, ids: []string{"Y05868-1", "Y05868-2", "Y05868-3"}},
		{name: "no patient", params: "type=736253002", errExpr: "subject"},
		{name: "invalid NHS number", params: "patient=9000000000", errExpr: "patient"},
		{name: "subject and patient differ", params: "patient=9000000009&subject=Patient/9000000017", errExpr: "patient"},
		{name: "subject of another type", params: "subject=Group/1", errExpr: "subject"},
		{name: "custodian of another type", params: "patient=9000000009&custodian=Practitioner/X1", errExpr: "custodian"},
		{name: "custodian:identifier of another system", params: "patient=9000000009&custodian:identifier=https://fhir.nhs.uk/Id/another-code|XYZ", errExpr: "custodian:identifier"},
		{name: "custodian not an ODS code", params: "patient=9000000009&custodian=Y05868%3BDROP", errExpr: "custodian"},
		{name: "custodian twice", params: "patient=9000000009&custodian=Y05868&custodian:identifier=Y05868", errExpr: "custodian"},
		{name: "type with spaces", params: "patient=9000000009&type=http://snomed.info/sct|7362 53002", errExpr: "type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.queries = nil
			got, err := searchDocs(t, p, tc.params)
			if tc.errExpr != "" {
				e := fhirerr.As(err)
				if e == nil || e.Category != fhirerr.Invalid || e.Expression != tc.errExpr {
					t.Fatalf("err = %v, want Invalid at %s", err, tc.errExpr)
				}
				if len(f.queries) != 0 {
					t.Errorf("NRL was called: %v", f.queries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(f.queries) != 1 || f.queries[0] != tc.query {
				t.Errorf("NRL queries %+v, want %+v", f.queries, tc.query)
			}
			var ids []string
			for _, e := range got.Entries {
				ids = append(ids, e.Resource.ID)
				if e.Mode != "match" || e.Resource.Type != "DocumentReference" {
					t.Errorf("entry %+v", e)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tc.ids, ",") || got.Total != len(tc.ids) {
				t.Errorf("ids %v (total %d), want %v", ids, got.Total, tc.ids)
			}
		})
	}
}

func TestDocumentReferenceSearchLeavesOutOtherPatientsAndSaysWhenTruncated(t *testing.T) {
	f := &fakeNRL{pointers: []string{pointerJSON("Y05868-1", "9000000009", "736253002"), pointerJSON("Y05868-2", "9000000017", "736253002")},
		truncated: true, total: 600}
	got, err := searchDocs(t, resources.NewDocumentReference(f, nil), "patient=9000000009")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 1 || got.Entries[0].Resource.ID != "Y05868-1" || got.Total != 1 {
		t.Fatalf("entries %+v total %d", got.Entries, got.Total)
	}
	var codes []string
	for _, is := range got.Issues {
		codes = append(codes, is.Severity+"/"+is.Code)
		if strings.Contains(is.Diagnostics, "9000000017") {
			t.Errorf("issue names the other patient: %s", is.Diagnostics)
		}
	}
	if strings.Join(codes, ",") != "warning/incomplete,warning/processing" {
		t.Errorf("issues %v", codes)
	}
}

func TestDocumentReferenceRead(t *testing.T) {
	f := &fakeNRL{pointers: []string{pointerJSON("Y05868-1", "9000000009", "736253002")}}
	p := resources.NewDocumentReference(f, nil)
	res, err := p.Read(context.Background(), "Y05868-1")
	if err != nil {
		t.Fatal(err)
	}
	dr := res.Message.(*drpb.DocumentReference)
	if res.ID != "Y05868-1" || res.VersionID != "" || !res.LastUpdated.Equal(time.Date(2024, 3, 20, 0, 0, 1, 0, time.UTC)) {
		t.Errorf("resource %+v", res)
	}
	if dr.GetSubject().GetPatientId().GetValue() != "9000000009" {
		t.Errorf("subject %v", dr.GetSubject())
	}
	if u := dr.GetContent()[1].GetAttachment().GetUrl().GetValue(); u != "Binary/Y05868-1.1" {
		t.Errorf("content[1] url %s", u)
	}
	for _, id := range []string{"9000000009", "Y05868", "-1"} {
		f.reads = nil
		if _, err := p.Read(context.Background(), id); fhirerr.CategoryOf(err) != fhirerr.NotFound || len(f.reads) != 0 {
			t.Errorf("%s: err %v after %d reads, want NotFound without a call", id, err, len(f.reads))
		}
	}
	if _, err := p.Read(context.Background(), "Y05868-9"); fhirerr.CategoryOf(err) != fhirerr.NotFound {
		t.Errorf("unknown: %v", err)
	}
}

func TestDocumentReferenceReadOfAnotherPointerIsABackendFault(t *testing.T) {
	wrong := &wrongReader{body: []byte(pointerJSON("Y05868-1", "9000000009", "736253002"))}
	_, err := resources.NewDocumentReference(wrong, nil).Read(context.Background(), "Y05868-2")
	if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
		t.Errorf("err = %v, want BadGateway", err)
	}
}

// wrongReader answers every read with the same pointer.
type wrongReader struct{ body []byte }

func (w *wrongReader) SearchAll(context.Context, nrl.Query) (*nrl.SearchResult, error) {
	return &nrl.SearchResult{}, nil
}
func (w *wrongReader) Read(context.Context, string) ([]byte, error) { return w.body, nil }
