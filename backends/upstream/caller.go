package upstream

import (
	"context"
	"net/http"

	"github.com/carerecords/fhir-facade/model/request"
)

// WithCallerHeaders returns ctx whose backend calls carry h
// (request.Info.Forward).
//
// Deprecated: the server sets request.Info.Forward once per request; this
// remains for tests that make a context by hand.
func WithCallerHeaders(ctx context.Context, h http.Header) context.Context {
	return request.Derive(ctx, func(i *request.Info) { i.Forward = h })
}

// withCallerHeaders returns h with the request's forwarded caller headers
// (request.Info.Forward: NHSD-Session-URID, NHSD-End-User-Organisation-ODS,
// so the national services' audit trails record the real user) set on a
// copy (h itself is never modified: callers may share it). They override a
// client's configured defaults, and, being request headers, are part of
// every cache key.
func withCallerHeaders(ctx context.Context, h http.Header) http.Header {
	caller := request.From(ctx).Forward
	if len(caller) == 0 {
		return h
	}
	out := make(http.Header, len(h)+len(caller))
	for k, vs := range h {
		out[http.CanonicalHeaderKey(k)] = vs
	}
	for k, vs := range caller {
		out[http.CanonicalHeaderKey(k)] = vs
	}
	return out
}
