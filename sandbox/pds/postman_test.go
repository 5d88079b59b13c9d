package pds_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/pds"
)

// collection is NHS England's Postman collection for the PDS sandbox,
// relative to this package's directory.
const collection = "testdata/postman/patient-demographics-sandbox.postman_collection.json"

// The collection's folders the simulator serves; its coverage folders
// wait for Coverage.
const (
	folderSearch   = "Search for a patient"
	folderRead     = "Retrieve a patient's record"
	folderUpdate   = "Update a patient's record"
	folderRelated  = "Retrieve a patient's related people"
	folderAllocate = "Allocate NHS number"
)

// findNewman looks for newman in the repository's node_modules, then on PATH.
func findNewman(t *testing.T) string {
	t.Helper()
	local, err := filepath.Abs("../../node_modules/.bin/newman")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("newman"); err == nil {
		return p
	}
	msg := "newman not found (run npm install at the repository root)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// execution is one request of a newman run, from its JSON report.
type execution struct {
	Item struct {
		Name string `json:"name"`
	} `json:"item"`
	Response struct {
		Code   int `json:"code"`
		Stream struct {
			Data []int `json:"data"` // a Node.js Buffer
		} `json:"stream"`
	} `json:"response"`
	Assertions []struct {
		Assertion string `json:"assertion"`
		Error     *struct {
			Message string `json:"message"`
		} `json:"error"`
	} `json:"assertions"`
}

// body decodes the response body newman recorded.
func (e execution) body() map[string]any {
	b := make([]byte, len(e.Response.Stream.Data))
	for i, c := range e.Response.Stream.Data {
		b[i] = byte(c)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// runNewman runs folders of the collection, in the collection's order,
// against a fresh server for sim. It fails the test if newman reports a
// failure (a failed test script) and returns every request it made.
func runNewman(t *testing.T, sim *pds.Simulator, folders ...string) []execution {
	t.Helper()
	newman := findNewman(t)
	if _, err := os.Stat(collection); err != nil {
		t.Fatalf("collection: %v", err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	report := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"run", collection}
	for _, f := range folders {
		args = append(args, "--folder", f)
	}
	args = append(args,
		"--env-var", "base_url="+srv.URL+pds.BasePath,
		"--reporters", "cli,json", "--reporter-json-export", report,
		"--color", "off", "--disable-unicode")
	out, err := exec.CommandContext(ctx, newman, args...).CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("newman timed out:\n%s", out)
	}
	if err != nil {
		t.Fatalf("newman: %v\n%s", err, out)
	}
	t.Logf("newman:\n%s", out)

	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var summary struct {
		Run struct {
			Executions []execution `json:"executions"`
		} `json:"run"`
	}
	if err := json.Unmarshal(raw, &summary); err != nil {
		t.Fatalf("newman report: %v", err)
	}
	return summary.Run.Executions
}

// TestPostmanCollection proves faithfulness: NHS England's own Postman
// collection for the public sandbox passes against the simulator. Every
// request of the search, read and NHS-number allocation folders passes its
// test scripts; none is excluded.
func TestPostmanCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs newman")
	}
	execs := runNewman(t, pds.New(pds.Options{Open: true}), folderSearch, folderRead, folderAllocate)
	// Guard against a run that silently executed nothing.
	names := map[string]bool{}
	for _, e := range execs {
		names[e.Item.Name] = true
	}
	for _, want := range []string{"Patient exists", "Basic search including history flag",
		"Allocate NHS number", "Invalid Request Id", "Missing Request ID", "Single match found",
		"Multi match found", "Allocate NHS number - Missing address", "Allocate NHS number - Invalid value"} {
		if !names[want] {
			t.Errorf("newman did not run %q", want)
		}
	}
}

// want is what the simulator must answer to one request of the collection.
type want struct {
	status int
	code   string // Spine error code
	why    string // for a request that cannot answer what its name promises
}

// postmanUpdateStateless is the collection's "Update a patient's record"
// and "Retrieve a patient's related people" folders against a simulator with
// StatelessPatches, as the public sandbox behaves ("your changes will not
// be persisted in the sandbox environment ... JSON Patch operations
// themselves are validated, but the resulting resource is not validated
// for correctness"): every request sends If-Match W/"2", the version the
// sandbox's records keep.
//
// The update requests have no test scripts, so the statuses are checked
// here, from newman's report. Exactly one request cannot answer what its
// name promises; its reason is in why.
var postmanUpdateStateless = map[string]want{
	"Successful update: Add a new name to the patient":        {status: 200},
	"Successful update: Update the first given name entry":    {status: 200},
	"Successful update: Remove a name no longer in use":       {status: 200},
	"Successful update: Add DOD & Notification":               {status: 200},
	"Update - Replace DoD and Death Notification Informal":    {status: 200},
	"Successful update: Add Communication":                    {status: 200},
	"Successful update: Replace Communication full extension": {status: 200},
	"Successful update: Replace Communication single item":    {status: 200},
	"Successful update: Remove Communication": {status: 400, code: "INVALID_UPDATE",
		why: `its test operation asserts /extension/4/url is "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-NHSCommunication", ` +
			`but the sandbox's own record of 9000000009 (stubs/patientResponses) holds "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication" there; ` +
			`a failed test must fail the whole patch (RFC 6902 §4.6; OpenAPI "Example 3 - a failure")`},
	"Successful update: Add Contact Preferences":             {status: 200},
	"Successful update: Replace a Single Contact Preference": {status: 200},
	"Successful update: Replace All Contact Preferences":     {status: 200},
	"Successful update: Remove All Contact Preferences":      {status: 200},
	"Successful update: Remove Single Contact Preference":    {status: 200},
	"Invalid patch operations":                               {status: 400, code: "INVALID_UPDATE"},
	"Invalid NHS Number":                                     {status: 400, code: "INVALID_RESOURCE_ID"},
	"Patient doesn't exist":                                  {status: 404, code: "RESOURCE_NOT_FOUND"},
	"No patches sent":                                        {status: 400, code: "TOO_FEW_VALUES_SUBMITTED"},
	"Incorrect resource version":                             {status: 409, code: "RESOURCE_VERSION_MISMATCH"},
	"Invalid Request ID":                                     {status: 400, code: "INVALID_VALUE"},
	"Wrong content type":                                     {status: 400, code: "UNSUPPORTED_SERVICE"},
	"Missing resource version identifier":                    {status: 412, code: "PRECONDITION_FAILED"},
	"Missing Request ID":                                     {status: 400, code: "MISSING_VALUE"},
	// These have test scripts (total 1, 0 and 2), which newman checks.
	"Single Related Person exists":    {status: 200},
	"Related Persons do not exist":    {status: 200},
	"Multiple Related Persons exists": {status: 200},
}

// postmanUpdateStateful is the same folders against a fresh simulator with
// the default, stored updates and PDS's rules: what the facade's own tests
// get. The collection cannot pass there, and each refusal is PDS's rule or
// the record's version having moved on:
var postmanUpdateStateful = map[string]want{
	"Successful update: Add a new name to the patient": {status: 400, code: "ADDITIONAL_PROPERTIES",
		why: `the name carries "text", which HumanName does not have (additionalProperties: false); its prefix and suffix are strings, not lists`},
	"Successful update: Update the first given name entry": {status: 400, code: "INVALID_UPDATE",
		why: "changing /name/0 needs the name's id (123) in the patch: \"you must always include the list id or url\""},
	"Successful update: Remove a name no longer in use": {status: 400, code: "INVALID_UPDATE",
		why: "a list item's removal must immediately follow a test of it (and it is the usual name, which cannot be removed)"},
	"Successful update: Add DOD & Notification": {status: 200},
	"Update - Replace DoD and Death Notification Informal": {status: 403, code: "FORBIDDEN_UPDATE",
		why: "9000000009's date of death is set (with a formal notification): it cannot be changed"},
	"Successful update: Add Communication": {status: 409, code: "RESOURCE_VERSION_MISMATCH",
		why: `"Add DOD & Notification" stored version 3 of 9000000033; this request still sends W/"2"`},
	"Successful update: Replace Communication full extension": {status: 400, code: "INVALID_UPDATE",
		why: `its url (fhir.nhs.uk/R4) is not the url of /extension/4 (fhir.hl7.org.uk): a replaced extension keeps its url`},
	"Successful update: Replace Communication single item": {status: 200},
	"Successful update: Remove Communication": {status: 409, code: "RESOURCE_VERSION_MISMATCH",
		why: `the previous request stored version 3 of 9000000009; this request still sends W/"2"`},
	"Successful update: Add Contact Preferences":             {status: 409, code: "RESOURCE_VERSION_MISMATCH", why: "9000000033 is at version 3"},
	"Successful update: Replace a Single Contact Preference": {status: 409, code: "RESOURCE_VERSION_MISMATCH", why: "9000000009 is at version 3"},
	"Successful update: Replace All Contact Preferences":     {status: 409, code: "RESOURCE_VERSION_MISMATCH", why: "9000000009 is at version 3"},
	"Successful update: Remove All Contact Preferences":      {status: 409, code: "RESOURCE_VERSION_MISMATCH", why: "9000000009 is at version 3"},
	"Successful update: Remove Single Contact Preference":    {status: 409, code: "RESOURCE_VERSION_MISMATCH", why: "9000000009 is at version 3"},
	"Invalid patch operations":                               {status: 409, code: "RESOURCE_VERSION_MISMATCH", why: "9000000009 is at version 3"},
	"Invalid NHS Number":                                     {status: 400, code: "INVALID_RESOURCE_ID"},
	"Patient doesn't exist":                                  {status: 404, code: "RESOURCE_NOT_FOUND"},
	"No patches sent":                                        {status: 400, code: "TOO_FEW_VALUES_SUBMITTED"},
	"Incorrect resource version":                             {status: 409, code: "RESOURCE_VERSION_MISMATCH"},
	"Invalid Request ID":                                     {status: 400, code: "INVALID_VALUE"},
	"Wrong content type":                                     {status: 400, code: "UNSUPPORTED_SERVICE"},
	"Missing resource version identifier":                    {status: 412, code: "PRECONDITION_FAILED"},
	"Missing Request ID":                                     {status: 400, code: "MISSING_VALUE"},
	"Single Related Person exists":                           {status: 200},
	"Related Persons do not exist":                           {status: 200},
	"Multiple Related Persons exists":                        {status: 200},
}

// TestPostmanUpdateAndRelatedPeople runs the update and related-people
// folders against a fresh simulator in the sandbox's stateless mode (the
// collection's proof), then against a fresh stateful one (what the facade
// gets), and checks every request's answer.
func TestPostmanUpdateAndRelatedPeople(t *testing.T) {
	if testing.Short() {
		t.Skip("runs newman")
	}
	tests := []struct {
		name string
		opts pds.Options
		want map[string]want
	}{
		{name: "stateless, as the public sandbox", opts: pds.Options{Open: true, StatelessPatches: true}, want: postmanUpdateStateless},
		{name: "stateful default", opts: pds.Options{Open: true}, want: postmanUpdateStateful},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			execs := runNewman(t, pds.New(tt.opts), folderUpdate, folderRelated)
			seen := map[string]bool{}
			for _, e := range execs {
				name := e.Item.Name
				w, ok := tt.want[name]
				switch {
				case !ok:
					t.Errorf("unexpected request %q", name)
					continue
				case seen[name]:
					t.Errorf("request %q ran twice", name)
				}
				seen[name] = true
				code := ""
				if b := e.body(); b != nil {
					code = str(t, b, "issue", 0, "details", "coding", 0, "code")
				}
				if e.Response.Code != w.status || code != w.code {
					t.Errorf("%q: %d %s, want %d %s", name, e.Response.Code, code, w.status, w.code)
				}
				for _, a := range e.Assertions {
					if a.Error != nil {
						t.Errorf("%q: test %q failed: %s", name, a.Assertion, a.Error.Message)
					}
				}
				if w.why != "" {
					t.Logf("%q answers %d %s: %s", name, w.status, w.code, w.why)
				}
			}
			var missing []string
			for name := range tt.want {
				if !seen[name] {
					missing = append(missing, name)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("newman did not run %s", strings.Join(missing, ", "))
			}
		})
	}
}
