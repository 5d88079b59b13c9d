package nhsnumber_test

import (
	"testing"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

func TestValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "sandbox patient", in: "9000000009", want: true},
		{name: "restricted sandbox patient", in: "9000000025", want: true},
		{name: "NRL sandbox patient", in: "4409815415", want: true},
		{name: "RA sandbox patient", in: "5900026175", want: true},
		{name: "wrong check digit", in: "9000000000", want: false},
		{name: "check digit would be 10", in: "3495456001", want: false},
		{name: "too short", in: "900000000", want: false},
		{name: "too long", in: "90000000090", want: false},
		{name: "letters", in: "90000000a9", want: false},
		{name: "empty", in: "", want: false},
		{name: "spaces", in: "900 000 0009", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nhsnumber.Valid(tt.in); got != tt.want {
				t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"9000000009", "9000000000", "", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if nhsnumber.Valid(s) {
			d, ok := nhsnumber.CheckDigit(s[:9])
			if !ok || d != s[9] {
				t.Fatalf("Valid(%q) but check digit disagrees", s)
			}
		}
	})
}
