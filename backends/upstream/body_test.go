package upstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

func TestReadBody(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		n, max  int64
		want    string
		wantErr error
	}{
		{"declared length", "hello", 5, 10, "hello", nil},
		{"declared empty", "", 0, 10, "", nil},
		{"declared over max", "hello", 5, 4, "", errBodyTooLarge},
		{"declared but cut short", "hel", 5, 10, "", io.ErrUnexpectedEOF},
		{"chunked", "hello", -1, 10, "hello", nil},
		{"chunked exactly max", "hello", -1, 5, "hello", nil},
		{"chunked over max", "hello!", -1, 5, "", errBodyTooLarge},
		{"chunked empty", "", -1, 5, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readBody(strings.NewReader(c.body), c.n, c.max)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("readBody = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestReadBodyOwnsItsBytes: a chunked body is copied out of the pooled
// buffer, so a later read cannot overwrite what an earlier caller holds.
func TestReadBodyOwnsItsBytes(t *testing.T) {
	first, err := readBody(strings.NewReader("first"), -1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readBody(strings.NewReader("SECOND"), -1, 100); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, []byte("first")) {
		t.Fatalf("first body became %q", first)
	}
}

func TestIsTooLarge(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused for its size", tooLarge("nrl-ssp"), true},
		{"another failure", &fhirerr.Error{Category: fhirerr.BadGateway, Backend: "nrl-ssp", Message: "the nrl-ssp service failed"}, false},
		{"the size message of another service", &fhirerr.Error{Category: fhirerr.BadGateway, Backend: "pds", Message: tooLargeMessage("nrl-ssp")}, false},
		{"not categorised", errBodyTooLarge, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := IsTooLarge(tt.err); got != tt.want {
			t.Errorf("%s: IsTooLarge = %v, want %v", tt.name, got, tt.want)
		}
	}
}
