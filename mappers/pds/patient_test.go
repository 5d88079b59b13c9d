package pds_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaPath is the official FHIR R4 JSON schema (draft-06), the copy the
// profiles package embeds.
const schemaPath = "../../profiles/fhir.schema.json"

func marshaller(t testing.TB) *jsonformat.Marshaller {
	t.Helper()
	m, err := jsonformat.NewPrettyMarshaller(fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mapFile(t testing.TB, path string) *patpb.Patient {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pds.Decode(raw)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	out, err := pds.Patient(p)
	if err != nil {
		t.Fatalf("Patient: %v", err)
	}
	return out
}

// TestGolden maps every testdata/<case>.in.json (PDS payloads, see
// testdata/README.md) and compares the result,
// printed by jsonformat, with testdata/<case>.golden.json. Each golden is also
// (a) parsed back by jsonformat with validation and printed to the same bytes,
// (b) equal to the input as generic JSON up to the documented normalisations,
// and (c) valid against the official FHIR R4 JSON schema (validating at the
// root).
func TestGolden(t *testing.T) {
	schema := r4Schema(t)
	validate := func(golden []byte) error {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(golden))
		if err != nil {
			return err
		}
		return schema.Validate(inst)
	}
	goldentest.Run(t, 1, func(t *testing.T, c goldentest.Case) {
		goldentest.Resource(t, c, mapFile(t, c.In), goldentest.Options{Expected: normalise, Validate: validate})
	})
}

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

// r4Schema compiles fhir.schema.json once. Its root is a oneOf over every
// resource type (with a resourceType discriminator), so instances are
// validated as resources at the root. The file declares draft-06 in
// $schema; its "id" (http://hl7.org/fhir/json-schema/4.0) is the draft-04
// keyword, which draft-06 ignores, so $refs resolve against the file's URL.
func r4Schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		abs, err := filepath.Abs(schemaPath)
		if err != nil {
			schemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft6)
		schema, schemaErr = c.Compile(abs)
	})
	if schemaErr != nil {
		t.Fatalf("compiling %s: %v", schemaPath, schemaErr)
	}
	return schema
}

// normalise applies to a PDS payload (generic JSON) what the mapping is
// documented to change:
//   - "+00:00" (and "-00:00") offsets print as "Z";
//   - a restricted patient (meta.security R, V or REDACTED) loses address,
//     telecom, contact, generalPractitioner, managingOrganization and the
//     pharmacy and birth place extensions;
//   - meta.profile declares UK Core Patient;
//   - the NHS number verification status is translated into UK Core's value
//     set (pds.VerificationStatus, tested on its own).
func normalise(t *testing.T, v any) any {
	t.Helper()
	res := v.(map[string]any)
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	profiles, _ := meta["profile"].([]any)
	meta["profile"] = append(profiles, ukprofile.Patient)
	ids, _ := res["identifier"].([]any)
	for _, id := range ids {
		exts, _ := id.(map[string]any)["extension"].([]any)
		for _, e := range exts {
			ext := e.(map[string]any)
			if ext["url"] != pds.VerificationStatusURL {
				continue
			}
			var in *fhirjson.CodeableConcept
			if b, err := json.Marshal(ext["valueCodeableConcept"]); err == nil {
				_ = json.Unmarshal(b, &in)
			}
			b, err := json.Marshal(pds.VerificationStatus(in))
			if err != nil {
				t.Fatal(err)
			}
			var cc any
			if err := json.Unmarshal(b, &cc); err != nil {
				t.Fatal(err)
			}
			for k := range ext {
				if k != "url" && k != "id" {
					delete(ext, k)
				}
			}
			ext["valueCodeableConcept"] = cc
		}
	}
	if restrictedJSON(res) {
		for _, k := range []string{"address", "telecom", "contact", "generalPractitioner", "managingOrganization"} {
			delete(res, k)
		}
		if exts, ok := res["extension"].([]any); ok {
			var keep []any
			for _, e := range exts {
				switch e.(map[string]any)["url"] {
				case "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy",
					"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-PreferredDispenserOrganization",
					"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicalApplianceSupplier",
					"http://hl7.org/fhir/StructureDefinition/patient-birthPlace":
				default:
					keep = append(keep, e)
				}
			}
			if len(keep) == 0 {
				delete(res, "extension")
			} else {
				res["extension"] = keep
			}
		}
	}
	return goldentest.ZeroOffsetsAsZ(res)
}

func restrictedJSON(res map[string]any) bool {
	meta, _ := res["meta"].(map[string]any)
	sec, _ := meta["security"].([]any)
	for _, c := range sec {
		switch c.(map[string]any)["code"] {
		case "R", "V", "REDACTED":
			return true
		}
	}
	return false
}

func TestRestrictedPatientNeverShowsLocation(t *testing.T) {
	raw, err := os.ReadFile("testdata/patient_9000000009.in.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		system     string
		code       string
		restricted bool
	}{
		{name: "unrestricted", system: pds.ConfidentialitySystem, code: "U", restricted: false},
		{name: "restricted", system: pds.ConfidentialitySystem, code: "R", restricted: true},
		{name: "very restricted", system: pds.ConfidentialitySystem, code: "V", restricted: true},
		{name: "redacted", system: pds.ConfidentialitySystem, code: "REDACTED", restricted: true},
		{name: "R without a system", code: "R", restricted: true},
		{name: "R from another code system", system: "http://example.org/labels", code: "R", restricted: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := pds.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			in.Meta.Security = []fhirjson.Coding{{System: tc.system, Code: tc.code}}
			before, _ := json.Marshal(in)
			if got := pds.Restricted(in); got != tc.restricted {
				t.Fatalf("Restricted = %v, want %v", got, tc.restricted)
			}
			out, err := pds.Patient(in)
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := json.Marshal(in); !bytes.Equal(before, after) {
				t.Error("Patient modified its input")
			}
			shows := len(out.Address) > 0 || len(out.Telecom) > 0 || len(out.Contact) > 0 ||
				len(out.GeneralPractitioner) > 0 || out.ManagingOrganization != nil
			if shows == tc.restricted {
				t.Errorf("address/telecom/contact/GP/managingOrganization present = %v for a restricted = %v patient", shows, tc.restricted)
			}
			var locating, others int
			for _, e := range out.Extension {
				switch e.GetUrl().GetValue() {
				case "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy",
					"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-PreferredDispenserOrganization",
					"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicalApplianceSupplier",
					"http://hl7.org/fhir/StructureDefinition/patient-birthPlace":
					locating++
				default:
					others++
				}
			}
			if (locating > 0) == tc.restricted {
				t.Errorf("%d pharmacy/birth place extensions for a restricted = %v patient", locating, tc.restricted)
			}
			if others != 4 { // death notification, communication, contact preference, removal from registration
				t.Errorf("%d other extensions, want all 4 kept", others)
			}
			if len(out.Name) == 0 || out.BirthDate == nil || out.Id.GetValue() != "9000000009" {
				t.Error("demographics other than location were dropped")
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "patient", in: `{"resourceType":"Patient","id":"9000000009"}`},
		{name: "unknown members ignored", in: `{"resourceType":"Patient","id":"9000000009","futureField":{"a":1}}`},
		{name: "operation outcome", in: `{"resourceType":"OperationOutcome","issue":[]}`, wantErr: `resourceType is "OperationOutcome", want "Patient"`},
		{name: "no resourceType", in: `{"id":"9000000009"}`, wantErr: `resourceType is "", want "Patient"`},
		{name: "HTML error page", in: `<html>503 Service Temporarily Unavailable</html>`, wantErr: "invalid character"},
		{name: "wrong type", in: `{"resourceType":"Patient","name":"Jane"}`, wantErr: "cannot unmarshal string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pds.Decode([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil || p == nil {
					t.Fatalf("Decode = %v, %v", p, err)
				}
				return
			}
			checkBadGateway(t, err, tc.wantErr)
		})
	}
}

func TestPatientErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "no id", in: `{"resourceType":"Patient","name":[{"family":"Smith"}]}`, wantErr: "Patient.id: missing"},
		{name: "bad gender", in: `{"resourceType":"Patient","id":"9000000009","gender":"F"}`, wantErr: `Patient.gender: "F" is not a code of AdministrativeGender`},
		{name: "bad date in extension", in: `{"resourceType":"Patient","id":"9000000009","extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus","extension":[{"url":"systemEffectiveDate","valueDateTime":"2010-10-22T00:00:00"}]}]}`,
			wantErr: "Patient.extension[0].extension[0].valueDateTime: invalid dateTime"},
		{name: "bad telecom use", in: `{"resourceType":"Patient","id":"9000000009","telecom":[{"system":"phone","use":"Home"}]}`, wantErr: `Patient.telecom[0].use: "Home"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pds.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			_, err = pds.Patient(p)
			checkBadGateway(t, err, tc.wantErr)
		})
	}
	// Invalid data in the elements a restricted patient loses does not matter.
	p, err := pds.Decode([]byte(`{"resourceType":"Patient","id":"9000000025","meta":{"security":[{"system":"` + pds.ConfidentialitySystem + `","code":"R"}]},"telecom":[{"use":"Home"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pds.Patient(p); err != nil {
		t.Errorf("restricted patient with a bad telecom: %v", err)
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
	if fe == nil || fe.Category != fhirerr.BadGateway || fe.Backend != "pds" {
		t.Errorf("error %#v is not a pds BadGateway *fhirerr.Error", err)
	}
	if fe != nil && strings.Contains(fe.Message, "Patient.") {
		t.Errorf("user-facing message %q leaks payload detail", fe.Message)
	}
	var pe *fhirjson.Error
	if strings.HasPrefix(wantErr, "Patient.") && !errors.As(err, &pe) {
		t.Errorf("error %v does not wrap a *fhirjson.Error", err)
	}
}

func BenchmarkDecodeAndMap(b *testing.B) {
	raw, err := os.ReadFile("testdata/patient_9000000009.in.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := pds.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pds.Patient(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	m := marshaller(b)
	mc, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		b.Fatal(err)
	}
	p := mapFile(b, "testdata/patient_9000000009.in.json")
	for _, bc := range []struct {
		name string
		m    *jsonformat.Marshaller
	}{{"pretty", m}, {"compact", mc}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.m.MarshalResource(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSchemaCatchesInvalidPatients keeps check (c) of TestGolden honest: the
// compiled schema must reject what is not a valid R4 Patient.
func TestSchemaCatchesInvalidPatients(t *testing.T) {
	schema := r4Schema(t)
	for _, in := range []string{
		`{"resourceType":"Patient","gender":"F"}`,
		`{"resourceType":"Patient","nhsNumber":"9000000009"}`,
		`{"resourceType":"Patient","birthDate":"22/10/2010"}`,
		`{"resourceType":"Patient","name":[{"use":"legal"}]}`,
		`{"resourceType":"NotAResource","id":"1"}`,
		`{"id":"9000000009"}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if schema.Validate(inst) == nil {
			t.Errorf("schema accepts %s", in)
		}
	}
	inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"resourceType":"Patient","id":"9000000009","gender":"female"}`))
	if err := schema.Validate(inst); err != nil {
		t.Errorf("schema rejects a valid Patient: %v", err)
	}
}

// BenchmarkJSONFormatUnmarshal is the path Decode+Patient replaces (parsing
// the same payload with jsonformat), kept as the reference to beat.
func BenchmarkJSONFormatUnmarshal(b *testing.B) {
	raw, err := os.ReadFile("testdata/patient_9000000009.in.json")
	if err != nil {
		b.Fatal(err)
	}
	um, err := jsonformat.NewUnmarshallerWithoutValidation("UTC", fhirversion.R4)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := um.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
}
