package pds

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// PATCH /Patient/{nhsNumber} (docs/backends.md, "PDS"; OpenAPI
// components/paths/patient-patch.yaml).
//
// Checks, in the sandbox's order: the NHS number (400 INVALID_RESOURCE_ID),
// If-Match present and W/"<n>" (412 PRECONDITION_FAILED), a Content-Type
// starting application/json (400 UNSUPPORTED_SERVICE), then the X-Request-ID
// and token, the patient (404), the body
// ({"patches":[…]} with an optional boolean "correction"), the version (409
// RESOURCE_VERSION_MISMATCH), then the operations, applied in order to a
// copy of the record. Unless Options.StatelessPatches is set, PDS's patch
// rules and business rules are applied too (see rules.go), the result must
// still be a valid PDS Patient, and the new version is stored with a
// compare-and-swap, so of concurrent updates made against one version
// exactly one succeeds and the others get 409. A restricted patient cannot be
// updated (403 FORBIDDEN_UPDATE, checked after the version).
//
// Decisions where the specification is silent: "correction" (sent by NHS
// England's Postman collection) is accepted and has no effect; a superseded
// NHS number updates the superseding record, as reading it returns that
// record; unknown members of an operation are ignored (RFC 6902 §4); the
// application-restricted access mode, slow updates (503 with Retry-After,
// X-Sync-Wait) and de-duplication by X-Request-ID are not modelled.

// maxPatchBody bounds a PATCH body.
const maxPatchBody = 1 << 20

var ifMatchPattern = regexp.MustCompile(`^W/"([0-9]+)"$`)

const missingIfMatch = "Invalid request with error - If-Match header must be supplied to update this resource"

// patchRequest is a parsed PATCH body.
type patchRequest struct {
	ops        []patchOp
	correction bool
}

func (s *Simulator) patch(w http.ResponseWriter, r *http.Request, id string) *apiError {
	if id == "" {
		return errUnsupportedService()
	}
	if !nhsnumber.Valid(id) {
		return errInvalidResourceID()
	}
	ifMatch := r.Header.Get("If-Match")
	if ifMatch == "" {
		return errPreconditionFailed(missingIfMatch)
	}
	m := ifMatchPattern.FindStringSubmatch(ifMatch)
	if m == nil {
		return errPreconditionFailed(fmt.Sprintf("Invalid value - '%s' in header 'If-Match'", ifMatch))
	}
	want, err := strconv.Atoi(m[1])
	if err != nil {
		return errPreconditionFailed(fmt.Sprintf("Invalid value - '%s' in header 'If-Match'", ifMatch))
	}
	// The specification names application/json-patch+json; the sandbox takes
	// any media type starting application/json, and so do we.
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return errWrongContentType()
	}
	if err := s.checkHeaders(r); err != nil {
		return err
	}
	if s.db.invalidated[id] {
		return errInvalidated()
	}
	id = s.db.current(id)
	base := s.readable(id)
	if base == nil {
		return errNotFound()
	}

	raw, rerr := io.ReadAll(io.LimitReader(r.Body, maxPatchBody+1))
	if rerr != nil {
		return errInvalidUpdate("the request body could not be read")
	}
	if len(raw) > maxPatchBody {
		return errInvalidUpdate(fmt.Sprintf("the request body is larger than %d bytes", maxPatchBody))
	}
	req, aerr := parsePatchBody(raw)
	if aerr != nil {
		return aerr
	}
	if want != base.version() {
		return errVersionMismatch()
	}
	strict := !s.opts.StatelessPatches
	if strict && base.restricted {
		return errForbiddenUpdate("the record of a restricted (sensitive) patient cannot be updated")
	}

	docv, derr := decodeJSON(base.full)
	if derr != nil {
		panic(fmt.Sprintf("pds: stored record %s is not JSON: %v", base.id, derr))
	}
	orig := docv.(*object) // never changed: each operation decodes its result
	var check func(doc *object, i int) *apiError
	if strict {
		check = func(doc *object, i int) *apiError { return checkOp(doc, req.ops, i) }
	}
	doc, aerr := applyPatch(base.full, orig, req.ops, check)
	if aerr != nil {
		return aerr
	}
	if strict {
		if err := validatePatched(orig, doc, s.now()); err != nil {
			return err
		}
		completeNewItems(orig, doc, base.id, base.version()+1, s.now())
	}

	next := base.version() + 1
	meta, ok := doc.m["meta"].(*object)
	if !ok {
		meta = newObject()
		doc.set("meta", meta)
	}
	meta.set("versionId", strconv.Itoa(next))
	body := encodeJSON(doc)

	if strict {
		rec, err := patchedRecord(base, body, next)
		if err != nil {
			panic(fmt.Sprintf("pds: patched record %s: %v", base.id, err))
		}
		if !s.commit(base, rec) {
			return errVersionMismatch() // another update won the race
		}
		body = rec.full
	}
	w.Header().Set("ETag", `W/"`+strconv.Itoa(next)+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// parsePatchBody reads {"patches":[…], "correction": bool}.
func parsePatchBody(raw []byte) (*patchRequest, *apiError) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, errInvalidUpdate("the request body is not valid JSON")
	}
	body, ok := v.(*object)
	if !ok {
		return nil, errInvalidUpdate("No patches found") // e.g. a bare JSON Patch list, as the sandbox answers
	}
	var extra []string
	for _, k := range body.keys {
		if k != "patches" && k != "correction" {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		return nil, errAdditionalProperties(extra)
	}
	req := &patchRequest{}
	if c, ok := body.get("correction"); ok {
		b, isBool := c.(bool)
		if !isBool {
			return nil, errInvalidValue(jsonString(c), "correction")
		}
		req.correction = b
	}
	pv, ok := body.get("patches")
	if !ok || pv == nil {
		return nil, errInvalidUpdate("No patches found")
	}
	list, ok := pv.([]any)
	if !ok {
		return nil, errInvalidUpdate("'patches' must be a list of JSON Patch operations")
	}
	if len(list) == 0 {
		return nil, errTooFewValues("patches")
	}
	for i, e := range list {
		op, err := parsePatchOp(i, e)
		if err != nil {
			return nil, err
		}
		req.ops = append(req.ops, op)
	}
	return req, nil
}

// parsePatchOp validates one operation object. Members other than op, path
// and value are ignored, as RFC 6902 §4 requires.
func parsePatchOp(i int, e any) (patchOp, *apiError) {
	o, ok := e.(*object)
	if !ok {
		return patchOp{}, errInvalidUpdate(fmt.Sprintf("patch %d is not a JSON object", i))
	}
	var op patchOp
	switch v, has := o.get("op"); {
	case !has:
		return op, errInvalidUpdate(fmt.Sprintf("Missing value - '%d/op'", i))
	default:
		s, isString := v.(string)
		if !isString {
			return op, errInvalidValue(jsonString(v), fmt.Sprintf("%d/op", i))
		}
		switch s {
		case "add", "remove", "replace", "test":
			op.op = s
		default:
			return op, errInvalidValue(s, fmt.Sprintf("%d/op", i))
		}
	}
	pv, has := o.get("path")
	if !has {
		return op, errInvalidUpdate(fmt.Sprintf("Missing value - '%d/path'", i))
	}
	path, isString := pv.(string)
	if !isString {
		return op, errInvalidValue(jsonString(pv), fmt.Sprintf("%d/path", i))
	}
	tokens, ok := parsePointer(path)
	if !ok {
		return op, errInvalidValue(path, fmt.Sprintf("%d/path", i))
	}
	op.path, op.tokens = path, tokens
	op.value, op.hasValue = o.get("value")
	if op.op != "remove" && !op.hasValue {
		return op, errInvalidUpdate(fmt.Sprintf("Missing value - '%d/value'", i))
	}
	if err := op.compile(); err != nil {
		return op, errInvalidUpdate(fmt.Sprintf("patch %d cannot be read: %v", i, err))
	}
	return op, nil
}

// jsonString renders a value for diagnostics: a string as is, anything
// else as JSON.
func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return string(encodeJSON(v))
}
