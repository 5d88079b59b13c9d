package server

import (
	"io"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// readStream serves GET [base]/Binary/[id] for providers whose content is
// raw (a document a DocumentReference points at): it copies the content to
// the client as it arrives, with the content's own media type, never holding
// the whole document in memory. Errors before the first byte are
// OperationOutcomes like any other.
// See: http://hl7.org/fhir/R4/binary.html#rest
//
// The document's patient is held to the caller's context before its holder
// is asked for it: another patient's document is refused the same way
// whether its holder has it, has lost it or cannot be reached, and the
// holder records no access.
func (s *Server) readStream(w http.ResponseWriter, r *http.Request, a *access, f format, st resources.Streamer) {
	ri := a.ri
	id := mux.Vars(r)["id"]
	if !idPattern.MatchString(id) {
		s.writeError(w, r, f, fhirerr.New(fhirerr.Invalid, "the resource id is not a valid FHIR id"))
		return
	}
	stream, err := st.ReadStream(r.Context(), id, func(patient string) error {
		if patient == "" {
			return a.touch()
		}
		return a.touch(patient)
	})
	if err != nil {
		s.writeError(w, r, f, err)
		return
	}
	defer stream.Body.Close()
	ri.notePatient(stream.Patient)
	h := w.Header()
	ct := stream.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	// A patient's document: never kept by browsers or shared caches.
	h.Set("Cache-Control", "no-store")
	if stream.Size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(stream.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, stream.Body); err != nil {
		// Headers are gone; all that is left is to cut the response short and say so in the log.
		s.log.WithFields(logrus.Fields{"request_id": ri.id, "error": fhirerr.LogString(err)}).Warn("document stream interrupted")
	}
}
