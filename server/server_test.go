package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	patientpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/server"
)

// fake is a provider with canned answers, so the server's REST semantics are
// tested apart from any backend.
type fake struct {
	n       int // patients in the fake population
	readErr error
}

func (*fake) ResourceType() string  { return "Patient" }
func (*fake) Profile() string       { return "" }
func (*fake) Documentation() string { return "fake" }

func (f *fake) SearchParams() []resources.SearchParam {
	return []resources.SearchParam{
		{Name: "family", Type: resources.TypeString, Example: "Smith"},
		{Name: "given", Type: resources.TypeString, Repeatable: true, Example: "Jane"},
		{Name: "general-practitioner", Type: resources.TypeReference, Modifiers: []string{"identifier"}, Example: "Y12345"},
	}
}

// fakeLastUpdated is every fake Patient's meta.lastUpdated.
var fakeLastUpdated = time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)

func patient(id string) *resources.Resource {
	return &resources.Resource{Type: "Patient", ID: id, VersionID: "2", RenderKey: "fake/" + id + "/2",
		Message: &patientpb.Patient{Id: &dtpb.Id{Value: id}, Meta: &dtpb.Meta{VersionId: &dtpb.Id{Value: "2"},
			LastUpdated: &dtpb.Instant{ValueUs: fakeLastUpdated.UnixMicro(), Timezone: "Z", Precision: dtpb.Instant_SECOND}}}}
}

func (f *fake) Read(_ context.Context, id string) (*resources.Resource, error) {
	if f.readErr != nil {
		return nil, f.readErr
	}
	if id == "404" {
		return nil, fhirerr.New(fhirerr.NotFound, "no such patient")
	}
	return patient(id), nil
}

func (f *fake) Search(_ context.Context, q *resources.Query) (*resources.SearchResult, error) {
	out := &resources.SearchResult{Total: f.n}
	for i := 0; i < f.n; i++ {
		out.Entries = append(out.Entries, resources.SearchEntry{Resource: patient("p" + string(rune('a'+i))), Mode: "match"})
	}
	return out, nil
}

func newServer(t *testing.T, f *fake, cfg server.Config) *httptest.Server {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg.Logger = log
	ts, _ := startServer(t, cfg, resources.NewRegistry(f))
	return ts
}

type result struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, method, u string, hdr map[string]string, body string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %.200q", method, u, raw)
		}
	}
	return r
}

func issue0(t *testing.T, r result) map[string]any {
	t.Helper()
	if r.body["resourceType"] != "OperationOutcome" {
		t.Fatalf("want OperationOutcome, got %s", r.raw)
	}
	return r.body["issue"].([]any)[0].(map[string]any)
}

func TestErrors(t *testing.T) {
	ts := newServer(t, &fake{n: 3}, server.Config{})
	tests := []struct {
		name      string
		method    string
		path      string
		hdr       map[string]string
		body      string
		status    int
		code      string
		diagnosis string
	}{
		{name: "unknown type", method: "GET", path: "/fhir/Observation/1", status: 404, code: "not-supported", diagnosis: "'Observation' is not supported"},
		{name: "unknown type search", method: "GET", path: "/fhir/Observation?code=1", status: 404, code: "not-supported"},
		{name: "not found", method: "GET", path: "/fhir/Patient/404", status: 404, code: "not-found"},
		{name: "bad id", method: "GET", path: "/fhir/Patient/" + strings.Repeat("x", 65), status: 400, code: "invalid"},
		{name: "delete not allowed", method: "DELETE", path: "/fhir/Patient/1", status: 405, code: "not-supported"},
		{name: "create not allowed", method: "POST", path: "/fhir/Patient", status: 405, code: "not-supported"},
		{name: "xml format", method: "GET", path: "/fhir/Patient/1?_format=xml", status: 406, code: "not-supported", diagnosis: "XML"},
		{name: "xml accept", method: "GET", path: "/fhir/Patient/1", hdr: map[string]string{"Accept": "application/fhir+xml"}, status: 406, code: "not-supported"},
		{name: "unknown format", method: "GET", path: "/fhir/metadata?_format=turtle", status: 406, code: "not-supported"},
		{name: "strict unknown param", method: "GET", path: "/fhir/Patient?family=Smith&colour=blue", hdr: map[string]string{"Prefer": "handling=strict"}, status: 400, code: "invalid", diagnosis: "colour"},
		{name: "unsupported modifier", method: "GET", path: "/fhir/Patient?family:contains=Smi", status: 400, code: "not-supported", diagnosis: ":contains"},
		{name: "repeated single param", method: "GET", path: "/fhir/Patient?family=A&family=B", status: 400, code: "invalid", diagnosis: "only once"},
		{name: "bad _count", method: "GET", path: "/fhir/Patient?family=A&_count=-1", status: 400, code: "invalid", diagnosis: "_count"},
		{name: "bad _offset", method: "GET", path: "/fhir/Patient?family=A&_offset=x", status: 400, code: "invalid", diagnosis: "_offset"},
		{name: "malformed query", method: "GET", path: "/fhir/Patient?family=%zz", status: 400, code: "invalid"},
		{name: "_search wrong content type", method: "POST", path: "/fhir/Patient/_search", hdr: map[string]string{"Content-Type": "application/json"}, body: "{}", status: 415, code: "not-supported"},
		{name: "outside the FHIR base", method: "GET", path: "/nothing", status: 404, code: "not-found"},
		{name: "unknown FHIR path", method: "GET", path: "/fhir/Patient/1/extra/deep", status: 404, code: "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, ts.URL+tt.path, tt.hdr, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
				t.Errorf("Content-Type %q", ct)
			}
			is := issue0(t, r)
			if is["code"] != tt.code {
				t.Errorf("issue.code %v, want %s", is["code"], tt.code)
			}
			if d, _ := is["diagnostics"].(string); !strings.Contains(d, tt.diagnosis) {
				t.Errorf("diagnostics %q, want it to contain %q", d, tt.diagnosis)
			}
			if r.header.Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID")
			}
		})
	}
}

func TestBackendErrorsAreCategorised(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
		hidden     string // must not reach the client
	}{
		{name: "gone", err: fhirerr.New(fhirerr.Gone, "invalidated"), status: 410, code: "deleted"},
		{name: "throttled", err: &fhirerr.Error{Category: fhirerr.Throttled, Message: "slow down", RetryAfter: 3 * time.Second}, status: 429, code: "throttled", retryAfter: "3"},
		{name: "timeout", err: &fhirerr.Error{Category: fhirerr.Timeout, Backend: "pds", Message: "the pds service did not answer in time"}, status: 504, code: "timeout"},
		{name: "bad gateway hides cause", err: &fhirerr.Error{Category: fhirerr.BadGateway, Message: "the pds service failed", Err: io.ErrUnexpectedEOF}, status: 502, code: "exception", hidden: "unexpected EOF"},
		{name: "internal hides everything", err: io.ErrClosedPipe, status: 500, code: "exception", hidden: "closed pipe"},
		{name: "forbidden", err: fhirerr.New(fhirerr.Forbidden, "no"), status: 403, code: "forbidden"},
		{name: "unprocessable", err: fhirerr.New(fhirerr.Unprocessable, "no"), status: 422, code: "processing"},
		{name: "precondition", err: fhirerr.New(fhirerr.PreconditionFailed, "stale"), status: 412, code: "conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fake{readErr: tt.err}, server.Config{})
			r := do(t, "GET", ts.URL+"/fhir/Patient/1", nil, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if is := issue0(t, r); is["code"] != tt.code {
				t.Errorf("issue.code %v, want %s", is["code"], tt.code)
			}
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if tt.hidden != "" && strings.Contains(r.raw, tt.hidden) {
				t.Errorf("body leaks %q: %s", tt.hidden, r.raw)
			}
		})
	}
}

func TestReadHeadersAndConditional(t *testing.T) {
	ts := newServer(t, &fake{}, server.Config{})
	r := do(t, "GET", ts.URL+"/fhir/Patient/abc", nil, "")
	if r.status != 200 || r.body["id"] != "abc" || r.body["resourceType"] != "Patient" {
		t.Fatalf("read: %d %s", r.status, r.raw)
	}
	if et := r.header.Get("ETag"); et != `W/"2"` {
		t.Errorf("ETag %q", et)
	}
	lm := r.header.Get("Last-Modified")
	if got, err := http.ParseTime(lm); err != nil || !got.Equal(fakeLastUpdated) {
		t.Errorf("Last-Modified %q (%v), want meta.lastUpdated %v", lm, err, fakeLastUpdated)
	}
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{name: "matching etag", hdr: map[string]string{"If-None-Match": `W/"2"`}, status: 304},
		{name: "strong form matches weakly", hdr: map[string]string{"If-None-Match": `"2"`}, status: 304},
		{name: "list with match", hdr: map[string]string{"If-None-Match": `W/"1", W/"2"`}, status: 304},
		{name: "star", hdr: map[string]string{"If-None-Match": `*`}, status: 304},
		{name: "other etag", hdr: map[string]string{"If-None-Match": `W/"1"`}, status: 200},
		{name: "modified since long ago", hdr: map[string]string{"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, status: 200},
		{name: "not modified since", hdr: map[string]string{"If-Modified-Since": lm}, status: 304},
		{name: "etag wins over date", hdr: map[string]string{"If-None-Match": `W/"1"`, "If-Modified-Since": lm}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "GET", ts.URL+"/fhir/Patient/abc", tt.hdr, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if tt.status == 304 && r.raw != "" {
				t.Errorf("304 with a body: %q", r.raw)
			}
		})
	}
}

func TestNegotiation(t *testing.T) {
	ts := newServer(t, &fake{}, server.Config{})
	tests := []struct {
		name   string
		query  string
		accept string
		ct     string
		pretty bool
	}{
		{name: "default", ct: "application/fhir+json"},
		{name: "accept fhir json", accept: "application/fhir+json", ct: "application/fhir+json"},
		{name: "accept json", accept: "application/json", ct: "application/json"},
		{name: "browser", accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", ct: "application/fhir+json"},
		{name: "_format json", query: "_format=json", ct: "application/fhir+json"},
		{name: "_format beats accept", query: "_format=application/fhir%2Bjson", accept: "application/xml", ct: "application/fhir+json"},
		{name: "pretty", query: "_pretty=true", ct: "application/fhir+json", pretty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.accept != "" {
				hdr["Accept"] = tt.accept
			}
			r := do(t, "GET", ts.URL+"/fhir/Patient/abc?"+tt.query, hdr, "")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ct) {
				t.Errorf("Content-Type %q, want %s", ct, tt.ct)
			}
			if got := strings.Contains(r.raw, "\n  "); got != tt.pretty {
				t.Errorf("pretty = %v, want %v", got, tt.pretty)
			}
		})
	}
}

func links(t *testing.T, r result) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range r.body["link"].([]any) {
		m := l.(map[string]any)
		out[m["relation"].(string)] = m["url"].(string)
	}
	return out
}

func TestSearchPaging(t *testing.T) {
	ts := newServer(t, &fake{n: 5}, server.Config{BaseURL: "https://proxy.example/fhir", MaxPageSize: 3, DefaultPageSize: 2})
	r := do(t, "GET", ts.URL+"/fhir/Patient?family=Smith&given=Jane&given=Ann&_format=json", nil, "")
	if r.status != 200 || r.body["type"] != "searchset" || r.body["total"] != 5.0 {
		t.Fatalf("search: %d %s", r.status, r.raw)
	}
	if n := len(r.body["entry"].([]any)); n != 2 {
		t.Fatalf("%d entries on page 1, want 2", n)
	}
	l := links(t, r)
	if !strings.HasPrefix(l["self"], "https://proxy.example/fhir/Patient?") {
		t.Errorf("self %q does not use the configured base", l["self"])
	}
	for _, want := range []string{"family=Smith", "given=Jane", "given=Ann", "_count=2"} {
		if !strings.Contains(l["next"], want) {
			t.Errorf("next %q lacks %s", l["next"], want)
		}
	}
	// Follow next through the facade (replace the proxy base with the test server).
	seen := map[string]bool{}
	next := l["self"]
	for page := 0; next != "" && page < 5; page++ {
		r = do(t, "GET", strings.Replace(next, "https://proxy.example", ts.URL, 1), nil, "")
		for _, e := range r.body["entry"].([]any) {
			em := e.(map[string]any)
			id := em["resource"].(map[string]any)["id"].(string)
			if seen[id] {
				t.Errorf("%s seen twice", id)
			}
			seen[id] = true
			if !strings.HasSuffix(em["fullUrl"].(string), "/Patient/"+id) {
				t.Errorf("fullUrl %v", em["fullUrl"])
			}
		}
		next = links(t, r)["next"]
	}
	if len(seen) != 5 {
		t.Errorf("paged through %d patients, want 5", len(seen))
	}
}

func TestSearchWarnings(t *testing.T) {
	ts := newServer(t, &fake{n: 5}, server.Config{MaxPageSize: 3})
	r := do(t, "GET", ts.URL+"/fhir/Patient?family=Smith&colour=blue&given=&_count=100", nil, "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	entries := r.body["entry"].([]any)
	if len(entries) != 4 {
		t.Fatalf("%d entries, want 3 matches + 1 outcome", len(entries))
	}
	last := entries[len(entries)-1].(map[string]any)
	if last["search"].(map[string]any)["mode"] != "outcome" {
		t.Fatalf("last entry is not the outcome: %v", last)
	}
	oo, _ := json.Marshal(last["resource"])
	for _, want := range []string{"colour", "ignored", "_count=100", "given"} {
		if !strings.Contains(string(oo), want) {
			t.Errorf("outcome lacks %q: %s", want, oo)
		}
	}
	self := links(t, r)["self"]
	if strings.Contains(self, "colour") || !strings.Contains(self, "_count=3") {
		t.Errorf("self %q should show the search performed", self)
	}
}

func TestSearchPost(t *testing.T) {
	ts := newServer(t, &fake{n: 1}, server.Config{})
	r := do(t, "POST", ts.URL+"/fhir/Patient/_search", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, url.Values{"family": {"Smith"}}.Encode())
	if r.status != 200 || r.body["total"] != 1.0 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if self := links(t, r)["self"]; !strings.Contains(self, "family=Smith") {
		t.Errorf("self %q", self)
	}
}

func TestCountZero(t *testing.T) {
	ts := newServer(t, &fake{n: 4}, server.Config{})
	r := do(t, "GET", ts.URL+"/fhir/Patient?family=Smith&_count=0", nil, "")
	if r.status != 200 || r.body["total"] != 4.0 || r.body["entry"] != nil {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
}

func TestRequestIDEchoed(t *testing.T) {
	ts := newServer(t, &fake{}, server.Config{})
	const id = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	r := do(t, "GET", ts.URL+"/fhir/metadata", map[string]string{"X-Request-ID": id}, "")
	if got := r.header.Get("X-Request-ID"); got != id {
		t.Errorf("X-Request-ID %q, want the client's UUID", got)
	}
	// Anything but a UUID is dropped for a fresh one: the id is the audit
	// record's, a log field and the correlation id sent to the national
	// services, so it may carry nothing else (an NHS number, say).
	for _, bad := range []string{"abc-123", "bad id with spaces", "9000000009", "{6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b}", "urn:uuid:6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", "6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b"} {
		r = do(t, "GET", ts.URL+"/fhir/metadata", map[string]string{"X-Request-ID": bad}, "")
		got := r.header.Get("X-Request-ID")
		if got == bad || len(got) != 36 || strings.Contains(got, bad) {
			t.Errorf("X-Request-ID %q answered %q, want a fresh UUID", bad, got)
		}
	}
}

func TestMetadata(t *testing.T) {
	ts := newServer(t, &fake{}, server.Config{})
	r := do(t, "GET", ts.URL+"/fhir/metadata", nil, "")
	if r.status != 200 || r.body["resourceType"] != "CapabilityStatement" || r.body["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %d %s", r.status, r.raw)
	}
	res := r.body["rest"].([]any)[0].(map[string]any)["resource"].([]any)[0].(map[string]any)
	var got []string
	for _, i := range res["interaction"].([]any) {
		got = append(got, i.(map[string]any)["code"].(string))
	}
	if strings.Join(got, ",") != "read,search-type" {
		t.Errorf("interactions %v", got)
	}
}

func TestMetrics(t *testing.T) {
	ts := newServer(t, &fake{}, server.Config{})
	do(t, "GET", ts.URL+"/fhir/Patient/9000000009", nil, "")
	res, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	want := `facade_http_requests_total{interaction="read",resource_type="Patient",status="200"} 1`
	if !strings.Contains(string(b), want) {
		t.Errorf("metrics lack %s", want)
	}
	if strings.Contains(string(b), "9000000009") {
		t.Error("metrics carry an NHS number")
	}
}
