// Package fhirerr defines the categorised errors that flow from backends and
// providers up to the server, which turns each category into one HTTP status
// and OperationOutcome issue code in a single place (server/errors.go).
//
// An Error carries a user-safe message. Anything that is not an *Error is an
// internal error: the server answers "internal error" with the request id and
// keeps the detail for the log only.
package fhirerr

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Category says what kind of failure an error is; the server maps it to an
// HTTP status and an OperationOutcome issue.code.
type Category int

const (
	// Internal is the zero value: a bug or an unexpected condition (500 exception).
	Internal             Category = iota
	Invalid                       // 400 invalid: the request is malformed or a value is wrong
	Required                      // 400 required: a mandatory value is missing
	NotFound                      // 404 not-found
	Gone                          // 410 deleted: the record was invalidated
	NotSupported                  // 404/405/400 not-supported, see Status
	MethodNotAllowed              // 405 not-supported
	NotAcceptable                 // 406 not-supported: asked for a format we do not speak
	UnsupportedMediaType          // 415 not-supported
	Forbidden                     // 403 forbidden
	Unauthorized                  // 401 login
	Conflict                      // 409 conflict
	PreconditionFailed            // 412 conflict: a version precondition failed
	PreconditionRequired          // 428 required: If-Match missing
	Unprocessable                 // 422 processable: well-formed but semantically rejected
	Throttled                     // 429 throttled (RetryAfter honoured)
	Timeout                       // 504 timeout: a backend did not answer in time
	BadGateway                    // 502 exception: a backend failed or answered nonsense
	Unavailable                   // 503 transient: the facade itself is overloaded
	TooLarge                      // 413 too-costly
	HeadersTooLarge               // 431 too-costly
	RequestTimeout                // 408 timeout: the client did not send its request in time
)

// Coding names a backend's own error code, kept for traceability in
// OperationOutcome.issue.details.coding.
type Coding struct {
	System  string
	Version string
	Code    string
	Display string
}

// SpineSystem is the code system of the Spine error codes PDS puts in
// issue.details.coding (its OpenAPI, ErrorCode.yaml), which PDS clients test
// for.
const SpineSystem = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"

// spineDisplays is the display PDS sends with each Spine code the facade
// gives itself, as its sandbox's stubs (mocks/stubs/errorResponses) and its
// OpenAPI example have them.
var spineDisplays = map[string]string{
	"ADDITIONAL_PROPERTIES":     "Additional properties should not be included",
	"INVALID_RESOURCE_ID":       "Resource Id is invalid",
	"INVALID_SEARCH_DATA":       "Search data is invalid",
	"INVALID_UPDATE":            "Update is invalid",
	"INVALID_VALUE":             "Provided value is invalid",
	"MISSING_VALUE":             "Required value is missing",
	"PRECONDITION_FAILED":       "Required condition was not fulfilled",
	"RESOURCE_NOT_FOUND":        "Resource not found",
	"RESOURCE_VERSION_MISMATCH": "Resource version supplied does not match actual version",
	"TOO_FEW_VALUES_SUBMITTED":  "Too few values submitted",
	"UNSUPPORTED_SERVICE":       "Unsupported Service",
}

// Spine returns the coding PDS sends for one of its error codes: the Spine
// system, version "1", the code and PDS's display for it. The facade uses it
// for its own checks that PDS would make (an invalid NHS number, a malformed
// search), so PDS clients find the code they test for. A code without a
// known display gets none (SpineCodes lists those with one).
func Spine(code string) *Coding {
	return &Coding{System: SpineSystem, Version: "1", Code: code, Display: spineDisplays[code]}
}

// SpineCodes are the Spine codes Spine knows a display for, sorted.
func SpineCodes() []string {
	out := make([]string, 0, len(spineDisplays))
	for c := range spineDisplays {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Error is a categorised, user-safe error.
type Error struct {
	Category Category
	// Message is safe to show to the client: no patient data, no backend URLs.
	Message string
	// IssueCode overrides the OperationOutcome issue.code the category
	// implies (e.g. "not-supported" on a 404 for an unknown resource type).
	IssueCode string
	// Expression is the FHIRPath of the offending element or parameter, if any.
	Expression string
	// Backend names the backend that failed ("pds"), if any.
	Backend string
	// Details carries the backend's machine code, if any.
	Details *Coding
	// Spine is the Spine error code (system SpineSystem) PDS sends, or would
	// send, for this failure of the client's: rendered as the first
	// issue.details.coding, ahead of Details (once, if they are the same
	// code). Never set on a failure that is not the client's (5xx).
	Spine *Coding
	// WWWAuthenticate is sent as the WWW-Authenticate challenge (401s).
	WWWAuthenticate string
	// RetryAfter is passed to the client as Retry-After when non-zero.
	RetryAfter time.Duration
	// Err is the underlying cause, logged but never shown.
	Err error
}

func (e *Error) Error() string {
	s := e.Message
	if e.Backend != "" {
		s = e.Backend + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error of category c with a user-safe message.
func New(c Category, format string, args ...any) *Error {
	return &Error{Category: c, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CategoryOf returns the category of err (Internal if it is not an *Error).
func CategoryOf(err error) Category {
	if e := As(err); e != nil {
		return e.Category
	}
	return Internal
}

// Redactor is implemented by errors whose message may quote patient data
// (a value from a backend payload, say). Redacted returns the message
// without such data; LogString uses it.
type Redactor interface {
	Redacted() string
}

// UserMessage is err's message as a client may see it: a categorised
// error's own message, and "internal error" for anything uncategorised.
func UserMessage(err error) string {
	if e := As(err); e != nil && e.Category != Internal && e.Message != "" {
		return e.Message
	}
	return "internal error"
}

// LogString returns err's message as it may be logged: wherever the chain
// holds a Redactor, its Redacted message stands in for it and everything it
// wraps.
func LogString(err error) string {
	switch e := err.(type) {
	case nil:
		return ""
	case Redactor:
		return e.Redacted()
	case *Error:
		s := e.Message
		if e.Backend != "" {
			s = e.Backend + ": " + s
		}
		if e.Err != nil {
			s += ": " + LogString(e.Err)
		}
		return s
	}
	if inner := errors.Unwrap(err); inner != nil && containsRedactor(inner) {
		return "(detail withheld: " + LogString(inner) + ")"
	}
	return err.Error()
}

func containsRedactor(err error) bool {
	var r Redactor
	return errors.As(err, &r)
}
