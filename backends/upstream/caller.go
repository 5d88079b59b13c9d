package upstream

import (
	"context"
	"net/http"
)

type callerKey struct{}

// WithCallerHeaders returns ctx whose backend calls carry h: the headers
// that name the facade's caller to the national services (NHSD-Session-URID,
// NHSD-End-User-Organisation-ODS), so their audit trails record the real
// user. They override a client's configured defaults, and, being request
// headers, are part of every cache key.
func WithCallerHeaders(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, callerKey{}, h)
}

// withCallerHeaders returns h with the context's caller headers set on a
// copy (h itself is never modified: callers may share it).
func withCallerHeaders(ctx context.Context, h http.Header) http.Header {
	caller, _ := ctx.Value(callerKey{}).(http.Header)
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
