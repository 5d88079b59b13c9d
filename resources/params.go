package resources

import (
	"net/url"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// PatientParamModifiers are the modifiers PatientNHSNumber understands; a
// provider declaring a patient/subject reference parameter lists them.
var PatientParamModifiers = []string{"identifier"}

// PatientNHSNumber finds the patient a search is about, from the reference
// parameter name (e.g. "patient" or "subject") in any of its FHIR forms:
//
//	name=9000000009
//	name=Patient/9000000009
//	name=<base>/Patient/9000000009
//	name:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009
//
// The NHS number is checked (Modulus 11) before any backend is called. ok is
// false when no such parameter was given.
// See: http://hl7.org/fhir/R4/search.html#reference
func PatientNHSNumber(q url.Values, name string) (nhs string, ok bool, err error) {
	var raw, used string
	for _, k := range []string{name, name + ":identifier", name + ":Patient"} {
		if v := q.Get(k); v != "" {
			if raw != "" {
				return "", true, &fhirerr.Error{Category: fhirerr.Invalid, Expression: name, Message: "give the patient once, as " + name + " or " + name + ":identifier"}
			}
			raw, used = v, k
		}
	}
	if raw == "" {
		return "", false, nil
	}
	if used == name+":identifier" {
		system, value, found := strings.Cut(raw, "|")
		if !found {
			value, system = system, ""
		}
		if system != "" && system != nhsnumber.System {
			return "", true, &fhirerr.Error{Category: fhirerr.Invalid, Expression: used,
				Message: used + " takes an NHS number: " + nhsnumber.System + "|<NHS number>"}
		}
		raw = value
	} else if i := strings.LastIndex(raw, "/"); i >= 0 {
		typ := raw[:i]
		if j := strings.LastIndex(typ, "/"); j >= 0 {
			typ = typ[j+1:]
		}
		if typ != "Patient" {
			return "", true, &fhirerr.Error{Category: fhirerr.Invalid, Expression: used,
				Message: used + " must reference a Patient (Patient/<NHS number>)"}
		}
		raw = raw[i+1:]
	}
	if !nhsnumber.Valid(raw) {
		return "", true, &fhirerr.Error{Category: fhirerr.Invalid, Expression: used,
			Message: used + " must be a valid NHS number (10 digits with a correct check digit)"}
	}
	return raw, true, nil
}

// RequirePatient is PatientNHSNumber for searches that cannot run without a
// patient: national services are queried one patient at a time.
func RequirePatient(q url.Values, name string) (string, error) {
	nhs, ok, err := PatientNHSNumber(q, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &fhirerr.Error{Category: fhirerr.Invalid, Expression: name,
			Message: "this search needs the patient: " + name + "=<NHS number> (or Patient/<NHS number>, or " + name + ":identifier=" + nhsnumber.System + "|<NHS number>)"}
	}
	return nhs, nil
}

// Token is one value of a token search parameter: system|code, |code (no
// system) or code (any system).
// See: http://hl7.org/fhir/R4/search.html#token
type Token struct {
	System    string
	Code      string
	HasSystem bool // a '|' was given: System is significant, even if empty
}

// ParseTokens splits a token parameter's value on commas (FHIR's OR) into tokens.
func ParseTokens(value string) []Token {
	var out []Token
	for _, part := range strings.Split(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		sys, code, found := strings.Cut(part, "|")
		if !found {
			out = append(out, Token{Code: sys})
			continue
		}
		out = append(out, Token{System: sys, Code: code, HasSystem: true})
	}
	return out
}

// Matches reports whether a coding (system, code) satisfies t.
func (t Token) Matches(system, code string) bool {
	if t.HasSystem && t.System != system {
		return false
	}
	return t.Code == "" || t.Code == code
}

// codingsMatch reports whether any of the codings matches any of the tokens.
func codingsMatch(cs []*dtpb.Coding, ts []Token) bool {
	for _, c := range cs {
		for _, t := range ts {
			if t.Matches(c.GetSystem().GetValue(), c.GetCode().GetValue()) {
				return true
			}
		}
	}
	return false
}
