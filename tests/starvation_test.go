package tests

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

// TestSlowCallerDoesNotStarveClinicians: one caller (any valid token, here
// an auditor's) opening as many slow-body requests as the facade serves at
// once holds only its own share of the slots: the rest of its requests are
// 429 at once, a clinician's reads go on being answered, and the slow
// bodies are cut by the body deadline (408), long before the request
// timeout.
func TestSlowCallerDoesNotStarveClinicians(t *testing.T) {
	const maxInFlight = 8
	a, ts := startOwnFacade(t, app.Config{MaxInFlight: maxInFlight, BodyTimeout: 1500 * time.Millisecond, RequestTimeout: 30 * time.Second})
	auditor, err := a.DevToken("auditor", "")
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(ts.URL, "http://")
	type answer struct {
		status int
		after  time.Duration
	}
	answers := make(chan answer, maxInFlight)
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	start := time.Now()
	for range maxInFlight {
		c, err := net.DialTimeout("tcp", host, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// Headers in full, then a body that never comes.
		req := "POST /fhir/AuditEvent/_search HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + auditor +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\npatient="
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		go func(c net.Conn) {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers <- answer{status: 0, after: time.Since(start)}
				return
			}
			res.Body.Close()
			answers <- answer{status: res.StatusCode, after: time.Since(start)}
		}(c)
	}
	// The caller's requests beyond its share are refused at once.
	throttled := 0
	deadline := time.After(time.Second)
collect:
	for throttled < maxInFlight-maxInFlight/4 {
		select {
		case ans := <-answers:
			if ans.status != http.StatusTooManyRequests {
				t.Fatalf("a slow request answered %d before its body deadline, want 429 for those beyond the caller's share", ans.status)
			}
			throttled++
		case <-deadline:
			break collect
		}
	}
	if throttled != maxInFlight-maxInFlight/4 {
		t.Errorf("%d of the caller's %d requests refused at once, want %d", throttled, maxInFlight, maxInFlight-maxInFlight/4)
	}
	// Meanwhile a clinician is served.
	for i := range 5 {
		res, err := http.Get(ts.URL + "/fhir/Patient/9000000009")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("clinician read %d while a slow caller held its share: %d", i, res.StatusCode)
		}
	}
	// The slow bodies are cut by the body deadline, with 408.
	for range maxInFlight / 4 {
		select {
		case ans := <-answers:
			if ans.status != http.StatusRequestTimeout || ans.after > 5*time.Second {
				t.Errorf("slow body answered %d after %v, want 408 after about the body deadline", ans.status, ans.after)
			}
		case <-time.After(8 * time.Second):
			t.Fatal("a slow body was not cut by the body deadline")
		}
	}
}
