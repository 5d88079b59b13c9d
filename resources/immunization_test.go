package resources_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/carerecords/fhir-facade/backends/immunisation"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// fakeImms answers every search with body (or err), recording the queries.
type fakeImms struct {
	mu      sync.Mutex
	body    []byte
	err     error
	queries []immunisation.Query
}

func (f *fakeImms) Search(_ context.Context, q immunisation.Query) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return f.body, f.err
}

func (f *fakeImms) calls() []immunisation.Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]immunisation.Query(nil), f.queries...)
}

func sandboxImms(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../mappers/immunisation/testdata/sandbox_9000000009.in.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	imms1 = "9000000009-90640007.747583-127" // 2020-12-10
	imms2 = "9000000009-90640007.747583-128" // 2020-12-31
)

func TestImmunizationSearch(t *testing.T) {
	memo, err := resources.NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer memo.Close()
	tests := []struct {
		name   string
		params string
		want   []string
		calls  []immunisation.Query
	}{
		{name: "NHS number", params: "patient=9000000009", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009"}}},
		{name: "reference", params: "patient=Patient/9000000009", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009"}}},
		{name: "identifier", params: "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009"}}},
		{name: "one day", params: "patient=9000000009&date=2020-12-10", want: []string{imms1},
			calls: []immunisation.Query{{NHSNumber: "9000000009", From: day("2020-12-09"), To: day("2020-12-11")}}},
		{name: "month", params: "patient=9000000009&date=eq2020-12", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", From: day("2020-11-30"), To: day("2021-01-01")}}},
		{name: "after", params: "patient=9000000009&date=gt2020-12-10", want: []string{imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", From: day("2020-12-10")}}},
		{name: "until", params: "patient=9000000009&date=le2020-12-30", want: []string{imms1},
			calls: []immunisation.Query{{NHSNumber: "9000000009", To: day("2020-12-31")}}},
		{name: "range", params: "patient=9000000009&date=ge2020-12-11&date=lt2021", want: []string{imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", From: day("2020-12-10"), To: day("2021-01-01")}}},
		{name: "impossible range", params: "patient=9000000009&date=ge2021&date=le2020", want: nil},
		{name: "store", params: "patient=9000000009&target-disease=COVID19", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", Target: immunisation.COVID19}}},
		{name: "SNOMED disease", params: "patient=9000000009&target-disease=http://snomed.info/sct|840539006", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", Target: immunisation.COVID19}}},
		{name: "bare SNOMED disease", params: "patient=9000000009&target-disease=6142004", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", Target: immunisation.FLU}}},
		{name: "several stores, each once, the same record once", params: "patient=9000000009&target-disease=HPV,COVID19,240532009,|FLU", want: []string{imms1, imms2},
			calls: []immunisation.Query{{NHSNumber: "9000000009", Target: immunisation.COVID19}, {NHSNumber: "9000000009", Target: immunisation.FLU}, {NHSNumber: "9000000009", Target: immunisation.HPV}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeImms{body: sandboxImms(t)}
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

// TestImmunizationSearchErrors: nothing invalid reaches the API.
func TestImmunizationSearchErrors(t *testing.T) {
	f := &fakeImms{body: sandboxImms(t)}
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

func TestImmunizationBackendErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		body []byte
		err  error
		want fhirerr.Category
	}{
		{name: "timeout", err: &fhirerr.Error{Category: fhirerr.Timeout, Backend: "immunisation"}, want: fhirerr.Timeout},
		{name: "unreadable answer", body: []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Immunization","status":"given"}}]}`), want: fhirerr.BadGateway},
		{name: "another patient's record", body: []byte(strings.ReplaceAll(string(sandboxImms(t)), `"value": "9000000009"`, `"value": "9000000017"`)), want: fhirerr.BadGateway},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := resources.NewImmunization(&fakeImms{body: tt.body, err: tt.err}, nil)
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
	f := &fakeImms{body: sandboxImms(t)}
	p := resources.NewImmunization(f, nil)
	r, err := p.Read(context.Background(), imms2)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != imms2 || r.Type != "Immunization" {
		t.Errorf("read %+v", r)
	}
	if got := f.calls(); len(got) != 1 || got[0] != (immunisation.Query{NHSNumber: "9000000009"}) {
		t.Errorf("calls %+v", got)
	}
	for _, tt := range []struct {
		name, id string
		calls    int
	}{
		{name: "not an id of ours", id: "90640007.747583-127", calls: 0},
		{name: "bad NHS number", id: "9000000000-90640007.747583-127", calls: 0},
		{name: "no such record", id: "9000000009-90640007.747583-129", calls: 1},
		{name: "another patient's history", id: "9000000017-90640007.747583-127", calls: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeImms{body: sandboxImms(t)}
			if tt.id == "9000000017-90640007.747583-127" {
				f.body = []byte(`{"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}`)
			}
			_, err := resources.NewImmunization(f, nil).Read(context.Background(), tt.id)
			if fhirerr.CategoryOf(err) != fhirerr.NotFound {
				t.Errorf("%v, want NotFound", err)
			}
			if n := len(f.calls()); n != tt.calls {
				t.Errorf("%d calls, want %d", n, tt.calls)
			}
		})
	}
	// The API refusing the NHS number (400) means there is no such record.
	refused := &fakeImms{err: &fhirerr.Error{Category: fhirerr.Invalid, Backend: "immunisation", Message: "rejected"}}
	_, err = resources.NewImmunization(refused, nil).Read(context.Background(), "9111231130-90640007.1-1")
	if fhirerr.CategoryOf(err) != fhirerr.NotFound || !errors.Is(err, refused.err) {
		t.Errorf("read of an unknown patient: %v", err)
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
