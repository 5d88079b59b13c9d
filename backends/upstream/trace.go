package upstream

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/tracing"
)

// call is what a backend call's span is named and described by, carried to
// the transport in the request's context.
type call struct {
	op, path string
}

type callKey struct{}

// withCall marks ctx with req's operation and path for the span, when the
// client is traced (nothing otherwise: no allocation off).
func (c *Client) withCall(ctx context.Context, req Request) context.Context {
	if !c.traced {
		return ctx
	}
	return context.WithValue(ctx, callKey{}, call{op: req.Op, path: req.Path})
}

// traced wraps rt in otelhttp: one client span per attempt, named
// "<backend> <op>" (e.g. "pds read"), its traceparent injected beside the
// X-Correlation-ID, and its URL sanitised (sanitising) before anything can
// export it.
func (c *Client) tracedTransport(rt http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	name := c.cfg.Name
	return otelhttp.NewTransport(sanitising{rt: rt, base: c.base.Scheme + "://" + c.base.Host + c.base.Path},
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(tracing.Propagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if k, ok := r.Context().Value(callKey{}).(call); ok && k.op != "" {
				return name + " " + k.op
			}
			return name + " " + r.Method
		}),
		otelhttp.WithSpanOptions(trace.WithAttributes(attribute.String("backend.name", name))),
	)
}

// sanitising runs inside the otelhttp transport, after it has recorded the
// request: it replaces url.full, which names the patient's NHS number in a
// PDS read's path and in many searches' queries, with the backend's base
// and the path's template (segments holding a digit become {id}), without
// the query.
type sanitising struct {
	rt   http.RoundTripper
	base string
}

func (s sanitising) RoundTrip(r *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		k, _ := r.Context().Value(callKey{}).(call)
		span.SetAttributes(attribute.String("url.full", s.base+PathTemplate(k.path)), attribute.String("backend.operation", k.op))
	}
	return s.rt.RoundTrip(r)
}

// PathTemplate is path with every segment that could identify a patient or
// a record (one holding a digit, or longer than a resource type) replaced
// by {id}: "/Patient/9000000009" is "/Patient/{id}", "/Flag" stays.
func PathTemplate(path string) string {
	if path == "" {
		return ""
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == "" {
			continue
		}
		if len(s) > 64 || strings.ContainsAny(s, "0123456789%@.:=|") {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}
