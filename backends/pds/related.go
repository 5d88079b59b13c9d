package pds

import (
	"context"
	"net/http"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// RelatedPeople fetches a patient's related people: PDS's GET
// /Patient/{nhs}/RelatedPerson, a searchset Bundle of RelatedPerson
// (docs/backends.md, "PDS"), returned as PDS sent it for mappers/pds to
// decode. nhs must be a valid NHS number.
//
// It goes through the same upstream client as Read: a 200 is cached, and
// a PATCH of the patient (/Patient/{nhs}) ends the cached answer with the
// record's. Errors are mapped as Read's: 404 RESOURCE_NOT_FOUND (PDS holds
// no such patient) is NotFound, INVALIDATED_RESOURCE Gone, 400 Invalid.
// PDS answers a restricted patient with an empty searchset, and a
// superseded number with the superseding patient's related people.
func (c *Client) RelatedPeople(ctx context.Context, nhs string) ([]byte, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, fhirerr.New(fhirerr.Invalid, "%q is not a valid NHS number", nhs)
	}
	res, err := c.up.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/Patient/" + nhs + "/RelatedPerson", Op: "related"})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, c.errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, badPayload("related people", nil)
	}
	return res.Body, nil
}
