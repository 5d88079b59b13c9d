package resources

import (
	"bytes"
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

// readOnlyPaths are elements PDS owns: a patch may not touch them.
var readOnlyPaths = []string{"/resourceType", "/id", "/meta"}

// patch is Patcher's Patch (see Writable): a JSON Patch (RFC 6902, as PDS accepts it) to a
// patient's demographics, guarded by If-Match. Before anything is sent, the
// facade reads the current record, checks the version, applies the patch
// locally and validates the result against the FHIR R4 schema and the PDS
// mapping, so an invalid or stale patch never reaches PDS. PDS then applies
// it all or nothing and checks the version again, so no update is lost.
// See: http://hl7.org/fhir/R4/http.html#patch
func (p *Patient) patch(ctx context.Context, patcher PDSPatcher, id string, patch []byte, contentType, ifMatch string) (*Resource, error) {
	if !nhsnumber.Valid(id) {
		return nil, errInvalidPatientID()
	}
	switch contentType {
	case "application/json-patch+json":
	case "application/fhir+json", "application/json":
		return nil, wrongPatchType(contentType, "send a JSON Patch (Content-Type: application/json-patch+json); FHIRPath Patch is not supported")
	default:
		return nil, wrongPatchType(contentType, "send a JSON Patch with Content-Type: application/json-patch+json")
	}
	if ifMatch == "" {
		// PDS answers a missing If-Match 412 PRECONDITION_FAILED; FHIR's
		// status for it is 428.
		e := fhirerr.New(fhirerr.PreconditionRequired, "If-Match: W/\"<version>\" is required: read the patient, then patch that version")
		e.Spine = fhirerr.Spine("PRECONDITION_FAILED")
		return nil, e
	}
	patch, err := unwrapPatches(patch)
	if err != nil {
		return nil, err
	}
	ops, err := jsonpatch.Parse(patch)
	if err != nil {
		// PDS: an operation it cannot read is INVALID_VALUE, a patch
		// that is not a list of operations INVALID_UPDATE.
		e := fhirerr.New(fhirerr.Invalid, "%s", err.Error())
		if _, isOp := errors.AsType[*jsonpatch.Error](err); isOp {
			e.Spine = fhirerr.Spine("INVALID_VALUE")
		} else {
			e.Spine = fhirerr.Spine("INVALID_UPDATE")
		}
		return nil, e
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
		// PDS answers 409 RESOURCE_VERSION_MISMATCH; FHIR's status is 412.
		e := fhirerr.New(fhirerr.PreconditionFailed, "the patient has changed since version %s was read (it is now version %s): read it again and re-apply the change", ifMatch, current.Version)
		e.Spine = fhirerr.Spine("RESOURCE_VERSION_MISMATCH")
		return nil, e
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
	b, err := jsonpatch.Apply(current, ops)
	if err != nil {
		pe, ok := errors.AsType[*jsonpatch.Error](err)
		if !ok { // the record itself is not JSON
			return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: pds.Name, Message: "the pds service sent a Patient the facade could not read", Err: err}
		}
		// PDS answers a patch it cannot apply (a failed test, a missing
		// element) INVALID_UPDATE; FHIR's status is 422.
		e := fhirerr.New(fhirerr.Unprocessable, "the patch cannot be applied to this patient: %s", pe.Error())
		e.Spine = fhirerr.Spine("INVALID_UPDATE")
		return e
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

// wrongPatchType refuses a PATCH's media type. PDS takes any
// application/json… type and answers others 400 UNSUPPORTED_SERVICE; the
// facade's answer is 415, with PDS's code where PDS would refuse it too.
func wrongPatchType(contentType, msg string) error {
	e := fhirerr.New(fhirerr.UnsupportedMediaType, "%s", msg)
	if !strings.HasPrefix(contentType, "application/json") {
		e.Spine = fhirerr.Spine("UNSUPPORTED_SERVICE")
	}
	return e
}

// unwrapPatches returns the JSON Patch of a PATCH body: the body itself when
// it is a bare RFC 6902 array, or the operations of PDS's envelope
// {"patches": […], "correction": true|false} (PDS's OpenAPI, PatientPatch
// requests; NHS England's Postman collection sends "correction", which the
// specification does not define: it is accepted as a boolean and, like the
// PDS sandbox, has no effect, so it is not passed on). A malformed
// envelope is refused with the code PDS answers it with.
func unwrapPatches(body []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return body, nil
	}
	refuse := func(code, msg string) error {
		return &fhirerr.Error{Category: fhirerr.Invalid, Message: msg, Spine: fhirerr.Spine(code)}
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, refuse("INVALID_UPDATE", "the patch envelope is not a JSON object: send {\"patches\": [JSON Patch operations]} or a bare JSON Patch array")
	}
	for k := range env {
		if k != "patches" && k != "correction" {
			return nil, refuse("ADDITIONAL_PROPERTIES", "the patch envelope takes only \"patches\" (and \"correction\")")
		}
	}
	if c, ok := env["correction"]; ok {
		var b bool
		if json.Unmarshal(c, &b) != nil {
			return nil, refuse("INVALID_VALUE", "the patch envelope's \"correction\" must be true or false")
		}
	}
	ops := bytes.TrimSpace(env["patches"])
	switch {
	case len(ops) == 0 || bytes.Equal(ops, []byte("null")):
		return nil, refuse("INVALID_UPDATE", "the patch envelope has no \"patches\"")
	case ops[0] != '[':
		return nil, refuse("INVALID_UPDATE", "the patch envelope's \"patches\" must be a list of JSON Patch operations")
	case bytes.Equal(bytes.Join(bytes.Fields(ops), nil), []byte("[]")):
		return nil, refuse("TOO_FEW_VALUES_SUBMITTED", "the patch envelope's \"patches\" has no operations")
	}
	return ops, nil
}
