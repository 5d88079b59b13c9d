package resources

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/carerecords/fhir-facade/backends/pds"
	pdsmap "github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/jsonpatch"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/profiles"
)

// PDSPatcher is what patching needs from PDS besides reads.
type PDSPatcher interface {
	Patch(ctx context.Context, nhs, version string, ops json.RawMessage) (*pds.Patient, error)
}

var _ Patcher = (*Patient)(nil)

// readOnlyPaths are elements PDS owns: a patch may not touch them.
var readOnlyPaths = []string{"/resourceType", "/id", "/meta"}

// Patch implements Patcher: a JSON Patch (RFC 6902, as PDS accepts it) to a
// patient's demographics, guarded by If-Match. Before anything is sent, the
// facade reads the current record, checks the version, applies the patch
// locally and validates the result against the FHIR R4 schema and the PDS
// mapping, so an invalid or stale patch never reaches PDS. PDS then applies
// it all or nothing and checks the version again, so no update is lost.
// See: http://hl7.org/fhir/R4/http.html#patch
func (p *Patient) Patch(ctx context.Context, id string, patch []byte, contentType, ifMatch string) (*Resource, error) {
	if !nhsnumber.Valid(id) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Message: "the id must be a valid NHS number (10 digits with a correct check digit)"}
	}
	patcher, ok := p.pds.(PDSPatcher)
	if !ok {
		return nil, fhirerr.New(fhirerr.MethodNotAllowed, "this PDS connection cannot update records")
	}
	switch contentType {
	case "application/json-patch+json":
	case "application/fhir+json", "application/json":
		return nil, fhirerr.New(fhirerr.UnsupportedMediaType, "send a JSON Patch (Content-Type: application/json-patch+json); FHIRPath Patch is not supported")
	default:
		return nil, fhirerr.New(fhirerr.UnsupportedMediaType, "send a JSON Patch with Content-Type: application/json-patch+json")
	}
	if ifMatch == "" {
		return nil, fhirerr.New(fhirerr.PreconditionRequired, "If-Match: W/\"<version>\" is required: read the patient, then patch that version")
	}
	ops, err := jsonpatch.Parse(patch)
	if err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "%s", err.Error())
	}
	for i, op := range ops {
		for _, ro := range readOnlyPaths {
			if op.Path == ro || strings.HasPrefix(op.Path, ro+"/") {
				return nil, &fhirerr.Error{Category: fhirerr.Unprocessable, Message: (&jsonpatch.Error{Index: i, Path: op.Path, Msg: "PDS does not allow this element to be changed"}).Error()}
			}
		}
	}
	current, err := p.pds.Read(ctx, id)
	if err != nil {
		return nil, err
	}
	if current.Version != "" && current.Version != ifMatch {
		return nil, fhirerr.New(fhirerr.PreconditionFailed, "the patient has changed since version %s was read (it is now version %s): read it again and re-apply the change", ifMatch, current.Version)
	}
	if err := checkPatched(current.Body, ops); err != nil {
		return nil, err
	}
	updated, err := patcher.Patch(ctx, id, ifMatch, patch)
	if err != nil {
		return nil, err
	}
	return p.toResource(updated.Body, updated.Version, id)
}

// checkPatched applies ops to a copy of the current record and checks that
// the result is still a valid FHIR R4 Patient that the facade can map.
func checkPatched(current []byte, ops []jsonpatch.Op) error {
	var doc any
	if err := json.Unmarshal(current, &doc); err != nil {
		return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: pds.Name, Message: "the pds service sent a Patient the facade could not read", Err: err}
	}
	patched, err := jsonpatch.Apply(doc, ops)
	if err != nil {
		var pe *jsonpatch.Error
		if errors.As(err, &pe) {
			return fhirerr.New(fhirerr.Unprocessable, "the patch cannot be applied to this patient: %s", pe.Error())
		}
		return fhirerr.New(fhirerr.Unprocessable, "the patch cannot be applied to this patient")
	}
	b, err := json.Marshal(patched)
	if err != nil {
		return fhirerr.New(fhirerr.Unprocessable, "the patched patient is not JSON")
	}
	if err := profiles.Validate(b); err != nil {
		var ve *profiles.ValidationError
		if errors.As(err, &ve) {
			e := &fhirerr.Error{Category: fhirerr.Unprocessable, Message: "the patched patient would not be valid FHIR R4: " + ve.Error()}
			if len(ve.Issues) > 0 {
				e.Expression = ve.Issues[0].Expression
			}
			return e
		}
		return err
	}
	decoded, err := pdsmap.Decode(b)
	if err == nil {
		_, err = pdsmap.Patient(decoded)
	}
	if err != nil {
		return &fhirerr.Error{Category: fhirerr.Unprocessable, Message: "the patched patient would not be a valid PDS record", Err: err}
	}
	return nil
}
