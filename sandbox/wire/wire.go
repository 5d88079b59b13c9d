// Package wire holds what every simulator does alike on the wire, as the
// NHS API platform does (BACKENDS.md §0): checks of a bearer token and of
// UUID-shaped request ids, the echo of the request's tracing headers, and
// the OperationOutcome the FHIR simulators answer errors with. Each
// simulator answers a failed check with its own error.
package wire

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
)

// Bearer reports whether r carries "Authorization: Bearer <token>" with a
// token that is not blank. The simulators accept any such token.
func Bearer(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && scheme == "Bearer" && strings.TrimSpace(token) != ""
}

// UUID matches a UUID in its 8-4-4-4-12 hex form, either case: the form
// X-Request-ID must take.
var UUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Echo copies each header named, when r carries it, onto the answer w is
// about to write: the API platform echoes X-Request-ID and X-Correlation-ID
// (CP-IS and FGM-IS their TraceID).
func Echo(w http.ResponseWriter, r *http.Request, names ...string) {
	for _, name := range names {
		if v := r.Header.Get(name); v != "" {
			w.Header().Set(name, v)
		}
	}
}

// Outcome is an OperationOutcome as the simulators write them: the
// simulators' own wire type, so that a field the facade's model misses
// cannot go unseen by both. ResourceType is always "OperationOutcome".
type Outcome struct {
	Meta  *Meta   `json:"meta,omitempty"`
	Issue []Issue `json:"issue"`
}

// Meta is an OperationOutcome's meta: the profile it claims (RA's STU3
// Spine-OperationOutcome-1).
type Meta struct {
	Profile []string `json:"profile,omitempty"`
}

// Issue is one issue: Code is the IssueType ("forbidden", "not-found" …);
// Details carries the service's error code or a text.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Details     *Details `json:"details,omitempty"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// Details is an issue's details: the service's error code as a Coding, or
// a text.
type Details struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Coding is a code of the service's error code system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// Error is an issue of severity error; system, code and display are the
// service's error Coding, left out when code is "".
func Error(issueCode, system, code, display, diagnostics string) Issue {
	is := Issue{Severity: "error", Code: issueCode, Diagnostics: diagnostics}
	if code != "" {
		is.Details = &Details{Coding: []Coding{{System: system, Code: code, Display: display}}}
	}
	return is
}

// MarshalJSON writes the OperationOutcome with its resourceType first.
func (o Outcome) MarshalJSON() ([]byte, error) {
	type plain Outcome
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"OperationOutcome", plain(o)})
}

// WriteOutcome answers status with o as contentType.
func WriteOutcome(w http.ResponseWriter, status int, contentType string, o Outcome) {
	body, _ := json.Marshal(o) // strings only: cannot fail
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
