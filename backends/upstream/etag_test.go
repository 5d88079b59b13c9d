package upstream_test

import (
	"testing"

	"github.com/carerecords/fhir-facade/backends/upstream"
)

func TestETagVersion(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "weak", in: `W/"2"`, want: "2"},
		{name: "weak uuid", in: `W/"aa755bd6-2be9-4971-972a-6724879c5cb1"`, want: "aa755bd6-2be9-4971-972a-6724879c5cb1"},
		{name: "strong", in: `"2"`, want: "2"},
		{name: "typographic closing quote", in: `W/"2”`, want: "2"},
		{name: "typographic closing quote, uuid", in: `W/"aa755bd6-2be9-4971-972a-6724879c5cb1”`, want: "aa755bd6-2be9-4971-972a-6724879c5cb1"},
		{name: "typographic quotes", in: `W/“2”`, want: "2"},
		{name: "bare", in: `2`, want: "2"},
		{name: "bare with spaces", in: ` 3 `, want: "3"},
		{name: "empty", in: ``, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := upstream.ETagVersion(tt.in); got != tt.want {
				t.Errorf("ETagVersion(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
