// Package ovm is the client of the overseas visitors chargeable-status
// service (OVM, BACKENDS.md §7a, a project contract): the statuses that
// hospital overseas visitor teams record for a patient on Spine, each with
// its overseas visitor charging category, start and end dates and the
// recording organisation. It returns each status's JSON as bytes for
// mappers/ovm, and turns the service's errors into categorised fhirerr
// errors (§8). The facade only reads OVM.
package ovm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Name is the backend's name in metrics and errors.
const Name = "ovm"

// StatusPath is the path of the status query under the base URL
// (…/overseas-visitors/v1).
const StatusPath = "/status"

// ErrorSystem is the code system the facade files the service's error codes
// ({"error": "INVALID_NHS_NUMBER"}) under in an OperationOutcome's details:
// the contract names none, so it is the project's own.
const ErrorSystem = "urn:carerecords-facade:ovm-error-code"

// Client calls the OVM service.
type Client struct {
	up *upstream.Client
}

// New returns an OVM client over up.
func New(up *upstream.Client) *Client { return &Client{up: up} }

// answer is the body of a 200: the patient asked about and their statuses,
// kept raw for the mapper. Statuses is raw so that an answer without the
// list (not the contract's) is told from an empty or null one.
type answer struct {
	NHSNumber *string         `json:"nhsNumber"`
	Statuses  json.RawMessage `json:"statuses"`
}

// Statuses returns the patient's chargeable statuses (current and ended),
// each a status object of the contract; a patient without one has none (an
// empty list). An answer about another patient than nhs is refused.
func (c *Client) Statuses(ctx context.Context, nhs string) ([]json.RawMessage, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Backend: Name, Message: "not a valid NHS number"}
	}
	h := http.Header{}
	h.Set("Accept", "application/json")
	res, err := c.up.Do(ctx, upstream.Request{
		Method: http.MethodGet, Path: StatusPath,
		Query:  url.Values{"nhs-number": {nhs}},
		Header: h, Op: "status",
	})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, badPayload(nil)
	}
	// Whatever the client cannot read as the whole list is an error, never
	// "no status": an empty body, a body cut short, no list, a null status.
	if len(bytes.TrimSpace(res.Body)) == 0 {
		return nil, answerError("an empty", nil)
	}
	var a answer
	if err := json.Unmarshal(res.Body, &a); err != nil {
		return nil, answerError("an unreadable", err)
	}
	if a.NHSNumber == nil || *a.NHSNumber != nhs {
		return nil, badPayload(errors.New("the answer is not about the patient asked for"))
	}
	if len(a.Statuses) == 0 {
		return nil, answerError("an incomplete", errors.New("no statuses list"))
	}
	var statuses []json.RawMessage // null: none, as []
	if err := json.Unmarshal(a.Statuses, &statuses); err != nil {
		return nil, badPayload(err)
	}
	for _, s := range statuses {
		if string(s) == "null" {
			return nil, answerError("an incomplete", errors.New("a null status"))
		}
	}
	return statuses, nil
}

func badPayload(err error) error {
	return answerError("an unexpected", err)
}

// answerError is a 200 answer the client cannot take as the patient's
// statuses: kind says how ("an empty", "an incomplete" …), with no
// patient data.
func answerError(kind string, err error) error {
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the ovm service sent " + kind + " response", Err: err}
}

// errorFrom maps a failed answer to a categorised error the way every
// Spine-backed service's statuses are read (upstream.StatusError, BACKENDS.md
// §8); the service's own code ({"error": "…"}, §7a) is kept in Details.
func errorFrom(res *upstream.Response) error {
	e := upstream.StatusError(res, upstream.Service{Name: Name, Label: "OVM", ErrorSystem: ErrorSystem})
	var body struct {
		Error string `json:"error"`
	}
	if e.Details == nil && json.Unmarshal(res.Body, &body) == nil && isCode(body.Error) {
		e.Details = &fhirerr.Coding{System: ErrorSystem, Code: body.Error}
	}
	return e
}

// isCode reports whether s looks like one of the service's error codes
// (INVALID_NHS_NUMBER): anything else is not passed on, as it could carry
// patient data.
func isCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}
