package fhirjson

import (
	"fmt"
	"strconv"
	"strings"
)

// Error reports an invalid value found while building a proto. Path is the
// JSON path of the value inside the resource, e.g.
// "Patient.telecom[1].system"; it is relative (no resource type prefix) when
// a datatype builder is called on its own.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// invalid returns an *Error with an empty path; callers up the tree prefix it.
func invalid(format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...)}
}

// at prefixes the path of err with the field name seg. Errors that are not
// *Error (there should be none) are wrapped.
func at(err error, seg string) error {
	if err == nil {
		return nil
	}
	e, ok := err.(*Error)
	if !ok {
		return &Error{Path: seg, Err: err}
	}
	switch {
	case e.Path == "":
		e.Path = seg
	case strings.HasPrefix(e.Path, "["):
		e.Path = seg + e.Path
	default:
		e.Path = seg + "." + e.Path
	}
	return e
}

// atIndex prefixes the path of err with field[i].
func atIndex(err error, field string, i int) error {
	return at(err, field+"["+strconv.Itoa(i)+"]")
}

// Redacted implements fhirerr.Redactor: the path of the offending element
// without the value, which may be patient data, for logs.
func (e *Error) Redacted() string {
	if e.Path == "" {
		return "invalid value (detail withheld from logs)"
	}
	return e.Path + ": invalid value (detail withheld from logs)"
}
