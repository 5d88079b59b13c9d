package profiles_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/carerecords/fhir-facade/profiles"
)

// examplesDir holds the FHIR R4 specification's examples (pinned copies, see
// testdata/SOURCES.md).
const examplesDir = "testdata/hl7-r4-examples"

// skipExamples lists spec examples that fail the official R4 JSON schema,
// each with the reason. It is empty: every example we carry conforms.
var skipExamples = map[string]string{}

func specExamples(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no examples under %s", examplesDir)
	}
	out := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func TestSpecExamplesValidate(t *testing.T) {
	for name, b := range specExamples(t) {
		t.Run(name, func(t *testing.T) {
			if reason, ok := skipExamples[name]; ok {
				t.Skip(reason)
			}
			if err := profiles.Validate(b); err != nil {
				t.Errorf("Validate(%s) = %v, want nil", name, err)
			}
		})
	}
	for name := range skipExamples {
		if _, err := os.Stat(filepath.Join(examplesDir, name)); err != nil {
			t.Errorf("skip list names %s, which is not an example: %v", name, err)
		}
	}
}

// brokenResources each fail the schema; want are substrings the error must
// contain (where it failed, and what is wrong there).
var brokenResources = []struct {
	name string
	json string
	want []string
}{
	{
		name: "unknown resourceType",
		json: `{"resourceType":"Patinet","id":"x"}`,
		want: []string{`(resource): unknown resourceType "Patinet"`},
	},
	{
		name: "resourceType in the wrong case",
		json: `{"resourceType":"patient"}`,
		want: []string{`unknown resourceType "patient" (did you mean "Patient"?)`},
	},
	{
		name: "resourceType not a string",
		json: `{"resourceType":42}`,
		want: []string{`unknown resourceType 42`},
	},
	{
		name: "no resourceType",
		json: `{"id":"x","gender":"male"}`,
		want: []string{`(resource): missing property 'resourceType'`},
	},
	{
		name: "not an object",
		json: `["Patient"]`,
		want: []string{`(resource): got array, want object`},
	},
	{
		name: "birthDate of the wrong type",
		json: `{"resourceType":"Patient","birthDate":19800101}`,
		want: []string{`Patient.birthDate: got number, want string`},
	},
	{
		name: "birthDate not a date",
		json: `{"resourceType":"Patient","birthDate":"1980-13-01"}`,
		want: []string{`Patient.birthDate: "1980-13-01" is not a valid FHIR date`},
	},
	{
		name: "unknown top-level property",
		json: `{"resourceType":"Patient","nhsNumber":"9000000009"}`,
		want: []string{`Patient: additional properties 'nhsNumber' not allowed`},
	},
	{
		name: "bad gender code",
		json: `{"resourceType":"Patient","gender":"M"}`,
		want: []string{`Patient.gender: got "M", value must be one of 'male', 'female', 'other', 'unknown'`},
	},
	{
		name: "Bundle with a bad entry",
		json: `{"resourceType":"Bundle","type":"searchset","entry":[
			{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","gender":"male"}},
			{"fullUrl":"urn:uuid:2","resource":{"resourceType":"Patient","gender":"M"}}]}`,
		want: []string{`Bundle.entry[1].resource.gender: got "M"`},
	},
	{
		name: "Bundle with an entry of unknown type",
		json: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Pateint"}}]}`,
		want: []string{`Bundle.entry[0].resource: unknown resourceType "Pateint"`},
	},
	{
		name: "Bundle with an entry that is not a resource",
		json: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":"Patient/1"}]}`,
		want: []string{`Bundle.entry[0].resource: got string, want object`},
	},
	{
		name: "bad contained resource",
		json: `{"resourceType":"Flag","status":"active","code":{"text":"x"},"subject":{"reference":"#p"},
			"contained":[{"resourceType":"Patient","id":"p","active":"yes"}]}`,
		want: []string{`Flag.contained[0].active: got string, want boolean`},
	},
	{
		name: "OperationOutcome without issue",
		json: `{"resourceType":"OperationOutcome","id":"x"}`,
		want: []string{`OperationOutcome: missing property 'issue'`},
	},
	{
		name: "OperationOutcome with a bad severity",
		json: `{"resourceType":"OperationOutcome","issue":[{"severity":"bad","code":"invalid"}]}`,
		want: []string{`OperationOutcome.issue[0].severity: got "bad"`},
	},
	{
		name: "two problems",
		json: `{"resourceType":"Patient","gender":"M","birthDate":1}`,
		want: []string{`2 problems: Patient.birthDate: got number, want string; Patient.gender: got "M"`},
	},
	{
		name: "not JSON",
		json: `{"resourceType":"Patient",`,
		want: []string{`(resource): not valid JSON: unexpected EOF`},
	},
	{
		name: "trailing data",
		json: `{"resourceType":"Patient"} {}`,
		want: []string{`not valid JSON`},
	},
}

func TestBrokenResourcesFail(t *testing.T) {
	for _, tc := range brokenResources {
		t.Run(tc.name, func(t *testing.T) {
			err := profiles.Validate([]byte(tc.json))
			if err == nil {
				t.Fatal("Validate = nil, want an error")
			}
			var verr *profiles.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate = %T %v, want *profiles.ValidationError", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestIssueFields(t *testing.T) {
	err := profiles.Validate([]byte(`{"resourceType":"Bundle","type":"searchset",
		"entry":[{"resource":{"resourceType":"Patient","gender":"M"}}]}`))
	var verr *profiles.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate = %v, want *profiles.ValidationError", err)
	}
	if verr.ResourceType != "Bundle" || len(verr.Issues) != 1 || verr.Omitted != 0 {
		t.Fatalf("got %+v, want one issue in a Bundle", verr)
	}
	is := verr.Issues[0]
	if is.Path != "/entry/0/resource/gender" || is.Expression != "Bundle.entry[0].resource.gender" {
		t.Errorf("issue at %q (%q), want /entry/0/resource/gender (Bundle.entry[0].resource.gender)", is.Path, is.Expression)
	}
}

// TestErrorsAreBounded feeds resources with very many faults and checks the
// error stays short and says how much it left out.
func TestErrorsAreBounded(t *testing.T) {
	var entries []string
	for i := range 500 {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Patient","gender":"g%d","birthDate":%d}}`, i, i))
	}
	manyEntries := `{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`

	var props []string
	for i := range 2000 {
		props = append(props, fmt.Sprintf(`"unknownProperty%d":%d`, i, i))
	}
	manyProps := `{"resourceType":"Patient",` + strings.Join(props, ",") + `}`

	long := `{"resourceType":"` + strings.Repeat("X", 100000) + `"}`

	for _, tc := range []struct {
		name        string
		json        string
		wantOmitted int
	}{
		{"1000 bad fields in 500 entries", manyEntries, 990},
		{"2000 unknown properties", manyProps, 0},
		{"100 KB resourceType", long, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := profiles.Validate([]byte(tc.json))
			var verr *profiles.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate = %v, want *profiles.ValidationError", err)
			}
			if n := len(err.Error()); n > 4096 {
				t.Errorf("error is %d bytes, want at most 4 KB", n)
			}
			if verr.Omitted != tc.wantOmitted {
				t.Errorf("Omitted = %d, want %d", verr.Omitted, tc.wantOmitted)
			}
			if tc.wantOmitted > 0 && !strings.Contains(err.Error(), fmt.Sprintf("(and %d more)", tc.wantOmitted)) {
				t.Errorf("error %q does not say how many issues it left out", err)
			}
		})
	}
}

// TestDispatchMatchesOneOf checks that validating through the schema's
// discriminator accepts and rejects exactly what the untouched schema's
// oneOf does, on every spec example and every broken resource.
func TestDispatchMatchesOneOf(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the schema twice more")
	}
	untouched, err := profiles.Compile(profiles.SchemaJSON, false)
	if err != nil {
		t.Fatal(err)
	}
	dispatch, err := profiles.Compile(profiles.SchemaJSON, true)
	if err != nil {
		t.Fatal(err)
	}
	inputs := specExamples(t)
	for _, tc := range brokenResources {
		inputs[tc.name] = []byte(tc.json)
	}
	inputs["null"] = []byte(`null`)
	inputs["string"] = []byte(`"Patient"`)
	inputs["empty object"] = []byte(`{}`)
	for name, b := range inputs {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			continue // not JSON: neither schema sees it
		}
		errOneOf := untouched.Validate(inst)
		errDispatch := dispatch.Validate(inst)
		if (errOneOf == nil) != (errDispatch == nil) {
			t.Errorf("%s: oneOf says %v, dispatch says %v", name, errOneOf, errDispatch)
		}
	}
}

func TestWarm(t *testing.T) {
	d, err := profiles.Warm()
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Errorf("Warm took %v, want a measured duration", d)
	}
	again, _ := profiles.Warm()
	if again != d {
		t.Errorf("second Warm reported %v, want the first compile's %v", again, d)
	}
	t.Logf("schema compiled in %v", d)
}

// TestConcurrentFirstUse validates from many goroutines at once before
// anything has necessarily compiled the schema; run with -race.
func TestConcurrentFirstUse(t *testing.T) {
	good := []byte(`{"resourceType":"Patient","gender":"female","birthDate":"1980-01-01"}`)
	bad := []byte(`{"resourceType":"Patient","gender":"F"}`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := profiles.Validate(good); err != nil {
				t.Errorf("goroutine %d: Validate(good) = %v", i, err)
			}
			if err := profiles.Validate(bad); err == nil {
				t.Errorf("goroutine %d: Validate(bad) = nil", i)
			}
		})
	}
	wg.Wait()
}

// TestDraft06 checks the schema is compiled as draft-06 (where keywords
// beside $ref are ignored) whether or not it says so, and that no URL is
// ever fetched.
func TestDraft06(t *testing.T) {
	for _, tc := range []struct {
		name   string
		schema string
	}{
		{"declared", `{"$schema":"http://json-schema.org/draft-06/schema#",
			"definitions":{"s":{"type":"string"}},
			"properties":{"a":{"$ref":"#/definitions/s","maxLength":1}}}`},
		{"undeclared", `{"definitions":{"s":{"type":"string"}},
			"properties":{"a":{"$ref":"#/definitions/s","maxLength":1}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sch, err := profiles.Compile([]byte(tc.schema), false)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(map[string]any{"a": "abc"}); err != nil {
				t.Errorf("maxLength beside $ref was applied (not draft-06): %v", err)
			}
			if err := sch.Validate(map[string]any{"a": 1.0}); err == nil {
				t.Error("$ref was not applied")
			}
		})
	}
	_, err := profiles.Compile([]byte(`{"$schema":"http://json-schema.org/draft-06/schema#",
		"$ref":"http://127.0.0.1:1/remote.json"}`), false)
	if err == nil || !strings.Contains(err.Error(), "refusing to fetch") {
		t.Errorf("compiling a schema with a remote $ref = %v, want a refusal to fetch", err)
	}
}

func patientFixture(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/pds/patient_9000000009.json")
	if err != nil {
		tb.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		tb.Fatal(err)
	}
	return compact.Bytes()
}

func TestPDSPatientValidates(t *testing.T) {
	if err := profiles.Validate(patientFixture(t)); err != nil {
		t.Fatal(err)
	}
}
