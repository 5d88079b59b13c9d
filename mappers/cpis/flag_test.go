package cpis_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/mappers/cpis"
	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// goldenNow is the "now" of the goldens: the sandbox population's fixed
// reference date, so that a golden never changes with the calendar.
var goldenNow = time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)

// TestGolden maps every testdata/<case>.in.json (CP-IS CareTeams, see
// testdata/README.md) for the patient its
// subject names and compares the result, printed by jsonformat, with
// testdata/<case>.golden.json. Each golden is also parsed back by jsonformat
// and printed to the same bytes, and validated against the FHIR R4 JSON
// schema.
func TestGolden(t *testing.T) {
	goldentest.Run(t, 1, func(t *testing.T, c goldentest.Case) {
		ct, err := cpis.Decode(c.Raw)
		if err != nil {
			t.Fatal(err)
		}
		out, err := cpis.Flag(ct, ct.Subject.Identifier.Value, goldenNow)
		if err != nil {
			t.Fatalf("Flag: %v", err)
		}
		goldentest.Resource(t, c, out, goldentest.Options{})
	})
}

// The phone numbers of the local authority reach the Flag with their contact
// type, and the plan type is the code.
func TestFlagCarriesLocalAuthorityContacts(t *testing.T) {
	raw, err := os.ReadFile("testdata/careteam_cpis-9000000009-cpp.in.json")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := cpis.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(ct)
	f, err := cpis.Flag(ct, "9000000009", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(ct); !bytes.Equal(before, after) {
		t.Error("Flag modified its input")
	}
	got := map[string]string{}
	for _, e := range f.GetExtension() {
		if e.GetUrl().GetValue() != cpis.LocalAuthorityContactURL {
			continue
		}
		cp := e.GetValue().GetContactPoint()
		for _, x := range cp.GetExtension() {
			if x.GetUrl().GetValue() == cpis.ContactTypeURL {
				got[x.GetValue().GetCode().GetValue()] = cp.GetValue().GetValue()
			}
		}
	}
	if got["office-hours"] != "01632 960001" || got["emergency-duty"] != "01632 960999" {
		t.Errorf("contacts %v", got)
	}
	if f.GetAuthor().GetIdentifier().GetValue().GetValue() != "LA001" || f.GetAuthor().GetDisplay().GetValue() == "" {
		t.Errorf("author %v", f.GetAuthor())
	}
	if c := f.GetCode().GetCoding()[0]; c.GetCode().GetValue() != "CPP" || c.GetSystem().GetValue() != cpis.PlanTypeSystem {
		t.Errorf("code %v", f.GetCode())
	}
	if f.GetCode().GetText().GetValue() != "Child Protection Plan" {
		t.Errorf("code.text %v", f.GetCode().GetText())
	}
}

func TestFlagID(t *testing.T) {
	tests := []struct {
		name    string
		nhs, id string
		want    string
	}{
		{name: "contract id kept", nhs: "9000000009", id: "cpis-9000000009-cpp", want: "cpis-9000000009-cpp"},
		{name: "other id prefixed", nhs: "9000000009", id: "7d1e", want: "cpis-9000000009-7d1e"},
		{name: "another patient's prefix is not trusted", nhs: "9000000009", id: "cpis-9000000017-cpp", want: "cpis-9000000009-cpis-9000000017-cpp"},
		{name: "too long is hashed", nhs: "9000000009", id: strings.Repeat("y", 80), want: "cpis-9000000009-h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cpis.FlagID(tc.nhs, tc.id)
			if !strings.HasPrefix(got, tc.want) || len(got) > 64 {
				t.Errorf("FlagID = %q, want %q", got, tc.want)
			}
			if nhs, ok := cpis.ParseFlagID(got); !ok || nhs != tc.nhs {
				t.Errorf("ParseFlagID(%q) = %q, %v", got, nhs, ok)
			}
		})
	}
	for _, id := range []string{"fgm-9000000009-x", "cpis-", "cpis-9000000000-cpp", "cpis-9000000009", "cpis-9000000009-"} {
		if nhs, ok := cpis.ParseFlagID(id); ok {
			t.Errorf("ParseFlagID(%q) = %q, true", id, nhs)
		}
	}
}

func TestFlagStatus(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "active", in: "active", want: "ACTIVE"},
		{name: "inactive", in: "inactive", want: "INACTIVE"},
		{name: "suspended", in: "suspended", want: "INACTIVE"},
		{name: "proposed", in: "proposed", want: "INACTIVE"},
		{name: "entered in error", in: "entered-in-error", want: "ENTERED_IN_ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := careTeam(tc.in)
			f, err := cpis.Flag(ct, "9000000009", goldenNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.GetStatus().GetValue().String(); got != tc.want {
				t.Errorf("status %s, want %s", got, tc.want)
			}
		})
	}
}

// A plan whose end date has passed in England is inactive even when CP-IS
// still says active: a stale child protection plan must not look current.
// The day is London's, across the clock changes (BST began at 01:00 UTC on
// 30 March 2025 and ended at 01:00 UTC on 26 October 2025).
func TestFlagEndedPlanIsInactive(t *testing.T) {
	tests := []struct {
		name   string
		status string
		end    string
		now    time.Time
		want   string
	}{
		{name: "no end", status: "active", end: "", now: goldenNow, want: "ACTIVE"},
		{name: "ends today", status: "active", end: "2025-06-30", now: goldenNow, want: "ACTIVE"},
		{name: "ends later", status: "active", end: "2025-09-30", now: goldenNow, want: "ACTIVE"},
		{name: "ended yesterday, CP-IS still says active", status: "active", end: "2025-06-29", now: goldenNow, want: "INACTIVE"},
		{name: "ended last year, CP-IS still says active", status: "active", end: "2024-03-31", now: goldenNow, want: "INACTIVE"},
		{name: "ended, and CP-IS says so", status: "inactive", end: "2024-03-31", now: goldenNow, want: "INACTIVE"},
		{name: "inactive before its end is never made current", status: "inactive", end: "2025-09-30", now: goldenNow, want: "INACTIVE"},
		{name: "entered in error stays so after its end", status: "entered-in-error", end: "2024-03-31", now: goldenNow, want: "ENTERED_IN_ERROR"},
		{name: "the night the clocks go forward: 23:30 UTC is the next day", status: "active", end: "2025-03-30", now: time.Date(2025, 3, 30, 23, 30, 0, 0, time.UTC), want: "INACTIVE"},
		{name: "the night the clocks go forward: 22:59 UTC is the end day", status: "active", end: "2025-03-30", now: time.Date(2025, 3, 30, 22, 59, 0, 0, time.UTC), want: "ACTIVE"},
		{name: "GMT: 23:30 UTC is still the end day", status: "active", end: "2025-10-26", now: time.Date(2025, 10, 26, 23, 30, 0, 0, time.UTC), want: "ACTIVE"},
		{name: "a dateTime end counts by its London day", status: "active", end: "2025-06-29T23:30:00Z", now: goldenNow, want: "ACTIVE"},
		{name: "a dateTime end with an offset", status: "active", end: "2025-06-30T00:30:00+01:00", now: time.Date(2025, 6, 30, 23, 0, 0, 0, time.UTC), want: "INACTIVE"},
		{name: "a month end runs to its last day", status: "active", end: "2025-06", now: goldenNow, want: "ACTIVE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := careTeam(tc.status)
			ct.Period = &fhirjson.Period{Start: "2022-05-10", End: tc.end}
			f, err := cpis.Flag(ct, "9000000009", tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.GetStatus().GetValue().String(); got != tc.want {
				t.Errorf("status %s, want %s", got, tc.want)
			}
			if tc.end != "" && f.GetPeriod().GetEnd() == nil {
				t.Error("the end date is not shown")
			}
		})
	}
	// Without a date to judge by there is no flag, and the fault is the
	// caller's, not CP-IS's.
	if _, err := cpis.Flag(careTeam("active"), "9000000009", time.Time{}); fhirerr.CategoryOf(err) != fhirerr.Internal {
		t.Errorf("zero now: %v", err)
	}
}

func careTeam(status string) *fhirjson.CareTeam {
	return &fhirjson.CareTeam{ResourceType: "CareTeam", ID: "cpis-9000000009-cpp", Status: status,
		Category: []fhirjson.CodeableConcept{{Coding: []fhirjson.Coding{{System: cpis.PlanTypeSystem, Code: "CPP"}}}}}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "another patient", in: `{"resourceType":"CareTeam","id":"cpis-9000000017-lac","status":"active","category":[{"coding":[{"system":"` + cpis.PlanTypeSystem + `","code":"LAC"}]}],"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"}}}`,
			wantErr: "CareTeam.subject: names another patient"},
		{name: "no plan type", in: `{"resourceType":"CareTeam","id":"x","status":"active","category":[{"text":"plan"}]}`, wantErr: "CareTeam.category: no plan type"},
		{name: "no status", in: `{"resourceType":"CareTeam","id":"x","category":[{"coding":[{"system":"` + cpis.PlanTypeSystem + `","code":"CPP"}]}]}`, wantErr: "CareTeam.status: missing"},
		{name: "bad status", in: `{"resourceType":"CareTeam","id":"x","status":"ended","category":[{"coding":[{"system":"` + cpis.PlanTypeSystem + `","code":"CPP"}]}]}`, wantErr: `CareTeam.status: "ended"`},
		{name: "no id", in: `{"resourceType":"CareTeam","status":"active"}`, wantErr: "CareTeam.id: missing"},
		{name: "bad phone use", in: `{"resourceType":"CareTeam","id":"x","status":"active","category":[{"coding":[{"system":"` + cpis.PlanTypeSystem + `","code":"CPP"}]}],"telecom":[{"system":"phone","value":"1","use":"office"}]}`,
			wantErr: "Flag.extension[0].valueContactPoint.use"},
		{name: "bad period", in: `{"resourceType":"CareTeam","id":"x","status":"active","category":[{"coding":[{"system":"` + cpis.PlanTypeSystem + `","code":"CPP"}]}],"period":{"start":"01/03/2024"}}`,
			wantErr: "Flag.period.start"},
		{name: "bad period end", in: `{"resourceType":"CareTeam","id":"x","status":"active","category":[{"coding":[{"system":"` + cpis.PlanTypeSystem + `","code":"CPP"}]}],"period":{"start":"2024-03-01","end":"31/03/2024"}}`,
			wantErr: "CareTeam.period.end: invalid dateTime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := cpis.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			_, err = cpis.Flag(ct, "9000000009", goldenNow)
			checkBadGateway(t, err, tc.wantErr)
		})
	}
	_, err := cpis.Decode([]byte(`{"resourceType":"Bundle"}`))
	checkBadGateway(t, err, `resourceType is "Bundle"`)
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
	if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != "cpis" {
		t.Errorf("error %#v is not a cpis BadGateway *fhirerr.Error", err)
	}
	var pe *fhirjson.Error
	if strings.Contains(wantErr, ".") && strings.Contains(wantErr, ":") && !errors.As(err, &pe) {
		t.Errorf("error %v does not wrap a *fhirjson.Error", err)
	}
}

// FuzzFlag feeds arbitrary payloads to Decode and Flag: they never panic,
// and every failure is the cpis backend's BadGateway.
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
		ct, err := cpis.Decode(raw)
		if err == nil {
			_, err = cpis.Flag(ct, "9000000009", goldenNow)
		}
		if err != nil && (fhirerr.CategoryOf(err) != fhirerr.BadGateway || fhirerr.As(err).Backend != "cpis") {
			t.Fatalf("error %#v", err)
		}
	})
}
