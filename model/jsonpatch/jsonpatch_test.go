package jsonpatch_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/carerecords/fhir-facade/model/jsonpatch"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

const doc = `{"gender":"female","name":[{"id":"123","given":["Jane"],"family":"Smith"}],"a/b":1,"m~n":2}`

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		patch   string
		want    string
		wantErr bool
	}{
		{name: "replace", patch: `[{"op":"replace","path":"/gender","value":"male"}]`,
			want: `{"gender":"male","name":[{"id":"123","given":["Jane"],"family":"Smith"}],"a/b":1,"m~n":2}`},
		{name: "append to a list", patch: `[{"op":"add","path":"/name/-","value":{"family":"Jones"}}]`,
			want: `{"gender":"female","name":[{"id":"123","given":["Jane"],"family":"Smith"},{"family":"Jones"}],"a/b":1,"m~n":2}`},
		{name: "insert at index", patch: `[{"op":"add","path":"/name/0/given/0","value":"Anne"}]`,
			want: `{"gender":"female","name":[{"id":"123","given":["Anne","Jane"],"family":"Smith"}],"a/b":1,"m~n":2}`},
		{name: "test then remove", patch: `[{"op":"test","path":"/name/0/id","value":"123"},{"op":"remove","path":"/name/0"}]`,
			want: `{"gender":"female","name":[],"a/b":1,"m~n":2}`},
		{name: "escaped tokens", patch: `[{"op":"remove","path":"/a~1b"},{"op":"replace","path":"/m~0n","value":3}]`,
			want: `{"gender":"female","name":[{"id":"123","given":["Jane"],"family":"Smith"}],"m~n":3}`},
		{name: "failed test", patch: `[{"op":"test","path":"/name/0/id","value":"999"},{"op":"remove","path":"/name/0"}]`, wantErr: true},
		{name: "remove missing", patch: `[{"op":"remove","path":"/birthDate"}]`, wantErr: true},
		{name: "replace missing", patch: `[{"op":"replace","path":"/birthDate","value":"2000-01-01"}]`, wantErr: true},
		{name: "index out of range", patch: `[{"op":"add","path":"/name/5","value":{}}]`, wantErr: true},
		{name: "leading zero index", patch: `[{"op":"remove","path":"/name/00"}]`, wantErr: true},
		{name: "into a scalar", patch: `[{"op":"add","path":"/gender/x","value":1}]`, wantErr: true},
		{name: "third op fails, nothing applied", patch: `[{"op":"replace","path":"/gender","value":"male"},{"op":"remove","path":"/name/0"},{"op":"remove","path":"/nothing"}]`, wantErr: true},
		{name: "numbers compare by value", patch: `[{"op":"test","path":"/m~0n","value":2.0},{"op":"test","path":"/a~1b","value":1e0}]`,
			want: doc},
		{name: "objects compare in any order", patch: `[{"op":"test","path":"/name/0","value":{"family":"Smith","given":["Jane"],"id":"123"}}]`,
			want: doc},
		{name: "test after an add, members in another order", patch: `[{"op":"add","path":"/name/0/use","value":"usual"},{"op":"test","path":"/name/0","value":{"use":"usual","family":"Smith","given":["Jane"],"id":"123"}}]`,
			want: `{"gender":"female","name":[{"id":"123","given":["Jane"],"family":"Smith","use":"usual"}],"a/b":1,"m~n":2}`},
		{name: "a list holding null", patch: `[{"op":"add","path":"/name/0/given/-","value":null},{"op":"test","path":"/name/0/given","value":["Jane",null]},{"op":"test","path":"/name/0/given/1","value":null}]`,
			want: `{"gender":"female","name":[{"id":"123","given":["Jane",null],"family":"Smith"}],"a/b":1,"m~n":2}`},
		{name: "strings are not numbers", patch: `[{"op":"test","path":"/m~0n","value":"2"}]`, wantErr: true},
		{name: "test of a missing member for null", patch: `[{"op":"test","path":"/birthDate","value":null}]`, wantErr: true},
		{name: "test of a member for null", patch: `[{"op":"test","path":"/gender","value":null}]`, wantErr: true},
		{name: "test of an index past the end", patch: `[{"op":"test","path":"/name/1","value":null}]`, wantErr: true},
		{name: "add to a list the document does not have", patch: `[{"op":"add","path":"/extension/-","value":{"url":"x"}}]`, wantErr: true},
		{name: "add below a missing member", patch: `[{"op":"add","path":"/contact/0/name","value":{}}]`, wantErr: true},
		{name: "negative index", patch: `[{"op":"remove","path":"/name/-1"}]`, wantErr: true},
		{name: "minus zero index", patch: `[{"op":"remove","path":"/name/-0"}]`, wantErr: true},
		{name: "signed index", patch: `[{"op":"remove","path":"/name/+0"}]`, wantErr: true},
		{name: "end of list is not an element", patch: `[{"op":"remove","path":"/name/-"}]`, wantErr: true},
		{name: "empty segment", patch: `[{"op":"test","path":"/name/","value":[]}]`, wantErr: true},
		{name: "not an index", patch: `[{"op":"add","path":"/name/x","value":{}}]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(doc)
			ops, err := jsonpatch.Parse([]byte(tt.patch))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := jsonpatch.Apply(in, ops)
			if string(in) != doc {
				t.Fatal("Apply modified its input")
			}
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error; got %s", got)
				}
				if _, ok := errors.AsType[*jsonpatch.Error](err); !ok {
					t.Errorf("error %v is not a *jsonpatch.Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(decode(t, string(got)), decode(t, tt.want)) {
				t.Errorf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		patch string
		ok    bool
	}{
		{name: "ok", patch: `[{"op":"remove","path":"/gender"}]`, ok: true},
		{name: "PDS wrapper is not a patch", patch: `{"patches":[]}`},
		{name: "empty", patch: `[]`},
		{name: "move refused", patch: `[{"op":"move","from":"/a","path":"/b"}]`},
		{name: "unknown op", patch: `[{"op":"merge","path":"/a","value":1}]`},
		{name: "missing value", patch: `[{"op":"add","path":"/a"}]`},
		{name: "bad pointer", patch: `[{"op":"remove","path":"gender"}]`},
		{name: "whole document", patch: `[{"op":"replace","path":"","value":{}}]`},
		{name: "unknown member", patch: `[{"op":"remove","path":"/a","colour":"red"}]`},
		{name: "trailing data", patch: `[{"op":"remove","path":"/a"}] []`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jsonpatch.Parse([]byte(tt.patch))
			if (err == nil) != tt.ok {
				t.Errorf("Parse error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func FuzzApply(f *testing.F) {
	f.Add(`[{"op":"add","path":"/name/-","value":{"family":"Jones"}}]`)
	f.Add(`[{"op":"remove","path":"/name/0/given/0"}]`)
	f.Add(`[{"op":"add","path":"/name/0/given/-","value":null},{"op":"test","path":"/name/0","value":{"given":["Jane",null],"id":"123","family":"Smith"}}]`)
	f.Add(`[{"op":"replace","path":"/a~1b","value":[1.5,{"x":null}]},{"op":"test","path":"/a~1b/1/x","value":null}]`)
	f.Fuzz(func(t *testing.T, patch string) {
		ops, err := jsonpatch.Parse([]byte(patch))
		if err != nil {
			return
		}
		in := []byte(doc)
		out, err := jsonpatch.Apply(in, ops) // must not panic
		if string(in) != doc {
			t.Fatal("Apply modified its input")
		}
		if err == nil && !json.Valid(out) {
			t.Fatalf("Apply made invalid JSON: %s", out)
		}
	})
}
