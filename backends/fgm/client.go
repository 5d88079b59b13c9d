// Package fgm is the client of the Female Genital Mutilation Information
// Sharing service (FGM-IS, FHIR R4, BACKENDS.md §5): a patient's FGM risk
// indicator as a Flag. It returns FGM-IS's payloads as bytes for
// mappers/fgm, and turns its error codes into categorised fhirerr errors
// (§5.1, §8). The facade only reads FGM-IS.
package fgm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
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
	res, err := c.up.Do(ctx, upstream.Request{
		Method: http.MethodGet, Path: "/Flag",
		Query:  url.Values{"patient:identifier": {nhsnumber.System + "|" + nhs}},
		Header: h, Op: "search-flag",
	})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, answerError("an unexpected", nil)
	}
	return matches(res.Body)
}

// matches reads a searchset answer: the resource of every entry, or an
// error when the answer cannot be the whole of what FGM-IS holds for the
// patient (fhirjson.WholeSearchset), lest its flags vanish without a word.
// A searchset with no entry and no total, or total 0, is a patient without
// a flag.
func matches(body []byte) ([]json.RawMessage, error) {
	rs, err := fhirjson.WholeSearchset(body)
	if se := (*fhirjson.SearchsetError)(nil); errors.As(err, &se) {
		return nil, answerError(se.Kind, se.Err)
	}
	return rs, err
}

// answerError is a 200 answer the client cannot take as the patient's
// flags: kind says how ("an empty", "a truncated" …), with no patient data.
func answerError(kind string, err error) error {
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the fgm service sent " + kind + " response", Err: err}
}

// errorFrom maps a failed FGM-IS answer to a categorised error (BACKENDS.md
// §5.1, §8).
func errorFrom(res *upstream.Response) error {
	return upstream.StatusError(res, upstream.Service{Name: Name, Label: "FGM-IS", ErrorSystem: ErrorSystem})
}
