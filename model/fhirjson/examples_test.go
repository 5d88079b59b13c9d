package fhirjson_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// refdata holds the HL7 examples and PDS fixtures these tests read: pinned
// copies, see testdata/SOURCES.md.
const refdata = "testdata"

// examplePatients returns every Patient in the HL7 R4 examples and in the PDS
// fixtures (also those inside searchset Bundles), keyed by a readable name.
func examplePatients(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var files []string
	for _, g := range []string{
		refdata + "/hl7-r4-examples/Patient-*.json",
		refdata + "/pds/spec-examples/*.json",
		refdata + "/pds/stubs/patientResponses/*.json",
		refdata + "/pds/stubs/searchResponses/*.json",
	} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures under %s", refdata)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(f, refdata+"/")
		switch rt, _ := fhirjson.ResourceType(raw); rt {
		case "Patient":
			out[name] = raw
		case "Bundle":
			var b fhirjson.Bundle
			if err := json.Unmarshal(raw, &b); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for i, e := range b.Entry {
				if rt, _ := fhirjson.ResourceType(e.Resource); rt == "Patient" {
					out[name+"#entry"+string(rune('0'+i/10))+string(rune('0'+i%10))] = e.Resource
				}
			}
		}
	}
	return out
}

// TestStructsRoundTrip decodes each example into Patient and encodes it
// again: the result must equal the input as generic JSON, i.e. every member
// the examples use is modelled (encoding/json would silently drop the rest).
func TestStructsRoundTrip(t *testing.T) {
	for name, raw := range examplePatients(t) {
		t.Run(name, func(t *testing.T) {
			var p fhirjson.Patient
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("struct round trip changed the resource:\n got %s\nwant %s", again, raw)
			}
		})
	}
}

// TestBuildPatientMatchesJSONFormat builds each example with BuildPatient and
// parses it with jsonformat's (slow, validating) Unmarshaller: the protos
// must be equal, up to the spelling of UTC (we write "Z" where jsonformat
// keeps "+00:00" or its default zone "UTC"). Both must also print the same.
func TestBuildPatientMatchesJSONFormat(t *testing.T) {
	um, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := jsonformat.NewPrettyMarshaller(fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range examplePatients(t) {
		t.Run(name, func(t *testing.T) {
			var p fhirjson.Patient
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			got, err := fhirjson.BuildPatient(&p)
			if err != nil {
				t.Fatalf("BuildPatient: %v", err)
			}
			cr, err := um.Unmarshal(raw)
			if err != nil {
				t.Fatalf("jsonformat rejects the example: %v", err)
			}
			want := cr.(*bcrpb.ContainedResource).GetPatient()
			normaliseUTC(want.ProtoReflect())
			if !proto.Equal(got, want) {
				t.Errorf("BuildPatient differs from jsonformat:\n got %s\nwant %s", prototext.Format(got), prototext.Format(want))
			}
			gb, err := m.MarshalResource(got)
			if err != nil {
				t.Fatal(err)
			}
			wb, err := m.MarshalResource(want)
			if err != nil {
				t.Fatal(err)
			}
			if string(gb) != string(wb) {
				t.Errorf("printed forms differ:\n got %s\nwant %s", gb, wb)
			}
		})
	}
}

// normaliseUTC rewrites every UTC time zone spelling in a proto to "Z".
func normaliseUTC(m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *dtpb.Date:
		if isUTC(v.Timezone) {
			v.Timezone = "Z"
		}
	case *dtpb.DateTime:
		if isUTC(v.Timezone) {
			v.Timezone = "Z"
		}
	case *dtpb.Instant:
		if isUTC(v.Timezone) {
			v.Timezone = "Z"
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < val.List().Len(); i++ {
				normaliseUTC(val.List().Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			normaliseUTC(val.Message())
		}
		return true
	})
}

func isUTC(tz string) bool { return tz == "UTC" || tz == "+00:00" || tz == "-00:00" }

// TestBundleAndOperationOutcomeStructs decodes every PDS Bundle and
// OperationOutcome fixture and encodes it again: nothing may be lost. Every
// OperationOutcome must also build.
func TestBundleAndOperationOutcomeStructs(t *testing.T) {
	files, err := filepath.Glob(refdata + "/pds/stubs/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(refdata + "/pds/spec-examples/*.json")
	files = append(files, more...)
	var bundles, outcomes int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rt, _ := fhirjson.ResourceType(raw)
		var v any
		switch rt {
		case "Bundle":
			bundles++
			v = new(fhirjson.Bundle)
		case "OperationOutcome":
			outcomes++
			v = new(fhirjson.OperationOutcome)
		default:
			continue
		}
		t.Run(strings.TrimPrefix(f, refdata+"/"), func(t *testing.T) {
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("struct round trip changed the resource:\n got %s\nwant %s", again, raw)
			}
			if oo, ok := v.(*fhirjson.OperationOutcome); ok {
				if _, err := fhirjson.BuildOperationOutcome(oo); err != nil {
					t.Errorf("BuildOperationOutcome: %v", err)
				}
			}
		})
	}
	if bundles == 0 || outcomes == 0 {
		t.Errorf("found %d Bundles and %d OperationOutcomes; want some of each", bundles, outcomes)
	}
}

func TestBundleSearchFields(t *testing.T) {
	raw, err := os.ReadFile(refdata + "/pds/spec-examples/PatientSearch.json")
	if err != nil {
		t.Fatal(err)
	}
	var b fhirjson.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if b.Type != "searchset" || b.Total == nil || *b.Total != 1 || b.Timestamp == "" || len(b.Entry) != 1 {
		t.Fatalf("unexpected bundle head: %+v", b)
	}
	e := b.Entry[0]
	if e.Search == nil || e.Search.Score == nil || *e.Search.Score != 0.75 || !strings.HasSuffix(e.FullURL, "/Patient/9000000009") {
		t.Errorf("unexpected entry: fullUrl %q search %+v", e.FullURL, e.Search)
	}
	if rt, _ := fhirjson.ResourceType(e.Resource); rt != "Patient" {
		t.Errorf("entry resource is %q", rt)
	}
}
