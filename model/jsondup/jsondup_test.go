package jsondup_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/jsondup"
)

func TestCheck(t *testing.T) {
	many := `{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"a10":10`
	tests := []struct {
		name    string
		in      string
		dup     string // the duplicate's name; "" for none
		pointer string // its JSON pointer
		err     error  // another error expected (errors.Is), or nil
		syntax  bool   // a *json.SyntaxError expected
	}{
		{name: "empty object", in: `{}`},
		{name: "scalar", in: ` 12.5e400 `},
		{name: "distinct members", in: `{"resourceType":"Flag","subject":{"reference":"Patient/9000000009"},"status":"active"}`},
		{name: "same name at different levels", in: `{"id":"a","meta":{"id":"b"},"contained":[{"id":"c"},{"id":"d"}]}`},
		{name: "same name in sibling objects", in: `{"a":{"x":1},"b":{"x":2}}`},
		{name: "member name equal to a value", in: `{"a":"b","b":"a"}`},
		{name: "names differing only in case", in: `{"subject":1,"Subject":2}`},
		{name: "top-level duplicate", in: `{"subject":1,"status":"active","subject":2}`, dup: "subject", pointer: "/subject"},
		{name: "two resourceTypes", in: `{"resourceType":"Flag","resourceType":"Patient"}`, dup: "resourceType", pointer: "/resourceType"},
		{name: "duplicate with null", in: `{"a":null,"a":null}`, dup: "a", pointer: "/a"},
		{name: "nested object", in: `{"code":{"coding":[{"system":"s","code":"x","code":"y"}]}}`, dup: "code", pointer: "/code/coding/0/code"},
		{name: "array of objects, second element", in: `{"entry":[{"resource":{"subject":1}},{"resource":{"subject":1,"subject":2}}]}`,
			dup: "subject", pointer: "/entry/1/resource/subject"},
		{name: "object in arrays of arrays", in: `[[1,{"a":1}],[2,3,{"b":[],"b":{}}]]`, dup: "b", pointer: "/1/2/b"},
		{name: "escaped name", in: `{"subject":1,"sub\u006aect":2}`, dup: "subject", pointer: "/subject"},
		{name: "escaped slash and tilde in the pointer", in: `{"a/b":{"c~d":1,"c\u007ed":2}}`, dup: "c~d", pointer: "/a~1b/c~0d"},
		{name: "empty names", in: `{"":1,"":2}`, dup: "", pointer: "/"},
		{name: "large object", in: many + `,"a3":3}`, dup: "a3", pointer: "/a3"},
		{name: "large object without duplicates", in: many + `}`},
		{name: "at the limit of depth", in: strings.Repeat("[", jsondup.MaxDepth) + strings.Repeat("]", jsondup.MaxDepth)},
		{name: "too deep", in: strings.Repeat(`{"a":`, jsondup.MaxDepth+1) + "1" + strings.Repeat("}", jsondup.MaxDepth+1), err: jsondup.ErrTooDeep},
		{name: "trailing data", in: `{"a":1} {"a":1}`, err: jsondup.ErrTrailingData},
		{name: "empty", in: ``, err: io.ErrUnexpectedEOF},
		{name: "truncated", in: `{"a":1,"b":`, err: io.ErrUnexpectedEOF},
		{name: "missing colon", in: `{"a" 1}`, syntax: true},
		{name: "trailing comma", in: `{"a":1,}`, syntax: true},
		{name: "number as name", in: `{1:1}`, syntax: true},
		{name: "mismatched brackets", in: `{"a":[1}`, syntax: true},
		{name: "not JSON", in: `<Patient/>`, syntax: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := jsondup.Check([]byte(tt.in))
			var de *jsondup.DuplicateError
			isDup := errors.As(err, &de)
			var se *json.SyntaxError
			switch {
			case tt.dup != "" || tt.pointer != "":
				if !isDup || de.Name != tt.dup || de.Pointer() != tt.pointer {
					t.Fatalf("err %v, want duplicate %q at %s", err, tt.dup, tt.pointer)
				}
				if de.Offset <= 0 || de.Offset > int64(len(tt.in)) {
					t.Errorf("offset %d", de.Offset)
				}
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
			case tt.syntax:
				if !errors.As(err, &se) {
					t.Fatalf("err %v (%T), want a syntax error", err, err)
				}
			case err != nil:
				t.Fatalf("err %v, want nil", err)
			}
		})
	}
}
