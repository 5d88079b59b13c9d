package jsoncompare

import "testing"

func TestDiff(t *testing.T) {
	tests := []struct {
		name      string
		got, want string
		o         Options
		equal     bool
	}{
		{name: "member order", got: `{"a":1,"b":2}`, want: `{"b":2,"a":1}`, equal: true},
		{name: "a value", got: `{"a":1}`, want: `{"a":2}`},
		{name: "numbers as written", got: `{"a":1.0}`, want: `{"a":1}`},
		{name: "masked", got: `{"id":"x","a":1}`, want: `{"id":"y","a":1}`, o: Options{Mask: []string{"id"}}, equal: true},
		{name: "masked in every element", got: `{"e":[{"id":"x"},{"id":"z"}]}`, want: `{"e":[{"id":"y"},{"id":"w"}]}`, o: Options{Mask: []string{"e.*.id"}}, equal: true},
		{name: "mask keeps presence", got: `{"a":1}`, want: `{"id":"y","a":1}`, o: Options{Mask: []string{"id"}}},
		{name: "dropped", got: `{"a":1}`, want: `{"ts":"now","a":1}`, o: Options{Drop: []string{"ts"}}, equal: true},
		{name: "normalised", got: `[2,1]`, want: `[1,2]`, o: Options{Normalise: func(v any) { l := v.([]any); l[0], l[1] = l[1], l[0] }}},
		{name: "not JSON", got: `{`, want: `{}`},
	}
	for _, tt := range tests {
		if msg := Diff([]byte(tt.got), []byte(tt.want), tt.o); (msg == "") != tt.equal {
			t.Errorf("%s: %q", tt.name, msg)
		}
	}
}
