package server

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestResourceTypeFirst(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "moved", in: `{"a":1,"resourceType":"Patient","z":2}`, want: `{"resourceType":"Patient","a":1,"z":2}`},
		{name: "last member", in: `{"a":1,"resourceType":"Patient"}`, want: `{"resourceType":"Patient","a":1}`},
		{name: "already first", in: `{"resourceType":"Patient","a":1}`, want: `{"resourceType":"Patient","a":1}`},
		{name: "nested one ignored", in: `{"contained":[{"id":"x","resourceType":"Organization"}],"id":"p","resourceType":"Patient"}`,
			want: `{"resourceType":"Patient","contained":[{"id":"x","resourceType":"Organization"}],"id":"p"}`},
		{name: "inside a string ignored", in: `{"a":",\"resourceType\":\"X\"","resourceType":"Patient"}`, want: `{"resourceType":"Patient","a":",\"resourceType\":\"X\""}`},
		{name: "absent", in: `{"a":1}`, want: `{"a":1}`},
		{name: "not an object", in: `[1]`, want: `[1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(resourceTypeFirst([]byte(tt.in)))
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			var a, b any
			if json.Unmarshal([]byte(tt.in), &a) != nil || json.Unmarshal([]byte(got), &b) != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("content changed: %s -> %s", tt.in, got)
			}
		})
	}
}

func FuzzResourceTypeFirst(f *testing.F) {
	f.Add(`{"a":1,"resourceType":"Patient","z":[{"resourceType":"x"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var a any
		if json.Unmarshal([]byte(s), &a) != nil {
			return
		}
		var c json.RawMessage
		if json.Unmarshal([]byte(s), &c) != nil {
			return
		}
		compact, _ := json.Marshal(c)
		got := resourceTypeFirst(compact)
		var b any
		if err := json.Unmarshal(got, &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("changed %s into %s", compact, got)
		}
	})
}
