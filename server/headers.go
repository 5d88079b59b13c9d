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
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	if strings.HasPrefix(path, "/fhir") && path != "/fhir/metadata" && !strings.HasPrefix(path, "/fhir/OperationDefinition/") {
		h.Set("Cache-Control", "no-store")
	}
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
