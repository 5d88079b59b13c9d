// Package cpis is the client of Child Protection – Information Sharing
// (CP-IS, FHIR R4 API, BACKENDS.md §4): a patient's child protection plans
// as CareTeams. It returns CP-IS's payloads as bytes for mappers/cpis, and
// turns CP-IS's error codes into categorised fhirerr errors (§4.1, §8).
//
// Every query says whether it is an unscheduled-care access
// (IsUnscheduledAccessEvent: CP-IS then notifies the responsible local
// authority) or a scheduled-care "silent read". CP-IS treats an omitted
// header as unscheduled, so the client always sends it: the configured
// default (Options.UnscheduledAccess, false unless configured), or the
// request's own choice (request.Info.Unscheduled, WithUnscheduledAccess).
package cpis

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/model/request"
)

// Name is the backend's name in metrics and errors.
const Name = "cpis"

// ErrorSystem is the code system of CP-IS's error codes.
const ErrorSystem = "https://fhir.nhs.uk/CodeSystem/England-SpineErrorOrWarningCode"

// Options configure a Client.
type Options struct {
	// UnscheduledAccess is sent as IsUnscheduledAccessEvent when the request
	// does not say: true in unscheduled care settings (emergency
	// departments, out of hours…), where every query notifies the local
	// authority; false (scheduled care, a silent read) by default.
	UnscheduledAccess bool
}

// Client calls CP-IS.
type Client struct {
	up   *upstream.Client
	opts Options
}

// New returns a CP-IS client over up.
func New(up *upstream.Client, opts Options) *Client { return &Client{up: up, opts: opts} }

// WithUnscheduledAccess returns ctx saying whether the queries made for it
// are unscheduled-care accesses (request.Info.Unscheduled), overriding
// Options.UnscheduledAccess.
func WithUnscheduledAccess(ctx context.Context, unscheduled bool) context.Context {
	return request.Derive(ctx, func(i *request.Info) { i.Unscheduled = &unscheduled })
}

// unscheduled is the request's own choice, else the configured default.
func (c *Client) unscheduled(ctx context.Context) bool {
	return request.From(ctx).UnscheduledOr(c.opts.UnscheduledAccess)
}

// CareTeams returns the patient's plans, each a CareTeam payload; a patient
// without a plan has none (CP-IS answers an empty searchset).
func (c *Client) CareTeams(ctx context.Context, nhs string) ([]json.RawMessage, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Backend: Name, Message: "not a valid NHS number"}
	}
	h := http.Header{}
	h.Set("TraceID", uuid.NewString())
	h.Set("IsUnscheduledAccessEvent", strconv.FormatBool(c.unscheduled(ctx)))
	// A searchset that cannot be the whole of what CP-IS holds for the
	// patient is an error, lest their plans vanish without a word; an empty
	// one is a patient without a plan.
	return c.up.SearchBundle(ctx, upstream.Request{
		Method: http.MethodGet, Path: "/CareTeam",
		Query:  url.Values{"patient:identifier": {nhsnumber.System + "|" + nhs}},
		Header: h, Op: "search-careteam",
	}, upstream.Searchset{Failed: errorFrom})
}

// errorFrom maps a failed CP-IS answer to a categorised error (BACKENDS.md
// §4.1, §8).
func errorFrom(res *upstream.Response) error {
	// Including 404: CP-IS answers "no plan" with an empty searchset.
	return upstream.StatusError(res, upstream.Service{Name: Name, Label: "CP-IS", ErrorSystem: ErrorSystem})
}
