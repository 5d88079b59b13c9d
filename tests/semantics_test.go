package tests

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// The HTTP semantics stock FHIR clients expect (#17), end to end over the
// sandbox backends: every JSON answer is checked against the R4 schema by
// call.

// TestSemanticsMethodNotAllowed: 405 carries the methods the URL takes for
// the type, as its provider can do them.
func TestSemanticsMethodNotAllowed(t *testing.T) {
	tests := []struct {
		method, path, allow string
	}{
		{"DELETE", "/Patient/9000000009", "GET, HEAD, PATCH"},
		{"PUT", "/Patient/9000000009", "GET, HEAD, PATCH"},
		{"PUT", "/DocumentReference/Y05868-1000000091", "GET, HEAD"},
		{"DELETE", "/Binary/Y05868-1000000091", "GET, HEAD"},
		{"POST", "/metadata", "GET, HEAD"},
		{"DELETE", "/Flag/x", "GET, HEAD, PUT"},
		{"GET", "/Patient/$notify-birth", "POST"},
		{"DELETE", "/Patient/9000000009/$summary", "GET, HEAD, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := call(t, tt.method, tt.path, nil, "")
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != tt.allow {
				t.Fatalf("status %d Allow %q, want 405 %q: %s", r.status, r.header.Get("Allow"), tt.allow, r.raw)
			}
			if is := outcomeIssue(t, r); is["code"] != "not-supported" || !strings.Contains(is["diagnostics"].(string), "allowed: "+tt.allow) {
				t.Errorf("issue %v", is)
			}
		})
	}
}

// TestSemanticsHistoryAndSlashes: history says it is not offered; a
// trailing slash is the URL without it.
func TestSemanticsHistoryAndSlashes(t *testing.T) {
	for _, path := range []string{"/_history", "/Patient/_history", "/Patient/9000000009/_history"} {
		r := get(t, path)
		if is := outcomeIssue(t, r); r.status != 404 || is["code"] != "not-supported" || !strings.Contains(is["diagnostics"].(string), "history is not supported") {
			t.Errorf("%s: %d %v", path, r.status, is)
		}
	}
	if r := get(t, "/Patient/9000000009/"); r.status != 200 || r.body["id"] != "9000000009" {
		t.Errorf("Patient/9000000009/: %d %.200s", r.status, r.raw)
	}
	if r := get(t, "/Patient/9000000009/_history/2/"); r.status != 200 || r.body["id"] != "9000000009" {
		t.Errorf("vread with a slash: %d %.200s", r.status, r.raw)
	}
}

// TestSemanticsSummaryByPOST: $summary by POST, without a body or with a
// Parameters resource, is the GET's answer.
func TestSemanticsSummaryByPOST(t *testing.T) {
	byGet := get(t, "/Patient/9000000009/$summary")
	if byGet.status != 200 {
		t.Fatalf("GET: %d %.300s", byGet.status, byGet.raw)
	}
	want, _ := entries(t, byGet)
	for _, tt := range []struct {
		name string
		hdr  map[string]string
		body string
	}{
		{name: "no body"},
		{name: "Parameters", hdr: fhirJSON, body: `{"resourceType":"Parameters"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "POST", "/Patient/9000000009/$summary", tt.hdr, tt.body)
			if r.status != 200 || r.body["resourceType"] != byGet.body["resourceType"] {
				t.Fatalf("%d %.300s", r.status, r.raw)
			}
			if got, _ := entries(t, r); len(got) != len(want) {
				t.Errorf("%d matches, GET had %d", len(got), len(want))
			}
		})
	}
	if r := call(t, "POST", "/Patient/9000000009/$summary", fhirJSON, `{"resourceType":"Patient"}`); r.status != 400 {
		t.Errorf("a Patient body: %d %.300s", r.status, r.raw)
	}
}

// TestSemanticsBinaryResource: a document asked for in FHIR JSON is a
// Binary resource holding the very bytes served raw.
func TestSemanticsBinaryResource(t *testing.T) {
	const path = "/Binary/Y05868-1000000091"
	raw := get(t, path)
	if raw.status != 200 || !strings.HasPrefix(raw.header.Get("ETag"), `W/"`) || !strings.HasPrefix(raw.header.Get("Content-Disposition"), "attachment; filename=Y05868-1000000091") {
		t.Fatalf("raw: %d ETag %q Content-Disposition %q", raw.status, raw.header.Get("ETag"), raw.header.Get("Content-Disposition"))
	}
	res := call(t, "GET", path, map[string]string{"Accept": "application/fhir+json"}, "")
	if res.status != 200 || res.body["resourceType"] != "Binary" {
		t.Fatalf("resource: %d %.300s", res.status, res.raw)
	}
	data, err := base64.StdEncoding.DecodeString(res.body["data"].(string))
	if err != nil || string(data) != string(raw.raw) || res.body["contentType"] != raw.header.Get("Content-Type") {
		t.Errorf("data (%v) is not the raw content, or contentType %v is not %q", err, res.body["contentType"], raw.header.Get("Content-Type"))
	}
	if sc, _ := res.body["securityContext"].(map[string]any); sc["reference"] != "DocumentReference/Y05868-1000000091" {
		t.Errorf("securityContext %v", res.body["securityContext"])
	}
	for _, r := range []response{raw, res} {
		hdr := map[string]string{"If-None-Match": r.header.Get("ETag")}
		if r.body != nil {
			hdr["Accept"] = "application/fhir+json"
		}
		if again := call(t, "GET", path, hdr, ""); again.status != 304 {
			t.Errorf("If-None-Match %s: %d", r.header.Get("ETag"), again.status)
		}
	}
}
