package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// statusOf maps an error category to its HTTP status and OperationOutcome
// issue.code. This is the one place where that decision is made.
// See: http://hl7.org/fhir/R4/http.html and http://hl7.org/fhir/R4/valueset-issue-type.html
func statusOf(c fhirerr.Category) (int, string) {
	switch c {
	case fhirerr.Invalid:
		return http.StatusBadRequest, "invalid"
	case fhirerr.Required:
		return http.StatusBadRequest, "required"
	case fhirerr.NotFound:
		return http.StatusNotFound, "not-found"
	case fhirerr.Gone:
		return http.StatusGone, "deleted"
	case fhirerr.NotSupported:
		return http.StatusBadRequest, "not-supported"
	case fhirerr.MethodNotAllowed:
		return http.StatusMethodNotAllowed, "not-supported"
	case fhirerr.NotAcceptable:
		return http.StatusNotAcceptable, "not-supported"
	case fhirerr.UnsupportedMediaType:
		return http.StatusUnsupportedMediaType, "not-supported"
	case fhirerr.Forbidden:
		return http.StatusForbidden, "forbidden"
	case fhirerr.Unauthorized:
		return http.StatusUnauthorized, "login"
	case fhirerr.Conflict:
		return http.StatusConflict, "conflict"
	case fhirerr.PreconditionFailed:
		return http.StatusPreconditionFailed, "conflict"
	case fhirerr.PreconditionRequired:
		return http.StatusPreconditionRequired, "required"
	case fhirerr.Unprocessable:
		return http.StatusUnprocessableEntity, "processing"
	case fhirerr.Throttled:
		return http.StatusTooManyRequests, "throttled"
	case fhirerr.Timeout:
		return http.StatusGatewayTimeout, "timeout"
	case fhirerr.BadGateway:
		return http.StatusBadGateway, "exception"
	case fhirerr.Unavailable:
		return http.StatusServiceUnavailable, "transient"
	case fhirerr.TooLarge:
		return http.StatusRequestEntityTooLarge, "too-costly"
	case fhirerr.HeadersTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge, "too-costly"
	case fhirerr.RequestTimeout:
		return http.StatusRequestTimeout, "timeout"
	default:
		return http.StatusInternalServerError, "exception"
	}
}

// OperationOutcome JSON, written with encoding/json: it is small and on
// every error path, so it does not need the proto round trip.
type outcome struct {
	ResourceType string  `json:"resourceType"`
	ID           string  `json:"id,omitempty"`
	Issue        []issue `json:"issue"`
}

type issue struct {
	Severity    string           `json:"severity"`
	Code        string           `json:"code"`
	Details     *codeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
	Expression  []string         `json:"expression,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// detailsOf is issue.details for e answered with status: the Spine code
// first (PDS clients read issue[0].details.coding[0]), then the backend's
// own code unless it is the same. A failure that is not the client's (5xx)
// carries neither: a backend's code there is internal (PDS's ACCESS_DENIED
// for the facade's own credentials would tell the client its access was
// denied).
func detailsOf(e *fhirerr.Error, status int) *codeableConcept {
	if status >= 500 {
		return nil
	}
	var cs []coding
	add := func(c *fhirerr.Coding) {
		cs = append(cs, coding{System: c.System, Version: c.Version, Code: c.Code, Display: c.Display})
	}
	if e.Spine != nil {
		add(e.Spine)
	}
	if d := e.Details; d != nil && (e.Spine == nil || d.System != e.Spine.System || d.Code != e.Spine.Code) {
		add(d)
	}
	if len(cs) == 0 {
		return nil
	}
	return &codeableConcept{Coding: cs}
}

// errorReply turns err into the status, headers and OperationOutcome body
// the client gets. Internal errors say only "internal error" and the request
// id; the detail goes to the log.
func errorReply(err error, requestID string) (int, http.Header, []byte) {
	e := fhirerr.As(err)
	if e == nil {
		e = &fhirerr.Error{Category: fhirerr.Internal, Err: err}
	}
	status, code := statusOf(e.Category)
	if e.IssueCode != "" {
		code = e.IssueCode
	}
	msg := e.Message
	if e.Category == fhirerr.Internal {
		msg = "internal error (request id " + requestID + ")"
	}
	is := issue{Severity: "error", Code: code, Diagnostics: msg}
	if e.Expression != "" {
		is.Expression = []string{e.Expression}
	}
	is.Details = detailsOf(e, status)
	h := http.Header{}
	if e.WWWAuthenticate != "" {
		h.Set("WWW-Authenticate", e.WWWAuthenticate)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	} else if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	body, _ := marshal(outcome{ResourceType: "OperationOutcome", Issue: []issue{is}})
	return status, h, body
}

// marshal is json.Marshal without HTML escaping, so URLs in links keep their
// '&' instead of '\u0026'.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
