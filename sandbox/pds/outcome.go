package pds

import (
	"fmt"
	"net/http"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/pds/fixtures"
)

// SpineErrorSystem is the coding system of PDS error codes.
const SpineErrorSystem = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"

// apiError is one PDS error answer: an HTTP status and an OperationOutcome
// built from the sandbox's template for code.
type apiError struct {
	status      int
	code        string // Spine error code, e.g. "INVALID_VALUE"
	diagnostics string // replaces the template's #(diagnostics); "" drops it
	display     string // replaces the template's #(display) or display
	issueCode   string // replaces the template's issue.code
	timestamp   bool   // append a "timestamp", as the sandbox does on some 404s
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.diagnostics) }

const (
	placeholderDiagnostics = "#(diagnostics)"
	placeholderDisplay     = "#(display)"
)

// templateDisplays fills the templates whose display is a placeholder.
var templateDisplays = map[string]string{
	"ACCESS_DENIED":  "Access Denied - Unauthorised",
	"INVALID_METHOD": "Invalid method",
}

// outcomes holds the sandbox templates (fixtures/errorResponses and the
// TOO_MANY_MATCHES search response), keyed by code, with their members in
// file order: the sandbox fills a template by assigning to the parsed object,
// so its answers keep the template's member order and so do ours.
type outcomes map[string]*object

func loadOutcomes() (outcomes, error) {
	codes := []string{
		"ACCESS_DENIED", "ADDITIONAL_PROPERTIES", "FORBIDDEN_UPDATE",
		"INVALIDATED_RESOURCE", "INVALID_METHOD", "INVALID_RESOURCE_ID",
		"INVALID_SEARCH_DATA", "INVALID_UPDATE", "INVALID_VALUE",
		"MISSING_VALUE", "PRECONDITION_FAILED", "RESOURCE_NOT_FOUND",
		"RESOURCE_VERSION_MISMATCH", "TOO_FEW_VALUES_SUBMITTED",
		"TOO_MANY_VALUES_SUBMITTED", "UNSUPPORTED_SERVICE", "TOO_MANY_MATCHES",
		"SINGLE_MATCH", "MULTIPLE_MATCHES",
	}
	out := outcomes{}
	for _, c := range codes {
		b, err := fixtures.ErrorResponse(c)
		if err != nil {
			return nil, err
		}
		v, err := decodeJSON(b)
		if err != nil {
			return nil, fmt.Errorf("pds: template %s: %w", c, err)
		}
		o, ok := v.(*object)
		if !ok || templateCoding(o) == nil {
			return nil, fmt.Errorf("pds: template %s: want one issue with one coding", c)
		}
		out[c] = o
	}
	return out, nil
}

// templateIssue and templateCoding return issue[0] and its
// details.coding[0], or nil when the template has another shape.
func templateIssue(o *object) *object {
	issues, _ := o.m["issue"].([]any)
	if len(issues) != 1 {
		return nil
	}
	is, _ := issues[0].(*object)
	return is
}

func templateCoding(o *object) *object {
	is := templateIssue(o)
	if is == nil {
		return nil
	}
	details, _ := is.m["details"].(*object)
	if details == nil {
		return nil
	}
	codings, _ := details.m["coding"].([]any)
	if len(codings) != 1 {
		return nil
	}
	c, _ := codings[0].(*object)
	return c
}

// untemplated are the codes the sandbox has no template for (they come from
// the specification): each borrows the shape of a template, with its own
// code and display.
var untemplated = map[string]struct{ template, display string }{
	"VALIDATION_ERROR":                {"INVALID_UPDATE", "Validation error"},
	"UNSUPPORTED_VALUE":               {"INVALID_UPDATE", "Unsupported value"},
	"UNSUPPORTED_CHARACTERS_IN_FIELD": {"INVALID_UPDATE", "Unsupported characters in field"},
}

// render builds the body for e from its template, as the sandbox does:
// the code, display, diagnostics and issue code are assigned in place (a
// member the template lacks is appended), an unused #(diagnostics)
// placeholder is dropped. Codes without a template borrow one
// (untemplated); unknown codes get the INVALID_VALUE shape with their own
// code.
func (os outcomes) render(e *apiError) []byte {
	t, ok := os[e.code]
	display := e.display
	if !ok {
		t = os["INVALID_VALUE"]
		if u, found := untemplated[e.code]; found {
			t = os[u.template]
			if display == "" {
				display = u.display
			}
		}
	}
	doc := cloneJSON(t).(*object)
	is, c := templateIssue(doc), templateCoding(doc)
	c.set("code", e.code)
	switch {
	case display != "":
		c.set("display", display)
	case c.m["display"] == placeholderDisplay:
		c.set("display", templateDisplays[e.code])
	}
	switch {
	case e.diagnostics != "":
		is.set("diagnostics", e.diagnostics)
	case is.m["diagnostics"] == placeholderDiagnostics:
		is.del("diagnostics")
	}
	if e.issueCode != "" {
		is.set("code", e.issueCode)
	}
	if e.timestamp {
		doc.set("timestamp", nowStamp())
	}
	return encodeJSON(doc)
}

// Constructors for the errors the simulator answers, with the sandbox's
// diagnostics wording.

func errMissingRequestID() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "MISSING_VALUE",
		diagnostics: "Invalid request with error - X-Request-ID header must be supplied to access this resource"}
}

func errInvalidHeader(name, value string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_VALUE",
		diagnostics: fmt.Sprintf("Invalid value - '%s' in header '%s'", value, name)}
}

func errAccessDenied(diagnostics string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: "ACCESS_DENIED", diagnostics: diagnostics}
}

func errInvalidResourceID() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_RESOURCE_ID"}
}

func errNotFound() *apiError {
	return &apiError{status: http.StatusNotFound, code: "RESOURCE_NOT_FOUND"}
}

func errInvalidated() *apiError {
	return &apiError{status: http.StatusNotFound, code: "INVALIDATED_RESOURCE"}
}

func errUnsupportedService() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "UNSUPPORTED_SERVICE"}
}

func errInvalidValue(value, field string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_VALUE",
		diagnostics: fmt.Sprintf("Invalid value - '%s' in field '%s'", value, field)}
}

func errInvalidSearchData(reason string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_SEARCH_DATA",
		diagnostics: fmt.Sprintf("Invalid search data provided - '%s'", reason)}
}

func errMissingValue(diagnostics string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "MISSING_VALUE", diagnostics: diagnostics}
}

func errAdditionalProperties(names []string) *apiError {
	q := ""
	for i, n := range names {
		if i > 0 {
			q += ", "
		}
		q += "'" + n + "'"
	}
	verb := "was"
	if len(names) > 1 {
		verb = "were"
	}
	return &apiError{status: http.StatusBadRequest, code: "ADDITIONAL_PROPERTIES",
		diagnostics: fmt.Sprintf("Invalid request with error - Additional properties are not allowed (%s %s unexpected)", q, verb)}
}

// errTooManyMatches is not an error for PDS: HTTP 200 with a bare
// OperationOutcome.
func errTooManyMatches() *apiError {
	return &apiError{status: http.StatusOK, code: "TOO_MANY_MATCHES"}
}

// errUnknownPath answers a path PDS does not serve (project decision: PDS's
// UNSUPPORTED_SERVICE code with issue code not-found).
func errUnknownPath(path string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "UNSUPPORTED_SERVICE", issueCode: "not-found",
		diagnostics: fmt.Sprintf("Invalid path - '%s'", path)}
}

// errMethodNotAllowed answers a method a PDS path does not support.
func errMethodNotAllowed(method, path string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, code: "INVALID_METHOD", issueCode: "not-supported",
		diagnostics: fmt.Sprintf("Method '%s' is not supported for '%s'", method, path)}
}

// Errors of PATCH (diagnostics in the sandbox's
// and the specification's wording where they give one).

func errPreconditionFailed(diagnostics string) *apiError {
	return &apiError{status: http.StatusPreconditionFailed, code: "PRECONDITION_FAILED", diagnostics: diagnostics}
}

func errVersionMismatch() *apiError {
	return &apiError{status: http.StatusConflict, code: "RESOURCE_VERSION_MISMATCH"}
}

func errWrongContentType() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "UNSUPPORTED_SERVICE"}
}

func errInvalidUpdate(reason string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_UPDATE", diagnostics: "Invalid update with error - " + reason}
}

func errForbiddenUpdate(reason string) *apiError {
	return &apiError{status: http.StatusForbidden, code: "FORBIDDEN_UPDATE", diagnostics: "Forbidden update with error - " + reason}
}

func errValidation(reason string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "VALIDATION_ERROR", diagnostics: "Invalid update with error - " + reason}
}

func errTooFewValues(field string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "TOO_FEW_VALUES_SUBMITTED",
		diagnostics: fmt.Sprintf("Invalid update with error - too few values submitted for '%s'", field)}
}

func errTooManyValues(field string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "TOO_MANY_VALUES_SUBMITTED",
		diagnostics: fmt.Sprintf("Invalid update with error - too many values submitted for '%s'", field)}
}

func errUnsupportedValue(value, field string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "UNSUPPORTED_VALUE",
		diagnostics: fmt.Sprintf("Invalid update with error - unsupported value '%s' in field '%s'", value, field)}
}

func errUnsupportedCharacters(value, field string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "UNSUPPORTED_CHARACTERS_IN_FIELD",
		diagnostics: fmt.Sprintf("Invalid update with error - unsupported characters in '%s' in field '%s'", value, field)}
}

// errNotImplemented answers a PDS interaction this simulator does not model
// yet (PATCH, create, RelatedPerson, Coverage).
func errNotImplemented(what string) *apiError {
	return &apiError{status: http.StatusNotImplemented, code: "UNSUPPORTED_SERVICE", issueCode: "not-supported",
		diagnostics: fmt.Sprintf("%s is not implemented by this PDS simulator", what)}
}

// nowStamp is a Bundle or OperationOutcome "timestamp": the current time
// in the format of the specification's examples (the sandbox writes
// JavaScript's toISOString, 2025-01-01T00:00:00.000Z; both are FHIR instants).
func nowStamp() string { return time.Now().UTC().Format("2006-01-02T15:04:05+00:00") }
