package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/carerecords/fhir-facade/backends/upstream"
)

func TestCallerHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(200)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, upstream.Config{Header: http.Header{"Nhsd-Session-Urid": {"000000000000"}}}, nil)
	shared := http.Header{"Nhsd-Session-Urid": {"111111111111"}}
	ctx := upstream.WithCallerHeaders(context.Background(), http.Header{"NHSD-Session-URID": {"555254240100"}, "NHSD-End-User-Organisation-ODS": {"Y05868"}})
	if _, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath, Header: shared}); err != nil {
		t.Fatal(err)
	}
	if got.Get("NHSD-Session-URID") != "555254240100" || got.Get("NHSD-End-User-Organisation-ODS") != "Y05868" {
		t.Errorf("headers sent: %v", got)
	}
	if shared.Get("NHSD-Session-URID") != "111111111111" {
		t.Error("the caller's header map was modified")
	}
	if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}); err != nil {
		t.Fatal(err)
	}
	if got.Get("NHSD-Session-URID") != "000000000000" {
		t.Errorf("without a caller, the configured header: %v", got.Get("NHSD-Session-URID"))
	}
}
