package resources_test

import (
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

func day(s string) time.Time {
	t, _ := time.Parse("2006-01-02", s)
	return t
}

func TestParseDateParams(t *testing.T) {
	tests := []struct {
		name     string
		in       []string
		from, to string
		empty    bool
		errCat   fhirerr.Category
		wantErr  bool
	}{
		{name: "plain day is eq", in: []string{"2010-10-22"}, from: "2010-10-22", to: "2010-10-22"},
		{name: "eq day", in: []string{"eq2010-10-22"}, from: "2010-10-22", to: "2010-10-22"},
		{name: "eq year is whole year", in: []string{"eq2010"}, from: "2010-01-01", to: "2010-12-31"},
		{name: "month", in: []string{"2012-02"}, from: "2012-02-01", to: "2012-02-29"},
		{name: "ge and le", in: []string{"ge2010-10-21", "le2010-10-23"}, from: "2010-10-21", to: "2010-10-23"},
		{name: "gt day", in: []string{"gt2010-10-22"}, from: "2010-10-23"},
		{name: "lt month", in: []string{"lt2010-10"}, to: "2010-09-30"},
		{name: "le year", in: []string{"le2010"}, to: "2010-12-31"},
		{name: "contradiction", in: []string{"ge2011-01-01", "le2010-01-01"}, from: "2011-01-01", to: "2010-01-01", empty: true},
		{name: "no dashes", in: []string{"20101022"}, wantErr: true, errCat: fhirerr.Invalid},
		{name: "bad day", in: []string{"2010-02-30"}, wantErr: true, errCat: fhirerr.Invalid},
		{name: "ne unsupported", in: []string{"ne2010-10-22"}, wantErr: true, errCat: fhirerr.NotSupported},
		{name: "datetime refused", in: []string{"2010-10-22T10:00:00Z"}, wantErr: true, errCat: fhirerr.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resources.ParseDateParams("birthdate", tt.in)
			if tt.wantErr {
				if err == nil || fhirerr.CategoryOf(err) != tt.errCat {
					t.Fatalf("err = %v, want category %v", err, tt.errCat)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var wantFrom, wantTo time.Time
			if tt.from != "" {
				wantFrom = day(tt.from)
			}
			if tt.to != "" {
				wantTo = day(tt.to)
			}
			if !got.From.Equal(wantFrom) || !got.To.Equal(wantTo) {
				t.Errorf("got %v..%v, want %v..%v", got.From, got.To, wantFrom, wantTo)
			}
			if got.Empty() != tt.empty {
				t.Errorf("Empty() = %v, want %v", got.Empty(), tt.empty)
			}
		})
	}
}
