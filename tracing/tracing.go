// Package tracing sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables: off unless an OTLP exporter is asked for, W3C
// Trace Context propagation, and a last safety net that keeps anything
// shaped like an NHS number out of what leaves the process. The server and
// the backend clients take the provider it builds (nil: not traced at all);
// providers start their fan-out spans with Start, which follows the
// provider of the span in the context and so costs nothing when off.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is service.name when OTEL_SERVICE_NAME (or
// service.name in OTEL_RESOURCE_ATTRIBUTES) does not say.
const DefaultServiceName = "fhir-facade"

// Scope names the facade's own spans (fan-outs).
const Scope = "github.com/carerecords/fhir-facade"

// Config is what the environment asks of tracing.
type Config struct {
	// Exporter is "otlp" when spans are exported, "" when tracing is off.
	Exporter string
	// Protocol is the OTLP protocol: "http/protobuf" (default) or "grpc".
	Protocol string
}

// Enabled reports whether spans are recorded and exported.
func (c Config) Enabled() bool { return c.Exporter != "" }

// FromEnv reads the standard variables. Tracing is off by default: on when
// OTEL_TRACES_EXPORTER is otlp, or when it is unset and an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// given; OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off
// whatever else is set. The exporter itself reads the endpoint, headers,
// timeout, compression and TLS variables; the SDK reads OTEL_TRACES_SAMPLER
// and OTEL_TRACES_SAMPLER_ARG, and the resource OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES.
func FromEnv(getenv func(string) string) (Config, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return Config{}, nil
	}
	var c Config
	switch e := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); e {
	case "none":
		return Config{}, nil
	case "otlp":
		c.Exporter = "otlp"
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
			c.Exporter = "otlp"
		}
	default:
		// Refused rather than ignored: an operator who asked for traces
		// must not find out from their absence.
		return Config{}, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: this facade exports otlp or none", e)
	}
	if !c.Enabled() {
		return Config{}, nil
	}
	p := strings.ToLower(strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")))
	if p == "" {
		p = strings.ToLower(strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL")))
	}
	switch p {
	case "", "http/protobuf":
		c.Protocol = "http/protobuf"
	case "grpc":
		c.Protocol = "grpc"
	default:
		return Config{}, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", p)
	}
	return c, nil
}

// New builds the tracer provider cfg asks for: nil when tracing is off.
// Spans are batched to the OTLP exporter through Redact. Shut the
// provider down at exit to flush what is buffered.
func New(ctx context.Context, cfg Config, version string) (*sdktrace.TracerProvider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch cfg.Protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := Resource(ctx, version)
	if err != nil {
		return nil, err
	}
	// No WithSampler: the SDK takes OTEL_TRACES_SAMPLER (default
	// parentbased_always_on).
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(Redact(exp)), sdktrace.WithResource(res)), nil
}

// Resource describes the facade: service.name fhir-facade and its version,
// unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
func Resource(ctx context.Context, version string) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", DefaultServiceName), attribute.String("service.version", version)),
		resource.WithFromEnv(), // after the defaults: the environment wins
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return res, nil
}

// Propagator is the W3C Trace Context propagator (traceparent,
// tracestate): what the server accepts and what backend calls carry beside
// X-Correlation-ID. Not baggage, which a client could fill with anything.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Start starts a span in the provider of ctx's span: a child of the
// request's span when tracing is on, a no-op span (no allocation, no
// export) when it is off or ctx holds no span.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent // untraced: not even a context to allocate
	}
	return parent.TracerProvider().Tracer(Scope).Start(ctx, name, trace.WithAttributes(attrs...))
}

// nhsNumberShape is ten digits standing alone, as an NHS number is written
// (in a path, an identifier token, a message), and 3-3-4 with spaces.
var nhsNumberShape = regexp.MustCompile(`(^|[^0-9])([0-9]{10}|[0-9]{3} [0-9]{3} [0-9]{4})($|[^0-9])`)

// RedactString replaces what could be an NHS number in s.
func RedactString(s string) string {
	if len(s) < 10 || !nhsNumberShape.MatchString(s) {
		return s
	}
	// ReplaceAll does not rescan a shared separator: loop until stable.
	for nhsNumberShape.MatchString(s) {
		s = nhsNumberShape.ReplaceAllString(s, "${1}[redacted]${3}")
	}
	return s
}

// Redact wraps an exporter so that no span leaves the process with an NHS
// number in its name, status, attributes or events, nor with a URL query.
// The instrumentation records none (route templates, sanitised backend
// URLs); this is the net under it, for what a future change might add.
func Redact(next sdktrace.SpanExporter) sdktrace.SpanExporter { return redacting{next} }

type redacting struct{ sdktrace.SpanExporter }

func (r redacting) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = redactedSpan{s}
	}
	return r.SpanExporter.ExportSpans(ctx, out)
}

type redactedSpan struct{ sdktrace.ReadOnlySpan }

func (s redactedSpan) Name() string { return RedactString(s.ReadOnlySpan.Name()) }

func (s redactedSpan) Attributes() []attribute.KeyValue {
	return redactAttrs(s.ReadOnlySpan.Attributes())
}

func (s redactedSpan) Status() sdktrace.Status {
	st := s.ReadOnlySpan.Status()
	st.Description = RedactString(st.Description)
	return st
}

func (s redactedSpan) Events() []sdktrace.Event {
	evs := s.ReadOnlySpan.Events()
	out := make([]sdktrace.Event, len(evs))
	for i, e := range evs {
		e.Name = RedactString(e.Name)
		e.Attributes = redactAttrs(e.Attributes)
		out[i] = e
	}
	return out
}

func redactAttrs(in []attribute.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, len(in))
	for i, kv := range in {
		switch kv.Value.Type() {
		case attribute.STRING:
			v := kv.Value.AsString()
			if kv.Key == "url.full" || kv.Key == "http.url" {
				v, _, _ = strings.Cut(v, "?")
			}
			if kv.Key == "url.query" {
				v = "[redacted]"
			}
			kv = kv.Key.String(RedactString(v))
		case attribute.STRINGSLICE:
			vs := kv.Value.AsStringSlice()
			for j := range vs {
				vs[j] = RedactString(vs[j])
			}
			kv = kv.Key.StringSlice(vs)
		}
		out[i] = kv
	}
	return out
}
