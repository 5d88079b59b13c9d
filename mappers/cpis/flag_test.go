package cpis_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/cpis"
	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// TestGolden maps every testdata/<case>.in.json (CP-IS CareTeams copied from
// ../shared/fixtures/cpis, see testdata/README.md) for the patient its
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
		out, err := cpis.Flag(ct, ct.Subject.Identifier.Value)
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
	f, err := cpis.Flag(ct, "9000000009")
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
			f, err := cpis.Flag(ct, "9000000009")
			if err != nil {
				t.Fatal(err)
			}
			if got := f.GetStatus().GetValue().String(); got != tc.want {
				t.Errorf("status %s, want %s", got, tc.want)
			}
		})
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := cpis.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			_, err = cpis.Flag(ct, "9000000009")
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
			_, err = cpis.Flag(ct, "9000000009")
		}
		if err != nil && (fhirerr.CategoryOf(err) != fhirerr.BadGateway || fhirerr.As(err).Backend != "cpis") {
			t.Fatalf("error %#v", err)
		}
	})
}
