package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// SearchBundle takes a 200 searchset only when it is the whole of what the
// service holds; anything else is BadGateway saying how, and an answer
// other than 200 is the service's own reader's to judge.
func TestSearchBundle(t *testing.T) {
	errFailed := errors.New("read by Failed")
	const two = `{"resourceType":"Bundle","type":"searchset","total":2,"entry":[{"resource":{"resourceType":"Flag","id":"a"}},{"resource":{"resourceType":"Flag","id":"b"}}]}`
	tests := []struct {
		name        string
		status      int
		body, ctype string
		answer      string
		failed      error // what Failed returns
		wantN       int
		wantErr     error  // errors.Is
		wantMessage string // of a BadGateway
	}{
		{name: "whole searchset", status: 200, body: two, wantN: 2},
		{name: "no entry, no total", status: 200, body: `{"resourceType":"Bundle","type":"searchset"}`},
		{name: "empty body", status: 200, body: ``, wantMessage: "the pds service sent an empty response"},
		{name: "not JSON", status: 200, body: `<html/>`, ctype: "text/html", wantMessage: "the pds service sent an unexpected response"},
		{name: "not a searchset", status: 200, body: `{"resourceType":"Patient"}`, answer: "search-flag", wantMessage: "the pds service sent an unexpected search-flag response"},
		{name: "fewer than its total", status: 200, body: `{"resourceType":"Bundle","type":"searchset","total":3,"entry":[{"resource":{"resourceType":"Flag"}}]}`, wantMessage: "the pds service sent a truncated response"},
		{name: "a next page", status: 200, body: `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"x"}]}`, answer: "search-consent", wantMessage: "the pds service sent a truncated search-consent response"},
		{name: "failed answer", status: 500, body: `{}`, failed: errFailed, wantErr: errFailed},
		{name: "failed answer that means nothing", status: 404, body: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScripted(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				answer(w, tt.status, tt.body)
			})
			c := newClient(t, srv.URL, upstream.Config{MaxAttempts: 1}, nil)
			var gotStatus int
			rs, err := c.SearchBundle(context.Background(), upstream.Request{Method: http.MethodGet, Path: "/Flag", Op: "search"},
				upstream.Searchset{Answer: tt.answer, Failed: func(res *upstream.Response) error {
					gotStatus = res.Status
					return tt.failed
				}})
			if len(rs) != tt.wantN {
				t.Errorf("%d resources, want %d", len(rs), tt.wantN)
			}
			if tt.status != http.StatusOK && gotStatus != tt.status {
				t.Errorf("Failed saw %d, want %d", gotStatus, tt.status)
			}
			switch {
			case tt.wantMessage != "":
				fe := fhirerr.As(err)
				if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != "pds" || fe.Message != tt.wantMessage {
					t.Errorf("err %v, want BadGateway %q", err, tt.wantMessage)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("err %v", err)
			}
		})
	}
}
