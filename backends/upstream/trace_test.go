package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/request"
)

func TestPathTemplate(t *testing.T) {
	tests := []struct{ path, want string }{
		{"", ""},
		{"/Patient/9000000009", "/Patient/{id}"},
		{"/Flag", "/Flag"},
		{"/Patient/9000000009/$everything", "/Patient/{id}/$everything"},
		{"/Consent/_search", "/Consent/_search"},
		{"/DocumentReference/a1b2c3d4-0000-4000-8000-000000000000", "/DocumentReference/{id}"},
		{"/ssp/https%3A%2F%2Fholder.example%2Fdoc", "/ssp/{id}"},
		{"/Patient/" + strings.Repeat("a", 65), "/Patient/{id}"},
	}
	for _, tt := range tests {
		if got := upstream.PathTemplate(tt.path); got != tt.want {
			t.Errorf("PathTemplate(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// A traced client makes one client span per call, named by backend and
// operation, a child of the caller's span; the backend receives that
// span's traceparent beside X-Correlation-ID; and the span's URL names no
// NHS number, neither the path's nor the query's.
func TestTracedClient(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Patient"}`))
	}))
	defer srv.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	c, err := upstream.New(upstream.Config{Name: "pds", BaseURL: srv.URL + "/personal-demographics/FHIR/R4", TracerProvider: tp, MaxAttempts: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ctx, parent := tp.Tracer("test").Start(request.With(context.Background(), &request.Info{ID: "7f1c5a52-5d55-4a8e-9f36-0c3c1c0f3b6e"}), "request")
	q := map[string][]string{"identifier": {"https://fhir.nhs.uk/Id/nhs-number|9000000009"}}
	if _, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/Patient/9000000009", Query: q, Op: "read"}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	if got.Get("X-Correlation-ID") != "7f1c5a52-5d55-4a8e-9f36-0c3c1c0f3b6e" {
		t.Errorf("X-Correlation-ID %q", got.Get("X-Correlation-ID"))
	}
	spans := exp.GetSpans()
	var call *tracetest.SpanStub
	for i := range spans {
		if spans[i].SpanKind == trace.SpanKindClient {
			call = &spans[i]
		}
	}
	if call == nil || len(spans) != 2 {
		t.Fatalf("spans %v, want the request's and one client span", spans)
	}
	if call.Name != "pds read" {
		t.Errorf("span name %q, want %q", call.Name, "pds read")
	}
	if call.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("client span's parent %v, want the request's span %v", call.Parent.SpanID(), parent.SpanContext().SpanID())
	}
	want := "00-" + call.SpanContext.TraceID().String() + "-" + call.SpanContext.SpanID().String() + "-01"
	if tp := got.Get("Traceparent"); tp != want {
		t.Errorf("traceparent %q, want %q", tp, want)
	}
	attrs := map[string]string{}
	for _, kv := range call.Attributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
		if strings.Contains(kv.Value.Emit(), "9000000009") {
			t.Errorf("attribute %s = %q names the NHS number", kv.Key, kv.Value.Emit())
		}
	}
	if u := attrs["url.full"]; u != srv.URL+"/personal-demographics/FHIR/R4/Patient/{id}" {
		t.Errorf("url.full %q", u)
	}
	if attrs["backend.name"] != "pds" || attrs["backend.operation"] != "read" || attrs["http.response.status_code"] != "200" {
		t.Errorf("attributes %v", attrs)
	}
}

// Untraced (no TracerProvider), the backend sees no traceparent.
func TestUntracedClientSendsNoTraceparent(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	c, err := upstream.New(upstream.Config{Name: "pds", BaseURL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: "/Patient/9000000009", Op: "read"}); err != nil {
		t.Fatal(err)
	}
	if v := got.Get("Traceparent"); v != "" {
		t.Errorf("traceparent %q sent untraced", v)
	}
}
