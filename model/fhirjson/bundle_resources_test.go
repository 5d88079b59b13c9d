package fhirjson

import (
	"encoding/json"
	"testing"
)

func TestBundleResources(t *testing.T) {
	var b Bundle
	if err := json.Unmarshal([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"id":"a"}},{"fullUrl":"x"},{"resource":{"id":"b"}}]}`), &b); err != nil {
		t.Fatal(err)
	}
	rs := b.Resources()
	if len(rs) != 2 || string(rs[0]) != `{"id":"a"}` || string(rs[1]) != `{"id":"b"}` {
		t.Errorf("Resources = %s", rs)
	}
	if got := (&Bundle{}).Resources(); got == nil || len(got) != 0 {
		t.Errorf("an empty Bundle's Resources = %#v, want empty, not nil", got)
	}
}
