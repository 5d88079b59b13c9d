package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/server"
)

// records is a Patient provider that reads, patches and has $summary,
// which records the parameters it was run with.
type records struct {
	fake
	mu     sync.Mutex
	params url.Values
}

func (p *records) Patch(_ context.Context, id string, _ []byte, _, _ string) (*resources.Resource, error) {
	return patient(id), nil
}

func (p *records) Operations() []resources.Operation {
	return []resources.Operation{{Name: "summary",
		Definition: resources.OperationDefinition{ID: "Patient-summary", Name: "PatientSummary", Title: "summary", Description: "summary", Resource: "Patient", Code: "summary"},
		Run: func(_ context.Context, id string, params url.Values) (*resources.SearchResult, error) {
			p.mu.Lock()
			p.params = params
			p.mu.Unlock()
			return &resources.SearchResult{Total: 1, Entries: []resources.SearchEntry{{Resource: patient(id), Mode: "match"}}}, nil
		}}}
}

func (p *records) lastParams() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.params
}

// pointers is a read-only DocumentReference provider whose records say
// nothing of when they changed.
type pointers struct{}

func (pointers) ResourceType() string  { return "DocumentReference" }
func (pointers) Profile() string       { return "" }
func (pointers) Documentation() string { return "pointers" }
func (pointers) Read(_ context.Context, id string) (*resources.Resource, error) {
	return &resources.Resource{Type: "DocumentReference", ID: id, Message: &drpb.DocumentReference{Id: &dtpb.Id{Value: id},
		Status: &drpb.DocumentReference_StatusCode{Value: 1}}}, nil
}

// documents is a Binary provider: doc1 a small PDF, big a document too
// large for a Binary resource.
type documents struct {
	mu      sync.Mutex
	fetches int
}

const pdf = "%PDF-1.4 synthetic"

func (*documents) ResourceType() string  { return "Binary" }
func (*documents) Profile() string       { return "" }
func (*documents) Documentation() string { return "documents" }
func (d *documents) ReadStream(_ context.Context, id string, admit func(string, string) error) (*resources.Stream, error) {
	if err := admit("", "p1.0"); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.fetches++
	d.mu.Unlock()
	size := int64(len(pdf))
	if id == "big" {
		size = 11 << 20
	}
	return &resources.Stream{ContentType: "application/pdf", Size: size, Body: io.NopCloser(strings.NewReader(pdf)),
		Version: "p1.0", SecurityContext: "DocumentReference/" + id}, nil
}

// startSemantics serves the semantics fakes; the base is the test
// server's own address.
func startSemantics(t *testing.T) (string, *records, *documents) {
	t.Helper()
	rec, docs := &records{}, &documents{}
	ts := httptest.NewUnstartedServer(nil)
	log := logrus.New()
	log.SetOutput(io.Discard)
	s, err := server.New(server.Config{Logger: log, BaseURL: "http://" + ts.Listener.Addr().String() + "/fhir"},
		resources.NewRegistry(rec, pointers{}, docs))
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = s
	ts.Start()
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts.URL + "/fhir", rec, docs
}

// fhirValid fails t when r's body is FHIR JSON that is not valid R4.
func fhirValid(t *testing.T, r result) {
	t.Helper()
	if _, ok := r.body["resourceType"]; ok {
		if err := profiles.Validate([]byte(r.raw)); err != nil {
			t.Errorf("not valid FHIR R4: %v: %s", err, r.raw)
		}
	}
}

// TestMethodNotAllowed: a method a URL does not take is 405 with an Allow
// listing exactly what it takes for the type named (HEAD wherever GET is),
// and an OperationOutcome saying so.
func TestMethodNotAllowed(t *testing.T) {
	base, _, _ := startSemantics(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
		diagnosis    string
	}{
		{"DELETE", "/Patient/1", 405, "GET, HEAD, PATCH", "never deletes"},
		{"PUT", "/Patient/1", 405, "GET, HEAD, PATCH", "PUT is not supported on this URL for Patient; allowed: GET, HEAD, PATCH"},
		{"PUT", "/DocumentReference/1", 405, "GET, HEAD", "allowed: GET, HEAD"},
		{"PATCH", "/DocumentReference/1", 405, "GET, HEAD", "for DocumentReference"},
		{"GET", "/DocumentReference", 405, "", "allows no method"},
		{"DELETE", "/Patient", 405, "GET, HEAD", "never deletes"},
		{"POST", "/Patient", 405, "GET, HEAD", "allowed: GET, HEAD"},
		{"POST", "/metadata", 405, "GET, HEAD", "allowed: GET, HEAD"},
		{"DELETE", "/metadata", 405, "GET, HEAD", "never deletes"},
		{"DELETE", "", 405, "POST", "allowed: POST"},
		{"PUT", "/Patient/1/$summary", 405, "GET, HEAD, POST", "allowed: GET, HEAD, POST"},
		{"GET", "/Patient/$notify-birth", 405, "POST", "allowed: POST"},
		{"DELETE", "/Binary/doc1", 405, "GET, HEAD", "for Binary"},
		{"OPTIONS", "/Patient/1", 405, "GET, HEAD, PATCH", "OPTIONS is not supported"},
		{"DELETE", "/Observation/1", 404, "", "'Observation' is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := do(t, tt.method, base+tt.path, nil, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if allow, ok := r.header["Allow"]; tt.status == 405 && (!ok || strings.Join(allow, ", ") != tt.allow) {
				t.Errorf("Allow %q (present %v), want %q", allow, ok, tt.allow)
			}
			is := issue0(t, r)
			if is["code"] != "not-supported" || !strings.Contains(is["diagnostics"].(string), tt.diagnosis) {
				t.Errorf("issue %v, want not-supported saying %q", is, tt.diagnosis)
			}
			fhirValid(t, r)
		})
	}
}

// TestAllowIsTruthful: every method Allow names is served (not 405).
func TestAllowIsTruthful(t *testing.T) {
	base, _, _ := startSemantics(t)
	for _, path := range []string{"/Patient/1", "/DocumentReference/1", "/metadata", "/Patient/9000000009/$summary", "/Binary/doc1"} {
		r := do(t, "DELETE", base+path, nil, "")
		for _, m := range strings.Split(r.header.Get("Allow"), ", ") {
			hdr := map[string]string{"Content-Type": "application/json-patch+json"}
			if got := do(t, m, base+path, hdr, "").status; got == 405 {
				t.Errorf("%s %s: Allow says %s, which answers 405", m, path, m)
			}
		}
	}
}

// TestHistoryNotSupported: history at any level says it is not offered,
// and how to read what there is, whatever the method.
func TestHistoryNotSupported(t *testing.T) {
	base, _, _ := startSemantics(t)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/_history"},
		{"GET", "/Patient/_history"},
		{"GET", "/Patient/9000000009/_history"},
		{"GET", "/Patient/9000000009/_history/"},
		{"DELETE", "/Patient/_history"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := do(t, tt.method, base+tt.path, nil, "")
			if r.status != 404 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			is := issue0(t, r)
			if d := is["diagnostics"].(string); is["code"] != "not-supported" || !strings.Contains(d, "history is not supported") || !strings.Contains(d, "_history/[vid]") {
				t.Errorf("issue %v", is)
			}
			fhirValid(t, r)
		})
	}
}

// TestTrailingSlash: a trailing slash is answered as without it.
func TestTrailingSlash(t *testing.T) {
	base, _, _ := startSemantics(t)
	for _, tt := range []struct {
		method, path, resourceType string
	}{
		{"GET", "/Patient/abc/", "Patient"},
		{"GET", "/Patient/", "Bundle"},
		{"GET", "/metadata/", "CapabilityStatement"},
		{"POST", "/Patient/9000000009/$summary/", "Bundle"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := do(t, tt.method, base+tt.path, nil, "")
			if r.status != 200 || r.body["resourceType"] != tt.resourceType {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
		})
	}
}

// TestOperationByPOST: an instance operation GET serves is served by POST
// too, its parameters from the URL and a Parameters body, never both.
func TestOperationByPOST(t *testing.T) {
	base, rec, _ := startSemantics(t)
	const op = "/Patient/9000000009/$summary"
	fhirJSON := map[string]string{"Content-Type": "application/fhir+json"}
	params := func(ps string) string { return `{"resourceType":"Parameters","parameter":[` + ps + `]}` }
	tests := []struct {
		name, query string
		hdr         map[string]string
		body        string
		status      int
		code        string
		params      url.Values
	}{
		{name: "no body", status: 200, params: url.Values{}},
		{name: "empty Parameters", hdr: fhirJSON, body: params(""), status: 200, params: url.Values{}},
		{name: "body parameters", hdr: fhirJSON, body: params(`{"name":"start","valueDate":"2020-01-01"},{"name":"_count","valueInteger":5},{"name":"all","valueBoolean":true}`),
			status: 200, params: url.Values{"start": {"2020-01-01"}, "_count": {"5"}, "all": {"true"}}},
		{name: "URL and body parameters", query: "?end=2021-01-01", hdr: fhirJSON, body: params(`{"name":"start","valueDate":"2020-01-01"}`),
			status: 200, params: url.Values{"start": {"2020-01-01"}, "end": {"2021-01-01"}}},
		{name: "URL only", query: "?start=2020-01-01", status: 200, params: url.Values{"start": {"2020-01-01"}}},
		{name: "a parameter in both", query: "?start=2019-01-01", hdr: fhirJSON, body: params(`{"name":"start","valueDate":"2020-01-01"}`), status: 400, code: "invalid"},
		{name: "a resource parameter", hdr: fhirJSON, body: params(`{"name":"p","resource":{"resourceType":"Patient"}}`), status: 400, code: "not-supported"},
		{name: "a complex value", hdr: fhirJSON, body: params(`{"name":"p","valueIdentifier":{"value":"x"}}`), status: 400, code: "not-supported"},
		{name: "not a Parameters resource", hdr: fhirJSON, body: `{"resourceType":"Patient"}`, status: 400, code: "invalid"},
		{name: "not FHIR JSON", hdr: map[string]string{"Content-Type": "text/plain"}, body: "start=2020", status: 415, code: "not-supported"},
		{name: "not JSON", hdr: fhirJSON, body: "{", status: 400, code: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "POST", base+op+tt.query, tt.hdr, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			fhirValid(t, r)
			if tt.status != 200 {
				if is := issue0(t, r); is["code"] != tt.code {
					t.Errorf("issue %v, want %s", is, tt.code)
				}
				return
			}
			if r.body["resourceType"] != "Bundle" {
				t.Fatalf("body %s", r.raw)
			}
			if got := rec.lastParams(); !equalValues(got, tt.params) {
				t.Errorf("the operation ran with %v, want %v", got, tt.params)
			}
		})
	}
	// GET still serves it, with the URL's parameters.
	if r := do(t, "GET", base+op+"?start=2020-01-01", nil, ""); r.status != 200 || !equalValues(rec.lastParams(), url.Values{"start": {"2020-01-01"}}) {
		t.Errorf("GET: %d %v", r.status, rec.lastParams())
	}
}

func equalValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestLastModifiedFromTheRecord: a record that does not say when it
// changed has no Last-Modified, and If-Modified-Since cannot make it 304.
func TestLastModifiedFromTheRecord(t *testing.T) {
	base, _, _ := startSemantics(t)
	r := do(t, "GET", base+"/DocumentReference/d1", nil, "")
	if r.status != 200 || r.header.Get("Last-Modified") != "" {
		t.Fatalf("status %d Last-Modified %q", r.status, r.header.Get("Last-Modified"))
	}
	if r := do(t, "GET", base+"/DocumentReference/d1", map[string]string{"If-Modified-Since": "Mon, 01 Jan 2199 00:00:00 GMT"}, ""); r.status != 200 {
		t.Errorf("If-Modified-Since: %d", r.status)
	}
	// The record that says (meta.lastUpdated) has it.
	if r := do(t, "GET", base+"/Patient/abc", nil, ""); r.header.Get("Last-Modified") != "Fri, 01 Mar 2024 09:30:00 GMT" {
		t.Errorf("Last-Modified %q", r.header.Get("Last-Modified"))
	}
}

// TestBinaryForms: a Binary read asking for a FHIR format is the Binary
// resource; anything else the content in its own type. Both carry an ETag
// that makes If-None-Match a 304, and a Content-Disposition.
func TestBinaryForms(t *testing.T) {
	base, _, docs := startSemantics(t)
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		resource           bool
		disposition        string
	}{
		{name: "no Accept", method: "GET", path: "/Binary/doc1", status: 200, disposition: "attachment; filename=doc1.pdf"},
		{name: "any", method: "GET", path: "/Binary/doc1", hdr: map[string]string{"Accept": "*/*"}, status: 200, disposition: "attachment; filename=doc1.pdf"},
		{name: "its own type", method: "GET", path: "/Binary/doc1", hdr: map[string]string{"Accept": "application/pdf"}, status: 200, disposition: "attachment"},
		{name: "FHIR JSON refused by q=0", method: "GET", path: "/Binary/doc1", hdr: map[string]string{"Accept": "application/fhir+json;q=0, */*"}, status: 200, disposition: "attachment"},
		{name: "HEAD", method: "HEAD", path: "/Binary/doc1", status: 200, disposition: "attachment"},
		{name: "Accept FHIR JSON", method: "GET", path: "/Binary/doc1", hdr: map[string]string{"Accept": "application/fhir+json"}, status: 200, resource: true, disposition: "inline; filename=doc1.json"},
		{name: "Accept FHIR JSON among others", method: "GET", path: "/Binary/doc1", hdr: map[string]string{"Accept": "application/pdf;q=0.5, application/fhir+json"}, status: 200, resource: true, disposition: "inline"},
		{name: "_format=json", method: "GET", path: "/Binary/doc1?_format=json&_pretty=true", status: 200, resource: true, disposition: "inline"},
		{name: "_format=xml", method: "GET", path: "/Binary/doc1?_format=xml", status: 406},
		{name: "too large for a resource", method: "GET", path: "/Binary/big", hdr: map[string]string{"Accept": "application/fhir+json"}, status: 406},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, base+tt.path, tt.hdr, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			fhirValid(t, r)
			if tt.status != 200 {
				issue0(t, r)
				return
			}
			if d := r.header.Get("Content-Disposition"); !strings.HasPrefix(d, tt.disposition) {
				t.Errorf("Content-Disposition %q, want %q…", d, tt.disposition)
			}
			etag := r.header.Get("ETag")
			if !strings.HasPrefix(etag, `W/"`) {
				t.Fatalf("ETag %q", etag)
			}
			switch {
			case tt.resource:
				var b struct {
					ResourceType, ID, ContentType, Data string
					SecurityContext                     struct{ Reference string }
				}
				_ = json.Unmarshal([]byte(r.raw), &b)
				data, _ := base64.StdEncoding.DecodeString(b.Data)
				if b.ResourceType != "Binary" || b.ID != "doc1" || b.ContentType != "application/pdf" || string(data) != pdf ||
					b.SecurityContext.Reference != "DocumentReference/doc1" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
					t.Errorf("Binary resource %s (%s)", r.raw, r.header.Get("Content-Type"))
				}
			case tt.method == "HEAD":
				if r.raw != "" || r.header.Get("Content-Type") != "application/pdf" {
					t.Errorf("HEAD: %q %q", r.header.Get("Content-Type"), r.raw)
				}
			default:
				if r.raw != pdf || r.header.Get("Content-Type") != "application/pdf" || etag != `W/"p1.0"` {
					t.Errorf("raw: %q %q ETag %q", r.header.Get("Content-Type"), r.raw, etag)
				}
			}
			hdr := map[string]string{"If-None-Match": etag}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			if again := do(t, "GET", base+tt.path, hdr, ""); again.status != 304 || again.raw != "" {
				t.Errorf("If-None-Match %s: %d %q", etag, again.status, again.raw)
			}
		})
	}
	// The raw and resource forms are different representations: neither's
	// ETag makes the other a 304.
	raw := do(t, "GET", base+"/Binary/doc1", nil, "")
	if r := do(t, "GET", base+"/Binary/doc1", map[string]string{"Accept": "application/fhir+json", "If-None-Match": raw.header.Get("ETag")}, ""); r.status != 200 {
		t.Errorf("the raw ETag made the resource a %d", r.status)
	}
	if docs.fetches == 0 {
		t.Error("no document was fetched")
	}
}

func TestBinaryDispositionFileNames(t *testing.T) {
	base, _, _ := startSemantics(t)
	// The id is the only part of the name that comes from the request, and
	// a FHIR id cannot carry a path, a quote or a line break.
	for _, id := range []string{"..%2F..%2Fetc", "a%0D%0ASet-Cookie:x", `a"b`} {
		r := do(t, "GET", base+"/Binary/"+id, nil, "")
		if r.status != 400 && r.status != 404 {
			t.Errorf("%s: %d %s", id, r.status, r.header.Get("Content-Disposition"))
		}
		if r.header.Get("Set-Cookie") != "" || r.header.Get("Content-Disposition") != "" {
			t.Errorf("%s: headers %v", id, r.header)
		}
	}
}
