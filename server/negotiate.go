package server

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Media types the facade answers with. XML is not supported.
const (
	mediaFHIRJSON = "application/fhir+json"
	mediaJSON     = "application/json"
)

// format is how the response is to be rendered.
type format struct {
	contentType string
	pretty      bool
}

// negotiate chooses the response format from _format (which wins) or the
// Accept header, and _pretty. It returns a NotAcceptable error when the
// client wants something other than JSON.
// See: http://hl7.org/fhir/R4/http.html#mime-type
func negotiate(r *http.Request, q map[string][]string) (format, error) {
	f := format{contentType: mediaFHIRJSON}
	if v := first(q, "_pretty"); v == "true" {
		f.pretty = true
	}
	if v, ok := q["_format"]; ok && len(v) > 0 {
		switch strings.ToLower(strings.TrimSpace(v[0])) {
		case "json", mediaFHIRJSON, "application/json+fhir":
			return f, nil
		case mediaJSON:
			f.contentType = mediaJSON
			return f, nil
		case "xml", "text/xml", "application/xml", "application/fhir+xml", "application/xml+fhir":
			return f, fhirerr.New(fhirerr.NotAcceptable, "XML is not supported; use _format=json")
		default:
			return f, fhirerr.New(fhirerr.NotAcceptable, "_format %q is not supported; use _format=json", v[0])
		}
	}
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return f, nil
	}
	best, bestQ := "", -1.0
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			qv := 1.0
			if s, ok := params["q"]; ok {
				if p, err := strconv.ParseFloat(s, 64); err == nil {
					qv = p
				}
			}
			if qv <= 0 {
				continue
			}
			var chosen string
			switch mt {
			case mediaFHIRJSON, "application/json+fhir", "*/*", "application/*":
				chosen = mediaFHIRJSON
			case mediaJSON:
				chosen = mediaJSON
			default:
				continue
			}
			// Prefer fhir+json on a tie: it is the FHIR media type.
			if qv > bestQ || (qv == bestQ && chosen == mediaFHIRJSON) {
				best, bestQ = chosen, qv
			}
		}
	}
	if best == "" {
		return f, fhirerr.New(fhirerr.NotAcceptable, "this server answers only in JSON (application/fhir+json); the Accept header allows none")
	}
	f.contentType = best
	return f, nil
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// binaryAsResource tells whether a Binary read asks for the Binary resource
// rather than the content itself: it does when it names a FHIR format, by
// _format (FHIR's own parameter: ferr, negotiate's answer to it, stands) or
// by application/fhir+json in Accept. Anything else (*/*, the document's
// own type, none) is answered with the content, in its own media type.
// See: http://hl7.org/fhir/R4/binary.html#rest
func binaryAsResource(r *http.Request, q map[string][]string, ferr error) (bool, error) {
	if _, ok := q["_format"]; ok {
		return ferr == nil, ferr
	}
	for _, h := range r.Header.Values("Accept") {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || (mt != mediaFHIRJSON && mt != "application/json+fhir") {
				continue
			}
			if qv, err := strconv.ParseFloat(params["q"], 64); err == nil && qv <= 0 {
				continue
			}
			return true, nil
		}
	}
	return false, nil
}
