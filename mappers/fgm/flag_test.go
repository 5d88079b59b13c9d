package fgm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/mappers/fgm"
	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// nhsOf is the NHS number an input flag is about: its subject identifier.
func nhsOf(t *testing.T, f *fhirjson.Flag) string {
	t.Helper()
	if f.Subject == nil || f.Subject.Identifier == nil {
		t.Fatal("test input has no subject identifier")
	}
	return f.Subject.Identifier.Value
}

// goldenNow is the "now" of the goldens: the sandbox population's fixed
// reference date, so that a golden never changes with the calendar.
var goldenNow = time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)

// TestGolden maps every testdata/<case>.in.json (FGM-IS flags, see
// testdata/README.md) and compares the result,
// printed by jsonformat, with testdata/<case>.golden.json. Each golden is
// also parsed back by jsonformat and printed to the same bytes, and
// validated against the FHIR R4 JSON schema.
func TestGolden(t *testing.T) {
	goldentest.Run(t, 1, func(t *testing.T, c goldentest.Case) {
		f, err := fgm.Decode(c.Raw)
		if err != nil {
			t.Fatal(err)
		}
		out, err := fgm.Flag(f, nhsOf(t, f), goldenNow)
		if err != nil {
			t.Fatalf("Flag: %v", err)
		}
		goldentest.Resource(t, c, out, goldentest.Options{})
	})
}

func TestFlagID(t *testing.T) {
	long := strings.Repeat("x", 60)
	tests := []struct {
		name      string
		nhs, id   string
		want      string
		wantParse bool
	}{
		{name: "contract id", nhs: "9000000009", id: "FGM-ActiveFlag-Example", want: "fgm-9000000009-FGM-ActiveFlag-Example", wantParse: true},
		{name: "uuid", nhs: "9000000017", id: "0c1d6a2e-1111-4a4a-9b9b-000000000001", want: "fgm-9000000017-0c1d6a2e-1111-4a4a-9b9b-000000000001", wantParse: true},
		{name: "too long is hashed", nhs: "9000000009", id: long, want: "fgm-9000000009-h", wantParse: true},
		{name: "bad characters are hashed", nhs: "9000000009", id: "a/b", want: "fgm-9000000009-h", wantParse: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fgm.FlagID(tc.nhs, tc.id)
			if !strings.HasPrefix(got, tc.want) || len(got) > 64 {
				t.Errorf("FlagID = %q, want %q…", got, tc.want)
			}
			if _, err := fhirjson.BuildID(got); err != nil {
				t.Errorf("FlagID = %q is not a FHIR id: %v", got, err)
			}
			nhs, ok := fgm.ParseFlagID(got)
			if ok != tc.wantParse || nhs != tc.nhs {
				t.Errorf("ParseFlagID(%q) = %q, %v", got, nhs, ok)
			}
		})
	}
	for _, id := range []string{"ra-9000000009.x", "fgm-", "fgm-9000000000-x", "fgm-900000000-x", "fgm-9000000009x", "fgm-9000000009-"} {
		if nhs, ok := fgm.ParseFlagID(id); ok {
			t.Errorf("ParseFlagID(%q) = %q, true", id, nhs)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		nhs     string
		wantErr string
	}{
		{name: "another patient", nhs: "9000000017", in: `{"resourceType":"Flag","id":"x","status":"active","code":{"text":"FGM"},"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}}}`,
			wantErr: "Flag.subject: names another patient"},
		{name: "another patient by reference", nhs: "9000000017", in: `{"resourceType":"Flag","id":"x","status":"active","code":{"text":"FGM"},"subject":{"reference":"Patient/9000000009"}}`,
			wantErr: "Flag.subject"},
		{name: "no id", nhs: "9000000009", in: `{"resourceType":"Flag","status":"active","code":{"text":"FGM"}}`, wantErr: "Flag.id: missing"},
		{name: "bad status", nhs: "9000000009", in: `{"resourceType":"Flag","id":"x","status":"removed","code":{"text":"FGM"}}`, wantErr: `Flag.status: "removed"`},
		{name: "bad date", nhs: "9000000009", in: `{"resourceType":"Flag","id":"x","status":"active","code":{"text":"FGM"},"period":{"start":"2019-13-10"}}`, wantErr: "Flag.period.start"},
		{name: "bad end", nhs: "9000000009", in: `{"resourceType":"Flag","id":"x","status":"active","code":{"text":"FGM"},"period":{"start":"2019-12-10","end":"15/01/2020"}}`, wantErr: "Flag.period.end: invalid dateTime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := fgm.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			_, err = fgm.Flag(f, tc.nhs, goldenNow)
			checkBadGateway(t, err, tc.wantErr)
		})
	}
}

// A flag whose end date has passed in England is inactive even when FGM-IS
// still says active; removed flags keep FGM-IS's status. The day is
// London's, across the clock changes (BST began at 01:00 UTC on 30 March
// 2025 and ended at 01:00 UTC on 26 October 2025).
func TestFlagEndedIsInactive(t *testing.T) {
	tests := []struct {
		name   string
		status string
		end    string
		now    time.Time
		want   string
	}{
		{name: "no end", status: "active", end: "", now: goldenNow, want: "ACTIVE"},
		{name: "ends today", status: "active", end: "2025-06-30", now: goldenNow, want: "ACTIVE"},
		{name: "ended yesterday, FGM-IS still says active", status: "active", end: "2025-06-29", now: goldenNow, want: "INACTIVE"},
		{name: "ended years ago, FGM-IS still says active", status: "active", end: "2020-01-15", now: goldenNow, want: "INACTIVE"},
		{name: "removed", status: "inactive", end: "2020-01-15", now: goldenNow, want: "INACTIVE"},
		{name: "entered in error stays so", status: "entered-in-error", end: "2020-01-15", now: goldenNow, want: "ENTERED_IN_ERROR"},
		{name: "the night the clocks go forward: 23:30 UTC is the next day", status: "active", end: "2025-03-30", now: time.Date(2025, 3, 30, 23, 30, 0, 0, time.UTC), want: "INACTIVE"},
		{name: "GMT: 23:30 UTC is still the end day", status: "active", end: "2025-10-26", now: time.Date(2025, 10, 26, 23, 30, 0, 0, time.UTC), want: "ACTIVE"},
		{name: "a dateTime end counts by its London day", status: "active", end: "2025-03-30T23:30:00Z", now: time.Date(2025, 3, 31, 22, 59, 0, 0, time.UTC), want: "ACTIVE"},
		{name: "a dateTime end, London midnight after", status: "active", end: "2025-03-30T23:30:00Z", now: time.Date(2025, 3, 31, 23, 0, 0, 0, time.UTC), want: "INACTIVE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &fhirjson.Flag{ResourceType: "Flag", ID: "x", Status: tc.status, Code: &fhirjson.CodeableConcept{Text: "FGM"},
				Period: &fhirjson.Period{Start: "2019-12-10", End: tc.end}}
			f, err := fgm.Flag(in, "9000000009", tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.GetStatus().GetValue().String(); got != tc.want {
				t.Errorf("status %s, want %s", got, tc.want)
			}
			if in.Status != tc.status {
				t.Error("Flag modified its input")
			}
		})
	}
	// Without a date to judge by there is no flag, and the fault is the
	// caller's, not FGM-IS's.
	if _, err := fgm.Flag(&fhirjson.Flag{ResourceType: "Flag", ID: "x", Status: "active"}, "9000000009", time.Time{}); fhirerr.CategoryOf(err) != fhirerr.Internal {
		t.Errorf("zero now: %v", err)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "flag", in: `{"resourceType":"Flag","id":"x"}`},
		{name: "operation outcome", in: `{"resourceType":"OperationOutcome"}`, wantErr: `resourceType is "OperationOutcome"`},
		{name: "html", in: `<html>`, wantErr: "invalid character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fgm.Decode([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkBadGateway(t, err, tc.wantErr)
		})
	}
}

// The mapping does not change its input (the provider may map one decoded
// payload more than once).
func TestFlagDoesNotModifyInput(t *testing.T) {
	raw, err := os.ReadFile("testdata/flag_found_9000000009.in.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fgm.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(f)
	if _, err := fgm.Flag(f, "9000000009", goldenNow); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(f); !bytes.Equal(before, after) {
		t.Errorf("input modified:\n%s\n%s", before, after)
	}
}

func checkBadGateway(t *testing.T, err error, wantErr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", wantErr)
	}
	if !strings.Contains(err.Error(), wantErr) {
		t.Errorf("error %q does not contain %q", err, wantErr)
	}
	fe := fhirerr.As(err)
	if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != "fgm" {
		t.Errorf("error %#v is not an fgm BadGateway *fhirerr.Error", err)
	}
	var pe *fhirjson.Error
	if strings.HasPrefix(wantErr, "Flag.") && !errors.As(err, &pe) {
		t.Errorf("error %v does not wrap a *fhirjson.Error", err)
	}
}

// FuzzFlag feeds arbitrary payloads to Decode and Flag: they never panic,
// and every failure is the fgm backend's BadGateway.
func FuzzFlag(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/*.in.json")
	for _, in := range inputs {
		raw, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fl, err := fgm.Decode(raw)
		if err == nil {
			_, err = fgm.Flag(fl, "9000000009", goldenNow)
		}
		if err != nil && (fhirerr.CategoryOf(err) != fhirerr.BadGateway || fhirerr.As(err).Backend != "fgm") {
			t.Fatalf("error %#v", err)
		}
	})
}
