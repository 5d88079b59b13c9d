package server

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/resources"
)

// readStream serves GET [base]/Binary/[id] for providers whose content is
// raw (a document a DocumentReference points at): it copies the content to
// the client as it arrives, with the content's own media type, never holding
// the whole document in memory. Asked for in a FHIR format, it answers the
// Binary resource instead (binaryResource). Either way with an ETag and a
// Content-Disposition. Errors before the first byte are OperationOutcomes
// like any other.
// See: http://hl7.org/fhir/R4/binary.html#rest
//
// The document's patient is held to the caller's context before its holder
// is asked for it: another patient's document is refused the same way
// whether its holder has it, has lost it or cannot be reached, and the
// holder records no access.
func (s *Server) readStream(w http.ResponseWriter, r *http.Request, a *access, f format, ferr error, q url.Values, st resources.Streamer) {
	ri := a.ri
	id := r.PathValue("id")
	if !fhirjson.ValidID(id) {
		s.writeError(w, r, f, fhirerr.New(fhirerr.Invalid, "the resource id is not a valid FHIR id"))
		return
	}
	asResource, err := binaryAsResource(r, q, ferr)
	if err != nil {
		s.writeError(w, r, f, err)
		return
	}
	stream, err := st.ReadStream(r.Context(), id, func(patient, version string) error {
		var err error
		if patient == "" {
			err = a.touch()
		} else {
			err = a.touch(patient)
		}
		if err == nil && !asResource && version != "" && notModified(r, &reply{etag: version}) {
			// The client holds this version: its holder is not asked.
			return errNotModified{version}
		}
		return err
	})
	var nm errNotModified
	if errors.As(err, &nm) {
		w.Header().Set("ETag", `W/"`+nm.version+`"`)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if err != nil {
		s.writeError(w, r, f, err)
		return
	}
	defer stream.Body.Close()
	ri.Subjects.Note(stream.Patient)
	ct := stream.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	if asResource {
		rep, err := binaryResource(id, ct, stream)
		if err != nil {
			s.writeError(w, r, f, err)
			return
		}
		s.writeReply(w, r, f, rep)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	// A patient's document: never kept by browsers or shared caches.
	h.Set("Cache-Control", "no-store")
	// The holder's content, not the facade's: saved, never shown as a
	// page of the API's origin.
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": id + extension(ct)}))
	if stream.Version != "" {
		// If-None-Match with it was answered before the holder was asked.
		h.Set("ETag", `W/"`+stream.Version+`"`)
	}
	if stream.Size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(stream.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, stream.Body); err != nil {
		// Headers are gone; all that is left is to cut the response short and say so in the log.
		s.log.WithFields(logrus.Fields{"request_id": ri.ID, "error": fhirerr.LogString(err)}).Warn("document stream interrupted")
	}
}

// errNotModified stops a Binary read whose content the client already
// holds before its holder is asked: answered 304.
type errNotModified struct{ version string }

func (e errNotModified) Error() string { return "not modified: " + e.version }

// maxBinaryResource bounds the content a Binary resource carries: it is
// held whole, and grows by a third in base64. Larger content is served raw.
const maxBinaryResource = 10 << 20

// binary is the Binary resource.
// See: http://hl7.org/fhir/R4/binary.html
type binary struct {
	ResourceType    string     `json:"resourceType"`
	ID              string     `json:"id"`
	ContentType     string     `json:"contentType"`
	SecurityContext *reference `json:"securityContext,omitempty"`
	Data            []byte     `json:"data,omitempty"` // base64, as FHIR's base64Binary
}

type reference struct {
	Reference string `json:"reference"`
}

// binaryResource reads the whole content of stream into the Binary
// resource id, with an ETag naming its content (the resource is made of
// it, so its hash is as good a validator as any).
func binaryResource(id, ct string, stream *resources.Stream) (*reply, error) {
	tooLarge := fhirerr.New(fhirerr.NotAcceptable, "this document is larger than %d MiB, too large for a Binary resource: ask for it in its own media type (no Accept: application/fhir+json, no _format)", maxBinaryResource>>20)
	if stream.Size > maxBinaryResource {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(stream.Body, maxBinaryResource+1))
	if err != nil {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Message: "the document could not be read from its holder", Err: err}
	}
	if len(data) > maxBinaryResource {
		return nil, tooLarge
	}
	res := binary{ResourceType: "Binary", ID: id, ContentType: ct, Data: data}
	if stream.SecurityContext != "" {
		res.SecurityContext = &reference{Reference: stream.SecurityContext}
	}
	body, err := marshal(res)
	if err != nil {
		return nil, err
	}
	rep := &reply{body: body, etag: contentETag(body), header: http.Header{}}
	rep.header.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": id + ".json"}))
	return rep, nil
}

// extension is the file name extension of a media type, for the file name
// a saved document is given; "" for types without a usual one. A fixed
// table: the system's MIME tables differ from one host to another.
func extension(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/pdf":
		return ".pdf"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	case "application/xml", "text/xml", "application/hl7-v3+xml", "application/fhir+xml":
		return ".xml"
	case "application/json", "application/fhir+json":
		return ".json"
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/tiff":
		return ".tiff"
	case "application/msword":
		return ".doc"
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return ".docx"
	case "application/rtf", "text/rtf":
		return ".rtf"
	}
	return ""
}
