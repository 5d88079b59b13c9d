// Package pds is the client of the Personal Demographics Service (FHIR) API:
// read, search, update and create Patients. It returns PDS's payloads as bytes for
// mappers/pds to decode, and turns PDS's error codes into categorised
// fhirerr errors (docs/backends.md, "PDS").
package pds

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
const Name = "pds"

// ErrorSystem is the code system of PDS's error codes.
const ErrorSystem = fhirerr.SpineSystem

// Client calls PDS.
type Client struct {
	up *upstream.Client
}

// New returns a PDS client over up.
func New(up *upstream.Client) *Client { return &Client{up: up} }

// Patient is a PDS read: the Patient payload and its version from the ETag.
type Patient struct {
	Body []byte
	// Version is the number inside the ETag W/"<n>" ("" if PDS sent none).
	Version string
}

// Read fetches the full record of one patient. nhs must be a valid NHS number.
func (c *Client) Read(ctx context.Context, nhs string) (*Patient, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, invalidNHSNumber(nhs)
	}
	res, err := c.up.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/Patient/" + nhs, Op: "read"})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, c.errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, badPayload("read", nil)
	}
	return &Patient{Body: res.Body, Version: upstream.ETagVersion(res.Header.Get("Etag"))}, nil
}

// Patch sends JSON Patch operations (a JSON array, RFC 6902) to PDS, which
// applies them all or none. version is the record's current versionId,
// sent as If-Match; PDS answers with the updated record and its new version.
// A patch is never retried: a 503 means PDS may still apply it.
func (c *Client) Patch(ctx context.Context, nhs, version string, ops json.RawMessage) (*Patient, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, invalidNHSNumber(nhs)
	}
	body, err := json.Marshal(struct {
		Patches json.RawMessage `json:"patches"`
	}{ops})
	if err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the patch is not JSON")
	}
	res, err := c.up.Do(ctx, upstream.Request{
		Method: http.MethodPatch, Path: "/Patient/" + nhs, Op: "patch", Body: body,
		Header: http.Header{"Content-Type": {"application/json-patch+json"}, "If-Match": {`W/"` + version + `"`}},
	})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		e := c.errorFrom(res)
		if fe := fhirerr.As(e); fe != nil {
			switch {
			case fe.Category == fhirerr.Invalid && fe.Details != nil && patchRejections[fe.Details.Code]:
				// A well-formed patch that PDS will not apply to this record.
				fe.Category = fhirerr.Unprocessable
			case fe.Category == fhirerr.Timeout && res.Status == http.StatusServiceUnavailable:
				fe.Message = "PDS has not finished applying the update and may still apply it: read the patient again before retrying"
			}
		}
		return nil, e
	}
	if !res.IsJSON() {
		return nil, badPayload("patch", nil)
	}
	return &Patient{Body: res.Body, Version: upstream.ETagVersion(res.Header.Get("Etag"))}, nil
}

// Create asks PDS to create a record for a new patient and allocate an NHS
// number (POST /Patient), only after a search found none: body is a
// PatientCreateRequest (one name, gender, birthDate, addresses with a
// period, optional telecom, the Registering Authority extension). PDS
// answers 201 with the new record and its version. A create is never
// retried (upstream retries only idempotent reads).
//
// When PDS holds a record matching the demographics it creates nothing and
// answers 200 with SINGLE_MATCH or MULTIPLE_MATCHES: that is a Conflict
// (issue code duplicate) with PDS's code in Details; the NHS number PDS
// names is in its diagnostics only, which are never passed on.
func (c *Client) Create(ctx context.Context, body json.RawMessage) (*Patient, error) {
	res, err := c.up.Do(ctx, upstream.Request{
		Method: http.MethodPost, Path: "/Patient", Op: "create", Body: body,
		Header: http.Header{"Content-Type": {"application/json"}},
	})
	if err != nil {
		return nil, err
	}
	switch res.Status {
	case http.StatusCreated:
		if !res.IsJSON() {
			return nil, badPayload("create", nil)
		}
		return &Patient{Body: res.Body, Version: upstream.ETagVersion(res.Header.Get("Etag"))}, nil
	case http.StatusOK:
		o, ok := upstream.ParseOutcome(res.Body)
		if !ok || (o.Code != "SINGLE_MATCH" && o.Code != "MULTIPLE_MATCHES") {
			return nil, badPayload("create", nil)
		}
		system := o.System
		if system == "" {
			system = ErrorSystem
		}
		c := &fhirerr.Coding{System: system, Version: o.Version, Code: o.Code, Display: o.Display}
		return nil, &fhirerr.Error{Category: fhirerr.Conflict, IssueCode: "duplicate", Backend: Name,
			Details: c, Spine: spineOnly(c),
			Message: "PDS holds a record matching these demographics and created none: search PDS for the patient " +
				"(family name, birth date and postcode) and use the NHS number found"}
	}
	return nil, c.errorFrom(res)
}

// patchRejections are PDS's codes for a patch it understood but refused.
var patchRejections = map[string]bool{
	"INVALID_UPDATE": true, "VALIDATION_ERROR": true, "UNSUPPORTED_VALUE": true,
	"UNSUPPORTED_CHARACTERS_IN_FIELD": true, "TOO_FEW_VALUES_SUBMITTED": true, "TOO_MANY_VALUES_SUBMITTED": true,
}

// Match is one search hit: a (reduced) Patient payload and PDS's score.
type Match struct {
	Body  json.RawMessage
	Score *float64
}

// SearchResult is what a PDS search found.
type SearchResult struct {
	Matches []Match
	// TooManyMatches is set when PDS answered 200 with its TOO_MANY_MATCHES
	// OperationOutcome instead of a Bundle.
	TooManyMatches bool
}

// Search runs a PDS search. params are PDS's own query parameters (family,
// given, birthdate=eq…, _fuzzy-match …), already validated by the caller.
func (c *Client) Search(ctx context.Context, params url.Values) (*SearchResult, error) {
	res, err := c.up.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/Patient", Query: params, Op: "search"})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, c.errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, badPayload("search", nil)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
			Search   *struct {
				Score *float64 `json:"score"`
			} `json:"search"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res.Body, &b); err != nil {
		return nil, badPayload("search", err)
	}
	switch b.ResourceType {
	case "OperationOutcome":
		o, ok := upstream.ParseOutcome(res.Body)
		switch {
		case ok && (o.Code == "TOO_MANY_MATCHES" || o.IssueCode == "multiple-matches"):
			return &SearchResult{TooManyMatches: true}, nil
		case ok && o.IssueCode == "not-supported" && o.Severity == "warning":
			// The public sandbox's answer to a search it has no canned
			// answer for: 200 with a warning, not a result.
			return nil, &fhirerr.Error{Category: fhirerr.NotSupported, IssueCode: "not-supported", Backend: Name,
				Message: "PDS cannot run this search: it answered that it has no result for this combination of parameters"}
		}
		return nil, badPayload("search", nil)
	case "Bundle":
	default:
		return nil, badPayload("search", nil)
	}
	out := &SearchResult{Matches: make([]Match, 0, len(b.Entry))}
	for _, e := range b.Entry {
		m := Match{Body: e.Resource}
		if e.Search != nil {
			m.Score = e.Search.Score
		}
		out.Matches = append(out.Matches, m)
	}
	return out, nil
}

// invalidNHSNumber is the facade's own refusal of an NHS number PDS would
// answer 400 INVALID_RESOURCE_ID.
func invalidNHSNumber(nhs string) error {
	e := fhirerr.New(fhirerr.Invalid, "%q is not a valid NHS number", nhs)
	e.Spine = fhirerr.Spine("INVALID_RESOURCE_ID")
	return e
}

func badPayload(op string, err error) error {
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the pds service sent an unexpected " + op + " response", Err: err}
}

// spineOnly is c when it is a Spine code (PDS's own system), else nil.
func spineOnly(c *fhirerr.Coding) *fhirerr.Coding {
	if c == nil || c.System != fhirerr.SpineSystem {
		return nil
	}
	return c
}

// errorFrom maps a non-200 PDS answer to a categorised error. PDS's
// diagnostics are not passed on (they can echo patient details); its code
// and display are kept in Details. When the failure is the client's (PDS
// answered 4xx and the facade answers 4xx too), PDS's Spine code is passed
// on as Spine, which PDS clients test for; a failure of PDS or of the
// facade's own credentials (401) carries none.
func (c *Client) errorFrom(res *upstream.Response) error {
	o, ok := upstream.ParseOutcome(res.Body)
	e := &fhirerr.Error{Backend: Name}
	if ok && o.Code != "" {
		// Keep the system of origin; ErrorSystem only when
		// PDS named none.
		system := o.System
		if system == "" {
			system = ErrorSystem
		}
		e.Details = &fhirerr.Coding{System: system, Version: o.Version, Code: o.Code, Display: o.Display}
	}
	// The statuses read below are the client's failures; ServiceFailure's
	// are not, except throttling.
	e.Spine = spineOnly(e.Details)
	msg := func(def string) string {
		if ok && o.Display != "" {
			return "PDS: " + o.Display
		}
		return def
	}
	switch {
	case res.Status == http.StatusBadRequest:
		e.Category, e.Message = fhirerr.Invalid, msg("PDS rejected the request as invalid")
		if ok && o.Code == "MISSING_VALUE" {
			e.Category = fhirerr.Required
		}
	case res.Status == http.StatusForbidden:
		e.Category, e.Message = fhirerr.Forbidden, msg("PDS refused access")
	case res.Status == http.StatusNotFound && ok && o.Code == "INVALIDATED_RESOURCE":
		e.Category, e.Message = fhirerr.Gone, "this NHS number has been invalidated"
	case res.Status == http.StatusNotFound:
		e.Category, e.Message = fhirerr.NotFound, "no patient with this NHS number"
	case res.Status == http.StatusConflict:
		e.Category, e.Message = fhirerr.PreconditionFailed, msg("the resource version does not match")
	case res.Status == http.StatusPreconditionFailed:
		e.Category, e.Message = fhirerr.PreconditionRequired, msg("a resource version (If-Match) is required")
	default:
		upstream.ServiceFailure(e, res, Name)
		if e.Category != fhirerr.Throttled {
			e.Spine = nil
		}
	}
	return e
}
