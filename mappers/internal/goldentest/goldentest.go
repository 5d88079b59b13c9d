// Package goldentest is the golden-file harness of the mappers' tests (it is
// imported by _test files only). Each mapper keeps its payloads in
// testdata/<case>.in.json and what it maps them to in
// testdata/<case>.golden.json; `go test -update` rewrites the goldens from
// the current mapping.
//
// Run visits the cases; Check compares (or rewrites) one golden; Resource is
// the whole check of a golden holding one resource (bytes, jsonformat round
// trip, optional semantic comparison with the input, FHIR R4 JSON schema);
// Compact, JSON and ParseBack serve goldens holding several resources.
package goldentest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/profiles/ukcore"
)

// Update is the -update flag of every test binary importing the package.
var Update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current mapping")

// Case is one testdata/<Name>.in.json.
type Case struct {
	Name   string // the file's name less ".in.json"
	In     string // testdata/<Name>.in.json
	Golden string // testdata/<Name>.golden.json
	Raw    []byte // In's bytes
}

// Run runs f as a subtest (named after the case) for every
// testdata/*.in.json, with the input read into Case.Raw, and returns the
// cases' names. It fails t unless there are at least min cases (and at
// least one whatever min is).
func Run(t *testing.T, min int, f func(t *testing.T, c Case)) []string {
	t.Helper()
	inputs, err := filepath.Glob("testdata/*.in.json")
	if err != nil || len(inputs) == 0 || len(inputs) < min {
		t.Fatalf("want at least %d testdata/*.in.json cases, found %d (%v)", max(min, 1), len(inputs), err)
	}
	names := make([]string, 0, len(inputs))
	for _, in := range inputs {
		base := strings.TrimSuffix(in, ".in.json")
		c := Case{Name: filepath.Base(base), In: in, Golden: base + ".golden.json"}
		names = append(names, c.Name)
		t.Run(c.Name, func(t *testing.T) {
			raw, err := os.ReadFile(c.In)
			if err != nil {
				t.Fatal(err)
			}
			c.Raw = raw
			f(t, c)
		})
	}
	return names
}

// RequireGenerated fails t unless one of names (see Run) is a generated_*
// case: a payload of the sandbox's synthetic population.
func RequireGenerated(t *testing.T, names []string) {
	t.Helper()
	for _, n := range names {
		if strings.HasPrefix(n, "generated_") {
			return
		}
	}
	t.Error("no generated_* payloads of the sandbox population in testdata")
}

// ReadCases reads testdata/cases.json, which maps each case's name to what
// the mapper is asked for it (an NHS number, say).
func ReadCases[T any](t *testing.T) map[string]T {
	t.Helper()
	raw, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]T
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Lookup returns cases[name], failing t when testdata/cases.json lacks it.
func Lookup[T any](t *testing.T, cases map[string]T, name string) T {
	t.Helper()
	c, ok := cases[name]
	if !ok {
		t.Fatalf("%s is not in testdata/cases.json", name)
	}
	return c
}

// Check compares got with the golden file at path, after writing got to it
// under -update, and returns the golden's bytes. A missing golden is fatal;
// a different one an error.
func Check(t *testing.T, path string, got []byte) []byte {
	t.Helper()
	if *Update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, golden) {
		t.Errorf("mapping differs from %s (go test -update rewrites it):\n%s", path, got)
	}
	return golden
}

// Options are the per-mapper parts of Resource.
type Options struct {
	// Expected, if set, applies to the input, decoded by DecodeAny, what the
	// mapping is documented to change: the golden, decoded likewise, must
	// equal the result.
	Expected func(t *testing.T, in any) any
	// Validate checks the golden against the FHIR R4 JSON schema; nil means
	// profiles.Validate.
	Validate func(golden []byte) error
}

// Resource checks out, what c's input maps to, against c's golden:
//   - out printed by jsonformat (pretty, with a final newline) is the
//     golden (Check);
//   - the golden, parsed back by jsonformat with validation, is a resource
//     of out's type and prints to the same bytes;
//   - with opts.Expected, the golden is the input with the documented
//     changes, as generic JSON;
//   - the golden passes opts.Validate (the FHIR R4 JSON schema);
//   - the golden meets the UK Core profiles it declares (UKCore).
//
// It returns the golden's bytes.
func Resource(t *testing.T, c Case, out proto.Message, opts Options) []byte {
	t.Helper()
	m, err := jsonformat.NewPrettyMarshaller(fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.MarshalResource(out)
	if err != nil {
		t.Fatalf("MarshalResource: %v", err)
	}
	golden := Check(t, c.Golden, append(got, '\n'))

	// jsonformat round trip.
	um, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := um.Unmarshal(golden)
	if err != nil {
		t.Fatalf("jsonformat rejects the golden: %v", err)
	}
	res := contained(t, parsed.(*bcrpb.ContainedResource))
	if got, want := res.ProtoReflect().Descriptor().FullName(), out.ProtoReflect().Descriptor().FullName(); got != want {
		t.Fatalf("the golden is a %s, want a %s", got, want)
	}
	again, err := m.MarshalResource(res)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(again, '\n'), golden) {
		t.Errorf("golden does not survive a jsonformat round trip:\n%s", again)
	}

	// The input with the documented changes.
	if opts.Expected != nil {
		want := opts.Expected(t, DecodeAny(t, c.Raw))
		if gotAny := DecodeAny(t, golden); !reflect.DeepEqual(gotAny, want) {
			wantJSON, _ := json.MarshalIndent(want, "", "  ")
			t.Errorf("golden is not the input with the documented changes:\n got %s\nwant %s", golden, wantJSON)
		}
	}

	// The FHIR R4 JSON schema.
	validate := opts.Validate
	if validate == nil {
		validate = profiles.Validate
	}
	if err := validate(golden); err != nil {
		t.Errorf("golden fails the FHIR R4 JSON schema: %v", err)
	}
	UKCore(t, golden)
	return golden
}

// UKCore checks a resource against the UK Core profiles its meta.profile
// declares (profiles/ukcore), failing with each broken rule's profile, path
// and rule.
func UKCore(t *testing.T, resource []byte) {
	t.Helper()
	rep, err := ukcore.Validate(resource, ukcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Errorf("golden fails its UK Core profile: %v", err)
	}
}

// contained returns the resource cr holds.
func contained(t *testing.T, cr *bcrpb.ContainedResource) proto.Message {
	t.Helper()
	m := cr.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("oneof_resource"))
	if fd == nil {
		t.Fatal("jsonformat parsed the golden into an empty ContainedResource")
	}
	return m.Get(fd).Message().Interface()
}

// Compact prints each resource with jsonformat (compact), checking each
// against the FHIR R4 JSON schema and its declared UK Core profiles: the resources of a golden holding
// several. The result is never nil.
func Compact[M proto.Message](t *testing.T, resources ...M) []json.RawMessage {
	t.Helper()
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]json.RawMessage, 0, len(resources))
	for _, r := range resources {
		b, err := m.MarshalResource(r)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if err := profiles.Validate(b); err != nil {
			t.Errorf("resource fails the FHIR R4 JSON schema: %v\n%s", err, b)
		}
		UKCore(t, b)
		out = append(out, b)
	}
	return out
}

// JSON is the bytes of a golden holding several resources: v indented by
// two spaces, with a final newline.
func JSON(t *testing.T, v any) []byte {
	t.Helper()
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// ParseBack checks that jsonformat parses every resource with validation.
func ParseBack(t *testing.T, resources []json.RawMessage) {
	t.Helper()
	um, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resources {
		if _, err := um.Unmarshal(r); err != nil {
			t.Errorf("resource %d: jsonformat rejects it: %v", i, err)
		}
	}
}

// DecodeAny decodes JSON into generic values, numbers as json.Number.
func DecodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// zeroOffset matches a dateTime or instant with a zero UTC offset.
var zeroOffset = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?)[+-]00:00$`)

// ZeroOffsetsAsZ rewrites, in place, every string of v (generic JSON) that
// is a dateTime or instant with a "+00:00" or "-00:00" offset to end in "Z",
// as jsonformat prints it, and returns v.
func ZeroOffsetsAsZ(v any) any {
	return walkStrings(v, func(s string) string {
		if m := zeroOffset.FindStringSubmatch(s); m != nil {
			return m[1] + "Z"
		}
		return s
	})
}

func walkStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		for i := range x {
			x[i] = walkStrings(x[i], f)
		}
	case map[string]any:
		for k := range x {
			x[k] = walkStrings(x[k], f)
		}
	}
	return v
}
