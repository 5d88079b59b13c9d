package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/server"
)

// gateWriter is an audit trail whose Write waits for release and then
// fails when fail is set.
type gateWriter struct {
	mu      sync.Mutex
	recs    []audit.Record
	entered chan struct{}
	release chan struct{}
	fail    bool
}

func (g *gateWriter) Write(_ context.Context, rec audit.Record) error {
	if g.entered != nil {
		g.entered <- struct{}{}
		<-g.release
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail {
		return errors.New("the audit store is down")
	}
	g.recs = append(g.recs, rec)
	return nil
}

// TestAnswerWaitsForTheAuditRecord: an access is answered only once its
// audit record is written, and answered 503 (an OperationOutcome, not the
// data) when it cannot be.
func TestAnswerWaitsForTheAuditRecord(t *testing.T) {
	tests := []struct {
		name   string
		fail   bool
		status int
	}{
		{name: "written", status: http.StatusOK},
		{name: "not written", fail: true, status: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &gateWriter{entered: make(chan struct{}), release: make(chan struct{}), fail: tt.fail}
			ts := newServer(t, &fake{}, server.Config{Audit: w})
			type answer struct {
				res  *http.Response
				body []byte
				err  error
			}
			done := make(chan answer, 1)
			go func() {
				res, err := http.Get(ts.URL + "/fhir/Patient/9000000009")
				if err != nil {
					done <- answer{err: err}
					return
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				done <- answer{res: res, body: b, err: err}
			}()
			select {
			case <-w.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the audit record was never written")
			}
			select {
			case a := <-done:
				t.Fatalf("answered %v before the audit record was written", a.res.Status)
			case <-time.After(200 * time.Millisecond):
			}
			close(w.release)
			a := <-done
			if a.err != nil {
				t.Fatal(a.err)
			}
			if a.res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", a.res.StatusCode, tt.status, a.body)
			}
			var doc struct {
				ResourceType string `json:"resourceType"`
				Issue        []struct {
					Code string `json:"code"`
				} `json:"issue"`
			}
			if err := json.Unmarshal(a.body, &doc); err != nil {
				t.Fatal(err)
			}
			if !tt.fail {
				if doc.ResourceType != "Patient" || len(w.recs) != 1 || w.recs[0].Status != 200 ||
					w.recs[0].RequestID != a.res.Header.Get("X-Request-ID") || len(w.recs[0].Patients) != 1 {
					t.Errorf("answer %s, records %+v", doc.ResourceType, w.recs)
				}
				return
			}
			if doc.ResourceType != "OperationOutcome" || len(doc.Issue) != 1 || doc.Issue[0].Code != "transient" {
				t.Errorf("answer %s", a.body)
			}
			if a.res.Header.Get("ETag") != "" || a.res.Header.Get("Retry-After") == "" {
				t.Errorf("headers %v", a.res.Header)
			}
		})
	}
}
