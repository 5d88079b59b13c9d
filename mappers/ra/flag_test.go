package ra_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// nhsOf is the NHS number an RA flag names: the last segment of its subject
// reference.
func nhsOf(t *testing.T, f *fhirjson.STU3Flag) string {
	t.Helper()
	if f.Subject == nil {
		t.Fatal("test input has no subject")
	}
	r := f.Subject.Reference
	return r[strings.LastIndex(r, "/")+1:]
}

func readFlag(t *testing.T, path string) (*fhirjson.STU3Flag, *fhirjson.STU3Consent) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ra.DecodeFlag(raw)
	if err != nil {
		t.Fatal(err)
	}
	var c *fhirjson.STU3Consent
	if raw, err := os.ReadFile(strings.TrimSuffix(path, ".in.json") + ".consent.json"); err == nil {
		if c, err = ra.DecodeConsent(raw); err != nil {
			t.Fatal(err)
		}
	}
	return f, c
}

// goldenNow is the "now" of the goldens: the sandbox population's fixed
// reference date, so that a golden never changes with the calendar.
var goldenNow = time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)

// TestGolden maps every testdata/<case>.in.json (RA flags, see
// testdata/README.md), with the patient's consent
// from <case>.consent.json when there is one, and compares the result,
// printed by jsonformat, with testdata/<case>.golden.json. Each golden is
// also parsed back by jsonformat and printed to the same bytes, and
// validated against the FHIR R4 JSON schema.
func TestGolden(t *testing.T) {
	goldentest.Run(t, 1, func(t *testing.T, c goldentest.Case) {
		f, consent := readFlag(t, c.In)
		out, err := ra.FlagAt(f, consent, nhsOf(t, f), goldenNow)
		if err != nil {
			t.Fatalf("Flag: %v", err)
		}
		goldentest.Resource(t, c, out, goldentest.Options{})
	})
}

// The facts a clinician needs come through: status, NRAF and adjustment
// categories, the code, when and by whom it was recorded, the consent.
func TestFlagFacts(t *testing.T) {
	f, c := readFlag(t, "testdata/sandbox_flagGET_0.in.json")
	before, _ := json.Marshal(f)
	out, err := ra.FlagAt(f, c, "5900026175", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(f); !bytes.Equal(before, after) {
		t.Error("Flag modified its input")
	}
	if got := out.GetId().GetValue(); got != "ra-5900026175.a54f7fe6-fb35-4fef-a2dc-7a9df9ee7441" {
		t.Errorf("id %s", got)
	}
	if n := len(out.GetCategory()); n != 2 {
		t.Fatalf("%d categories", n)
	}
	if got := out.GetCategory()[0].GetCoding()[0].GetCode().GetValue(); got != ra.FlagCategoryCode {
		t.Errorf("category[0] %s", got)
	}
	if got := out.GetCategory()[1].GetCoding()[0].GetCode().GetValue(); got != "003" {
		t.Errorf("category[1] %s", got)
	}
	if got := out.GetAuthor().GetIdentifier().GetValue().GetValue(); got != "D82106" {
		t.Errorf("author %s", got)
	}
	if out.GetPeriod().GetStart() == nil || out.GetPeriod().GetEnd() != nil {
		t.Errorf("period %v", out.GetPeriod())
	}
	if len(out.GetContained()) != 1 {
		t.Fatalf("%d contained", len(out.GetContained()))
	}
	cr := &bcrpb.ContainedResource{}
	if err := out.GetContained()[0].UnmarshalTo(cr); err != nil || cr.GetConsent() == nil {
		t.Fatalf("contained is not a Consent: %v", err)
	}
	var ref string
	for _, e := range out.GetExtension() {
		if e.GetUrl().GetValue() == ra.FlagDetailURL {
			ref = e.GetValue().GetReference().GetFragment().GetValue()
		}
	}
	if ref == "" || ref != cr.GetConsent().GetId().GetValue() {
		t.Errorf("flag-detail references %q, consent id %q", ref, cr.GetConsent().GetId().GetValue())
	}
}

// A removed (inactive) adjustment ends when it was last changed and keeps
// its removal reason.
func TestRemovedFlag(t *testing.T) {
	f, _ := readFlag(t, "testdata/updateFlag.in.json")
	out, err := ra.FlagAt(f, nil, "5900026175", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.GetId().GetValue(); got != "ra-5900026175.2acb0536-0a8f-48c9-8a2f-6ee82860f186" {
		t.Errorf("id of a flag whose RA id lacks the NHS number: %s", got)
	}
	if out.GetStatus().GetValue().String() != "INACTIVE" {
		t.Errorf("status %v", out.GetStatus())
	}
	var removal bool
	for _, e := range out.GetExtension() {
		removal = removal || e.GetUrl().GetValue() == ra.RemovalReasonURL
	}
	if !removal {
		t.Error("removal reason dropped")
	}
}

func TestFlagID(t *testing.T) {
	tests := []struct {
		name    string
		nhs, id string
		want    string
	}{
		{name: "RA id", nhs: "5900026175", id: "5900026175.a54f7fe6-fb35-4fef-a2dc-7a9df9ee7441", want: "ra-5900026175.a54f7fe6-fb35-4fef-a2dc-7a9df9ee7441"},
		{name: "id without the NHS number", nhs: "5900026175", id: "2acb0536-0a8f-48c9-8a2f-6ee82860f186", want: "ra-5900026175.2acb0536-0a8f-48c9-8a2f-6ee82860f186"},
		{name: "another patient's id is not trusted", nhs: "5900026175", id: "9000000009.1", want: "ra-5900026175.9000000009.1"},
		{name: "too long", nhs: "5900026175", id: strings.Repeat("z", 70), want: "ra-5900026175.h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ra.FlagID(tc.nhs, tc.id)
			if !strings.HasPrefix(got, tc.want) || len(got) > 64 {
				t.Errorf("FlagID = %q, want %q", got, tc.want)
			}
			if nhs, ok := ra.ParseFlagID(got); !ok || nhs != tc.nhs {
				t.Errorf("ParseFlagID(%q) = %q, %v", got, nhs, ok)
			}
		})
	}
	for _, id := range []string{"cpis-9000000009-cpp", "ra-", "ra-5900026175", "ra-5900026175-x", "ra-5900026176.x"} {
		if nhs, ok := ra.ParseFlagID(id); ok {
			t.Errorf("ParseFlagID(%q) = %q, true", id, nhs)
		}
	}
}

// RA's contract gives a current adjustment no end; should RA send one, an
// active flag whose end has passed in England is inactive, as for every
// facade Flag. Flag (RA's answer to a write) keeps RA's status.
func TestFlagEndedIsInactive(t *testing.T) {
	f, _ := readFlag(t, "testdata/sandbox_flagGET_0.in.json")
	tests := []struct {
		name string
		end  string
		now  time.Time
		want string
	}{
		{name: "no end", end: "", now: goldenNow, want: "ACTIVE"},
		{name: "ends today", end: "2025-06-30", now: goldenNow, want: "ACTIVE"},
		{name: "ended yesterday, RA still says active", end: "2025-06-29", now: goldenNow, want: "INACTIVE"},
		{name: "the night the clocks go forward: 23:30 UTC is the next day", end: "2025-03-30", now: time.Date(2025, 3, 30, 23, 30, 0, 0, time.UTC), want: "INACTIVE"},
		{name: "GMT: 23:30 UTC is still the end day", end: "2025-10-26", now: time.Date(2025, 10, 26, 23, 30, 0, 0, time.UTC), want: "ACTIVE"},
		{name: "a dateTime end counts by its London day", end: "2025-06-29T23:30:00Z", now: goldenNow, want: "ACTIVE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := *f
			if tc.end != "" {
				in.Period = &fhirjson.Period{End: tc.end}
			}
			out, err := ra.FlagAt(&in, nil, "5900026175", tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.GetStatus().GetValue().String(); got != tc.want {
				t.Errorf("status %s, want %s", got, tc.want)
			}
			if tc.end != "" && out.GetPeriod().GetEnd() == nil {
				t.Error("RA's end is not shown")
			}
			if w, err := ra.Flag(&in, nil, "5900026175"); err != nil || w.GetStatus().GetValue().String() != "ACTIVE" {
				t.Errorf("Flag (write answer): %v %v", w.GetStatus(), err)
			}
		})
	}
	// A removed flag stays inactive; its end is when it was last changed.
	removed, _ := readFlag(t, "testdata/updateFlag.in.json")
	if out, err := ra.FlagAt(removed, nil, "5900026175", goldenNow); err != nil || out.GetStatus().GetValue().String() != "INACTIVE" {
		t.Errorf("removed: %v %v", out.GetStatus(), err)
	}
	// Without a date to judge by there is no flag, and the fault is the
	// caller's, not RA's.
	if _, err := ra.FlagAt(f, nil, "5900026175", time.Time{}); fhirerr.CategoryOf(err) != fhirerr.Internal {
		t.Errorf("zero now: %v", err)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		flag    string
		consent string
		wantErr string
	}{
		{name: "another patient", flag: `{"resourceType":"Flag","id":"9000000009.1","status":"active","code":{"text":"x"},"subject":{"reference":"https://demographics.spineservices.nhs.uk/STU3/Patient/9000000009"}}`,
			wantErr: "Flag.subject: names another patient"},
		{name: "subject not a patient", flag: `{"resourceType":"Flag","id":"1","status":"active","code":{"text":"x"},"subject":{"reference":"Group/1"}}`,
			wantErr: "Flag.subject: is not a Patient"},
		{name: "no id", flag: `{"resourceType":"Flag","status":"active","code":{"text":"x"}}`, wantErr: "Flag.id: missing"},
		{name: "bad status", flag: `{"resourceType":"Flag","id":"1","status":"removed","code":{"text":"x"}}`, wantErr: "Flag.status"},
		{name: "no code", flag: `{"resourceType":"Flag","id":"1","status":"active"}`, wantErr: "Flag.code: missing"},
		{name: "consent of another patient", flag: `{"resourceType":"Flag","id":"1","status":"active","code":{"text":"x"}}`,
			consent: `{"resourceType":"Consent","id":"c","status":"active","patient":{"reference":"Patient/9000000009"}}`, wantErr: "Consent.patient"},
		{name: "consent with a bad status", flag: `{"resourceType":"Flag","id":"1","status":"active","code":{"text":"x"}}`,
			consent: `{"resourceType":"Consent","id":"c","status":"given"}`, wantErr: "Consent.status"},
		{name: "consent without id", flag: `{"resourceType":"Flag","id":"1","status":"active","code":{"text":"x"}}`,
			consent: `{"resourceType":"Consent","status":"active"}`, wantErr: "Consent.id: missing"},
		{name: "bad end", flag: `{"resourceType":"Flag","id":"1","status":"active","code":{"text":"x"},"period":{"end":"31/03/2024"}}`, wantErr: "Flag.period.end: invalid dateTime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ra.DecodeFlag([]byte(tc.flag))
			if err != nil {
				t.Fatal(err)
			}
			var c *fhirjson.STU3Consent
			if tc.consent != "" {
				if c, err = ra.DecodeConsent([]byte(tc.consent)); err != nil {
					t.Fatal(err)
				}
			}
			_, err = ra.FlagAt(f, c, "5900026175", goldenNow)
			checkBadGateway(t, err, tc.wantErr)
		})
	}
	_, err := ra.DecodeFlag([]byte(`{"resourceType":"OperationOutcome"}`))
	checkBadGateway(t, err, `resourceType is "OperationOutcome"`)
	_, err = ra.DecodeConsent([]byte(`not json`))
	checkBadGateway(t, err, "invalid character")
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
	if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != "ra" {
		t.Errorf("error %#v is not an ra BadGateway *fhirerr.Error", err)
	}
	var pe *fhirjson.Error
	if strings.Contains(wantErr, ": ") && !strings.Contains(wantErr, "resourceType") && !errors.As(err, &pe) {
		t.Errorf("error %v does not wrap a *fhirjson.Error", err)
	}
}

// FuzzFlag feeds arbitrary flag and consent payloads to DecodeFlag,
// DecodeConsent and Flag: they never panic, and every failure is the ra
// backend's BadGateway.
func FuzzFlag(f *testing.F) {
	consent, err := os.ReadFile("testdata/sandbox_flagGET_0.consent.json")
	if err != nil {
		f.Fatal(err)
	}
	inputs, _ := filepath.Glob("testdata/*.in.json")
	for _, in := range inputs {
		raw, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, consent)
		f.Add(raw, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, flagRaw, consentRaw []byte) {
		fl, err := ra.DecodeFlag(flagRaw)
		var c *fhirjson.STU3Consent
		if err == nil && len(consentRaw) > 0 {
			c, err = ra.DecodeConsent(consentRaw)
		}
		if err == nil {
			_, err = ra.FlagAt(fl, c, "5900026175", goldenNow)
		}
		if err != nil && (fhirerr.CategoryOf(err) != fhirerr.BadGateway || fhirerr.As(err).Backend != "ra") {
			t.Fatalf("error %#v", err)
		}
	})
}
