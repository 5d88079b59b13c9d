package server

import (
	"net/http"
	"strings"
)

// securityHeaders sets the headers every response carries. FHIR answers
// hold patient data, so nothing under /fhir is stored by browsers or shared
// caches, except the CapabilityStatement and OperationDefinitions, which
// are public descriptions of the server.
func securityHeaders(h http.Header, path string) {
	h["X-Content-Type-Options"] = hdrNosniff
	h["X-Frame-Options"] = hdrDeny
	h["Referrer-Policy"] = hdrNoReferrer
	h["Content-Security-Policy"] = hdrCSP
	if strings.HasPrefix(path, "/fhir") && path != "/fhir/metadata" && !strings.HasPrefix(path, "/fhir/OperationDefinition/") {
		h["Cache-Control"] = hdrNoStore
	}
}

// Header values every answer carries, made once: set by map assignment
// under their canonical names, they cost no allocation per request. Each
// has capacity 1, so a later Add copies rather than writes into it.
var (
	hdrNosniff    = fixed("nosniff")
	hdrDeny       = fixed("DENY")
	hdrNoReferrer = fixed("no-referrer")
	hdrCSP        = fixed("default-src 'none'; frame-ancestors 'none'")
	hdrNoStore    = fixed("no-store")
	// The Content-Type of each media type answered (negotiate).
	hdrFHIRJSON = fixed(mediaFHIRJSON + "; charset=utf-8")
	hdrJSON     = fixed(mediaJSON + "; charset=utf-8")
)

func fixed(v string) []string { return []string{v}[:1:1] }

// contentTypeHeader is the Content-Type value for f.
func contentTypeHeader(f format) []string {
	switch f.contentType {
	case mediaFHIRJSON:
		return hdrFHIRJSON
	case mediaJSON:
		return hdrJSON
	}
	return []string{f.contentType + "; charset=utf-8"}
}

// cors applies the configured CORS policy: only the listed origins (exact
// match, or "*" for any) may call the API from a browser, and preflight
// requests are answered here. With no origins configured, no CORS headers
// are sent, so browsers refuse cross-origin calls.
// See: https://fetch.spec.whatwg.org/#http-cors-protocol
func (s *Server) cors(w http.ResponseWriter, r *http.Request) (handled bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.CORSOrigins) == 0 {
		return false
	}
	allowed := false
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" || o == origin {
			allowed = true
			break
		}
	}
	if !allowed {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "ETag, Last-Modified, Location, X-Request-ID, Retry-After, Allow, Content-Disposition")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, If-Match, If-None-Match, If-Modified-Since, Prefer, X-Request-ID")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
