package server

import (
	"net/http"
	"strings"

	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/tracing"
)

// traced wraps h in otelhttp's server span: the W3C traceparent a client
// sends is its parent. Probes and /metrics are not traced (noise, every
// few seconds). The span is named and described by nameSpan once the
// route is known.
func traced(h http.Handler, tp trace.TracerProvider) http.Handler {
	return otelhttp.NewHandler(h, "fhir",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(tracing.Propagator()),
		// Until nameSpan runs: the method only, never the path.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/metrics", "/healthz", "/livez", "/readyz":
				return false
			}
			return true
		}),
	)
}

// nameSpan names the request's server span by its route template and
// replaces url.path, which otelhttp recorded from the raw URL (an NHS
// number, a resource id), with the template: no patient identifier in a
// span, as in logs and metric labels.
func nameSpan(span trace.Span, r *http.Request, ri *request.Info) {
	if !span.IsRecording() {
		return
	}
	route := ri.Route
	if !strings.HasPrefix(route, "/") {
		route = "other"
	}
	span.SetName(r.Method + " " + route)
	span.SetAttributes(
		attribute.String("url.path", route),
		attribute.String("http.route", route),
		attribute.String("fhir.resource_type", ri.ResourceType),
		attribute.String("fhir.interaction", ri.Interaction),
	)
}

// traceFields adds the trace and span ids of a recording span to a log
// line's fields, so a log line leads to its trace.
func traceFields(span trace.Span, f logrus.Fields) logrus.Fields {
	if span.IsRecording() {
		sc := span.SpanContext()
		f["trace_id"], f["span_id"] = sc.TraceID().String(), sc.SpanID().String()
	}
	return f
}
