package tests

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	sandboxnrl "github.com/carerecords/fhir-facade/sandbox/nrl"
	sandboxpds "github.com/carerecords/fhir-facade/sandbox/pds"
)

// TestRedirectFromBackendIsNotFollowed makes a backend, or a document holder
// through the Spine Secure Proxy, answer with a redirect to another server:
// the facade answers 502 naming the redirect, never its target, and the
// target receives nothing (no backend token, no caller identity headers, no
// Referer with the NHS number), so its body is never served as the
// patient's record.
func TestRedirectFromBackendIsNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write([]byte("%PDF-1.4 not the patient's document"))
	}))
	defer target.Close()
	loc := http.Header{"Location": {target.URL + "/collect/9000000009"}}
	sb := env.app.Sandbox
	tests := []struct {
		name    string
		fault   func()
		clear   func()
		path    string
		message string // in issue.diagnostics
	}{
		{name: "holder redirects the document",
			fault: func() {
				sb.NRL.SetFault(&sandboxnrl.Fault{Status: http.StatusFound, Header: loc, PathPrefix: sandboxnrl.SSPPath})
			},
			clear:   func() { sb.NRL.SetFault(nil) },
			path:    "/Binary/Y05868-1000000091",
			message: "the organisation holding the document answered with a redirect (HTTP 302), which the facade does not follow"},
		{name: "NRL redirects a search",
			fault: func() {
				sb.NRL.SetFault(&sandboxnrl.Fault{Status: http.StatusMovedPermanently, Header: loc, PathPrefix: "/DocumentReference"})
			},
			clear:   func() { sb.NRL.SetFault(nil) },
			path:    "/DocumentReference?patient=9000000009",
			message: "the nrl service answered with a redirect (HTTP 301), which the facade does not follow"},
		{name: "PDS redirects a read",
			fault:   func() { sb.PDS.SetFault(&sandboxpds.Fault{Status: http.StatusTemporaryRedirect, Header: loc}) },
			clear:   func() { sb.PDS.SetFault(nil) },
			path:    "/Patient/9000000009",
			message: "the pds service answered with a redirect (HTTP 307), which the facade does not follow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fault()
			defer tc.clear()
			r := get(t, tc.path)
			if n := hits.Swap(0); n != 0 {
				t.Fatalf("the redirect was followed: its target had %d requests", n)
			}
			if r.status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", r.status, r.raw)
			}
			is := outcomeIssue(t, r)
			if is["code"] != "exception" || is["diagnostics"] != tc.message {
				t.Errorf("issue %v, want code exception and diagnostics %q", is, tc.message)
			}
			for _, leak := range []string{strings.TrimPrefix(target.URL, "http://"), "collect", "%PDF"} {
				if strings.Contains(string(r.raw), leak) {
					t.Errorf("the answer names %q: %s", leak, r.raw)
				}
			}
		})
	}
	if r := get(t, "/Binary/Y05868-1000000091"); r.status != 200 {
		t.Errorf("after the faults: %d", r.status)
	}
}
