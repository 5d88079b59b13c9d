package server

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/resources"
)

// read serves GET [base]/[type]/[id]; the preamble has decided the
// caller may read the type, and held a patient the id names to its context.
// See: http://hl7.org/fhir/R4/http.html#read
func (s *Server) read(a *access, r *http.Request, _ format, q url.Values) (*reply, error) {
	rd := a.provider.(resources.Reader)
	id := r.PathValue("id")
	if !fhirjson.ValidID(id) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Message: "the resource id is not a valid FHIR id"}
	}
	sub, err := parseSubset(q, false)
	if err != nil {
		return nil, err
	}
	res, err := rd.Read(r.Context(), id)
	if err != nil {
		return nil, err
	}
	res = s.safe(r.Context(), a.ri, res)
	body, err := s.render.render(res)
	if err != nil {
		return nil, err
	}
	// The resource is the Patient in context, or its subject or patient is.
	// Neither a definition nor the caller's own record (its fhirUser) is
	// about any patient: a patient-bound token reads them too.
	if err := a.touch(compartmentOf(res, body)...); err != nil && res.Type != "OperationDefinition" && res.Type != "Practitioner" {
		return nil, err
	}
	if body, err = sub.apply(res.Type, body); err != nil {
		return nil, err
	}
	rep := &reply{body: body, etag: res.VersionID, lastModified: lastModified(res)}
	if rep.etag == "" {
		// A backend without versions: the ETag names the content, so
		// If-None-Match still spares the client a download it has.
		rep.etag = contentETag(body)
	}
	return rep, nil
}

// lastModified is when the record says it was last changed: the provider's
// LastUpdated, else the resource's own meta.lastUpdated; the zero time
// (no Last-Modified, so no If-Modified-Since either) when the record does
// not say. PDS sends none: when the facade first saw a version is not when
// it changed, and a Last-Modified made of it would make If-Modified-Since
// answer 304 for a record changed before the facade read it.
func lastModified(res *resources.Resource) time.Time {
	if !res.LastUpdated.IsZero() {
		return res.LastUpdated
	}
	m, ok := res.Message.(interface{ GetMeta() *dtpb.Meta })
	if !ok {
		return time.Time{}
	}
	if lu := m.GetMeta().GetLastUpdated(); lu != nil {
		return time.UnixMicro(lu.GetValueUs()).UTC()
	}
	return time.Time{}
}

// contentETag is a weak validator derived from the rendered resource.
func contentETag(body []byte) string {
	return "c" + strconv.FormatUint(xxhash.Sum64(body), 36)
}

// vread serves GET [base]/[type]/[id]/_history/[vid] for versioned
// providers. The national services keep only the current version, so a
// vread of the current version answers it and any other is a 404 saying so.
// See: http://hl7.org/fhir/R4/http.html#vread
func (s *Server) vread(a *access, r *http.Request, f format, q url.Values) (*reply, error) {
	vid := r.PathValue("vid")
	if !fhirjson.ValidID(vid) {
		return nil, fhirerr.New(fhirerr.Invalid, "the version id is not a valid FHIR id")
	}
	rep, err := s.read(a, r, f, q)
	if err != nil {
		return nil, err
	}
	if rep.etag != vid {
		return nil, fhirerr.New(fhirerr.NotFound, "version %s is not available: the national service keeps only the current version (%s)", vid, rep.etag)
	}
	return rep, nil
}
