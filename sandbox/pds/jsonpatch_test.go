package pds

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePointer(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		ok   bool
	}{
		{name: "root", in: "", want: nil, ok: true},
		{name: "member", in: "/gender", want: []string{"gender"}, ok: true},
		{name: "nested with index", in: "/address/0/line/1", want: []string{"address", "0", "line", "1"}, ok: true},
		{name: "append", in: "/name/-", want: []string{"name", "-"}, ok: true},
		{name: "escaped slash and tilde", in: "/a~1b/m~0n/~01", want: []string{"a/b", "m~n", "~1"}, ok: true},
		{name: "empty token", in: "/", want: []string{""}, ok: true},
		{name: "no leading slash", in: "gender", ok: false},
		{name: "bad escape", in: "/a~2", ok: false},
		{name: "trailing tilde", in: "/a~", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parsePointer(tt.in)
			if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("parsePointer(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestArrayIndex(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
		ok   bool
	}{
		{name: "zero", in: "0", want: 0, ok: true},
		{name: "number", in: "12", want: 12, ok: true},
		{name: "leading zero", in: "01", ok: false},
		{name: "negative", in: "-1", ok: false},
		{name: "append marker", in: "-", ok: false},
		{name: "empty", in: "", ok: false},
		{name: "overflow", in: "99999999999999999999999", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := arrayIndex(tt.in)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("arrayIndex(%q) = %d, %v", tt.in, got, ok)
			}
		})
	}
}

// TestApplyOp follows RFC 6902 Appendix A where it applies to PDS's four
// operations.
func TestApplyOp(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		ops  []patchOp
		want string // "" when an operation must fail
	}{
		{name: "A.1 add an object member", doc: `{"foo":"bar"}`,
			ops: []patchOp{{op: "add", path: "/baz", value: "qux"}}, want: `{"foo":"bar","baz":"qux"}`},
		{name: "A.2 add an array element", doc: `{"foo":["bar","baz"]}`,
			ops: []patchOp{{op: "add", path: "/foo/1", value: "qux"}}, want: `{"foo":["bar","qux","baz"]}`},
		{name: "A.3 remove an object member", doc: `{"baz":"qux","foo":"bar"}`,
			ops: []patchOp{{op: "remove", path: "/baz"}}, want: `{"foo":"bar"}`},
		{name: "A.4 remove an array element", doc: `{"foo":["bar","qux","baz"]}`,
			ops: []patchOp{{op: "remove", path: "/foo/1"}}, want: `{"foo":["bar","baz"]}`},
		{name: "A.5 replace a value", doc: `{"baz":"qux","foo":"bar"}`,
			ops: []patchOp{{op: "replace", path: "/baz", value: "boo"}}, want: `{"baz":"boo","foo":"bar"}`},
		{name: "A.8 test a value", doc: `{"baz":"qux","foo":["a",2,"c"]}`,
			ops: []patchOp{{op: "test", path: "/baz", value: "qux"}, {op: "test", path: "/foo/1", value: num("2")}}, want: `{"baz":"qux","foo":["a",2,"c"]}`},
		{name: "A.9 a failing test", doc: `{"baz":"qux"}`,
			ops: []patchOp{{op: "test", path: "/baz", value: "bar"}}},
		{name: "A.10 add a nested member object", doc: `{"foo":"bar"}`,
			ops: []patchOp{{op: "add", path: "/child", value: obj(`{"grandchild":{}}`)}}, want: `{"foo":"bar","child":{"grandchild":{}}}`},
		{name: "A.12 add to a nonexistent target", doc: `{"foo":"bar"}`,
			ops: []patchOp{{op: "add", path: "/baz/bat", value: "qux"}}},
		{name: "A.14 ~ escape ordering", doc: `{"/":9,"~1":10}`,
			ops: []patchOp{{op: "test", path: "/~01", value: num("10")}}, want: `{"/":9,"~1":10}`},
		{name: "A.15 comparing strings and numbers", doc: `{"/":9,"~1":10}`,
			ops: []patchOp{{op: "test", path: "/~01", value: "10"}}},
		{name: "A.16 add an array value", doc: `{"foo":["bar"]}`,
			ops: []patchOp{{op: "add", path: "/foo/-", value: []any{"abc", "def"}}}, want: `{"foo":["bar",["abc","def"]]}`},
		{name: "add replaces an existing member in place", doc: `{"a":1,"b":2}`,
			ops: []patchOp{{op: "add", path: "/a", value: num("3")}}, want: `{"a":3,"b":2}`},
		{name: "add at the end index", doc: `{"a":[1]}`,
			ops: []patchOp{{op: "add", path: "/a/1", value: num("2")}}, want: `{"a":[1,2]}`},
		{name: "add past the end", doc: `{"a":[1]}`,
			ops: []patchOp{{op: "add", path: "/a/2", value: num("2")}}},
		{name: "append creates a missing top-level list", doc: `{"id":"1"}`,
			ops: []patchOp{{op: "add", path: "/extension/-", value: obj(`{"url":"x"}`)}}, want: `{"id":"1","extension":[{"url":"x"}]}`},
		{name: "numbers compare by value", doc: `{"a":1.0}`,
			ops: []patchOp{{op: "test", path: "/a", value: num("1")}}, want: `{"a":1.0}`},
		{name: "objects compare in any order", doc: `{"a":{"x":1,"y":[true,null]}}`,
			ops: []patchOp{{op: "test", path: "/a", value: obj(`{"y":[true,null],"x":1}`)}}, want: `{"a":{"x":1,"y":[true,null]}}`},
		{name: "test of a missing member", doc: `{"a":1}`,
			ops: []patchOp{{op: "test", path: "/b", value: nil}}},
		{name: "replace a missing member", doc: `{"a":1}`,
			ops: []patchOp{{op: "replace", path: "/b", value: "x"}}},
		{name: "remove a missing index", doc: `{"a":[]}`,
			ops: []patchOp{{op: "remove", path: "/a/0"}}},
		{name: "index into a string", doc: `{"a":"text"}`,
			ops: []patchOp{{op: "replace", path: "/a/0", value: "x"}}},
		{name: "leading zero index", doc: `{"a":[1,2]}`,
			ops: []patchOp{{op: "remove", path: "/a/01"}}},
		{name: "signed index", doc: `{"a":[1,2]}`,
			ops: []patchOp{{op: "remove", path: "/a/+1"}}},
		{name: "minus zero index", doc: `{"a":[1,2]}`,
			ops: []patchOp{{op: "replace", path: "/a/-0", value: num("3")}}},
		{name: "negative index", doc: `{"a":[1,2]}`,
			ops: []patchOp{{op: "add", path: "/a/-1", value: num("3")}}},
		{name: "end of list is not an element", doc: `{"a":[1,2]}`,
			ops: []patchOp{{op: "remove", path: "/a/-"}}},
		{name: "a list holding null", doc: `{"a":[null,1]}`,
			ops:  []patchOp{{op: "test", path: "/a", value: obj(`[null,1]`)}, {op: "test", path: "/a/0", value: nil}, {op: "replace", path: "/a/0", value: num("2")}},
			want: `{"a":[2,1]}`},
		{name: "null member", doc: `{"a":null}`,
			ops:  []patchOp{{op: "test", path: "/a", value: nil}, {op: "add", path: "/b", value: nil}},
			want: `{"a":null,"b":null}`},
		{name: "below a null member", doc: `{"a":null}`,
			ops: []patchOp{{op: "add", path: "/a/b", value: num("1")}}},
		{name: "order and numbers as written", doc: `{"z":1.50,"a":{"y":1e3,"b":2}}`,
			ops:  []patchOp{{op: "add", path: "/a/c", value: obj(`{"q":1.0,"p":"<&>"}`)}, {op: "replace", path: "/z", value: num("2.50")}},
			want: `{"z":2.50,"a":{"y":1e3,"b":2,"c":{"q":1.0,"p":"<&>"}}}`},
		{name: "append creates a missing nested list", doc: `{"a":{}}`,
			ops: []patchOp{{op: "add", path: "/a/l/-", value: num("1")}}, want: `{"a":{"l":[1]}}`},
		{name: "append does not create a list below a missing member", doc: `{"a":{}}`,
			ops: []patchOp{{op: "add", path: "/b/l/-", value: num("1")}}},
		{name: "a failing operation leaves nothing applied", doc: `{"a":1,"b":[]}`,
			ops: []patchOp{{op: "replace", path: "/a", value: num("2")}, {op: "add", path: "/b/-", value: "x"}, {op: "remove", path: "/c"}}},
		{name: "the added value is a copy", doc: `{"a":[]}`,
			ops:  []patchOp{{op: "add", path: "/a/-", value: obj(`{"k":1}`)}, {op: "add", path: "/a/-", value: obj(`{"k":1}`)}, {op: "replace", path: "/a/0/k", value: num("2")}},
			want: `{"a":[{"k":2},{"k":1}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeJSON([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			doc := v.(*object)
			ops := make([]patchOp, len(tt.ops))
			for i, op := range tt.ops {
				ops[i] = compileOp(t, op)
			}
			got, failed := applyPatch([]byte(tt.doc), doc, ops, nil)
			if s := string(encodeJSON(doc)); s != string(encodeJSON(mustDecode(t, tt.doc))) {
				t.Errorf("applyPatch changed the decoded record: %s", s)
			}
			if tt.want == "" {
				if failed == nil {
					t.Fatalf("applied, want a failure: %s", encodeJSON(got))
				}
				if failed.code != "INVALID_UPDATE" || failed.status != 400 {
					t.Errorf("error %v, want 400 INVALID_UPDATE", failed)
				}
				return
			}
			if failed != nil {
				t.Fatalf("error: %v", failed)
			}
			if got := string(encodeJSON(got)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// compileOp reads a table's operation as parsePatchOp reads a PATCH body's:
// a value, JSON null where the table has none, unless it is a remove.
func compileOp(t *testing.T, op patchOp) patchOp {
	t.Helper()
	o := newObject()
	o.set("op", op.op)
	o.set("path", op.path)
	if op.op != "remove" {
		o.set("value", op.value)
	}
	out, err := parsePatchOp(0, o)
	if err != nil {
		t.Fatalf("parsePatchOp(%s): %v", encodeJSON(o), err)
	}
	return out
}

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func num(s string) any { v, _ := decodeJSON([]byte(s)); return v }
func obj(s string) any { v, _ := decodeJSON([]byte(s)); return v }

func TestJSONValueRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" when decoding must fail
	}{
		{name: "member order kept", in: `{"resourceType":"Patient","id":"9","a":{"z":1,"b":2}}`, want: `{"resourceType":"Patient","id":"9","a":{"z":1,"b":2}}`},
		{name: "numbers kept as written", in: `[1, 1.50, -0, 1e3, 12345678901234567890]`, want: `[1,1.50,-0,1e3,12345678901234567890]`},
		{name: "strings escaped, HTML kept", in: `["<b>&amp;</b>","quote\"","tab\t","é"]`, want: `["<b>&amp;</b>","quote\"","tab\t","é"]`},
		{name: "literals", in: `{"t":true,"f":false,"n":null}`, want: `{"t":true,"f":false,"n":null}`},
		{name: "empty containers", in: `{"a":[],"o":{}}`, want: `{"a":[],"o":{}}`},
		{name: "duplicate member", in: `{"a":1,"a":2}`},
		{name: "trailing data", in: `{"a":1} {}`},
		{name: "truncated", in: `{"a":[1,`},
		{name: "nested too deep", in: strings.Repeat("[", 65) + strings.Repeat("]", 65)},
		{name: "nested deep enough", in: strings.Repeat("[", 64) + strings.Repeat("]", 64), want: strings.Repeat("[", 64) + strings.Repeat("]", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeJSON([]byte(tt.in))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("decoded %s, want an error", encodeJSON(v))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(encodeJSON(v)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if c := cloneJSON(v); !equalJSON(c, v) || string(encodeJSON(c)) != tt.want {
				t.Errorf("clone differs: %s", encodeJSON(c))
			}
		})
	}
}

func TestObjectMembers(t *testing.T) {
	o := newObject()
	o.set("b", "1")
	o.set("c", "2")
	o.set("b", "3")
	o.prepend("id", "x")
	o.del("c")
	o.del("missing")
	if got := string(encodeJSON(o)); got != `{"id":"x","b":"3"}` {
		t.Errorf("got %s", got)
	}
}
