// Package scr is the client of the Summary Care Record API's two-step
// retrieval (docs/backends.md, "SCR"):
//
//  1. GET /DocumentReference?patient=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//     finds the patient's latest summary (its SCR UUID) and their sharing
//     consent (securityLabel Yes, No or Ask);
//  2. GET /Bundle?composition.identifier={uuid}&composition.subject:Patient.identifier=…
//     returns the summary itself, for mappers/scr to read.
//
// It sends the platform headers (bearer token, X-Request-ID, X-Correlation-ID
// via backends/upstream; NHSD-Session-URID when configured), bounds every
// call with the upstream timeout, and turns the API's errors into
// categorised fhirerr errors. It never passes the API's
// diagnostics or details.text on: they can quote NHS numbers.
package scr

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Name is the backend's name in metrics and errors.
const Name = "scr"

// Code systems and codes of the SCR API.
const (
	// ErrorSystem is the code system of the API's 5xx error codes.
	ErrorSystem = "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode"
	// UUIDSystem is DocumentReference.masterIdentifier's system: the SCR UUID.
	UUIDSystem = "https://fhir.nhs.uk/Id/nhsSCRUUID"
	// PermissionSystem is the code system of the consent in securityLabel.
	PermissionSystem = "https://fhir.nhs.uk/CodeSystem/SCR-ACSPermission"
	// GPSummaryType is the SNOMED CT code of a General Practice Summary.
	GPSummaryType = "http://snomed.info/sct|196981000000101"
)

// Consent is the patient's sharing consent for their SCR, as the API
// states it in DocumentReference.securityLabel.
type Consent string

// The consent codes of https://fhir.nhs.uk/CodeSystem/SCR-ACSPermission.
const (
	// ConsentAsk: the patient is asked at the point of care.
	ConsentAsk Consent = "Ask"
	// ConsentYes is the legacy "express consent"; treated as Ask.
	ConsentYes Consent = "Yes"
	// ConsentNo: the patient has withheld consent (opted out).
	ConsentNo Consent = "No"
)

// Permits reports whether the summary may be fetched: Ask, or the legacy
// Yes. No, a missing label or a code the facade does not know all mean it
// may not: the facade never reads a summary without knowing it is allowed to.
func (c Consent) Permits() bool { return c == ConsentAsk || c == ConsentYes }

// Latest is what GET /DocumentReference says about a patient's summary.
type Latest struct {
	// UUID is the latest SCR's UUID (masterIdentifier), as the API writes it.
	UUID string
	// Consent is the code of securityLabel[0].coding[0] ("" when absent).
	Consent Consent
}

// Client calls the SCR API.
type Client struct {
	up     *upstream.Client
	header http.Header
}

// Options configure a Client.
type Options struct {
	// SessionURID is sent as NHSD-Session-URID (the user's role profile id
	// in user-restricted mode); empty sends none.
	SessionURID string
}

// New returns a client over up.
func New(up *upstream.Client, opts Options) *Client {
	c := &Client{up: up}
	if opts.SessionURID != "" {
		c.header = http.Header{"NHSD-Session-URID": {opts.SessionURID}}
	}
	return c
}

// Latest runs step 1 for the patient nhs (a valid NHS number). It returns
// nil, nil when the patient has no SCR (the API's empty Bundle).
func (c *Client) Latest(ctx context.Context, nhs string) (*Latest, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, fhirerr.New(fhirerr.Invalid, "the patient must be a valid NHS number")
	}
	q := url.Values{"patient": {nhsnumber.System + "|" + nhs}, "type": {GPSummaryType}, "_sort": {"date"}, "_count": {"1"}}
	res, err := c.up.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/DocumentReference", Query: q, Header: c.header, Op: "document-reference"})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, badPayload("DocumentReference", nil)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Total        *int   `json:"total"`
		Entry        []struct {
			Resource struct {
				ResourceType     string `json:"resourceType"`
				MasterIdentifier *struct {
					System string `json:"system"`
					Value  string `json:"value"`
				} `json:"masterIdentifier"`
				SecurityLabel []struct {
					Coding []struct {
						System string `json:"system"`
						Code   string `json:"code"`
					} `json:"coding"`
				} `json:"securityLabel"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res.Body, &b); err != nil {
		return nil, badPayload("DocumentReference", err)
	}
	if b.ResourceType != "Bundle" {
		return nil, badPayload("DocumentReference", nil)
	}
	for _, e := range b.Entry {
		r := e.Resource
		if r.ResourceType != "DocumentReference" {
			continue // the Patient entry
		}
		if r.MasterIdentifier == nil || r.MasterIdentifier.Value == "" {
			return nil, badPayload("DocumentReference", nil)
		}
		l := &Latest{UUID: r.MasterIdentifier.Value}
		for _, sl := range r.SecurityLabel {
			for _, cd := range sl.Coding {
				if l.Consent == "" && (cd.System == PermissionSystem || cd.System == "") {
					l.Consent = Consent(cd.Code)
				}
			}
		}
		return l, nil
	}
	if b.Total != nil && *b.Total > 0 {
		// The service says the patient has a summary but sent none: that
		// is a cut answer, never "no Summary Care Record".
		return nil, badPayload("DocumentReference (a total of summaries without any)", nil)
	}
	return nil, nil
}

// Summary runs step 2: the GET /Bundle payload of the summary uuid of the
// patient nhs, for mappers/scr.Map. A UUID that is no longer the latest gives
// a Bundle without a Composition (the API's answer), which Map reports.
func (c *Client) Summary(ctx context.Context, nhs, uuid string) ([]byte, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, fhirerr.New(fhirerr.Invalid, "the patient must be a valid NHS number")
	}
	q := url.Values{"composition.identifier": {uuid}, "composition.subject:Patient.identifier": {nhsnumber.System + "|" + nhs}}
	res, err := c.up.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/Bundle", Query: q, Header: c.header, Op: "bundle"})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, badPayload("Bundle", nil)
	}
	return res.Body, nil
}

func badPayload(what string, err error) error {
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the scr service sent an unexpected " + what + " response", Err: err}
}

// errorFrom maps a non-200 answer of the SCR API. The API's issue.code is kept in Details for traceability; its
// details.text and diagnostics are not (they can quote NHS numbers).
func errorFrom(res *upstream.Response) error {
	o, ok := upstream.ParseOutcome(res.Body)
	e := &fhirerr.Error{Backend: Name}
	if ok && o.Code != "" {
		system := o.System
		if system == "" {
			system = ErrorSystem
		}
		e.Details = &fhirerr.Coding{System: system, Code: o.Code}
	}
	switch s := res.Status; {
	case s == http.StatusBadRequest:
		e.Category, e.Message = fhirerr.Invalid, "the Summary Care Record rejected the request as invalid"
	case s == http.StatusForbidden && ok && strings.Contains(o.Text, "30418"):
		// PSIS-30418, "ACF does not permit access to resource": the answer
		// for a patient who withheld consent, and (in the public sandbox)
		// for any patient it does not hold.
		e.Category, e.Message = fhirerr.Forbidden, "the Summary Care Record's access control does not permit access to this patient's summary "+
			"(PSIS-30418: the patient has not consented to share it, or the service holds none it may show)"
	case s == http.StatusForbidden:
		e.Category, e.Message = fhirerr.Forbidden, "the Summary Care Record refused access (no patient consent to share it)"
	case s == 420:
		e.Category, e.Message = fhirerr.Forbidden, "the Summary Care Record refused access (an access-control rule of the service)"
	default:
		// 404 (a wrong base URL), 415 (a facade bug), 5xx: the backend failed.
		upstream.ServiceFailure(e, res, Name)
	}
	return e
}
