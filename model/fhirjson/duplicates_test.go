package fhirjson_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/jsondup"
)

const flagBody = `{"resourceType":"Flag","status":"active","code":{"coding":[{"system":"http://snomed.info/sct","code":"1","display":"x"}]},"subject":{"reference":"Patient/9000000009"}}`

func TestCheckDuplicateMembers(t *testing.T) {
	tests := []struct {
		name string
		body string
		expr string // Expression of the refusal; "-" for any refusal without one
		msg  string // substring of the message
	}{
		{name: "a Flag", body: flagBody},
		{name: "same name at different levels", body: `{"resourceType":"Bundle","id":"b1","entry":[{"resource":{"resourceType":"Flag","id":"f1"}},{"resource":{"resourceType":"Flag","id":"f2"}}]}`},
		{name: "two subjects", body: strings.Replace(flagBody, `"status"`, `"subject":{"reference":"Patient/9000000017"},"status"`, 1),
			expr: "Flag.subject", msg: "the JSON object has the member 'subject' twice (at Flag.subject); FHIR JSON forbids duplicate names"},
		{name: "two resourceTypes", body: `{"resourceType":"Flag","resourceType":"Patient","id":"x"}`, expr: "Flag.resourceType", msg: "'resourceType' twice"},
		{name: "resourceType after the duplicate", body: `{"id":"a","id":"b","resourceType":"Patient"}`, expr: "Patient.id"},
		{name: "no resourceType", body: `{"id":"a","id":"b"}`, expr: "id"},
		{name: "odd resourceType", body: `{"resourceType":"not a type","id":"a","id":"b"}`, expr: "id"},
		{name: "in a Bundle entry", body: `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Flag","subject":{},"subject":{}}}]}`,
			expr: "Bundle.entry[0].resource.subject"},
		{name: "in a Parameters resource", body: `{"resourceType":"Parameters","parameter":[{"name":"a","valueString":"x"},{"name":"b","valueCode":"x","valueCode":"y"}]}`,
			expr: "Parameters.parameter[1].valueCode"},
		{name: "escaped name", body: `{"resourceType":"Flag","subject":{},"sub\u006aect":{}}`, expr: "Flag.subject"},
		{name: "primitive extension", body: `{"resourceType":"Patient","birthDate":"2026-01-01","_birthDate":{},"_birthDate":{}}`, expr: "Patient._birthDate"},
		{name: "a name not echoed", body: `{"resourceType":"Patient","9000000009 Smith":1,"9000000009 Smith":2}`,
			expr: "Patient.(a member name)", msg: "the member '(a member name)' twice"},
		{name: "not JSON", body: `{"resourceType":"Flag",}`, expr: "-", msg: "not valid JSON (at byte"},
		{name: "trailing data", body: flagBody + flagBody, expr: "-", msg: "data after the JSON value"},
		{name: "truncated", body: flagBody[:40], expr: "-", msg: "not valid JSON"},
		{name: "too deep", body: `{"resourceType":"Basic","extension":` + strings.Repeat(`[`, jsondup.MaxDepth) + strings.Repeat(`]`, jsondup.MaxDepth) + `}`,
			expr: "-", msg: "more than 64 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fhirjson.CheckDuplicateMembers([]byte(tt.body))
			if tt.expr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != fhirerr.Invalid || fe.IssueCode != "" {
				t.Fatalf("err %#v, want an Invalid *fhirerr.Error", err)
			}
			if tt.expr != "-" && fe.Expression != tt.expr {
				t.Errorf("expression %q, want %q", fe.Expression, tt.expr)
			}
			if tt.expr == "-" && fe.Expression != "" {
				t.Errorf("expression %q, want none", fe.Expression)
			}
			if !strings.Contains(fe.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", fe.Message, tt.msg)
			}
			if strings.Contains(fhirerr.LogString(err), "Smith") {
				t.Errorf("log line %q quotes the member name", fhirerr.LogString(err))
			}
		})
	}
}

// FuzzCheckDuplicateMembers compares CheckDuplicateMembers with a reference
// built on other parts of encoding/json: json.Valid for syntax, and
// json.Unmarshal into maps, whose member count falls short of the names in
// the text exactly when an object repeats a name. Every refusal is an
// Invalid *fhirerr.Error; a duplicate's has an Expression.
func FuzzCheckDuplicateMembers(f *testing.F) {
	f.Add(flagBody)
	f.Add(`{"resourceType":"Flag","subject":{},"sub\u006aect":{}}`)
	f.Add(`{"resourceType":"Bundle","entry":[{"resource":{"a":1}},{"resource":{"a":1,"b":[{"c":[]}],"a":2}}]}`)
	f.Add(`{"a\"b":"{\"a\":1,\"a\":2}","a\\":[1,2,{"":0,"":0}]}`)
	f.Add(`{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"a5":5}`)
	f.Add(strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70))
	f.Add("{\"\xff\":1,\"\xfe\":2}")
	f.Add(`{"a":1} x`)
	f.Fuzz(func(t *testing.T, body string) {
		err := fhirjson.CheckDuplicateMembers([]byte(body))
		if err != nil {
			if fe := fhirerr.As(err); fe == nil || fe.Category != fhirerr.Invalid || fe.Message == "" {
				t.Fatalf("refusal %#v is not an Invalid *fhirerr.Error", err)
			}
		}
		if !json.Valid([]byte(body)) {
			if err == nil {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			return
		}
		names, depth := countNames(body)
		if depth > jsondup.MaxDepth {
			if err == nil {
				t.Fatalf("accepted depth %d", depth)
			}
			return
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber() // 1e400 is valid JSON
		if e := dec.Decode(&v); e != nil {
			t.Fatalf("json.Valid but Unmarshal fails: %v", e)
		}
		hasDup := countMembers(v) != names
		if hasDup != (err != nil) {
			t.Fatalf("duplicates %v (%d names, %d members), but CheckDuplicateMembers says %v", hasDup, names, countMembers(v), err)
		}
		if err != nil && fhirerr.As(err).Expression == "" {
			t.Fatalf("duplicate refused without an expression: %v", err)
		}
	})
}

// countNames counts the member names in valid JSON text, by brackets and
// quotes alone, and its nesting depth: a string is a name when it is
// inside an object and follows '{' or ','.
func countNames(s string) (names, maxDepth int) {
	var stack []byte
	prev := byte(0) // the last structural byte outside strings
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			if len(stack) > 0 && stack[len(stack)-1] == '{' && (prev == '{' || prev == ',') {
				names++
			}
			for i++; s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			prev = '"'
		case '{', '[':
			stack = append(stack, c)
			maxDepth = max(maxDepth, len(stack))
			prev = c
		case '}', ']':
			stack = stack[:len(stack)-1]
			prev = c
		case ',', ':':
			prev = c
		case ' ', '\t', '\r', '\n':
		default:
			prev = 'v'
		}
	}
	return names, maxDepth
}

// countMembers counts the members of every object in a decoded value.
func countMembers(v any) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		n += len(v)
		for _, x := range v {
			n += countMembers(x)
		}
	case []any:
		for _, x := range v {
			n += countMembers(x)
		}
	}
	return n
}

// BenchmarkCheckDuplicateMembers measures the check on a 49 KB searchset
// Bundle (the viewer's full patient summary), beside json.Valid and a
// decode into maps for scale.
func BenchmarkCheckDuplicateMembers(b *testing.B) {
	body, err := os.ReadFile("../../viewer/testdata/summary-full.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("CheckDuplicateMembers", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := fhirjson.CheckDuplicateMembers(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("json.Unmarshal-any", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
