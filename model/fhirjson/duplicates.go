package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/jsondup"
)

// CheckDuplicateMembers refuses a FHIR JSON body that has two members of
// the same name in one object (FHIR JSON forbids it, and parsers disagree
// on which one wins), that is not one JSON value, or that nests deeper than
// jsondup.MaxDepth. Errors are *fhirerr.Error of category Invalid; for a
// duplicate, Expression is the FHIRPath of the second occurrence, e.g.
// "Bundle.entry[0].resource.subject". It is the check the JWT parser makes
// (package jsondup), and streams the body without decoding its values.
func CheckDuplicateMembers(b []byte) error {
	err := jsondup.Check(b)
	if err == nil {
		return nil
	}
	var de *jsondup.DuplicateError
	switch {
	case errors.As(err, &de):
		expr := duplicateExpression(rootResourceType(b), de)
		// No Err: the raw name is the client's text, not for the log.
		return &fhirerr.Error{Category: fhirerr.Invalid, Expression: expr,
			Message: "the JSON object has the member '" + safeName(de.Name) + "' twice (at " + expr + "); FHIR JSON forbids duplicate names"}
	case errors.Is(err, jsondup.ErrTooDeep):
		return &fhirerr.Error{Category: fhirerr.Invalid, Err: err,
			Message: "the body nests objects and arrays more than " + strconv.Itoa(jsondup.MaxDepth) + " deep"}
	}
	msg := "the body is not valid JSON"
	var se *json.SyntaxError
	if errors.As(err, &se) {
		msg += " (at byte " + strconv.FormatInt(se.Offset, 10) + ")"
	} else if errors.Is(err, jsondup.ErrTrailingData) {
		msg += ": there is data after the JSON value"
	}
	return &fhirerr.Error{Category: fhirerr.Invalid, Message: msg, Err: err}
}

// fhirName is what a member name must look like to be quoted back: FHIR
// element names (with "_" for primitive extensions) and nothing that could
// carry a value a client would not expect to see echoed or logged.
var fhirName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_\-]{0,63}$`)

// resourceTypeName is a plausible resourceType.
var resourceTypeName = regexp.MustCompile(`^[A-Z][A-Za-z]{0,63}$`)

// ResourceTypeName reports whether s is shaped like a resource type name
// (an upper-case letter, then letters; at most 64): safe to echo in an
// error, whether or not such a type exists.
func ResourceTypeName(s string) bool { return resourceTypeName.MatchString(s) }

func safeName(n string) string {
	if fhirName.MatchString(n) {
		return n
	}
	return "(a member name)"
}

// duplicateExpression is the FHIRPath of the second occurrence, rooted at
// the resource type when it is known, else relative to the resource.
func duplicateExpression(root string, e *jsondup.DuplicateError) string {
	var sb strings.Builder
	sb.WriteString(root)
	for _, s := range e.Path {
		if s.Member {
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(safeName(s.Name))
			continue
		}
		sb.WriteString("[" + strconv.Itoa(s.Index) + "]")
	}
	if sb.Len() > 0 {
		sb.WriteByte('.')
	}
	sb.WriteString(safeName(e.Name))
	return sb.String()
}

// rootResourceType returns the first top-level resourceType of b when it is
// a string that looks like a resource type, else "". It runs only once a
// duplicate is found, and reads no further than that member.
func rootResourceType(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		if k == "resourceType" {
			v, _ := dec.Token()
			if s, ok := v.(string); ok && resourceTypeName.MatchString(s) {
				return s
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}
