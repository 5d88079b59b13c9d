package server

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/resources"
)

// maxResourceBody bounds a resource sent by a client.
const maxResourceBody = 1 << 20

var (
	unmarshalOnce sync.Once
	unmarshaller  *jsonformat.Unmarshaller
	unmarshalErr  error
)

// create serves POST [base]/[type]. The resource's patients are held to
// the caller's context before anything is written; a conditional create's
// match is answered only to a caller who may read it.
// See: http://hl7.org/fhir/R4/http.html#create
func (s *Server) create(a *access, r *http.Request, _ format, _ url.Values) (*reply, error) {
	p := a.provider
	c := p.(resources.Creator)
	msg, err := readResource(r, p.ResourceType())
	if err != nil {
		return nil, err
	}
	if err := a.touchBody(msg, ""); err != nil {
		return nil, err
	}
	if cond, present := ifNoneExist(r); present {
		cc, ok := p.(resources.ConditionalCreator)
		if !ok {
			return nil, &fhirerr.Error{Category: fhirerr.Invalid, IssueCode: "not-supported", Expression: "If-None-Exist",
				Message: "conditional create is not supported for " + p.ResourceType()}
		}
		q, err := url.ParseQuery(cond)
		if err != nil || !validUTF8(q) {
			return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "If-None-Exist", Message: "If-None-Exist is not a valid search query"}
		}
		res, created, err := cc.CreateConditional(r.Context(), msg, q)
		if err != nil {
			return nil, err
		}
		if created {
			return s.written(a, r, res, http.StatusCreated)
		}
		// The search found a record: 200 with it, nothing created — if the
		// caller may read it. Otherwise the answer says only that one exists.
		if err := s.allow(a, res.Type, auth.Read); err != nil {
			a.ri.Subjects.Note(compartmentOf(res, nil)...)
			return nil, errMatchHidden
		}
		if err := a.touch(compartmentOf(res, nil)...); err != nil {
			return nil, errMatchHidden
		}
		return s.written(a, r, res, http.StatusOK)
	}
	res, err := c.Create(r.Context(), msg)
	if err != nil {
		return nil, err
	}
	return s.written(a, r, res, http.StatusCreated)
}

// errMatchHidden answers a conditional create whose search found a record
// the caller may not read: it learns that the record exists (nothing was
// created), never whose it is.
var errMatchHidden = &fhirerr.Error{Category: fhirerr.Forbidden, Expression: "If-None-Exist",
	Message: "the If-None-Exist search matched a record this caller may not read: nothing was created"}

// ifNoneExist returns the If-None-Exist header of a conditional create: the
// search, without the [type]? prefix some clients send.
// See: http://hl7.org/fhir/R4/http.html#ccreate
func ifNoneExist(r *http.Request) (string, bool) {
	vs, ok := r.Header[http.CanonicalHeaderKey("If-None-Exist")]
	if !ok {
		return "", false
	}
	v := strings.TrimSpace(strings.Join(vs, "&"))
	if i := strings.IndexByte(v, '?'); i >= 0 {
		v = v[i+1:]
	}
	return v, true
}

// update serves PUT [base]/[type]/[id]. Both the record stored under id
// and the resource sent are held to the caller's patient context before
// any backend is asked.
// See: http://hl7.org/fhir/R4/http.html#update
func (s *Server) update(a *access, r *http.Request, _ format, _ url.Values) (*reply, error) {
	p := a.provider
	u := p.(resources.Updater)
	id := r.PathValue("id")
	if !fhirjson.ValidID(id) {
		return nil, fhirerr.New(fhirerr.Invalid, "the resource id is not a valid FHIR id")
	}
	msg, err := readResource(r, p.ResourceType())
	if err != nil {
		return nil, err
	}
	bodyID := resourceID(msg)
	if bodyID == "" {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: p.ResourceType() + ".id", Message: "the resource in an update must carry its id"}
	}
	if bodyID != id {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: p.ResourceType() + ".id", Message: "the resource id does not match the id in the URL"}
	}
	if err := a.touchStored(r, id); err != nil {
		return nil, err
	}
	if err := a.touchBody(msg, id); err != nil {
		return nil, err
	}
	res, err := u.Update(r.Context(), id, msg, ifMatchVersion(r.Header))
	if err != nil {
		return nil, err
	}
	return s.written(a, r, res, http.StatusOK)
}

// patch serves PATCH [base]/[type]/[id]; the provider parses the patch.
// The record patched is held to the caller's patient context first.
// See: http://hl7.org/fhir/R4/http.html#patch
func (s *Server) patch(a *access, r *http.Request, _ format, _ url.Values) (*reply, error) {
	pt := a.provider.(resources.Patcher)
	id := r.PathValue("id")
	if !fhirjson.ValidID(id) {
		return nil, fhirerr.New(fhirerr.Invalid, "the resource id is not a valid FHIR id")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, fhirerr.New(fhirerr.UnsupportedMediaType, "send the patch with a Content-Type (application/json-patch+json)")
	}
	if err := a.touchStored(r, id); err != nil {
		return nil, err
	}
	b, err := readBounded(r, maxResourceBody, "patch")
	if err != nil {
		return nil, err
	}
	if err := fhirjson.CheckDuplicateMembers(b); err != nil {
		return nil, err
	}
	res, err := pt.Patch(r.Context(), id, b, mt, ifMatchVersion(r.Header))
	if err != nil {
		return nil, err
	}
	return s.written(a, r, res, http.StatusOK)
}

// written renders the outcome of a create or update: Location, ETag,
// Last-Modified, and the resource unless Prefer: return=minimal. The
// resource's patients are noted (and held to the caller's context) even
// when the body is not sent.
func (s *Server) written(a *access, r *http.Request, res *resources.Resource, status int) (*reply, error) {
	rep := &reply{status: status, etag: res.VersionID, lastModified: res.LastUpdated, header: http.Header{}}
	body, err := s.render.render(res)
	if err != nil {
		return nil, err
	}
	if err := a.touch(compartmentOf(res, body)...); err != nil {
		return nil, err
	}
	if status == http.StatusCreated {
		loc := s.baseURL() + "/" + res.Type + "/" + res.ID
		if res.VersionID != "" {
			loc += "/_history/" + res.VersionID
		}
		rep.header.Set("Location", loc)
	}
	if !preferMinimal(r) {
		rep.body = body
	}
	return rep, nil
}

func preferMinimal(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(part), " ", ""), "return=minimal") {
				return true
			}
		}
	}
	return false
}

// readResource reads a FHIR JSON resource of type want from the request
// body: bounded, JSON only, validated against the R4 JSON schema (precise
// error paths) and parsed by jsonformat (structural validation) into a proto.
func readResource(r *http.Request, want string) (proto.Message, error) {
	b, err := readFHIRBody(r, "resource", nil)
	if err != nil {
		return nil, err
	}
	unmarshalOnce.Do(func() { unmarshaller, unmarshalErr = jsonformat.NewUnmarshaller("UTC", fhirversion.R4) })
	if unmarshalErr != nil {
		return nil, unmarshalErr
	}
	cr, err := unmarshaller.Unmarshal(b)
	if err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the resource is not valid FHIR R4: %s", truncateMessage(err.Error(), 500))
	}
	msg := containedResource(cr)
	if msg == nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the body is not a FHIR resource")
	}
	if got := string(msg.ProtoReflect().Descriptor().Name()); got != want {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "resourceType",
			Message: "the body is a " + got + ", but this endpoint takes a " + want}
	}
	return msg, nil
}

// containedResource unwraps the resource that jsonformat returns inside a
// ContainedResource.
func containedResource(m proto.Message) proto.Message {
	rm := m.ProtoReflect()
	oneofs := rm.Descriptor().Oneofs()
	if oneofs.Len() == 0 {
		return m
	}
	f := rm.WhichOneof(oneofs.Get(0))
	if f == nil || f.Kind() != protoreflect.MessageKind {
		return nil
	}
	return rm.Get(f).Message().Interface()
}

// resourceID reads the id of any resource proto.
func resourceID(m proto.Message) string {
	rm := m.ProtoReflect()
	f := rm.Descriptor().Fields().ByName("id")
	if f == nil || !rm.Has(f) {
		return ""
	}
	id := rm.Get(f).Message()
	vf := id.Descriptor().Fields().ByName("value")
	if vf == nil {
		return ""
	}
	return id.Get(vf).String()
}

func truncateMessage(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// readFHIRBody reads a FHIR JSON request body: JSON media types only,
// bounded, checked by check (if any) before the R4 JSON schema validates
// it with precise error paths. what names the body in errors ("resource").
func readFHIRBody(r *http.Request, what string, check func([]byte) error) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != mediaFHIRJSON && mt != mediaJSON && mt != "application/json+fhir") {
		return nil, fhirerr.New(fhirerr.UnsupportedMediaType, "send the %s as application/fhir+json", what)
	}
	b, err := readBounded(r, maxResourceBody, what)
	if err != nil {
		return nil, err
	}
	// Two members of one name (two subjects, two resourceTypes) would be
	// read one way here and another by whoever reads the body next.
	if err := fhirjson.CheckDuplicateMembers(b); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(b); err != nil {
			return nil, err
		}
	}
	if err := profiles.Validate(b); err != nil {
		var ve *profiles.ValidationError
		if errors.As(err, &ve) {
			e := &fhirerr.Error{Category: fhirerr.Invalid, Message: "the " + what + " is not valid FHIR R4: " + ve.Error()}
			if len(ve.Issues) > 0 {
				e.Expression = ve.Issues[0].Expression
			}
			return nil, e
		}
		return nil, err
	}
	return b, nil
}

// readBounded reads a request body of at most limit bytes: 400 if it cannot
// be read, 413 naming what ("the patch is larger than …") if it is longer.
func readBounded(r *http.Request, limit int, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fhirerr.New(fhirerr.RequestTimeout, "the request body did not arrive in time")
	}
	if err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "could not read the request body")
	}
	if len(b) > limit {
		return nil, fhirerr.New(fhirerr.TooLarge, "the %s is larger than %d bytes", what, limit)
	}
	return b, nil
}

// ifMatchVersion is the version an If-Match names, W/"<version>", read
// leniently as the backend clients read ETags: W/ and the quotes are
// optional, and typographic quotes (copy-pasted headers) are accepted.
func ifMatchVersion(h http.Header) string {
	s := strings.TrimSpace(h.Get("If-Match"))
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, "\"“”")
}
