package fhirerr_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

type secret struct{ path, value string }

func (s *secret) Error() string    { return s.path + ": bad value " + s.value }
func (s *secret) Redacted() string { return s.path + ": bad value" }

func TestLogString(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    string
		notWant string
	}{
		{name: "nil", err: nil, want: ""},
		{name: "plain", err: errors.New("boom"), want: "boom"},
		{name: "fhirerr without cause", err: &fhirerr.Error{Backend: "pds", Message: "failed"}, want: "pds: failed"},
		{name: "redactor inside fhirerr", err: &fhirerr.Error{Backend: "pds", Message: "could not map", Err: &secret{"Patient.birthDate", "2010-13-22"}},
			want: "pds: could not map: Patient.birthDate: bad value", notWant: "2010-13-22"},
		{name: "redactor wrapped by fmt", err: fmt.Errorf("ctx: %w", &secret{"Patient.name", "Smith"}), want: "Patient.name: bad value", notWant: "Smith"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fhirerr.LogString(tt.err)
			if !strings.Contains(got, tt.want) {
				t.Errorf("LogString = %q, want it to contain %q", got, tt.want)
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("LogString = %q leaks %q", got, tt.notWant)
			}
		})
	}
}
