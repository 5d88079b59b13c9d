package server

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// FuzzReadResource feeds arbitrary bodies to the parser of resources that
// clients send (schema validation, then jsonformat): it refuses with a
// categorised error or returns a resource of the asked-for type, and never
// panics.
func FuzzReadResource(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"Patient/9000000009"}}`,
		`{"resourceType":"Flag","status":"sideways"}`,
		`{"resourceType":"Patient","id":"9000000009"}`,
		`{"resourceType":"Flag","extension":[{"url":"x","valueString":"\u0000"}]}`,
		`[]`, `null`, `{"resourceType":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/fhir/Flag", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/fhir+json")
		msg, err := readResource(r, "Flag")
		if err != nil {
			if fhirerr.As(err) == nil {
				t.Fatalf("uncategorised error %v", err)
			}
			return
		}
		if got := string(msg.ProtoReflect().Descriptor().Name()); got != "Flag" {
			t.Fatalf("accepted a %s", got)
		}
	})
}
