package resources_test

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	impb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"

	"github.com/carerecords/fhir-facade/backends/immunisation"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// fakeImms answers each data store with its body (or error), the empty
// Bundle by default, recording the queries.
type fakeImms struct {
	mu      sync.Mutex
	bodies  map[immunisation.Target][]byte
	errs    map[immunisation.Target]error
	queries []immunisation.Query
}

const emptyImms = `{"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}`

func (f *fakeImms) Search(_ context.Context, q immunisation.Query) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if err := f.errs[q.Target]; err != nil {
		return nil, err
	}
	if b, ok := f.bodies[q.Target]; ok {
		return b, nil
	}
	return []byte(emptyImms), nil
}

// calls returns the queries made, by data store (they are made at once).
func (f *fakeImms) calls() []immunisation.Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]immunisation.Query(nil), f.queries...)
	order := map[immunisation.Target]int{immunisation.COVID19: 0, immunisation.FLU: 1, immunisation.HPV: 2}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Target] < order[out[j].Target] })
	return out
}

func immsTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../mappers/immunisation/testdata/" + name + ".in.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// covidOnly is a history whose COVID19 store holds the specification's
// example (two vaccinations with ids), the others nothing.
func covidOnly(t *testing.T) *fakeImms {
	return &fakeImms{bodies: map[immunisation.Target][]byte{immunisation.COVID19: immsTestdata(t, "openapi_example_9000000009")}}
}

const (
	imms1 = "9000000009-90640007.747583-127" // 2020-12-10
	imms2 = "9000000009-90640007.747583-128" // 2020-12-31
)

// every is one query per data store, each with from and to.
func every(from, to time.Time) []immunisation.Query {
	var out []immunisation.Query
	for _, target := range immunisation.Targets {
		out = append(out, immunisation.Query{NHSNumber: "9000000009", Target: target, From: from, To: to})
	}
	return out
}

func TestImmunizationSearch(t *testing.T) {
	memo, err := resources.NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer memo.Close()
	var zero time.Time
	tests := []struct {
		name   string
		params string
		want   []string
		calls  []immunisation.Query
	}{
		{name: "NHS number: every store", params: "patient=9000000009", want: []string{imms1, imms2}, calls: every(zero, zero)},
		{name: "reference", params: "patient=Patient/9000000009", want: []string{imms1, imms2}, calls: every(zero, zero)},
		{name: "identifier", params: "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", want: []string{imms1, imms2}, calls: every(zero, zero)},
		{name: "one day", params: "patient=9000000009&date=2020-12-10", want: []string{imms1}, calls: every(day("2020-12-09"), day("2020-12-11"))},
		{name: "month", params: "patient=9000000009&date=eq2020-12", want: []string{imms1, imms2}, calls: every(day("2020-11-30"), day("2021-01-01"))},
		{name: "after", params: "patient=9000000009&date=gt2020-12-10", want: []string{imms2}, calls: every(day("2020-12-10"), zero)},
		{name: "until", params: "patient=9000000009&date=le2020-12-30", want: []string{imms1}, calls: every(zero, day("2020-12-31"))},
		{name: "range", params: "patient=9000000009&date=ge2020-12-11&date=lt2021", want: []string{imms2}, calls: every(day("2020-12-10"), day("2021-01-01"))},
		{name: "impossible range", params: "patient=9000000009&date=ge2021&date=le2020", want: nil},
		{name: "store", params: "patient=9000000009&target-disease=COVID19", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", Target: immunisation.COVID19}}},
		{name: "SNOMED disease", params: "patient=9000000009&target-disease=http://snomed.info/sct|840539006", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", Target: immunisation.COVID19}}},
		{name: "bare SNOMED disease", params: "patient=9000000009&target-disease=6142004", want: nil,
			calls: []immunisation.Query{{NHSNumber: "9000000009", Target: immunisation.FLU}}},
		{name: "several stores, each once", params: "patient=9000000009&target-disease=HPV,COVID19,240532009,|FLU", want: []string{imms1, imms2}, calls: every(zero, zero)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := covidOnly(t)
			p := resources.NewImmunization(f, memo)
			r, err := search(t, p, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(r); strings.Join(got, ",") != strings.Join(tt.want, ",") || r.Total != len(tt.want) || len(r.Issues) != 0 {
				t.Errorf("got %v (total %d, issues %v), want %v", got, r.Total, r.Issues, tt.want)
			}
			for _, e := range r.Entries {
				if e.Mode != "match" || e.Resource.Type != "Immunization" {
					t.Errorf("entry %+v", e)
				}
			}
			if got := f.calls(); len(got) != len(tt.calls) || len(got) > 0 && !equalQueries(got, tt.calls) {
				t.Errorf("calls %+v, want %+v", got, tt.calls)
			}
		})
	}
}

func equalQueries(a, b []immunisation.Query) bool {
	for i := range a {
		if a[i].NHSNumber != b[i].NHSNumber || a[i].Target != b[i].Target || !a[i].From.Equal(b[i].From) || !a[i].To.Equal(b[i].To) {
			return false
		}
	}
	return true
}

// realSandbox answers as the public sandbox does for 9000000009: COVID19
// (one vaccination given, one not), FLU (one), and HPV (another patient's
// records).
func realSandbox(t *testing.T) *fakeImms {
	return &fakeImms{bodies: map[immunisation.Target][]byte{
		immunisation.COVID19: immsTestdata(t, "real_sandbox_9000000009_covid19"),
		immunisation.FLU:     immsTestdata(t, "real_sandbox_9000000009_flu"),
		immunisation.HPV:     immsTestdata(t, "real_sandbox_9000000009_hpv"),
	}}
}

// TestImmunizationRealSandbox9000000009: the public sandbox's history
// reads as COVID-19 (the not-done dose not done, with its reason) and flu,
// and the HPV store, whose answer holds another patient's records, is named
// as not read: the whole history is never refused for it, and it never
// reads as "no HPV vaccinations".
func TestImmunizationRealSandbox9000000009(t *testing.T) {
	p := resources.NewImmunization(realSandbox(t), nil)
	r, err := search(t, p, "patient=9000000009")
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 3 || len(r.Entries) != 3 || len(r.Issues) != 1 {
		t.Fatalf("total %d, %d entries, issues %+v", r.Total, len(r.Entries), r.Issues)
	}
	var statuses []string
	for _, e := range r.Entries {
		im := e.Resource.Message.(*impb.Immunization)
		statuses = append(statuses, im.GetStatus().GetValue().String())
		if im.GetStatus().GetValue().String() == "NOT_DONE" && im.GetStatusReason().GetCoding()[0].GetCode().GetValue() != "310376006" {
			t.Errorf("not-done without its reason: %v", im)
		}
	}
	if strings.Join(statuses, ",") != "COMPLETED,NOT_DONE,COMPLETED" {
		t.Errorf("statuses %v", statuses)
	}
	is := r.Issues[0]
	if is.Severity != "error" || is.Code != "incomplete" || !strings.HasPrefix(is.Diagnostics, "the immunisation record's HPV history could not be read completely: ") ||
		!strings.Contains(is.Diagnostics, "entry[0]") {
		t.Errorf("issue %+v", is)
	}
	noPatientData(t, is.Diagnostics)
	for _, e := range r.Entries {
		got, err := p.Read(context.Background(), e.Resource.ID)
		if err != nil || got.ID != e.Resource.ID {
			t.Errorf("read %s: %v", e.Resource.ID, err)
		}
	}
	// A record not among those read may be in the HPV history that could
	// not be read: not "not found".
	_, err = p.Read(context.Background(), "9000000009-x00000000000000000000000000000000")
	if fhirerr.CategoryOf(err) != fhirerr.BadGateway || !strings.Contains(fhirerr.UserMessage(err), "HPV history could not be read completely") {
		t.Errorf("read of an unknown id: %v", err)
	}
}

// noPatientData fails t if s holds an NHS number or the sandbox's data.
func noPatientData(t *testing.T, s string) {
	t.Helper()
	for _, leak := range []string{"9000000009", "9912003993", "1965-02-28", "R04X", "310376006", "1324761000000100"} {
		if strings.Contains(s, leak) {
			t.Errorf("%q quotes patient data (%s)", s, leak)
		}
	}
}

// TestImmunizationIncompleteStores: a store whose answer is missing,
// short or unreadable is named (severity error, code incomplete) beside
// the other stores' records: never an empty list that reads as "none",
// never the whole history lost for one bad entry.
func TestImmunizationIncompleteStores(t *testing.T) {
	good := `{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Immunization","id":"F1","status":"completed",` +
		`"vaccineCode":{"coding":[{"system":"http://snomed.info/sct","code":"34680411000001107"}]},` +
		`"patient":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}},"occurrenceDateTime":"2024-10-10T10:00:00Z"},"search":{"mode":"match"}}`
	bad := strings.Replace(strings.Replace(good, `"F1"`, `"F2"`, 1), `"completed"`, `"given"`, 1)
	tests := []struct {
		name    string
		body    string
		err     error
		why     string   // in the FLU issue's diagnostics
		records []string // FLU records shown
	}{
		{name: "empty body", body: "", why: "the answer is empty"},
		{name: "malformed JSON", body: `{"resourceType":"Bundle","type":"searchset","entry":[`, why: "cannot read"},
		{name: "wrong type", body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing"}]}`, why: "cannot read"},
		{name: "total but no entries", body: `{"resourceType":"Bundle","type":"searchset","total":2,"entry":[]}`, why: "the answer counts 2 more record(s) than it holds"},
		{name: "total more than the entries", body: `{"resourceType":"Bundle","type":"searchset","total":3,"entry":[` + good + `]}`,
			why: "the answer counts 2 more record(s) than it holds (the records that could be read are shown)", records: []string{"9000000009-F1"}},
		{name: "one unreadable entry", body: `{"resourceType":"Bundle","type":"searchset","total":2,"entry":[` + bad + `,` + good + `]}`,
			why: "entry[0] Immunization.status could not be read (invalid value) (the records that could be read are shown)", records: []string{"9000000009-F1"}},
		{name: "refused", err: &fhirerr.Error{Category: fhirerr.Invalid, Backend: "immunisation", Message: "the Immunisation History API rejected the request"}, why: "rejected"},
		{name: "timed out", err: &fhirerr.Error{Category: fhirerr.Timeout, Backend: "immunisation", Message: "the immunisation service did not answer in time"}, why: "did not answer in time"},
		{name: "failed", err: &fhirerr.Error{Category: fhirerr.BadGateway, Backend: "immunisation", Message: "the immunisation service failed"}, why: "failed"},
	}
	memo, err := resources.NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer memo.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := covidOnly(t)
			f.bodies[immunisation.FLU] = []byte(tt.body)
			f.errs = map[immunisation.Target]error{immunisation.FLU: tt.err}
			p := resources.NewImmunization(f, memo)
			// Twice: a memoised answer must not lose what was missing.
			for range 2 {
				r, err := search(t, p, "patient=9000000009")
				if err != nil {
					t.Fatal(err)
				}
				want := append([]string{imms1, imms2}, tt.records...)
				if got := ids(r); strings.Join(got, ",") != strings.Join(want, ",") || r.Total != len(want) {
					t.Errorf("records %v, want %v", got, want)
				}
				if len(r.Issues) != 1 {
					t.Fatalf("issues %+v", r.Issues)
				}
				is := r.Issues[0]
				if is.Severity != "error" || is.Code != "incomplete" || !strings.HasPrefix(is.Diagnostics, "the immunisation record's FLU history could not be read completely: ") ||
					!strings.Contains(is.Diagnostics, tt.why) {
					t.Errorf("issue %+v, want diagnostics with %q", is, tt.why)
				}
				noPatientData(t, is.Diagnostics)
			}
			// Asked alone, a store of which nothing was read fails the
			// search; one read in part answers what was read, named.
			r, err := search(t, p, "patient=9000000009&target-disease=FLU")
			switch {
			case tt.records == nil && err == nil:
				t.Errorf("FLU alone: no error but %+v", r)
			case tt.records != nil && (err != nil || len(r.Entries) != len(tt.records) || len(r.Issues) != 1):
				t.Errorf("FLU alone: %v %+v", err, r)
			}
		})
	}
}

// TestImmunizationEveryStoreFails: when no store answers, the search fails
// (the more useful timeout first): an error, not an empty searchset.
func TestImmunizationEveryStoreFails(t *testing.T) {
	timeout := &fhirerr.Error{Category: fhirerr.Timeout, Backend: "immunisation", Message: "slow"}
	failed := &fhirerr.Error{Category: fhirerr.BadGateway, Backend: "immunisation", Message: "failed"}
	for _, tt := range []struct {
		name string
		errs map[immunisation.Target]error
		want fhirerr.Category
	}{
		{name: "all failed", errs: map[immunisation.Target]error{immunisation.COVID19: failed, immunisation.FLU: failed, immunisation.HPV: failed}, want: fhirerr.BadGateway},
		{name: "one timed out", errs: map[immunisation.Target]error{immunisation.COVID19: failed, immunisation.FLU: failed, immunisation.HPV: timeout}, want: fhirerr.Timeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := resources.NewImmunization(&fakeImms{errs: tt.errs}, nil)
			if _, err := search(t, p, "patient=9000000009"); fhirerr.CategoryOf(err) != tt.want {
				t.Errorf("search: %v, want %v", err, tt.want)
			}
			if _, err := p.Read(context.Background(), imms1); fhirerr.CategoryOf(err) != tt.want {
				t.Errorf("read: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestImmunizationSearchErrors: nothing invalid reaches the API.
func TestImmunizationSearchErrors(t *testing.T) {
	f := covidOnly(t)
	p := resources.NewImmunization(f, nil)
	tests := []struct {
		name, params string
		want         fhirerr.Category
	}{
		{name: "no patient", params: "", want: fhirerr.Invalid},
		{name: "only a date", params: "date=ge2020", want: fhirerr.Invalid},
		{name: "bad NHS number", params: "patient=9000000000", want: fhirerr.Invalid},
		{name: "not a patient", params: "patient=Practitioner/9000000009", want: fhirerr.Invalid},
		{name: "other identifier system", params: "patient:identifier=urn:x|9000000009", want: fhirerr.Invalid},
		{name: "bad date", params: "patient=9000000009&date=10-Dec-2020", want: fhirerr.Invalid},
		{name: "unsupported prefix", params: "patient=9000000009&date=ne2020", want: fhirerr.NotSupported},
		{name: "unknown store", params: "patient=9000000009&target-disease=MMR", want: fhirerr.Invalid},
		{name: "RSV", params: "patient=9000000009&target-disease=RSV", want: fhirerr.Invalid},
		{name: "lower-case store", params: "patient=9000000009&target-disease=covid19", want: fhirerr.Invalid},
		{name: "store under SNOMED", params: "patient=9000000009&target-disease=http://snomed.info/sct|COVID19", want: fhirerr.Invalid},
		{name: "another disease", params: "patient=9000000009&target-disease=http://snomed.info/sct|14189004", want: fhirerr.Invalid},
		{name: "another system", params: "patient=9000000009&target-disease=urn:x|840539006", want: fhirerr.Invalid},
		{name: "empty", params: "patient=9000000009&target-disease=,", want: fhirerr.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := search(t, p, tt.params)
			if got := fhirerr.CategoryOf(err); got != tt.want {
				t.Errorf("%v, want category %v", err, tt.want)
			}
		})
	}
	if n := len(f.calls()); n != 0 {
		t.Errorf("%d invalid searches reached the API", n)
	}
}

// TestImmunizationBackendErrors: every store failing alike fails search
// and read alike.
func TestImmunizationBackendErrors(t *testing.T) {
	another := []byte(strings.ReplaceAll(string(immsTestdata(t, "openapi_example_9000000009")), `"value": "9000000009"`, `"value": "9000000017"`))
	for _, tt := range []struct {
		name string
		body []byte
		err  error
		want fhirerr.Category
	}{
		{name: "timeout", err: &fhirerr.Error{Category: fhirerr.Timeout, Backend: "immunisation"}, want: fhirerr.Timeout},
		{name: "unreadable answer", body: []byte(`{"resourceType":"Bundle","entry":{}}`), want: fhirerr.BadGateway},
		{name: "another patient's record", body: another, want: fhirerr.BadGateway},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeImms{bodies: map[immunisation.Target][]byte{}, errs: map[immunisation.Target]error{}}
			for _, target := range immunisation.Targets {
				f.bodies[target], f.errs[target] = tt.body, tt.err
			}
			p := resources.NewImmunization(f, nil)
			if _, err := search(t, p, "patient=9000000009"); fhirerr.CategoryOf(err) != tt.want {
				t.Errorf("search: %v, want %v", err, tt.want)
			}
			if _, err := p.Read(context.Background(), imms1); fhirerr.CategoryOf(err) != tt.want {
				t.Errorf("read: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestImmunizationRead(t *testing.T) {
	f := covidOnly(t)
	p := resources.NewImmunization(f, nil)
	r, err := p.Read(context.Background(), imms2)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != imms2 || r.Type != "Immunization" {
		t.Errorf("read %+v", r)
	}
	var zero time.Time
	if got := f.calls(); !equalQueries(got, every(zero, zero)) || len(got) != 3 {
		t.Errorf("calls %+v", got)
	}
	failed := &fhirerr.Error{Category: fhirerr.BadGateway, Backend: "immunisation", Message: "the immunisation service failed"}
	throttled := &fhirerr.Error{Category: fhirerr.Throttled, Backend: "immunisation", Message: "throttled", RetryAfter: 3 * time.Second}
	refused := &fhirerr.Error{Category: fhirerr.Invalid, Backend: "immunisation", Message: "rejected"}
	for _, tt := range []struct {
		name, id string
		errs     map[immunisation.Target]error
		calls    int
		want     fhirerr.Category // 0: found
	}{
		{name: "found though another store failed", id: imms1, errs: map[immunisation.Target]error{immunisation.HPV: failed}, calls: 3},
		{name: "not an id of ours", id: "90640007.747583-127", calls: 0, want: fhirerr.NotFound},
		{name: "bad NHS number", id: "9000000000-90640007.747583-127", calls: 0, want: fhirerr.NotFound},
		{name: "no such record", id: "9000000009-90640007.747583-129", calls: 3, want: fhirerr.NotFound},
		// It may be in the store that failed.
		{name: "not found, a store failed", id: "9000000009-90640007.747583-129", errs: map[immunisation.Target]error{immunisation.FLU: failed}, calls: 3, want: fhirerr.BadGateway},
		{name: "not found, a store throttled", id: "9000000009-90640007.747583-129", errs: map[immunisation.Target]error{immunisation.FLU: throttled}, calls: 3, want: fhirerr.Throttled},
		{name: "not found, a store refused", id: "9000000009-90640007.747583-129", errs: map[immunisation.Target]error{immunisation.FLU: refused}, calls: 3, want: fhirerr.BadGateway},
		// The API refusing the NHS number everywhere: there is no such record.
		{name: "the patient refused", id: "9000000009-90640007.747583-129",
			errs: map[immunisation.Target]error{immunisation.COVID19: refused, immunisation.FLU: refused, immunisation.HPV: refused}, calls: 3, want: fhirerr.NotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := covidOnly(t)
			f.errs = tt.errs
			r, err := resources.NewImmunization(f, nil).Read(context.Background(), tt.id)
			switch {
			case tt.want == 0 && (err != nil || r.ID != tt.id):
				t.Errorf("%v, %+v", err, r)
			case tt.want != 0 && fhirerr.CategoryOf(err) != tt.want:
				t.Errorf("%v, want %v", err, tt.want)
			}
			if tt.want == fhirerr.Throttled && fhirerr.As(err).RetryAfter != 3*time.Second {
				t.Errorf("Retry-After lost: %v", err)
			}
			if tt.name == "the patient refused" && !errors.Is(err, refused) {
				t.Errorf("the cause is lost: %v", err)
			}
			if n := len(f.calls()); n != tt.calls {
				t.Errorf("%d calls, want %d", n, tt.calls)
			}
		})
	}
}

// TestImmunizationDeclarations: what the CapabilityStatement and the server
// learn from the provider.
func TestImmunizationDeclarations(t *testing.T) {
	p := resources.NewImmunization(&fakeImms{}, nil)
	if p.ResourceType() != "Immunization" || p.Profile() != "" || !strings.Contains(p.Documentation(), "Immunisation History API") {
		t.Error("provider facts")
	}
	names := map[string]bool{}
	for _, sp := range p.SearchParams() {
		names[sp.Name] = true
		if sp.Example == "" || sp.Documentation == "" || sp.Definition == "" {
			t.Errorf("%s: incomplete declaration", sp.Name)
		}
	}
	if len(names) != 3 || !names["patient"] || !names["date"] || !names["target-disease"] {
		t.Errorf("search params %v", names)
	}
	if inc := p.Includes(); len(inc) != 1 || inc[0] != (resources.Include{Param: "patient", Element: "patient", Target: "Patient"}) {
		t.Errorf("includes %v", inc)
	}
	if !resources.RevIncludable(p, "patient", "Patient") {
		t.Error("Patient?_revinclude=Immunization:patient is not possible")
	}
	if p.SortParams()["date"] != "occurrenceDateTime" {
		t.Errorf("sort %v", p.SortParams())
	}
	srcs := resources.SummarySources([]resources.Provider{p})
	if len(srcs) != 1 || srcs[0].Type != "Immunization" {
		t.Errorf("not a $summary source: %v", srcs)
	}
}
