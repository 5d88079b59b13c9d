package ovm_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/mappers/ovm"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// goldenNow is the "now" of the goldens: the sandbox population's fixed
// reference date, so that a golden never changes with the calendar.
var goldenNow = time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)

// testCase is what testdata/cases.json says of a case: the patient whose
// status it is (and which of them, for the simulator's fixture check).
type testCase struct {
	NHS   string `json:"nhs"`
	Index int    `json:"index"`
}

// TestGolden maps every testdata/<case>.in.json (statuses as the sandbox
// simulator sends them, see testdata/README.md) for its patient, as of
// goldenNow, and compares the result, printed by jsonformat, with
// testdata/<case>.golden.json. Each golden is also parsed back by
// jsonformat and printed to the same bytes, and validated against the FHIR
// R4 JSON schema.
func TestGolden(t *testing.T) {
	cases := goldentest.ReadCases[testCase](t)
	names := goldentest.Run(t, 4, func(t *testing.T, c goldentest.Case) {
		tc := goldentest.Lookup(t, cases, c.Name)
		s, err := ovm.Decode(c.Raw)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ovm.Flag(s, tc.NHS, goldenNow)
		if err != nil {
			t.Fatalf("Flag: %v", err)
		}
		goldentest.Resource(t, c, out, goldentest.Options{})
	})
	goldentest.RequireGenerated(t, names)
}

func status(end *string) *ovm.Status {
	return &ovm.Status{ID: "5b7e2c1d-3a4f-4e8b-9c6d-900000000009", ChargingCategory: "C", Start: "2025-03-03", End: end,
		RecordedBy: &ovm.RecordedBy{ODS: "ZZ901", Name: "Example Hospitals NHS Trust", Phone: "01632 960101"}, LastUpdated: "2025-03-03T10:15:00Z"}
}

func ptr(s string) *string { return &s }

// A status is active while it has no end or its end date has not passed in
// England (mappers/internal/period): the London date decides, whatever
// now's zone, across the clock changes.
func TestFlagStatusDependsOnNow(t *testing.T) {
	bst := time.FixedZone("BST", 3600)
	tests := []struct {
		name string
		end  *string
		now  time.Time
		want string
	}{
		{name: "no end", end: nil, now: goldenNow, want: "ACTIVE"},
		{name: "ends later", end: ptr("2025-07-01"), now: goldenNow, want: "ACTIVE"},
		{name: "ends today", end: ptr("2025-06-30"), now: goldenNow, want: "ACTIVE"},
		{name: "ended yesterday", end: ptr("2025-06-29"), now: goldenNow, want: "INACTIVE"},
		{name: "ended the day it started", end: ptr("2025-03-03"), now: goldenNow, want: "INACTIVE"},
		{name: "London's date, not now's zone", end: ptr("2025-06-30"), now: time.Date(2025, 7, 1, 0, 30, 0, 0, bst), want: "INACTIVE"},
		{name: "London's date, not UTC's (BST)", end: ptr("2025-06-30"), now: time.Date(2025, 6, 30, 23, 30, 0, 0, time.UTC), want: "INACTIVE"},
		{name: "the night the clocks go forward", end: ptr("2025-03-30"), now: time.Date(2025, 3, 30, 23, 30, 0, 0, time.UTC), want: "INACTIVE"},
		{name: "GMT: 23:30 UTC is still the end day", end: ptr("2025-10-26"), now: time.Date(2025, 10, 26, 23, 30, 0, 0, time.UTC), want: "ACTIVE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := status(tc.end)
			if tc.end != nil && *tc.end < s.Start {
				s.Start = *tc.end
			}
			f, err := ovm.Flag(s, "9000000009", tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.GetStatus().GetValue().String(); got != tc.want {
				t.Errorf("status %s, want %s", got, tc.want)
			}
		})
	}
	// Without a date to judge by there is no flag (never a guess at
	// "active"), and the fault is the caller's, not the service's.
	if _, err := ovm.Flag(status(nil), "9000000009", time.Time{}); fhirerr.CategoryOf(err) != fhirerr.Internal {
		t.Errorf("zero now: %v", err)
	}
}

// What a clinician or overseas visitor team needs is on the Flag: the
// category letter, who recorded it and how to reach them; and nothing is
// invented (no versionId: the service keeps no versions).
func TestFlagContent(t *testing.T) {
	in := status(nil)
	before, _ := json.Marshal(in)
	f, err := ovm.Flag(in, "9000000009", goldenNow)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(in); !bytes.Equal(before, after) {
		t.Error("Flag modified its input")
	}
	if got := f.GetId().GetValue(); got != "ovm-9000000009-5b7e2c1d-3a4f-4e8b-9c6d-900000000009" {
		t.Errorf("id %s", got)
	}
	if c := f.GetCode(); c.GetText().GetValue() != "Overseas visitor charging category C: Charge-exempt Overseas Visitor (European Economic Area)" ||
		c.GetCoding()[0].GetSystem().GetValue() != ovm.UKCoreChargingCategorySystem || c.GetCoding()[0].GetCode().GetValue() != "C" {
		t.Errorf("code %v", c)
	}
	cats := map[string]string{}
	for _, c := range f.GetCategory()[0].GetCoding() {
		cats[c.GetSystem().GetValue()] = c.GetCode().GetValue()
	}
	if cats[ovm.CategorySystem] != ovm.CategoryCode || cats[ovm.AdminCategorySystem] != "admin" {
		t.Errorf("category %v", cats)
	}
	a := f.GetAuthor()
	if a.GetType().GetValue() != "Organization" || a.GetIdentifier().GetValue().GetValue() != "ZZ901" || a.GetDisplay().GetValue() != "Example Hospitals NHS Trust" {
		t.Errorf("author %v", a)
	}
	if e := f.GetExtension(); len(e) != 1 || e[0].GetUrl().GetValue() != ovm.RecordingOrganisationContactURL ||
		e[0].GetValue().GetContactPoint().GetValue().GetValue() != "01632 960101" {
		t.Errorf("extension %v", e)
	}
	if f.GetMeta().GetVersionId() != nil || f.GetMeta().GetLastUpdated() == nil {
		t.Errorf("meta %v", f.GetMeta())
	}
	if f.GetSubject().GetPatientId().GetValue() != "9000000009" {
		t.Errorf("subject %v", f.GetSubject())
	}
	// Without a recording organisation, there is no author and no contact.
	in.RecordedBy = nil
	if f, err := ovm.Flag(in, "9000000009", goldenNow); err != nil || f.GetAuthor() != nil || len(f.GetExtension()) != 0 {
		t.Errorf("without recordedBy: %v %v", f, err)
	}
}

func TestFlagID(t *testing.T) {
	long := strings.Repeat("x", 60)
	tests := []struct {
		name    string
		nhs, id string
		want    string
	}{
		{name: "uuid", nhs: "9000000009", id: "5b7e2c1d-3a4f-4e8b-9c6d-900000000009", want: "ovm-9000000009-5b7e2c1d-3a4f-4e8b-9c6d-900000000009"},
		{name: "too long is hashed", nhs: "9000000009", id: long, want: "ovm-9000000009-h"},
		{name: "bad characters are hashed", nhs: "9000000017", id: "a/b", want: "ovm-9000000017-h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ovm.FlagID(tc.nhs, tc.id)
			if !strings.HasPrefix(got, tc.want) || len(got) > 64 {
				t.Errorf("FlagID = %q, want %q…", got, tc.want)
			}
			if _, err := fhirjson.BuildID(got); err != nil {
				t.Errorf("FlagID = %q is not a FHIR id: %v", got, err)
			}
			if nhs, ok := ovm.ParseFlagID(got); !ok || nhs != tc.nhs {
				t.Errorf("ParseFlagID(%q) = %q, %v", got, nhs, ok)
			}
		})
	}
	for _, id := range []string{"fgm-9000000009-x", "ovm-", "ovm-9000000000-x", "ovm-900000000-x", "ovm-9000000009x", "ovm-9000000009-"} {
		if nhs, ok := ovm.ParseFlagID(id); ok {
			t.Errorf("ParseFlagID(%q) = %q, true", id, nhs)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	const ok = `"id":"x","chargingCategory":"C","start":"2025-03-03"`
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "no id", in: `{"chargingCategory":"C","start":"2025-03-03"}`, wantErr: "status.id: missing"},
		{name: "no category", in: `{"id":"x","start":"2025-03-03"}`, wantErr: "status.chargingCategory"},
		{name: "two letters", in: `{"id":"x","chargingCategory":"AB","start":"2025-03-03"}`, wantErr: "status.chargingCategory"},
		{name: "lower case", in: `{"id":"x","chargingCategory":"c","start":"2025-03-03"}`, wantErr: "status.chargingCategory"},
		{name: "no start", in: `{"id":"x","chargingCategory":"C"}`, wantErr: "status.start: missing"},
		{name: "end before start", in: `{` + ok + `,"end":"2025-03-02"}`, wantErr: "status.end: before the start"},
		{name: "bad start", in: `{"id":"x","chargingCategory":"C","start":"03/03/2025"}`, wantErr: "Flag.period.start"},
		{name: "bad end", in: `{` + ok + `,"end":"2025-13-01"}`, wantErr: "status.end: invalid dateTime"},
		{name: "empty end", in: `{` + ok + `,"end":""}`, wantErr: "status.end: before the start"},
		{name: "bad lastUpdated", in: `{` + ok + `,"lastUpdated":"yesterday"}`, wantErr: "Flag.meta.lastUpdated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ovm.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ovm.Flag(s, "9000000009", goldenNow)
			checkBadGateway(t, err, tc.wantErr)
		})
	}
	_, err := ovm.Decode([]byte(`["not a status"]`))
	checkBadGateway(t, err, "cannot unmarshal")
	_, err = ovm.Flag(nil, "9000000009", goldenNow)
	checkBadGateway(t, err, "no status")
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
	if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != "ovm" {
		t.Errorf("error %#v is not an ovm BadGateway *fhirerr.Error", err)
	}
	var pe *fhirjson.Error
	if strings.Contains(wantErr, ".") && strings.Contains(wantErr, ":") && !errors.As(err, &pe) {
		t.Errorf("error %v does not wrap a *fhirjson.Error", err)
	}
}

// FuzzFlag feeds arbitrary payloads to Decode and Flag: they never panic,
// every failure is the ovm backend's BadGateway, and every Flag made is
// active or inactive.
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
		s, err := ovm.Decode(raw)
		if err == nil {
			out, ferr := ovm.Flag(s, "9000000009", goldenNow)
			if ferr == nil {
				if st := out.GetStatus().GetValue().String(); st != "ACTIVE" && st != "INACTIVE" {
					t.Fatalf("status %s", st)
				}
			}
			err = ferr
		}
		if err != nil && (fhirerr.CategoryOf(err) != fhirerr.BadGateway || fhirerr.As(err).Backend != "ovm") {
			t.Fatalf("error %#v", err)
		}
	})
}

// TestChargingCategoryCode: a letter of UK Core's code system is coded in
// it with UK Core's display as its meaning; any other letter keeps the
// facade's own system and is named by its letter only.
func TestChargingCategoryCode(t *testing.T) {
	for _, c := range []struct {
		letter, system, display, text string
	}{
		{"A", ovm.UKCoreChargingCategorySystem, "Standard NHS-funded patient", "Overseas visitor charging category A: Standard NHS-funded patient"},
		{"F", ovm.UKCoreChargingCategorySystem, "Chargeable non-European Economic Area patient", "Overseas visitor charging category F: Chargeable non-European Economic Area patient"},
		{"P", ovm.UKCoreChargingCategorySystem, "Decision Pending on Overseas Visitor Charging Category", "Overseas visitor charging category P: Decision Pending on Overseas Visitor Charging Category"},
		{"G", ovm.ChargingCategorySystem, "", "Overseas visitor charging category G"},
		{"7", ovm.ChargingCategorySystem, "", "Overseas visitor charging category 7"},
	} {
		in := status(nil)
		in.ChargingCategory = c.letter
		f, err := ovm.Flag(in, "9000000009", goldenNow)
		if err != nil {
			t.Fatal(err)
		}
		code := f.GetCode()
		cd := code.GetCoding()
		if len(cd) != 1 || cd[0].GetSystem().GetValue() != c.system || cd[0].GetCode().GetValue() != c.letter ||
			cd[0].GetDisplay().GetValue() != c.display || code.GetText().GetValue() != c.text {
			t.Errorf("%s: code %v", c.letter, code)
		}
	}
}

// TestChargingCategoriesAreUKCore: ChargingCategories is UK Core's code
// system, every concept with its display, as profiles/ukcore embeds it.
func TestChargingCategoriesAreUKCore(t *testing.T) {
	raw, err := os.ReadFile("../../profiles/ukcore/definitions/ukcore/CodeSystem-UKCore-OverseasVisitorChargingCategory.xml")
	if err != nil {
		t.Fatal(err)
	}
	var cs struct {
		URL struct {
			Value string `xml:"value,attr"`
		} `xml:"url"`
		Concept []struct {
			Code struct {
				Value string `xml:"value,attr"`
			} `xml:"code"`
			Display struct {
				Value string `xml:"value,attr"`
			} `xml:"display"`
		} `xml:"concept"`
	}
	if err := xml.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	if cs.URL.Value != ovm.UKCoreChargingCategorySystem {
		t.Errorf("code system url %s, want %s", cs.URL.Value, ovm.UKCoreChargingCategorySystem)
	}
	got := map[string]string{}
	for _, c := range cs.Concept {
		got[c.Code.Value] = c.Display.Value
	}
	if !maps.Equal(got, ovm.ChargingCategories) {
		t.Errorf("UK Core has %v, the mapper %v", got, ovm.ChargingCategories)
	}
}
