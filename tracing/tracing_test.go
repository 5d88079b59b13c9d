package tracing_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/tracing"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    tracing.Config
		wantErr string
	}{
		{name: "off by default", env: nil, want: tracing.Config{}},
		{name: "an endpoint turns it on", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: tracing.Config{Exporter: "otlp", Protocol: "http/protobuf"}},
		{name: "a traces endpoint turns it on", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, want: tracing.Config{Exporter: "otlp", Protocol: "http/protobuf"}},
		{name: "otlp without an endpoint (the exporter's default)", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: tracing.Config{Exporter: "otlp", Protocol: "http/protobuf"}},
		{name: "none wins over an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: tracing.Config{}},
		{name: "SDK disabled wins", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, want: tracing.Config{}},
		{name: "grpc", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: tracing.Config{Exporter: "otlp", Protocol: "grpc"}},
		{name: "the traces protocol wins", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, want: tracing.Config{Exporter: "otlp", Protocol: "http/protobuf"}},
		{name: "http/json is not offered", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "an unknown exporter is refused", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "a protocol alone does not turn it on", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: tracing.Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracing.FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromEnv = %+v, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FromEnv = %+v, %v; want %+v", got, err, tt.want)
			}
			if got.Enabled() != (tt.want.Exporter != "") {
				t.Errorf("Enabled %v", got.Enabled())
			}
		})
	}
}

// Off, New makes no provider: the server and clients are then not wrapped.
func TestNewOff(t *testing.T) {
	tp, err := tracing.New(context.Background(), tracing.Config{}, "dev")
	if err != nil || tp != nil {
		t.Fatalf("New(off) = %v, %v", tp, err)
	}
}

func TestResourceServiceName(t *testing.T) {
	for _, tt := range []struct{ env, want string }{{"", tracing.DefaultServiceName}, {"care-facade-eu", "care-facade-eu"}} {
		t.Setenv("OTEL_SERVICE_NAME", tt.env)
		res, err := tracing.Resource(context.Background(), "1.2.3")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, kv := range res.Attributes() {
			got[string(kv.Key)] = kv.Value.Emit()
		}
		if got["service.name"] != tt.want || got["service.version"] != "1.2.3" {
			t.Errorf("OTEL_SERVICE_NAME=%q: resource %v", tt.env, got)
		}
	}
}

func TestRedactString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET /fhir/Patient/{id}", "GET /fhir/Patient/{id}"},
		{"/Patient/9000000009", "/Patient/[redacted]"},
		{"nhs-number|9000000009", "nhs-number|[redacted]"},
		{"900 000 0009 and 9000000017", "[redacted] and [redacted]"},
		{"9000000009,9000000017", "[redacted],[redacted]"},
		{"port 8080, 12345678901 (eleven digits)", "port 8080, 12345678901 (eleven digits)"},
	}
	for _, tt := range tests {
		if got := tracing.RedactString(tt.in); got != tt.want {
			t.Errorf("RedactString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The net under the instrumentation: whatever a span was given, what is
// exported names no NHS number and no query.
func TestRedactExporter(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracing.Redact(exp)))
	_, span := tp.Tracer("test").Start(context.Background(), "read 9000000009")
	span.SetAttributes(
		attribute.String("url.full", "https://pds.example/Patient?identifier=x"),
		attribute.String("url.query", "family=Smith"),
		attribute.StringSlice("ids", []string{"9000000009"}),
		attribute.Int("http.response.status_code", 200),
	)
	span.AddEvent("retry", trace.WithAttributes(attribute.String("why", "9000000009 gone")))
	span.SetStatus(codes.Error, "no patient 9000000009")
	span.End()
	s := exp.GetSpans()[0]
	got := map[string]string{}
	for _, kv := range s.Attributes {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	want := map[string]string{"url.full": "https://pds.example/Patient", "url.query": "[redacted]", "ids": `["[redacted]"]`, "http.response.status_code": "200"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if s.Name != "read [redacted]" || s.Status.Description != "no patient [redacted]" || s.Events[0].Attributes[0].Value.AsString() != "[redacted] gone" {
		t.Errorf("name %q, status %q, event %v", s.Name, s.Status.Description, s.Events)
	}
}

// Start follows the provider of the context's span: a child when traced,
// the context itself (no span, nothing allocated) when not.
func TestStart(t *testing.T) {
	ctx := context.Background()
	got, span := tracing.Start(ctx, "fanout RA")
	if got != ctx || span.IsRecording() {
		t.Errorf("untraced Start made a context or a recording span")
	}
	if n := testing.AllocsPerRun(100, func() { tracing.Start(ctx, "fanout RA") }); n != 0 {
		t.Errorf("untraced Start allocates %v times", n)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	pctx, parent := tp.Tracer("test").Start(ctx, "request")
	_, child := tracing.Start(pctx, "fanout RA", attribute.String("fanout.source", "RA"))
	child.End()
	parent.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "fanout RA" || spans[0].Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("spans %v", spans)
	}
}
