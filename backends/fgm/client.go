// Package fgm is the client of the Female Genital Mutilation Information
// Sharing service (FGM-IS, FHIR R4, BACKENDS.md §5): a patient's FGM risk
// indicator as a Flag. It returns FGM-IS's payloads as bytes for
// mappers/fgm, and turns its error codes into categorised fhirerr errors
// (§5.1, §8). The facade only reads FGM-IS.
package fgm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Name is the backend's name in metrics and errors.
const Name = "fgm"

// ErrorSystem is the code system of FGM-IS's error codes.
const ErrorSystem = "https://fhir.nhs.uk/CodeSystem/England-SpineErrorOrWarningCode"

// Client calls FGM-IS.
type Client struct {
	up *upstream.Client
}

// New returns an FGM-IS client over up.
func New(up *upstream.Client) *Client { return &Client{up: up} }

// Flags returns the patient's FGM flags (active and removed), each a Flag
// payload; a patient without one has none (an empty searchset).
func (c *Client) Flags(ctx context.Context, nhs string) ([]json.RawMessage, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Backend: Name, Message: "not a valid NHS number"}
	}
	h := http.Header{}
	h.Set("TraceID", uuid.NewString())
	// A searchset that cannot be the whole of what FGM-IS holds for the
	// patient is an error, lest their flags vanish without a word; an empty
	// one is a patient without a flag.
	return c.up.SearchBundle(ctx, upstream.Request{
		Method: http.MethodGet, Path: "/Flag",
		Query:  url.Values{"patient:identifier": {nhsnumber.System + "|" + nhs}},
		Header: h, Op: "search-flag",
	}, upstream.Searchset{Failed: errorFrom})
}

// errorFrom maps a failed FGM-IS answer to a categorised error (BACKENDS.md
// §5.1, §8).
func errorFrom(res *upstream.Response) error {
	return upstream.StatusError(res, upstream.Service{Name: Name, Label: "FGM-IS", ErrorSystem: ErrorSystem})
}
