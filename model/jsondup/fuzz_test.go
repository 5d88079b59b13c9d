package jsondup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/jsondup"
)

// FuzzCheck compares Check with a reference walk over encoding/json's
// Decoder.Token, which tokenises independently of Check's scan: on valid
// JSON both must find the same first duplicate (by JSON pointer), or both
// the depth limit, or nothing; on anything json.Valid refuses, Check must
// refuse too, and never as a duplicate.
func FuzzCheck(f *testing.F) {
	f.Add(`{"resourceType":"Flag","subject":{},"sub\u006aect":{}}`)
	f.Add(`{"a":[{"b":1},{"b":1,"c":{"d":[[{"e":0,"e":1}]]}}]}`)
	f.Add(`{"a\"b":"{\"a\":1,\"a\":2}","a\\":[1,2,{"":0,"":0}],"a/~":{"x":1,"x":2}}`)
	f.Add(`{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"a10":10,"a11":11,"a12":12,"a13":13,"a14":14,"a15":15,"a16":16,"a17":17,"a18":18,"a19":19,"a20":20,"a21":21,"a22":22,"a23":23,"a24":24,"a25":25,"a26":26,"a27":27,"a28":28,"a29":29,"a30":30,"a31":31,"a32":32,"a33":33,"a1":1}`)
	f.Add(strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70))
	f.Add(strings.Repeat(`{"a":`, 63) + `{"b":1,"b":2}` + strings.Repeat(`}`, 63))
	f.Add("{\"\xff\":1,\"\xfe\":2}")
	f.Add(`{"é":1,"\u00e9":2}`)
	f.Add(`{"a":1} x`)
	f.Fuzz(func(t *testing.T, doc string) {
		err := jsondup.Check([]byte(doc))
		var de *jsondup.DuplicateError
		isDup := errors.As(err, &de)
		if !json.Valid([]byte(doc)) {
			if err == nil || isDup || errors.Is(err, jsondup.ErrTooDeep) {
				t.Fatalf("invalid JSON %q: %v", doc, err)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
		dec.UseNumber()
		want, wantErr := reference(dec, 0, "")
		switch {
		case wantErr != nil:
			if !errors.Is(err, wantErr) {
				t.Fatalf("%q: err %v, the reference says %v", doc, err, wantErr)
			}
		case want != "":
			if !isDup || de.Pointer() != want {
				t.Fatalf("%q: err %v, the reference finds a duplicate at %s", doc, err, want)
			}
		case err != nil:
			t.Fatalf("%q: err %v, the reference finds none", doc, err)
		}
	})
}

// reference reads one value with Decoder.Token and returns the JSON pointer
// of the first repeated name in it, or ErrTooDeep, as Check should.
func reference(dec *json.Decoder, depth int, at string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return "", nil
	}
	if depth >= jsondup.MaxDepth {
		return "", jsondup.ErrTooDeep
	}
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	names := map[string]bool{}
	for i := 0; dec.More(); i++ {
		child := at + "/" + strconv.Itoa(i)
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			name := k.(string)
			child = at + "/" + esc.Replace(name)
			if names[name] {
				return child, nil
			}
			names[name] = true
		}
		if p, err := reference(dec, depth+1, child); p != "" || err != nil {
			return p, err
		}
	}
	_, err = dec.Token()
	return "", err
}
