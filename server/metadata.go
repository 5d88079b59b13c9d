package server

import (
	"net/http"
	"net/url"

	"github.com/carerecords/fhir-facade/model/request"
)

// metadata serves the CapabilityStatement, built once at start-up from the
// provider registry.
// See: http://hl7.org/fhir/R4/http.html#capabilities
func (s *Server) metadata(_ *access, r *http.Request, _ format, _ url.Values) (*reply, error) {
	ri := request.From(r.Context())
	ri.ResourceType, ri.Interaction = "CapabilityStatement", "capabilities"
	return &reply{body: s.capability}, nil
}
