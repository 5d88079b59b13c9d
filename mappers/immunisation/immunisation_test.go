package immunisation_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	impb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"

	"github.com/carerecords/fhir-facade/mappers/immunisation"
	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// golden is what a golden file holds: every mapped resource as jsonformat
// prints it.
type golden struct {
	Resources []json.RawMessage `json:"resources"`
}

func render(t *testing.T, ims []*impb.Immunization) []byte {
	t.Helper()
	return goldentest.JSON(t, golden{Resources: goldentest.Compact(t, ims...)})
}

// TestGolden maps every testdata/<case>.in.json (see testdata/README.md) and
// compares the result with <case>.golden.json. Every resource of a golden is
// also (a) valid against the FHIR R4 JSON schema, (b) parsed back by
// jsonformat with validation, and (c) the input's record with exactly the
// documented changes.
func TestGolden(t *testing.T) {
	cs := goldentest.ReadCases[string](t) // case → the NHS number it is asked for
	names := goldentest.Run(t, 1, func(t *testing.T, c goldentest.Case) {
		nhs := goldentest.Lookup(t, cs, c.Name)
		ims, err := immunisation.Map(c.Raw, nhs)
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		want := goldentest.Check(t, c.Golden, render(t, ims))
		var g golden
		if err := json.Unmarshal(want, &g); err != nil {
			t.Fatal(err)
		}
		records := expected(t, c.Raw, nhs)
		if len(records) != len(g.Resources) {
			t.Fatalf("%d resources for %d records", len(g.Resources), len(records))
		}
		goldentest.ParseBack(t, g.Resources)
		for i, r := range g.Resources {
			if got := goldentest.DecodeAny(t, r); !reflect.DeepEqual(got, records[i]) {
				w, _ := json.Marshal(records[i])
				t.Errorf("resource %d is not the record with the documented changes:\n got %s\nwant %s", i, r, w)
			}
		}
	})
	goldentest.RequireGenerated(t, names)
}

// expected applies the package's documented changes to every Immunization of
// the payload, as generic JSON: what each golden resource must equal.
func expected(t *testing.T, raw []byte, nhs string) []any {
	t.Helper()
	b := goldentest.DecodeAny(t, raw).(map[string]any)
	var out []any
	es, _ := b["entry"].([]any)
	for _, e := range es {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] != "Immunization" {
			continue
		}
		key, _ := r["id"].(string)
		if key == "" {
			id := r["identifier"].([]any)[0].(map[string]any)
			key = "\x00identifier\x00" + id["system"].(string) + "|" + id["value"].(string)
		}
		r["id"] = immunisation.ID(nhs, key)
		r["patient"] = map[string]any{"reference": "Patient/" + nhs, "type": "Patient",
			"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}}
		if m, ok := r["meta"].(map[string]any); ok {
			kept := map[string]any{}
			for _, k := range []string{"lastUpdated", "security"} {
				if v, ok := m[k]; ok {
					kept[k] = v
				}
			}
			delete(r, "meta")
			if len(kept) > 0 {
				r["meta"] = kept
			}
		}
		ps, _ := r["performer"].([]any)
		for _, p := range ps {
			if a, ok := p.(map[string]any)["actor"].(map[string]any); ok && a["type"] == "Organisation" {
				a["type"] = "Organization"
			}
		}
		out = append(out, r)
	}
	return out
}

// TestSandbox9000000009 spells out what the public sandbox's answer maps to.
func TestSandbox9000000009(t *testing.T) {
	raw, err := os.ReadFile("testdata/sandbox_9000000009.in.json")
	if err != nil {
		t.Fatal(err)
	}
	ims, err := immunisation.Map(raw, "9000000009")
	if err != nil {
		t.Fatal(err)
	}
	if len(ims) != 2 {
		t.Fatalf("%d immunisations, want 2", len(ims))
	}
	first := ims[0]
	if first.GetId().GetValue() != "9000000009-90640007.747583-127" ||
		first.GetPatient().GetPatientId().GetValue() != "9000000009" ||
		first.GetVaccineCode().GetCoding()[0].GetCode().GetValue() != "39114911000001105" ||
		first.GetLotNumber().GetValue() != "R04X" ||
		first.GetProtocolApplied()[0].GetDoseNumber().GetPositiveInt().GetValue() != 1 ||
		first.GetPerformer()[0].GetActor().GetIdentifier().GetValue().GetValue() != "RX809" {
		t.Errorf("first %v", first)
	}
	if ims[1].GetId().GetValue() != "9000000009-90640007.747583-128" {
		t.Errorf("second id %s", ims[1].GetId().GetValue())
	}
	// The included Patient's birth date (1965-02-28, as recorded at
	// vaccination) is nowhere in what the facade serves.
	if strings.Contains(string(render(t, ims)), "1965-02-28") {
		t.Error("the included Patient's demographics leaked into the mapping")
	}
}

func TestIDs(t *testing.T) {
	tests := []struct {
		name, nhs, key, want string
	}{
		{name: "the API's id", nhs: "9000000009", key: "90640007.747583-127", want: "9000000009-90640007.747583-127"},
		{name: "longest that fits", nhs: "9000000009", key: strings.Repeat("a", 53), want: "9000000009-" + strings.Repeat("a", 53)},
		{name: "too long", nhs: "9000000009", key: strings.Repeat("a", 54), want: "9000000009-x"},
		{name: "characters an id may not hold", nhs: "9000000009", key: "a/b", want: "9000000009-x"},
		{name: "no id", nhs: "9000000033", key: "\x00identifier\x00https://supplierABC/identifiers/vacc|1", want: "9000000033-x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := immunisation.ID(tt.nhs, tt.key)
			if strings.HasSuffix(tt.want, "-x") {
				if !strings.HasPrefix(id, tt.want) || len(id) != len(tt.want)+32 {
					t.Errorf("ID = %s, want %s + 32 hex digits", id, tt.want)
				}
			} else if id != tt.want {
				t.Errorf("ID = %s, want %s", id, tt.want)
			}
			if id != immunisation.ID(tt.nhs, tt.key) {
				t.Error("ID is not stable")
			}
			nhs, ok := immunisation.ParseID(id)
			if !ok || nhs != tt.nhs {
				t.Errorf("ParseID(%s) = %s, %v", id, nhs, ok)
			}
		})
	}
	for _, bad := range []string{"", "9000000009", "9000000009-", "9000000000-90640007.747583-127", "900000000-990640007.747583-127",
		"9000000009_90640007", "9000000009-a/b", "9000000009-" + strings.Repeat("a", 54)} {
		if _, ok := immunisation.ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

// bundle builds a GET /Immunization payload from entries (JSON objects).
func bundle(entries ...string) []byte {
	return []byte(`{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`)
}

func record(id, patient, extra string) string {
	return `{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Immunization","id":"` + id + `","status":"completed",` +
		`"vaccineCode":{"coding":[{"system":"http://snomed.info/sct","code":"39114911000001105"}]},"patient":` + patient +
		`,"occurrenceDateTime":"2020-12-10T13:00:08.476Z"` + extra + `},"search":{"mode":"match"}}`
}

func includedPatient(fullURL, nhs string) string {
	return `{"fullUrl":"` + fullURL + `","resource":{"resourceType":"Patient","id":"P1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}],"birthDate":"1965-02-28"},"search":{"mode":"include"}}`
}

const (
	byIdentifier = `{"reference":"urn:uuid:p","type":"Patient","identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}}`
	byReference  = `{"reference":"urn:uuid:p","type":"Patient"}`
)

// TestMapPatientChecks: a record is mapped only when it is the patient's.
func TestMapPatientChecks(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		n       int
		wantErr string
	}{
		{name: "by identifier", raw: bundle(record("A", byIdentifier, "")), n: 1},
		{name: "by reference to the included Patient", raw: bundle(record("A", byReference, ""), includedPatient("urn:uuid:p", "9000000009")), n: 1},
		{name: "by relative reference", raw: bundle(record("A", `{"reference":"Patient/P1"}`, ""), includedPatient("urn:uuid:p", "9000000009")), n: 1},
		{name: "another patient's record", raw: bundle(record("A", strings.Replace(byIdentifier, "9000000009", "9000000017", 1), "")),
			wantErr: "entry[0]: the Immunization is another patient's (patient.identifier)"},
		{name: "another patient included", raw: bundle(record("A", byIdentifier, ""), includedPatient("urn:uuid:p", "9000000017")),
			wantErr: "entry[1]: the included Patient is another patient"},
		{name: "reference to nothing", raw: bundle(record("A", byReference, "")), wantErr: "entry[0]: the Immunization does not say whose it is"},
		{name: "no patient", raw: bundle(record("A", `null`, "")), wantErr: "entry[0]: the Immunization has no patient"},
		{name: "same id twice", raw: bundle(record("A", byIdentifier, ""), record("A", byIdentifier, "")), wantErr: "entry[1]: the record repeats entry[0]"},
		{name: "bad occurrence", raw: bundle(record("A", byIdentifier, `,"recorded":"10-Dec-2020"`)), wantErr: "entry[0]: Immunization.recorded"},
		{name: "bad status", raw: []byte(strings.Replace(string(bundle(record("A", byIdentifier, ""))), `"completed"`, `"given"`, 1)), wantErr: "entry[0]: Immunization.status"},
		{name: "wrong JSON type", raw: bundle(record("A", byIdentifier, `,"lotNumber":12345`)), wantErr: "entry[0]: cannot read the Immunization: lotNumber has the wrong JSON type"},
		{name: "not JSON", raw: []byte(`<html>9000000009</html>`), wantErr: "cannot read the Bundle"},
		{name: "not a Bundle", raw: []byte(`{"resourceType":"OperationOutcome","issue":[]}`), wantErr: "it is not a Bundle"},
		{name: "not a searchset", raw: []byte(`{"resourceType":"Bundle","type":"batch"}`), wantErr: "not a searchset"},
		{name: "empty", raw: []byte(`{"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}`), n: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ims, err := immunisation.Map(tt.raw, "9000000009")
			if tt.wantErr == "" {
				if err != nil || len(ims) != tt.n {
					t.Fatalf("got %d, %v; want %d", len(ims), err, tt.n)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; got %d resources", len(ims))
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
				t.Errorf("category %v, want BadGateway", fhirerr.CategoryOf(err))
			}
			for _, s := range []string{fhirerr.LogString(err), fhirerr.As(err).Message} {
				for _, leak := range []string{"9000000017", "10-Dec-2020", "12345", "given"} {
					if strings.Contains(s, leak) {
						t.Errorf("%q quotes a value of the payload (%s)", s, leak)
					}
				}
			}
		})
	}
	if _, err := immunisation.Map(bundle(), "9000000000"); fhirerr.CategoryOf(err) != fhirerr.BadGateway {
		t.Errorf("invalid NHS number asked for: %v", err)
	}
}

// BenchmarkMap maps the public sandbox's answer (two COVID-19 vaccinations
// and the included Patient): decoding and building the protos.
func BenchmarkMap(b *testing.B) {
	raw, err := os.ReadFile("testdata/sandbox_9000000009.in.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if _, err := immunisation.Map(raw, "9000000009"); err != nil {
			b.Fatal(err)
		}
	}
}
