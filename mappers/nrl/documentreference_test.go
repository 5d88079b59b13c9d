package nrl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/mappers/nrl"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

func mapRaw(t testing.TB, raw []byte) *drpb.DocumentReference {
	t.Helper()
	p, err := nrl.Decode(raw)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	out, err := nrl.DocumentReference(p)
	if err != nil {
		t.Fatalf("DocumentReference: %v", err)
	}
	return out
}

// TestGolden maps every testdata/<case>.in.json (see testdata/README.md) and
// compares the result, printed by jsonformat, with <case>.golden.json. Each
// golden is also (a) parsed back by jsonformat with validation and printed
// to the same bytes, (b) the input as generic JSON after the documented
// changes (expected), and (c) valid against the FHIR R4 JSON schema.
func TestGolden(t *testing.T) {
	goldentest.Run(t, 10, func(t *testing.T, c goldentest.Case) {
		goldentest.Resource(t, c, mapRaw(t, c.Raw), goldentest.Options{Expected: expected})
	})
}

// expected applies to an NRL pointer (generic JSON) what DocumentReference
// is documented to change: subject gains Patient/<nhs>; every
// attachment.url becomes Binary/<id>[.<i>]; meta keeps lastUpdated and
// security and declares UK Core DocumentReference; "+00:00" offsets print as "Z".
func expected(t *testing.T, v any) any {
	t.Helper()
	res := v.(map[string]any)
	id := res["id"].(string)
	kept := map[string]any{"profile": []any{ukprofile.DocumentReference}}
	if meta, ok := res["meta"].(map[string]any); ok {
		for _, k := range []string{"lastUpdated", "security"} {
			if x, ok := meta[k]; ok {
				kept[k] = x
			}
		}
	}
	res["meta"] = kept
	if subj, ok := res["subject"].(map[string]any); ok {
		if ident, ok := subj["identifier"].(map[string]any); ok && ident["system"] == "https://fhir.nhs.uk/Id/nhs-number" {
			subj["reference"] = "Patient/" + ident["value"].(string)
		}
	}
	contents, _ := res["content"].([]any)
	for i, c := range contents {
		att, _ := c.(map[string]any)["attachment"].(map[string]any)
		if _, has := att["url"]; has {
			u := "Binary/" + id
			if i > 0 {
				u += "." + strconv.Itoa(i)
			}
			att["url"] = u
		}
	}
	return goldentest.ZeroOffsetsAsZ(res)
}

func TestNeverHandsOutTheHolderURL(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.golden.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{"spine-proxy", "ssp://", "p1.nhs.uk", "example.nhs.uk"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Errorf("%s carries %q", f, leak)
			}
		}
	}
}

func TestDocumentReferenceDoesNotModifyItsInput(t *testing.T) {
	raw, err := os.ReadFile("testdata/two_contents_subject_reference.in.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := nrl.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(p)
	if _, err := nrl.DocumentReference(p); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(p); !bytes.Equal(before, after) {
		t.Errorf("input modified:\nbefore %s\nafter  %s", before, after)
	}
}

func TestMappingErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		path    string // the fhirjson.Error path, "" when decoding fails
	}{
		{name: "not JSON", payload: `<html>`},
		{name: "an OperationOutcome", payload: `{"resourceType":"OperationOutcome","issue":[]}`},
		{name: "no id", payload: `{"resourceType":"DocumentReference","status":"current"}`, path: "DocumentReference.id"},
		{name: "bad status", payload: `{"resourceType":"DocumentReference","id":"Y05868-1","status":"active"}`, path: "DocumentReference.status"},
		{name: "date of day precision", payload: `{"resourceType":"DocumentReference","id":"Y05868-1","date":"2024-03-20"}`, path: "DocumentReference.date"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := nrl.Decode([]byte(tc.payload))
			if err == nil {
				_, err = nrl.DocumentReference(p)
			}
			if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
				t.Fatalf("err = %v, want a BadGateway fhirerr", err)
			}
			var fe *fhirjson.Error
			if tc.path != "" && (!errors.As(err, &fe) || fe.Path != tc.path) {
				t.Errorf("err = %v, want path %s", err, tc.path)
			}
			if strings.Contains(fhirerr.LogString(err), "2024-03-20") {
				t.Errorf("log string carries the value: %s", fhirerr.LogString(err))
			}
		})
	}
}

func TestNHSNumberAndHolderASID(t *testing.T) {
	tests := []struct {
		name     string
		pointer  fhirjson.DocumentReference
		nhs      string
		holderTo string
	}{
		{name: "none", pointer: fhirjson.DocumentReference{}},
		{name: "valid NHS number and ASID", pointer: fhirjson.DocumentReference{
			Subject: &fhirjson.Reference{Identifier: &fhirjson.Identifier{System: "https://fhir.nhs.uk/Id/nhs-number", Value: "9000000009"}},
			Context: &fhirjson.DocumentReferenceContext{Related: []fhirjson.Reference{
				{Identifier: &fhirjson.Identifier{System: nrl.ODSSystem, Value: "Y05868"}},
				{Identifier: &fhirjson.Identifier{System: nrl.ASIDSystem, Value: "012345678910"}},
			}}}, nhs: "9000000009", holderTo: "012345678910"},
		{name: "bad check digit", pointer: fhirjson.DocumentReference{
			Subject: &fhirjson.Reference{Identifier: &fhirjson.Identifier{System: "https://fhir.nhs.uk/Id/nhs-number", Value: "9000000000"}}}},
		{name: "other system", pointer: fhirjson.DocumentReference{
			Subject: &fhirjson.Reference{Identifier: &fhirjson.Identifier{System: "urn:x", Value: "9000000009"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := nrl.NHSNumber(&tc.pointer); got != tc.nhs {
				t.Errorf("NHSNumber = %q, want %q", got, tc.nhs)
			}
			if got := nrl.HolderASID(&tc.pointer); got != tc.holderTo {
				t.Errorf("HolderASID = %q, want %q", got, tc.holderTo)
			}
		})
	}
}

func TestBinaryIDs(t *testing.T) {
	long := strings.Repeat("A", 62)
	tests := []struct {
		name  string
		id    string
		index int
		want  string
	}{
		{name: "first content", id: "Y05868-1234567892", want: "Y05868-1234567892"},
		{name: "second content", id: "Y05868-1234567892", index: 1, want: "Y05868-1234567892.1"},
		{name: "id of 62 characters, index 1", id: long, index: 1, want: long + ".1"},
		{name: "id of 62 characters, index 10: too long", id: long, index: 10, want: ""},
		{name: "negative index", id: "Y05868-1", index: -1, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := nrl.BinaryID(tc.id, tc.index)
			if got != tc.want {
				t.Fatalf("BinaryID = %q, want %q", got, tc.want)
			}
			if got == "" {
				return
			}
			if refs := nrl.ParseBinaryID(got); refs[0] != (nrl.ContentRef{PointerID: tc.id, Index: tc.index}) {
				t.Errorf("ParseBinaryID(%q)[0] = %+v, want back %s, %d", got, refs[0], tc.id, tc.index)
			}
		})
	}
}

func TestParseBinaryID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want []nrl.ContentRef
	}{
		{name: "plain", id: "Y05868-1234567892", want: []nrl.ContentRef{{PointerID: "Y05868-1234567892"}}},
		{name: "suffix", id: "Y05868-1.2", want: []nrl.ContentRef{{PointerID: "Y05868-1", Index: 2}, {PointerID: "Y05868-1.2"}}},
		{name: "zero suffix is part of the id", id: "Y05868-1.0", want: []nrl.ContentRef{{PointerID: "Y05868-1.0"}}},
		{name: "leading zero", id: "Y05868-1.01", want: []nrl.ContentRef{{PointerID: "Y05868-1.01"}}},
		{name: "sign", id: "Y05868-1.+1", want: []nrl.ContentRef{{PointerID: "Y05868-1.+1"}}},
		{name: "letters", id: "Y05868-1.a", want: []nrl.ContentRef{{PointerID: "Y05868-1.a"}}},
		{name: "trailing dot", id: "Y05868-1.", want: []nrl.ContentRef{{PointerID: "Y05868-1."}}},
		{name: "leading dot", id: ".1", want: []nrl.ContentRef{{PointerID: ".1"}}},
		{name: "five digits", id: "Y05868-1.12345", want: []nrl.ContentRef{{PointerID: "Y05868-1.12345"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := nrl.ParseBinaryID(tc.id); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseBinaryID(%q) = %+v, want %+v", tc.id, got, tc.want)
			}
		})
	}
}

func BenchmarkDocumentReference(b *testing.B) {
	raw, err := os.ReadFile("testdata/openapi_search_get.in.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, err := nrl.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nrl.DocumentReference(p); err != nil {
			b.Fatal(err)
		}
	}
}
