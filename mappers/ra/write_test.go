package ra_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

var change = ra.Change{
	ProvenanceID: "0f0e0d0c-0b0a-4998-8776-655443322110",
	Recorded:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	Author: ra.Author{UserID: "555254240100", UserName: "Facade Service User", RoleCode: "R8000", RoleDisplay: "Clinical Practitioner Access Role",
		OrgODS: "X26", OrgName: "NHS England"},
}

// parseR4 reads a client's Flag as the server does (jsonformat, validating).
func parseR4(t *testing.T, js string) *flagpb.Flag {
	t.Helper()
	um, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := um.Unmarshal([]byte(js))
	if err != nil {
		t.Fatalf("test input: %v", err)
	}
	return m.(*bcrpb.ContainedResource).GetFlag()
}

// prevFlag is the current RA version of the flag an update changes.
func prevFlag(t *testing.T) *fhirjson.STU3Flag {
	t.Helper()
	f, _ := readFlag(t, "testdata/sandbox_flagGET_0.in.json")
	return f
}

// TestToSTU3Golden translates every testdata/write/<case>.r4.json (a
// client's Flag: create_* creates, anything else updates
// testdata/sandbox_flagGET_0.in.json) and compares the RA Flag with
// <case>.stu3.golden.json.
func TestToSTU3Golden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/write/*.r4.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/write/*.r4.json (%v)", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".r4.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var prev *fhirjson.STU3Flag
			if !strings.HasPrefix(name, "create_") {
				prev = prevFlag(t)
			}
			before, _ := json.Marshal(prev)
			out, err := ra.ToSTU3(parseR4(t, string(raw)), prev, change)
			if err != nil {
				t.Fatalf("ToSTU3: %v", err)
			}
			if after, _ := json.Marshal(prev); !bytes.Equal(before, after) {
				t.Error("ToSTU3 modified the previous version")
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			goldentest.Check(t, strings.TrimSuffix(in, ".r4.json")+".stu3.golden.json", got)
			// What RA would answer maps back to the client's flag.
			back, err := ra.Flag(out, nil, "5900026175")
			if strings.HasPrefix(name, "create_") {
				out.ID = "9000000009.new"
				back, err = ra.Flag(out, nil, "9000000009")
			}
			if err != nil {
				t.Fatalf("the RA flag does not map back: %v", err)
			}
			if back.GetCode().GetCoding()[0].GetCode().GetValue() != out.Code.Coding[0].Code {
				t.Error("code lost on the way back")
			}
		})
	}
}

const (
	nraf       = `{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1","code":"NRAF"}]}`
	adjustment = `{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1","code":"004"}]}`
	lipRead    = `{"coding":[{"system":"http://snomed.info/sct","code":"441092009"}]}`
	patient    = `{"reference":"Patient/9000000009"}`
	removal    = `{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-RemovalReason-1","extension":[{"url":"removalReason","valueCodeableConcept":{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-RemovalReason-1","code":"Error"}]}}]}`
)

func flagJSON(status, category, code, subject string, extra ...string) string {
	s := `{"resourceType":"Flag","status":"` + status + `","category":[` + category + `],"code":` + code
	if subject != "" {
		s += `,"subject":` + subject
	}
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// Every rule of ToSTU3 rejects with 422 and names the element.
func TestToSTU3Rejects(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		update   bool
		wantExpr string
		wantMsg  string
	}{
		{name: "subject not a patient", in: flagJSON("active", nraf, lipRead, `{"reference":"Group/1"}`), wantExpr: "Flag.subject", wantMsg: "must be a Patient"},
		{name: "invalid NHS number", in: flagJSON("active", nraf, lipRead, `{"reference":"Patient/9000000000"}`), wantExpr: "Flag.subject", wantMsg: "valid NHS number"},
		{name: "subject identifier of another system", in: flagJSON("active", nraf, lipRead, `{"identifier":{"system":"urn:x","value":"9000000009"}}`), wantExpr: "Flag.subject.identifier"},
		{name: "no category", in: `{"resourceType":"Flag","status":"active","code":` + lipRead + `,"subject":` + patient + `}`, wantExpr: "Flag.category", wantMsg: "needs the category"},
		{name: "wrong category", in: flagJSON("active", `{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/flag-category","code":"safety"}]}`, lipRead, patient),
			wantExpr: "Flag.category[0].coding[0]", wantMsg: "neither"},
		{name: "two NRAF", in: flagJSON("active", nraf+","+nraf, lipRead, patient), wantExpr: "Flag.category[1].coding[0]"},
		{name: "two adjustment categories", in: flagJSON("active", nraf+","+adjustment+","+adjustment, lipRead, patient), wantExpr: "Flag.category[2].coding[0]"},
		{name: "bad adjustment category", in: flagJSON("active", nraf+`,{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1","code":"1"}]}`, lipRead, patient),
			wantExpr: "Flag.category[1].coding[0]", wantMsg: "3-digit"},
		{name: "code of another system", in: flagJSON("active", nraf, `{"coding":[{"system":"http://loinc.org","code":"1234-5"}]}`, patient), wantExpr: "Flag.code.coding[0]", wantMsg: "SNOMED"},
		{name: "SNOMED code not a concept id", in: flagJSON("active", nraf, `{"coding":[{"system":"http://snomed.info/sct","code":"BSL"}]}`, patient), wantExpr: "Flag.code.coding[0]", wantMsg: "6 to 18 digits"},
		{name: "text only", in: flagJSON("active", nraf, `{"text":"needs BSL"}`, patient), wantExpr: "Flag.code"},
		{name: "create inactive", in: flagJSON("inactive", nraf, lipRead, patient), wantExpr: "Flag.status"},
		{name: "entered-in-error", in: flagJSON("entered-in-error", nraf, lipRead, `{"reference":"Patient/5900026175"}`), update: true, wantExpr: "Flag.status", wantMsg: "inactive"},
		{name: "removal without reason", in: flagJSON("inactive", nraf, lipRead, `{"reference":"Patient/5900026175"}`), update: true, wantExpr: "Flag.extension", wantMsg: "needs a removal reason"},
		{name: "reason on an active flag", in: flagJSON("active", nraf, lipRead, `{"reference":"Patient/5900026175"}`, `"extension":[`+removal+`]`), update: true, wantExpr: "Flag.extension"},
		{name: "unknown removal reason", in: flagJSON("inactive", nraf, lipRead, `{"reference":"Patient/5900026175"}`,
			`"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-RemovalReason-1","extension":[{"url":"removalReason","valueCodeableConcept":{"text":"gone"}}]}]`),
			update: true, wantExpr: "Flag.extension", wantMsg: "DoesntApply or Error"},
		{name: "moved to another patient", in: flagJSON("active", nraf, lipRead, patient), update: true, wantExpr: "Flag.subject", wantMsg: "another patient"},
		{name: "author not by ODS code", in: flagJSON("active", nraf, lipRead, patient, `"author":{"reference":"Practitioner/1"}`), wantExpr: "Flag.author"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var prev *fhirjson.STU3Flag
			if tc.update {
				prev = prevFlag(t)
			}
			_, err := ra.ToSTU3(parseR4(t, tc.in), prev, change)
			checkUnprocessable(t, err, tc.wantExpr, tc.wantMsg)
		})
	}
}

// jsonformat requires a subject, but ToSTU3 does not rely on it.
func TestToSTU3NoSubject(t *testing.T) {
	f := parseR4(t, flagJSON("active", nraf, lipRead, patient))
	f.Subject = nil
	_, err := ra.ToSTU3(f, nil, change)
	checkUnprocessable(t, err, "Flag.subject", "needs its subject")
}

func TestToSTU3RemovedFlagIsFinal(t *testing.T) {
	prev := prevFlag(t)
	prev.Status = "inactive"
	_, err := ra.ToSTU3(parseR4(t, flagJSON("active", nraf, lipRead, `{"reference":"Patient/5900026175"}`)), prev, change)
	checkUnprocessable(t, err, "Flag.status", "cannot be changed")
}

func checkUnprocessable(t *testing.T, err error, expr, msg string) {
	t.Helper()
	fe := fhirerr.As(err)
	if fe == nil || fe.Category != fhirerr.Unprocessable {
		t.Fatalf("error %v, want a 422 (Unprocessable)", err)
	}
	if fe.Expression != expr {
		t.Errorf("expression %q, want %q (%s)", fe.Expression, expr, fe.Message)
	}
	if !strings.Contains(fe.Message, msg) {
		t.Errorf("message %q does not contain %q", fe.Message, msg)
	}
}

func TestConsent(t *testing.T) {
	consent := func(body string) string {
		return flagJSON("active", nraf, lipRead, patient, `"contained":[`+body+`]`)
	}
	tests := []struct {
		name     string
		in       string
		wantRole string
		wantExpr string
	}{
		{name: "patient consent by default", in: consent(`{"resourceType":"Consent","id":"consent","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"patient":{"reference":"Patient/9000000009"}}`), wantRole: "001"},
		{name: "proxy role given", in: consent(`{"resourceType":"Consent","id":"consent","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-ProxyRole-1","valueCodeableConcept":{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-ProxyRole-1","code":"003"}]}}]}`), wantRole: "003"},
		{name: "no consent", in: flagJSON("active", nraf, lipRead, patient), wantExpr: "Flag.contained"},
		{name: "consent not active", in: consent(`{"resourceType":"Consent","id":"consent","status":"draft","scope":{"text":"x"},"category":[{"text":"x"}]}`), wantExpr: "Flag.contained[0].status"},
		{name: "consent of another patient", in: consent(`{"resourceType":"Consent","id":"consent","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"patient":{"reference":"Patient/9000000017"}}`), wantExpr: "Flag.contained[0].patient"},
		{name: "bad proxy role", in: consent(`{"resourceType":"Consent","id":"consent","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-ProxyRole-1","valueCodeableConcept":{"text":"mum"}}]}`), wantExpr: "Flag.contained[0].extension"},
		{name: "something else contained", in: consent(`{"resourceType":"Organization","id":"o"}`), wantExpr: "Flag.contained[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := parseR4(t, tc.in)
			c, err := ra.ContainedConsent(f)
			var out *fhirjson.STU3Consent
			if err == nil {
				out, err = ra.NewConsent(c, "9000000009", change)
			}
			if tc.wantExpr != "" {
				checkUnprocessable(t, err, tc.wantExpr, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != "active" || out.Patient.Reference != ra.PatientBase+"9000000009" || len(out.Contained) != 1 {
				t.Errorf("consent %+v", out)
			}
			if got := out.Extension[0].ValueCodeableConcept.Coding[0].Code; got != tc.wantRole {
				t.Errorf("proxy role %s, want %s", got, tc.wantRole)
			}
			// The consent RA stores maps back to an R4 Consent.
			out.ID = "9000000009.c"
			if _, err := ra.Consent(out, "9000000009"); err != nil {
				t.Errorf("does not map back: %v", err)
			}
		})
	}
}
