// Package ra is the client of the Reasonable Adjustment Flag API (FHIR STU3,
// docs/backends.md, "RA"): the patient's adjustments (Flag) and consent (Consent),
// and the writes that create and update them. It returns RA's payloads as
// bytes for mappers/ra, and turns RA's error codes into categorised fhirerr
// errors.
package ra

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Name is the backend's name in metrics and errors.
const Name = "ra"

// ErrorSystem is the code system of RA's error codes.
const ErrorSystem = "https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1"

// Category is the category every RA search names: the national reasonable
// adjustments flag.
const Category = "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1|NRAF"

// Options configure a Client.
type Options struct {
	// SessionURID is sent as NHSD-Session-URID: the role profile of the user
	// the facade acts for (user-restricted access). Empty sends
	// DefaultSessionURID.
	SessionURID string
}

// DefaultSessionURID is the NHSD-Session-URID sent when none is configured:
// the role of the sandboxes' user. RA requires the header on every request;
// its public sandbox and the simulator take any role, the live service only
// the user's own, so a deployment against it must configure SessionURID.
const DefaultSessionURID = "555254240100"

// Client calls RA.
type Client struct {
	up   *upstream.Client
	opts Options
}

// New returns an RA client over up.
func New(up *upstream.Client, opts Options) *Client { return &Client{up: up, opts: opts} }

// Flags returns the patient's adjustments of one status ("active" or
// "inactive", as RA's search takes them), each an RA Flag payload. A patient
// without an RA record has none: RA's 404 PATIENT_NOT_FOUND is an empty
// answer, not an error.
func (c *Client) Flags(ctx context.Context, nhs, status string) ([]json.RawMessage, error) {
	return c.search(ctx, "/Flag", nhs, url.Values{"status": {status}, "category": {Category}}, "search-flag")
}

// Consent returns the patient's active RA Consent, or nil when the patient
// has no RA record (whose existence is the consent's).
func (c *Client) Consent(ctx context.Context, nhs string) (json.RawMessage, error) {
	es, err := c.search(ctx, "/Consent", nhs, url.Values{"status": {"active"}, "category": {Category}}, "search-consent")
	if err != nil || len(es) == 0 {
		return nil, err
	}
	return es[0], nil
}

func (c *Client) search(ctx context.Context, path, nhs string, q url.Values, op string) ([]json.RawMessage, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Backend: Name, Message: "not a valid NHS number"}
	}
	q.Set("patient", nhs)
	// A searchset that cannot be the whole of what RA holds for the patient
	// is an error, lest their adjustments vanish without a word.
	return c.up.SearchBundle(ctx, upstream.Request{Method: http.MethodGet, Path: path, Query: q, Header: c.header(), Op: op},
		upstream.Searchset{Answer: op, Failed: func(res *upstream.Response) error {
			if res.Status == http.StatusNotFound && noRecord(res.Body) {
				return nil // no RA record: nothing to find
			}
			return errorFrom(res, false)
		}})
}

// noRecord reports whether a 404 body says the patient has no RA record
// (rather than, say, a misconfigured base URL answering 404 with HTML).
func noRecord(body []byte) bool {
	o, ok := upstream.ParseOutcome(body)
	if !ok {
		return false
	}
	switch o.Code {
	case "PATIENT_NOT_FOUND", "RESOURCE_NOT_FOUND", "NO_RECORD_FOUND":
		return true
	}
	return false
}

// Written is RA's answer to a create or update: the resource as stored,
// its new version (from the ETag) and where it lives.
type Written struct {
	Body     []byte
	Version  string
	Location string
}

// CreateConsent creates the patient's RA record: POST /Consent.
func (c *Client) CreateConsent(ctx context.Context, consent []byte) (*Written, error) {
	return c.write(ctx, http.MethodPost, "/Consent", consent, "", "create-consent")
}

// CreateFlag adds an adjustment: POST /Flag.
func (c *Client) CreateFlag(ctx context.Context, flag []byte) (*Written, error) {
	return c.write(ctx, http.MethodPost, "/Flag", flag, "", "create-flag")
}

// UpdateFlag replaces adjustment id (an RA id, "<nhs>.<uuid>") if its
// current version is version: PUT /Flag/{id} with If-Match: W/"<version>".
// A removal is an update to status inactive with a removal reason.
func (c *Client) UpdateFlag(ctx context.Context, id string, flag []byte, version string) (*Written, error) {
	if version == "" {
		return nil, &fhirerr.Error{Category: fhirerr.PreconditionRequired, Backend: Name, Message: "updating a reasonable adjustment needs its version (If-Match)"}
	}
	return c.write(ctx, http.MethodPut, "/Flag/"+url.PathEscape(id), flag, version, "update-flag")
}

func (c *Client) write(ctx context.Context, method, path string, body []byte, version, op string) (*Written, error) {
	h := c.header()
	h.Set("Content-Type", "application/fhir+json")
	if version != "" {
		h.Set("If-Match", `W/"`+version+`"`)
	}
	res, err := c.up.Do(ctx, upstream.Request{Method: method, Path: path, Header: h, Body: body, Op: op})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK && res.Status != http.StatusCreated {
		return nil, errorFrom(res, true)
	}
	if !res.IsJSON() || len(res.Body) == 0 {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the ra service sent an unexpected " + op + " response"}
	}
	return &Written{Body: res.Body, Version: upstream.ETagVersion(res.Header.Get("ETag")), Location: res.Header.Get("Location")}, nil
}

// header is what every RA call sends besides the platform's headers (the
// upstream client adds X-Request-ID): NHSD-Session-URID, which RA requires on
// every request (its sandbox answers 400 without it).
func (c *Client) header() http.Header {
	urid := c.opts.SessionURID
	if urid == "" {
		urid = DefaultSessionURID
	}
	return http.Header{"Nhsd-Session-Urid": {urid}}
}

// errorFrom maps a failed RA answer to a categorised error.
// RA's diagnostics are not passed on; its code and display are kept in
// Details. write says whether the call was a create or update, whose
// validation rejections are 422 (the facade has checked the request, so RA
// refused its content) rather than 400.
func errorFrom(res *upstream.Response, write bool) error {
	o, ok := upstream.ParseOutcome(res.Body)
	e := &fhirerr.Error{Backend: Name}
	if ok && o.Code != "" {
		system := o.System
		if system == "" {
			system = ErrorSystem
		}
		e.Details = &fhirerr.Coding{System: system, Code: o.Code, Display: o.Display}
	}
	msg := func(def string) string {
		if ok && o.Display != "" {
			return "RA: " + o.Display
		}
		return def
	}
	switch {
	case res.Status == http.StatusBadRequest && ok && (o.Code == "INVALID_NHS_NUMBER" || o.Code == "INVALID_RESOURCE_ID"):
		e.Category, e.Message = fhirerr.Invalid, msg("RA rejected the NHS number or id")
	case res.Status == http.StatusBadRequest && write:
		e.Category, e.Message = fhirerr.Unprocessable, msg("RA rejected the reasonable adjustment")
	case res.Status == http.StatusBadRequest:
		e.Category, e.Message = fhirerr.Invalid, msg("RA rejected the request as invalid")
		if ok && o.Code == "MISSING_VALUE" {
			e.Category = fhirerr.Required
		}
	case res.Status == http.StatusForbidden:
		e.Category, e.Message = fhirerr.Forbidden, msg("RA refused access")
	case res.Status == http.StatusNotFound && ok && o.Code == "INVALIDATED_RESOURCE":
		e.Category, e.Message = fhirerr.Gone, "this record has been invalidated"
	case res.Status == http.StatusNotFound && ok:
		e.Category, e.Message = fhirerr.NotFound, "RA has no such record"
	case res.Status == http.StatusConflict:
		e.Category, e.Message = fhirerr.PreconditionFailed, "the reasonable adjustment has changed since that version (If-Match): read it again"
	case res.Status == http.StatusPreconditionFailed:
		e.Category, e.Message = fhirerr.PreconditionRequired, "a version (If-Match) is required"
	default:
		upstream.ServiceFailure(e, res, Name)
	}
	return e
}
