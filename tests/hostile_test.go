package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Hostile input gets a 4xx OperationOutcome (or, below HTTP, a refused
// request), never a crash, a 5xx or a hang.
func TestHostileInput(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		body   string
	}{
		{name: "deeply nested JSON body", method: "POST", path: "/Flag", hdr: map[string]string{"Content-Type": "application/fhir+json"}, body: deep},
		{name: "deeply nested batch", method: "POST", path: "", hdr: map[string]string{"Content-Type": "application/fhir+json"}, body: deep},
		{name: "huge body", method: "POST", path: "/Flag", hdr: map[string]string{"Content-Type": "application/fhir+json"}, body: `{"resourceType":"Flag","x":"` + strings.Repeat("a", 3<<20) + `"}`},
		{name: "invalid UTF-8 body", method: "POST", path: "/Flag", hdr: map[string]string{"Content-Type": "application/fhir+json"}, body: "{\"resourceType\":\"Flag\",\"status\":\"\xff\xfe\"}"},
		{name: "invalid UTF-8 in a search value", method: "GET", path: "/Patient?family=%FF%FE&birthdate=eq2010-10-22"},
		{name: "invalid UTF-8 in an id", method: "GET", path: "/Patient/%FF%FE"},
		{name: "NUL in a parameter", method: "GET", path: "/Flag?patient=9000000009%00"},
		{name: "very long parameter", method: "GET", path: "/Patient?family=" + strings.Repeat("x", 20000) + "&birthdate=eq2010-10-22"},
		{name: "many parameters", method: "GET", path: "/Patient?" + strings.Repeat("given=a&", 3000) + "family=Smith&birthdate=eq2010-10-22"},
		{name: "JSON patch bomb", method: "PATCH", path: "/Patient/9000000009", hdr: map[string]string{"Content-Type": "application/json-patch+json", "If-Match": `W/"2"`, "Authorization": bearer("admin")}, body: "[" + strings.Repeat(`{"op":"test","path":"/a","value":1},`, 20000) + `{"op":"test","path":"/a","value":1}]`},
		{name: "date overflow", method: "GET", path: "/Patient?family=Smith&birthdate=eq99999-99-99"},
		{name: "negative count", method: "GET", path: "/Patient?family=Smith&birthdate=eq2010-10-22&_count=-9999999999999999999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, tt.path, tt.hdr, tt.body)
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("status %d: %.200s", r.status, r.raw)
			}
			outcomeIssue(t, r)
		})
	}
}

// Malformed HTTP (conflicting lengths, smuggling attempts, oversized
// headers) is refused at the door and the server keeps serving.
func TestMalformedHTTP(t *testing.T) {
	host := strings.TrimPrefix(env.root, "http://")
	raw := []string{
		"POST /fhir/Flag HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /fhir/Patient/9000000009 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("y", 2<<20) + "\r\n\r\n",
		"GARBAGE\r\n\r\n",
	}
	for i, req := range raw {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", host, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(conn, req)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				return // the server closed the connection: refused
			}
			res.Body.Close()
			if res.StatusCode < 400 || res.StatusCode >= 500 {
				t.Errorf("status %d", res.StatusCode)
			}
		})
	}
	if r := get(t, "/metadata"); r.status != 200 {
		t.Errorf("the server stopped serving: %d", r.status)
	}
}
