package nrl

import (
	"fmt"
	"net/http"

	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// ErrorSystem is the coding system of NRL's error codes (from the NRLF source).
const ErrorSystem = "https://fhir.nhs.uk/ValueSet/Spine-ErrorOrWarningCode-1"

// sspErrorSystem is the coding system of the simulated Spine Secure Proxy's
// own errors (project contract: no public specification of SSP errors).
const sspErrorSystem = "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode"

// displays are NRL's displays for its codes (NRLF's SpineErrorConcept).
var displays = map[string]string{
	"INVALID_PARAMETER":         "Invalid parameter",
	"MESSAGE_NOT_WELL_FORMED":   "Message not well formed",
	"INVALID_NHS_NUMBER":        "Invalid NHS number",
	"INVALID_CODE_SYSTEM":       "Invalid code system",
	"INVALID_IDENTIFIER_VALUE":  "Invalid identifier value",
	"MISSING_OR_INVALID_HEADER": "There is a required header missing or invalid",
	"BAD_REQUEST":               "Bad request",
	"ACCESS DENIED":             "Access has been denied to process this request",
	"ACCESS_DENIED":             "Access has been denied to process this request",
	"NO_RECORD_FOUND":           "No record found",
	"INTERNAL_SERVER_ERROR":     "Unexpected internal server error",
	"NOT_FOUND":                 "Not found",
	"BAD_GATEWAY":               "Bad gateway",
	"GATEWAY_TIMEOUT":           "Gateway timeout",
}

// apiError is one error answer: an HTTP status and a one-issue
// OperationOutcome as NRLF writes them.
type apiError struct {
	status      int
	issueCode   string // OperationOutcome issue.code, e.g. "invalid"
	code        string // NRL error code, e.g. "INVALID_PARAMETER"
	diagnostics string
	expression  string // "" for none
	system      string // "" means ErrorSystem
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.diagnostics) }

func writeError(w http.ResponseWriter, e *apiError) {
	system := e.system
	if system == "" {
		system = ErrorSystem
	}
	is := wire.Error(e.issueCode, system, e.code, displays[e.code], e.diagnostics)
	if e.expression != "" {
		is.Expression = []string{e.expression}
	}
	wire.WriteOutcome(w, e.status, contentTypeFHIR, wire.Outcome{Issue: []wire.Issue{is}})
}

// The errors NRL answers with (NRLF's handlers and tests).

func errInvalidParameter(name, why string) *apiError {
	return &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "INVALID_PARAMETER",
		diagnostics: "Invalid query parameter (" + name + ": " + why + ")", expression: name}
}

func errInvalidNHSNumber() *apiError {
	return &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "INVALID_NHS_NUMBER",
		diagnostics: "A valid NHS number is required to search for document references", expression: "subject:identifier"}
}

func errInvalidType(post bool) *apiError {
	what := "Invalid query parameter"
	if post {
		what = "Invalid type"
	}
	return &apiError{status: http.StatusBadRequest, issueCode: "code-invalid", code: "INVALID_CODE_SYSTEM",
		diagnostics: what + " (The provided type system does not match the allowed types for this organisation)", expression: "type"}
}

// errBodyNotWellFormed is errInvalidParameter for a POST body.
func errBodyNotWellFormed(name, why string) *apiError {
	return &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "MESSAGE_NOT_WELL_FORMED",
		diagnostics: "Request body could not be parsed (" + name + ": " + why + ")", expression: name}
}

func errMissingHeader(name string) *apiError {
	return &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "MISSING_OR_INVALID_HEADER",
		diagnostics: "The " + name + " header is missing or invalid"}
}

func errUnauthorised() *apiError {
	return &apiError{status: http.StatusUnauthorized, issueCode: "forbidden", code: "ACCESS_DENIED",
		diagnostics: "Missing or invalid access token"}
}

func errOrganisationNotOnboarded(ods string) *apiError {
	return &apiError{status: http.StatusForbidden, issueCode: "forbidden", code: "ACCESS DENIED",
		diagnostics: "Your organisation '" + ods + "' does not have permission to access this resource. Contact the onboarding team."}
}

func errTypeNotAllowed() *apiError {
	return &apiError{status: http.StatusForbidden, issueCode: "forbidden", code: "ACCESS DENIED",
		diagnostics: "The requested DocumentReference is not of a type that this organisation is allowed to access"}
}

func errNoRecord() *apiError {
	return &apiError{status: http.StatusNotFound, issueCode: "not-found", code: "NO_RECORD_FOUND",
		diagnostics: "The requested DocumentReference could not be found"}
}

func errBadRequest(diagnostics string) *apiError {
	return &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "BAD_REQUEST", diagnostics: diagnostics}
}

func errMethodNotAllowed(method string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, issueCode: "not-supported", code: "BAD_REQUEST",
		diagnostics: "The " + method + " method is not supported on this path"}
}

func errUnknownPath() *apiError {
	return &apiError{status: http.StatusNotFound, issueCode: "not-found", code: "NOT_FOUND",
		diagnostics: "No such endpoint"}
}
