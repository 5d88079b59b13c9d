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
	case res.Status == http.StatusUnauthorized:
		e.Category, e.Message = fhirerr.BadGateway, "the facade could not authenticate to the "+s.Name+" service"
	case res.Status == http.StatusForbidden:
		e.Category, e.Message = fhirerr.Forbidden, s.Label+" refused access"
	case res.Status == http.StatusRequestTimeout, res.Status == http.StatusServiceUnavailable, res.Status == http.StatusGatewayTimeout:
		e.Category, e.Message = fhirerr.Timeout, "the "+s.Name+" service did not answer in time"
		e.RetryAfter = RetryAfter(res.Header)
	case res.Status == http.StatusTooManyRequests:
		e.Category, e.Message = fhirerr.Throttled, "the "+s.Name+" service is throttling requests; retry later"
		e.RetryAfter = RetryAfter(res.Header)
	default:
		e.Category, e.Message = fhirerr.BadGateway, "the "+s.Name+" service failed"
	}
	return e
}
