package server_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/server"
)

// writable is a Flag provider that accepts creates and updates.
type writable struct {
	lastIfMatch string
	created     proto.Message
}

func (*writable) ResourceType() string  { return "Flag" }
func (*writable) Profile() string       { return "" }
func (*writable) Documentation() string { return "writable" }

func (w *writable) Create(_ context.Context, m proto.Message) (*resources.Resource, error) {
	f := proto.Clone(m).(*flagpb.Flag)
	f.Id = &dtpb.Id{Value: "new1"}
	f.Meta = &dtpb.Meta{VersionId: &dtpb.Id{Value: "1"}}
	w.created = f
	return &resources.Resource{Type: "Flag", ID: "new1", VersionID: "1", Message: f}, nil
}

func (w *writable) Update(_ context.Context, id string, m proto.Message, ifMatch string) (*resources.Resource, error) {
	w.lastIfMatch = ifMatch
	if ifMatch == "" {
		return nil, fhirerr.New(fhirerr.PreconditionRequired, "If-Match is required")
	}
	if ifMatch != "1" {
		return nil, fhirerr.New(fhirerr.PreconditionFailed, "stale version")
	}
	f := proto.Clone(m).(*flagpb.Flag)
	f.Meta = &dtpb.Meta{VersionId: &dtpb.Id{Value: "2"}}
	return &resources.Resource{Type: "Flag", ID: id, VersionID: "2", Message: f}, nil
}

// document is a Binary provider serving raw content.
type document struct{}

func (document) ResourceType() string  { return "Binary" }
func (document) Profile() string       { return "" }
func (document) Documentation() string { return "documents" }
func (document) ReadStream(_ context.Context, id string, admit func(string, string) error) (*resources.Stream, error) {
	if err := admit("9000000009", ""); err != nil {
		return nil, err
	}
	if id == "gone" {
		return nil, fhirerr.New(fhirerr.NotFound, "the document is gone")
	}
	body := "%PDF-1.4 " + strings.Repeat("x", 100_000)
	return &resources.Stream{ContentType: "application/pdf", Size: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}, nil
}

const flagJSON = `{"resourceType":"Flag","status":"active","code":{"text":"Needs a BSL interpreter"},"subject":{"reference":"Patient/9000000009"}}`

func newWriteServer(t *testing.T, w *writable) string {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	ts, _ := startServer(t, server.Config{Logger: log}, resources.NewRegistry(w, document{}))
	return ts.URL
}

func TestCreate(t *testing.T) {
	w := &writable{}
	base := newWriteServer(t, w)
	json := map[string]string{"Content-Type": "application/fhir+json"}
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		body   string
		status int
		code   string
		expr   string
	}{
		{name: "created", path: "/fhir/Flag", hdr: json, body: flagJSON, status: 201},
		{name: "wrong media type", path: "/fhir/Flag", hdr: map[string]string{"Content-Type": "application/xml"}, body: flagJSON, status: 415, code: "not-supported"},
		{name: "not JSON", path: "/fhir/Flag", hdr: json, body: "{", status: 400, code: "invalid"},
		{name: "schema violation", path: "/fhir/Flag", hdr: json, body: `{"resourceType":"Flag","status":"sideways","code":{"text":"x"},"subject":{"reference":"Patient/1"}}`, status: 400, code: "invalid"},
		{name: "wrong type", path: "/fhir/Flag", hdr: json, body: `{"resourceType":"Patient"}`, status: 400, code: "invalid"},
		{name: "too large", path: "/fhir/Flag", hdr: json, body: `{"resourceType":"Flag","x":"` + strings.Repeat("a", 1<<20) + `"}`, status: 413, code: "too-costly"},
		{name: "create on a read-only type", path: "/fhir/Binary", hdr: json, body: flagJSON, status: 405, code: "not-supported"},
		// Duplicate members: read one way here, another by the next reader.
		{name: "two subjects", path: "/fhir/Flag", hdr: json, status: 400, code: "invalid", expr: "Flag.subject",
			body: `{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"Patient/9000000009"},"subject":{"reference":"Patient/9000000017"}}`},
		{name: "two resourceTypes", path: "/fhir/Flag", hdr: json, status: 400, code: "invalid",
			body: `{"resourceType":"Patient","resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"Patient/9000000009"}}`},
		{name: "a duplicate deep inside", path: "/fhir/Flag", hdr: json, status: 400, code: "invalid", expr: "Flag.code.coding[0].code",
			body: `{"resourceType":"Flag","status":"active","code":{"coding":[{"code":"a","code":"b"}]},"subject":{"reference":"Patient/9000000009"}}`},
		{name: "a batch with two urls", path: "/fhir", hdr: json, status: 400, code: "invalid",
			body: `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/9000000009","url":"Patient/9000000017"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "POST", base+tt.path, tt.hdr, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.code != "" {
				is := issue0(t, r)
				if is["code"] != tt.code {
					t.Errorf("issue.code %v, want %s", is["code"], tt.code)
				}
				if tt.expr != "" && fmt.Sprint(is["expression"]) != "["+tt.expr+"]" {
					t.Errorf("issue.expression %v, want [%s]", is["expression"], tt.expr)
				}
				return
			}
			if loc := r.header.Get("Location"); loc != base+"/fhir/Flag/new1/_history/1" {
				t.Errorf("Location %q", loc)
			}
			if r.header.Get("ETag") != `W/"1"` || r.body["id"] != "new1" {
				t.Errorf("ETag %q body %s", r.header.Get("ETag"), r.raw)
			}
		})
	}
	r := do(t, "POST", base+"/fhir/Flag", map[string]string{"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}, flagJSON)
	if r.status != 201 || r.raw != "" || r.header.Get("Location") == "" {
		t.Errorf("return=minimal: %d %q", r.status, r.raw)
	}
}

func TestUpdate(t *testing.T) {
	w := &writable{}
	base := newWriteServer(t, w)
	withID := strings.Replace(flagJSON, `{"resourceType":"Flag",`, `{"resourceType":"Flag","id":"f1",`, 1)
	tests := []struct {
		name    string
		path    string
		ifMatch string
		body    string
		status  int
		code    string
	}{
		{name: "updated", path: "/fhir/Flag/f1", ifMatch: `W/"1"`, body: withID, status: 200},
		{name: "typographic quotes", path: "/fhir/Flag/f1", ifMatch: `W/"1”`, body: withID, status: 200},
		{name: "no If-Match", path: "/fhir/Flag/f1", body: withID, status: 428, code: "required"},
		{name: "stale", path: "/fhir/Flag/f1", ifMatch: `W/"0"`, body: withID, status: 412, code: "conflict"},
		{name: "id mismatch", path: "/fhir/Flag/other", ifMatch: `W/"1"`, body: withID, status: 400, code: "invalid"},
		{name: "no id", path: "/fhir/Flag/f1", ifMatch: `W/"1"`, body: flagJSON, status: 400, code: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Content-Type": "application/fhir+json"}
			if tt.ifMatch != "" {
				hdr["If-Match"] = tt.ifMatch
			}
			r := do(t, "PUT", base+tt.path, hdr, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.code != "" {
				if is := issue0(t, r); is["code"] != tt.code {
					t.Errorf("issue.code %v, want %s", is["code"], tt.code)
				}
				return
			}
			if r.header.Get("ETag") != `W/"2"` {
				t.Errorf("ETag %q", r.header.Get("ETag"))
			}
		})
	}
}

func TestStream(t *testing.T) {
	base := newWriteServer(t, &writable{})
	r := do(t, "GET", base+"/fhir/Binary/doc1", map[string]string{"Accept": "application/pdf"}, "")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type %q", ct)
	}
	if !strings.HasPrefix(r.raw, "%PDF-1.4") || len(r.raw) != 100_009 {
		t.Errorf("body of %d bytes", len(r.raw))
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Length") != "100009" {
		t.Errorf("headers %v", r.header)
	}
	r = do(t, "GET", base+"/fhir/Binary/gone", nil, "")
	if r.status != 404 || issue0(t, r)["code"] != "not-found" {
		t.Errorf("gone: %d %s", r.status, r.raw)
	}
}
