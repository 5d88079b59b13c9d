// Package immunisation is the client of the Immunisation History API
// (BACKENDS.md §7): a patient's vaccinations from the national immunisation
// history, as FHIR R4 Immunization resources.
//
// The API has one endpoint, asked one data store at a time:
//
//	GET /Immunization?patient.identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	    &_include=Immunization:patient&immunization.target=COVID19|FLU|HPV
//	    [&date.from=YYYY-MM-DD][&date.to=YYYY-MM-DD]
//
// answering a searchset Bundle of the patient's Immunizations plus one
// Patient (search.mode include) holding the demographics recorded at
// vaccination, for mappers/immunisation to read. There is no read by id.
//
// The data store is required. The specification (Immunisation History -
// FHIR API, https://digital.nhs.uk/developer/api-catalogue/immunisation-history-fhir,
// OAS GET /Immunization) lists immunization.target's values as COVID19, HPV
// and FLU, and its errors as "400 processing: Missing, invalid or
// conflicting parent SNOMED code / Target"; the public sandbox's handler
// (NHSDigital/immunisation-history-api sandbox/immunization-handler/v1/
// handler.js) answers 400 to a search with neither immunization.target nor
// procedure-code:below, with both, or with any other target (MMR, RSV). So a
// search of the whole history is one call per store (resources.Immunization
// makes them). MMR, RSV and the other vaccination types belong to another
// API (the Immunisation FHIR API), not this one.
//
// The client sends the platform headers through backends/upstream (bearer
// token, X-Request-ID, X-Correlation-ID), bounds every call with the upstream
// timeout, and turns the API's errors into categorised fhirerr errors
// (BACKENDS.md §8). It never passes the API's diagnostics on: they can quote
// the NHS number.
package immunisation

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Name is the backend's name in metrics and errors.
const Name = "immunisation"

// Include is the only _include the API accepts, and it requires it.
const Include = "Immunization:patient"

// Target is a data store of the immunisation history, as immunization.target
// names it.
type Target string

// The data stores (BACKENDS.md §7), the specification's enum of
// immunization.target. COVID19 holds the vaccinations of the last four years
// in England, Wales and the Isle of Man; FLU and HPV are planned or partly
// populated.
const (
	COVID19 Target = "COVID19"
	FLU     Target = "FLU"
	HPV     Target = "HPV"
)

// Targets lists every data store: a search of the whole history asks each.
var Targets = []Target{COVID19, FLU, HPV}

// Valid reports whether t is a data store the API knows.
func (t Target) Valid() bool { return t == COVID19 || t == FLU || t == HPV }

// Query is one search of a patient's immunisation history.
type Query struct {
	// NHSNumber is the patient (a valid NHS number).
	NHSNumber string
	// Target is the data store searched (required: the API refuses a
	// search without one).
	Target Target
	// From and To bound the date of vaccination, inclusive, by calendar day
	// (only the date is sent); a zero time leaves that end open (the API's
	// defaults are 1900-01-01 and 9999-12-31).
	From, To time.Time
}

// Client calls the Immunisation History API.
type Client struct {
	up *upstream.Client
}

// New returns a client over up.
func New(up *upstream.Client) *Client { return &Client{up: up} }

// apiFloor is the earliest date.from the API documents (its default).
var apiFloor = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// Search runs q and returns the body of the API's 200 answer as it sent
// it, for mappers/immunisation.Map (which also judges an empty or short
// one). A patient without immunisations is an empty Bundle, not an error.
func (c *Client) Search(ctx context.Context, q Query) ([]byte, error) {
	if !nhsnumber.Valid(q.NHSNumber) {
		return nil, fhirerr.New(fhirerr.Invalid, "the patient must be a valid NHS number")
	}
	if !q.Target.Valid() {
		return nil, fhirerr.New(fhirerr.Invalid, "the immunisation target must be COVID19, FLU or HPV")
	}
	v := url.Values{
		"patient.identifier":  {nhsnumber.System + "|" + q.NHSNumber},
		"_include":            {Include},
		"immunization.target": {string(q.Target)},
	}
	if !q.From.IsZero() && q.From.After(apiFloor) {
		v.Set("date.from", q.From.Format(time.DateOnly))
	}
	if !q.To.IsZero() {
		v.Set("date.to", q.To.Format(time.DateOnly))
	}
	res, err := c.up.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/Immunization", Query: v, Op: "search"})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the immunisation service sent an unexpected Immunization response"}
	}
	return res.Body, nil
}

// errorFrom maps a non-200 answer of the API (BACKENDS.md §7 "Errors", §8).
// The API's OperationOutcomes carry issue.code processing and free-text
// diagnostics only; neither is passed on (the diagnostics can quote the NHS
// number).
func errorFrom(res *upstream.Response) error {
	e := &fhirerr.Error{Backend: Name}
	switch s := res.Status; {
	case s == http.StatusBadRequest:
		// The facade checks the NHS number and the target before calling, so
		// this is the API refusing a well-formed NHS number (one it cannot
		// verify), the data store or a parameter. (A store the calling
		// application is not authorised for is 401 "You do not have
		// permission to access this resource": a failure, below.)
		e.Category, e.Message = fhirerr.Invalid, "the Immunisation History API rejected the request (it did not accept the NHS number or a search parameter)"
	case s == http.StatusForbidden:
		e.Category, e.Message = fhirerr.Forbidden, "the Immunisation History API refused access"
	default:
		// 404 (a wrong base URL), 405, 415, 5xx: the backend failed.
		upstream.ServiceFailure(e, res, Name)
	}
	return e
}
