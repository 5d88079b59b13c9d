package server

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestBundleEncode: the hand-written encoding is what encoding/json makes
// of the same Bundle.
func TestBundleEncode(t *testing.T) {
	score := 0.5
	total := 2
	cases := []struct {
		name string
		b    bundle
	}{
		{"empty", bundle{ResourceType: "Bundle", ID: "x", Type: "searchset", Total: &total, Link: []bundleLink{{"self", "http://h/fhir/Flag?patient=1&_count=2"}}}},
		{"entries", bundle{ResourceType: "Bundle", ID: "y", Type: "searchset", Link: []bundleLink{{"self", "http://h/fhir/Flag?a=<b>"}},
			Entry: []bundleEntry{
				{FullURL: "http://h/fhir/Flag/1", Resource: json.RawMessage(`{"resourceType":"Flag","id":"1"}`), Search: &entrySearch{Mode: "match", Score: &score}},
				{Resource: json.RawMessage(`{"resourceType":"OperationOutcome"}`)},
				{FullURL: "urn:uuid:\"q\"&", Resource: json.RawMessage(`{"resourceType":"OperationOutcome","issue":[]}`), Search: &entrySearch{Mode: "outcome"}},
			}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := marshal(c.b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.b.encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encode:\n got %s\nwant %s", got, want)
			}
			if !json.Valid(got) {
				t.Error("not valid JSON")
			}
		})
	}
}
