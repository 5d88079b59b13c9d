// Package bna is the client of the national birth notification service
// (BACKENDS.md §7b, project contract): notify a birth, get the baby's new
// NHS number. The baby's record is then read from PDS.
package bna

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Name is the backend's name in metrics and errors.
const Name = "bna"

// ErrorSystem names the service's error codes in OperationOutcome details
// (project contract: the service answers {"error": CODE}).
const ErrorSystem = "https://carerecords-facade.invalid/fhir/CodeSystem/bna-error"

// NotificationsPath is the endpoint under the base URL.
const NotificationsPath = "/notifications"

// CodeRequestIDReused is the service's answer (422, or 409) to a request id
// already used for another notification (project contract, after the IETF
// Idempotency-Key draft).
const CodeRequestIDReused = "REQUEST_ID_REUSED"

// MotherNHSNumberURL is the extension on the baby's PDS contact that the
// service fills with the mother's NHS number (project contract).
const MotherNHSNumberURL = "https://carerecords-facade.invalid/fhir/StructureDefinition/contact-nhs-number"

// RequestIDReused is the facade's refusal of a notification whose request
// id was used before for a different one: the service refused it, or
// answered with a baby that is not the one notified (differs names the
// parameters that disagree, if known). Retrying cannot help; a correction
// needs a new id.
func RequestIDReused(differs string) *fhirerr.Error {
	msg := "this request id was already used for a different birth notification"
	if differs != "" {
		msg += " (the baby the service answered with differs in " + differs + ")"
	}
	return &fhirerr.Error{Category: fhirerr.Conflict, Backend: Name,
		Message: msg + "; send the correction with a new X-Request-ID"}
}

// Client calls the birth notification service.
type Client struct {
	up *upstream.Client
}

// New returns a client over up (base URL …/birth-notifications/v1).
func New(up *upstream.Client) *Client { return &Client{up: up} }

// Notification is one birth, as the service takes it.
type Notification struct {
	MotherNHSNumber string     `json:"motherNhsNumber"`
	Baby            Baby       `json:"baby"`
	PlaceOfBirthODS string     `json:"placeOfBirthOds"`
	NotifiedBy      NotifiedBy `json:"notifiedBy"`
}

// Baby describes the baby born. BirthDateTime is an instant (RFC 3339 with
// a time zone).
type Baby struct {
	Sex              string `json:"sex"`
	BirthDateTime    string `json:"birthDateTime"`
	BirthOrder       int    `json:"birthOrder"`
	NumberOfBabies   int    `json:"numberOfBabies"`
	BirthWeightGrams int    `json:"birthWeightGrams"`
}

// NotifiedBy is the notifying professional: their SDS user id and
// organisation.
type NotifiedBy struct {
	SDSUserID string `json:"sdsUserId"`
	ODS       string `json:"ods"`
}

// Result is the service's answer to a notification.
type Result struct {
	NHSNumber  string `json:"nhsNumber"`
	PDSVersion string `json:"pdsVersion"`
}

// Error fields of the contract, as the service names them.
type serviceError struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// keySpace is the namespace of the idempotency keys the facade derives.
var keySpace = uuid.MustParse("5f0c4c1e-6b8e-4f51-9d0e-3c1a2b7d9e10")

// IdempotencyKey is the X-Request-ID a notification is sent with: a
// name-based UUID of the notifying professional and the facade's request id
// (the client's own X-Request-ID when it sent one). A client retrying its
// POST with the same X-Request-ID gets the same key, so never a second
// baby; another caller who sends the same X-Request-ID (request ids are not
// secrets: they travel in logs and headers) gets another key, so never the
// first caller's answer. Without a request id, a fresh UUID.
func IdempotencyKey(ctx context.Context, by NotifiedBy) string {
	id := upstream.CorrelationID(ctx)
	if id == "" {
		return uuid.NewString()
	}
	if uuidPattern.MatchString(id) {
		id = strings.ToLower(id)
	}
	return uuid.NewSHA1(keySpace, []byte(by.SDSUserID+"\x00"+by.ODS+"\x00"+id)).String()
}

// Notify sends one birth notification. It is never retried (upstream
// retries only idempotent reads); its X-Request-ID is IdempotencyKey,
// so the service answers a repeated notification with its first answer,
// and refuses another notification under the same key.
//
// Errors: the service's 400 INVALID_NHS_NUMBER / INVALID_VALUE are Invalid
// with the service's field in Expression; 404 MOTHER_NOT_FOUND NotFound;
// REQUEST_ID_REUSED (422 or 409) Conflict, RequestIDReused; 409
// DUPLICATE_NOTIFICATION Conflict (issue code duplicate); the rest as every
// backend's (upstream.StatusError: 401 → 502, 403, 408/503/504 timeout, 429,
// 5xx). The Result names the baby the service holds under the key: whether
// it is the one notified is for the caller to check against PDS.
func (c *Client) Notify(ctx context.Context, n Notification) (*Result, error) {
	if !nhsnumber.Valid(n.MotherNHSNumber) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "motherNhsNumber", Message: "the mother's NHS number is not valid"}
	}
	body, err := json.Marshal(n)
	if err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the notification could not be encoded")
	}
	res, err := c.up.Do(ctx, upstream.Request{
		Method: http.MethodPost, Path: NotificationsPath, Op: "notify", Body: body,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Request-ID": {IdempotencyKey(ctx, n.NotifiedBy)}},
	})
	if err != nil {
		return nil, err
	}
	if res.Status == http.StatusCreated || res.Status == http.StatusOK {
		var out Result
		if err := json.Unmarshal(res.Body, &out); err != nil || !nhsnumber.Valid(out.NHSNumber) {
			return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the birth notification service sent an unexpected answer", Err: err}
		}
		return &out, nil
	}
	var se serviceError
	_ = json.Unmarshal(res.Body, &se)
	e := &fhirerr.Error{Backend: Name}
	if se.Error != "" {
		e.Details = &fhirerr.Coding{System: ErrorSystem, Code: se.Error, Display: se.Error}
	}
	switch {
	case se.Error == CodeRequestIDReused && (res.Status == http.StatusUnprocessableEntity || res.Status == http.StatusConflict):
		re := RequestIDReused("")
		re.Details = e.Details
		return nil, re
	case res.Status == http.StatusBadRequest:
		e.Category, e.Expression = fhirerr.Invalid, se.Field
		e.Message = "the birth notification service rejected the notification as invalid"
		if se.Field != "" {
			e.Message += " (" + se.Field + ")"
		}
	case res.Status == http.StatusNotFound && se.Error == "MOTHER_NOT_FOUND":
		e.Category, e.Message = fhirerr.NotFound, "the mother has no record in PDS"
	case res.Status == http.StatusConflict:
		e.Category, e.IssueCode = fhirerr.Conflict, "duplicate"
		e.Message = "this birth (same mother, birth time and birth order) has already been notified"
	default:
		se := upstream.StatusError(res, upstream.Service{Name: Name, Label: "the birth notification service", ErrorSystem: ErrorSystem})
		if e.Details != nil {
			se.Details = e.Details
		}
		return nil, se
	}
	return nil, e
}
