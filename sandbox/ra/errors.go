package ra

import (
	"net/http"

	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// apiError is an RA error answer: an OperationOutcome with a
// Spine-ErrorOrWarningCode-1 code.
type apiError struct {
	status      int
	issue       string // OperationOutcome issue.code
	code        string
	display     string
	diagnostics string
}

func errMissingValue(what string) *apiError {
	return &apiError{status: http.StatusBadRequest, issue: "required", code: "MISSING_VALUE", display: "Missing value", diagnostics: what}
}

func errInvalidValue(what string) *apiError {
	return &apiError{status: http.StatusBadRequest, issue: "value", code: "INVALID_VALUE", display: "Invalid value", diagnostics: what}
}

func errInvalidNHSNumber() *apiError {
	return &apiError{status: http.StatusBadRequest, issue: "value", code: "INVALID_NHS_NUMBER", display: "Invalid NHS number"}
}

func errValidation(what string) *apiError {
	return &apiError{status: http.StatusBadRequest, issue: "invalid", code: "VALIDATION_ERROR", display: "Validation error", diagnostics: what}
}

func errInvalidUpdate(what string) *apiError {
	return &apiError{status: http.StatusBadRequest, issue: "invalid", code: "INVALID_UPDATE", display: "Invalid update", diagnostics: what}
}

func errPatientNotFound() *apiError {
	return &apiError{status: http.StatusNotFound, issue: "not-found", code: "PATIENT_NOT_FOUND", display: "Patient not found"}
}

func errResourceNotFound() *apiError {
	return &apiError{status: http.StatusNotFound, issue: "not-found", code: "RESOURCE_NOT_FOUND", display: "Resource not found"}
}

func errVersionMismatch() *apiError {
	return &apiError{status: http.StatusConflict, issue: "conflict", code: "RESOURCE_VERSION_MISMATCH", display: "Resource version mismatch"}
}

func errPreconditionFailed() *apiError {
	return &apiError{status: http.StatusPreconditionFailed, issue: "required", code: "PRECONDITION_FAILED", display: "Precondition failed",
		diagnostics: "If-Match header is required"}
}

func writeError(w http.ResponseWriter, e *apiError) {
	wire.WriteOutcome(w, e.status, contentTypeFHIR, wire.Outcome{
		Meta:  &wire.Meta{Profile: []string{"https://fhir.nhs.uk/STU3/StructureDefinition/Spine-OperationOutcome-1"}},
		Issue: []wire.Issue{wire.Error(e.issue, ErrorSystem, e.code, e.display, e.diagnostics)},
	})
}
