package server

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// read serves GET [base]/[type]/[id].
// See: http://hl7.org/fhir/R4/http.html#read
func (s *Server) read(r *http.Request, _ format, _ url.Values) (*reply, error) {
	ri := infoFrom(r.Context())
	ri.interaction = "read"
	p, err := s.provider(r)
	if err != nil {
		return nil, err
	}
	rd, ok := p.(resources.Reader)
	if !ok {
		return nil, fhirerr.New(fhirerr.MethodNotAllowed, "read is not supported for %s", p.ResourceType())
	}
	id := mux.Vars(r)["id"]
	if !idPattern.MatchString(id) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Message: "the resource id is not a valid FHIR id"}
	}
	res, err := rd.Read(r.Context(), id)
	if err != nil {
		return nil, err
	}
	body, seen, err := s.render.render(res)
	if err != nil {
		return nil, err
	}
	rep := &reply{body: body, etag: res.VersionID, lastModified: res.LastUpdated}
	if rep.lastModified.IsZero() && res.RenderKey != "" {
		rep.lastModified = seen
	}
	return rep, nil
}
