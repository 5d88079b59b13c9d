package upstream

import (
	"net/http"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Service names a backend for StatusError: Name as in metrics ("cpis"),
// Label as clinicians know it ("CP-IS"), and the code system of its Spine
// error codes (used when an answer names none).
type Service struct {
	Name, Label, ErrorSystem string
}

// StatusError maps a failed answer to a categorised error, the way every
// Spine-backed service's answers are read (BACKENDS.md §8): 400 invalid
// (MISSING_VALUE: required), 401 the facade's own credentials (502), 403
// forbidden, 408/503/504 timeout, 429 throttled (both keeping Retry-After),
// anything else a failure of the service (502). The service's diagnostics
// are never passed on; its code is kept in Details. Clients with more
// statuses to read (404, 409 …) handle those first.
func StatusError(res *Response, s Service) *fhirerr.Error {
	o, ok := ParseOutcome(res.Body)
	e := &fhirerr.Error{Backend: s.Name}
	if ok && o.Code != "" {
		system := o.System
		if system == "" {
			system = s.ErrorSystem
		}
		e.Details = &fhirerr.Coding{System: system, Code: o.Code, Display: o.Display}
	}
	switch {
	case res.Status == http.StatusBadRequest && ok && o.Code == "MISSING_VALUE":
		e.Category, e.Message = fhirerr.Required, s.Label+": a required value is missing"
	case res.Status == http.StatusBadRequest:
		e.Category, e.Message = fhirerr.Invalid, s.Label+" rejected the request as invalid"
	case res.Status == http.StatusForbidden:
		e.Category, e.Message = fhirerr.Forbidden, s.Label+" refused access"
	default:
		ServiceFailure(e, res, s.Name)
	}
	return e
}

// ServiceFailure reads, into e, the statuses every backend answers alike
// (BACKENDS.md §8), whatever its own codes: 401 is the facade's own
// credentials refused (502), 408/503/504 a timeout and 429 throttling (both
// keeping Retry-After), and anything else a failure of the service named
// name (502). Each client reads its own statuses first and leaves the rest
// to it.
func ServiceFailure(e *fhirerr.Error, res *Response, name string) {
	switch res.Status {
	case http.StatusUnauthorized:
		e.Category, e.Message = fhirerr.BadGateway, "the facade could not authenticate to the "+name+" service"
	case http.StatusRequestTimeout, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.Category, e.Message = fhirerr.Timeout, "the "+name+" service did not answer in time"
		e.RetryAfter = RetryAfter(res.Header)
	case http.StatusTooManyRequests:
		e.Category, e.Message = fhirerr.Throttled, "the "+name+" service is throttling requests; retry later"
		e.RetryAfter = RetryAfter(res.Header)
	default:
		e.Category, e.Message = fhirerr.BadGateway, "the "+name+" service failed"
	}
}
