package pds

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fuzzRecord is a small Patient with what a patch may meet: nested lists
// and objects, ids, numbers as written, a null in a list, escaped names.
const fuzzRecord = `{"resourceType":"Patient","id":"9000000009","meta":{"versionId":"2"},` +
	`"name":[{"id":"123","use":"usual","given":["Jane",null],"family":"Smith","prefix":["Mrs"]}],` +
	`"gender":"female","multipleBirthInteger":1.0,"a/b":{"m~n":[1e3,{"x":true}]},` +
	`"extension":[{"url":"u","valueString":"<&>"}]}`

// FuzzApplyPatch: any PATCH body, applied to a record with and without
// PDS's rules, must not panic, must leave the stored record as it was, must
// give a record that reads back, and the library must never refuse an
// operation whose path applyOp resolved.
func FuzzApplyPatch(f *testing.F) {
	f.Add(`{"patches":[{"op":"add","path":"/name/-","value":{"use":"old","family":"Jones"}}]}`)
	f.Add(`{"patches":[{"op":"test","path":"/name/0/id","value":"123"},{"op":"remove","path":"/name/0/given/1"}]}`)
	f.Add(`{"patches":[{"op":"add","path":"/telecom/-","value":{"system":"phone","value":"1"}},{"op":"replace","path":"/telecom/0/value","value":"2"}]}`)
	f.Add(`{"patches":[{"op":"test","path":"/name/0/given","value":["Jane",null]},{"op":"replace","path":"/a~1b/m~0n/0","value":1000}]}`)
	f.Add(`{"patches":[{"op":"add","path":"/name/0/given/01","value":"x"},{"op":"remove","path":"/extension/-"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, aerr := parsePatchBody([]byte(body))
		if aerr != nil {
			return
		}
		v, err := decodeJSON([]byte(fuzzRecord))
		if err != nil {
			t.Fatal(err)
		}
		orig := v.(*object)
		for _, strict := range []bool{false, true} {
			var check func(doc *object, i int) *apiError
			if strict {
				check = func(doc *object, i int) *apiError { return checkOp(doc, req.ops, i) }
			}
			doc, aerr := applyPatch([]byte(fuzzRecord), orig, req.ops, check)
			if got := string(encodeJSON(orig)); got != fuzzRecord {
				t.Fatalf("the record changed: %s", got)
			}
			if aerr != nil {
				if strings.Contains(aerr.diagnostics, "could not be applied") {
					t.Fatalf("the library refused a resolved operation: %s", aerr.diagnostics)
				}
				continue
			}
			if _, err := decodeJSON(encodeJSON(doc)); err != nil {
				t.Fatalf("the patched record does not read back: %v", err)
			}
			// The last operation's value is where it said (resolve does
			// not follow a member "", which a stateless patch can add).
			last := req.ops[len(req.ops)-1]
			if (last.op == "add" || last.op == "replace") && !slices.Contains(last.tokens, "") {
				tokens := last.tokens
				parent, _ := resolve(doc, tokens[:len(tokens)-1], "find")
				if list, isList := parent.([]any); isList && tokens[len(tokens)-1] == "-" {
					tokens = append(tokens[:len(tokens)-1:len(tokens)-1], strconv.Itoa(len(list)-1))
				}
				if got, err := resolve(doc, tokens, "find"); err != nil || !equalJSON(got, last.value) {
					t.Fatalf("after %s %s the value there is %s (%v)", last.op, last.path, encodeJSON(got), err)
				}
			}
		}
	})
}
