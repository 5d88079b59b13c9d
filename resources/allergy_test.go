package resources_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/scr"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

const sandboxUUID = "FA60BE64-1F34-11EB-A2A8-000C29A364EB"

// fakeSCR answers Latest with latest (nil: no SCR) and Summary with the
// payloads in order (the last one repeats), counting calls.
type fakeSCR struct {
	latest    *scr.Latest
	latestErr error
	summaries [][]byte
	latests   atomic.Int32
	calls     atomic.Int32
}

func (f *fakeSCR) Latest(ctx context.Context, nhs string) (*scr.Latest, error) {
	f.latests.Add(1)
	return f.latest, f.latestErr
}

func (f *fakeSCR) Summary(ctx context.Context, nhs, uuid string) ([]byte, error) {
	n := int(f.calls.Add(1)) - 1
	if n >= len(f.summaries) {
		n = len(f.summaries) - 1
	}
	return f.summaries[n], nil
}

func sandboxSummary(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../mappers/scr/testdata/sandbox_9000000009.in.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func askConsent() *scr.Latest { return &scr.Latest{UUID: sandboxUUID, Consent: scr.ConsentAsk} }

func search(t *testing.T, s resources.Searcher, params string) (*resources.SearchResult, error) {
	t.Helper()
	q, err := url.ParseQuery(params)
	if err != nil {
		t.Fatal(err)
	}
	return s.Search(context.Background(), &resources.Query{Params: q, Count: 20})
}

func ids(r *resources.SearchResult) []string {
	var out []string
	for _, e := range r.Entries {
		out = append(out, e.Resource.ID)
	}
	return out
}

func TestAllergySearch(t *testing.T) {
	memo, err := resources.NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer memo.Close()
	f := &fakeSCR{latest: askConsent(), summaries: [][]byte{sandboxSummary(t)}}
	p := resources.NewAllergyIntolerance(f, memo)
	const a1 = "9000000009-fa60be641f3411eba2a8000c29a364eb-a1"
	tests := []struct {
		params string
		want   []string
	}{
		{"patient=9000000009", []string{a1}},
		{"patient=Patient/9000000009", []string{a1}},
		{"patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", []string{a1}},
		{"patient=9000000009&clinical-status=active", []string{a1}},
		{"patient=9000000009&clinical-status=http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical|active", []string{a1}},
		{"patient=9000000009&clinical-status=resolved,inactive", nil},
		{"patient=9000000009&date=2020-05-12", []string{a1}},
		{"patient=9000000009&date=eq2020", []string{a1}},
		{"patient=9000000009&date=ge2020-05-13", nil},
		{"patient=9000000009&date=le2020-05-12", []string{a1}},
		{"patient=9000000009&date=lt2020-05-12", nil},
		{"patient=9000000009&date=ge2020-01-01&date=le2020-12-31", []string{a1}},
	}
	for _, tt := range tests {
		t.Run(tt.params, func(t *testing.T) {
			r, err := search(t, p, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(r); strings.Join(got, ",") != strings.Join(tt.want, ",") || r.Total != len(tt.want) || len(r.Issues) != 0 {
				t.Errorf("got %v (total %d, issues %v), want %v", got, r.Total, r.Issues, tt.want)
			}
		})
	}
	if n := f.calls.Load(); n != int32(len(tests)) {
		t.Errorf("%d GET /Bundle calls for %d searches", n, len(tests))
	}
}

func TestAllergySearchErrors(t *testing.T) {
	f := &fakeSCR{latest: askConsent(), summaries: [][]byte{sandboxSummary(t)}}
	p := resources.NewAllergyIntolerance(f, nil)
	for _, params := range []string{"", "clinical-status=active", "patient=9000000000", "patient=Practitioner/9000000009", "patient:identifier=urn:x|9000000009", "patient=9000000009&date=12-May-2020", "patient=9000000009&date=ne2020"} {
		if _, err := search(t, p, params); fhirerr.CategoryOf(err) != fhirerr.Invalid && fhirerr.CategoryOf(err) != fhirerr.NotSupported {
			t.Errorf("%q: %v", params, err)
		}
	}
	if f.latests.Load() != 0 {
		t.Errorf("invalid searches reached the SCR %d times", f.latests.Load())
	}
}

// Without a summary read, the searchset says why. Consent withheld is a
// warning (issue #16: it was information, easy to skip and show the
// patient's allergies and medications as none).
func TestSCRWithoutSummary(t *testing.T) {
	tests := []struct {
		name     string
		latest   *scr.Latest
		severity string
		code     string
		phrase   string
	}{
		{name: "no SCR", latest: nil, severity: "information", code: "not-found", phrase: "has no Summary Care Record"},
		{name: "consent withheld", latest: &scr.Latest{UUID: sandboxUUID, Consent: scr.ConsentNo}, severity: "warning", code: "suppressed", phrase: "withheld consent"},
		{name: "consent unknown", latest: &scr.Latest{UUID: sandboxUUID}, severity: "warning", code: "suppressed", phrase: "did not state the patient's consent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSCR{latest: tt.latest, summaries: [][]byte{sandboxSummary(t)}}
			for _, s := range []resources.Searcher{resources.NewAllergyIntolerance(f, nil), resources.NewMedicationStatement(f, nil)} {
				r, err := search(t, s, "patient=9000000009")
				if err != nil {
					t.Fatal(err)
				}
				if r.Total != 0 || len(r.Entries) != 0 || len(r.Issues) != 1 || r.Issues[0].Code != tt.code ||
					r.Issues[0].Severity != tt.severity || !strings.Contains(r.Issues[0].Diagnostics, tt.phrase) {
					t.Errorf("%+v", r)
				}
			}
			if f.calls.Load() != 0 {
				t.Errorf("GET /Bundle was called %d times", f.calls.Load())
			}
		})
	}
}

func TestSCRStaleSummaryIsRetried(t *testing.T) {
	empty := []byte(`{"resourceType":"Bundle","type":"searchset","total":0}`)
	f := &fakeSCR{latest: askConsent(), summaries: [][]byte{empty, sandboxSummary(t)}}
	r, err := search(t, resources.NewAllergyIntolerance(f, nil), "patient=9000000009")
	if err != nil || r.Total != 1 || f.latests.Load() != 2 {
		t.Fatalf("%+v %v after %d step-1 calls", r, err, f.latests.Load())
	}
	f = &fakeSCR{latest: askConsent(), summaries: [][]byte{empty}}
	if _, err := search(t, resources.NewAllergyIntolerance(f, nil), "patient=9000000009"); fhirerr.CategoryOf(err) != fhirerr.BadGateway {
		t.Errorf("always stale: %v", err)
	}
}

func TestSCRBackendErrorsPassThrough(t *testing.T) {
	f := &fakeSCR{latestErr: &fhirerr.Error{Category: fhirerr.Timeout, Message: "slow"}}
	if _, err := search(t, resources.NewAllergyIntolerance(f, nil), "patient=9000000009"); fhirerr.CategoryOf(err) != fhirerr.Timeout {
		t.Errorf("%v", err)
	}
	bad := &fakeSCR{latest: askConsent(), summaries: [][]byte{[]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Composition","section":[{"code":{"coding":[{"code":"AllergiesHeader"}]},"text":{"div":"<div><img/></div>"}}]}}]}`)}}
	_, err := search(t, resources.NewMedicationStatement(bad, nil), "patient=9000000009")
	if fhirerr.CategoryOf(err) != fhirerr.BadGateway || !strings.Contains(err.Error(), "section AllergiesHeader") {
		t.Errorf("unreadable summary: %v", err)
	}
}

func TestSCRRead(t *testing.T) {
	f := &fakeSCR{latest: askConsent(), summaries: [][]byte{sandboxSummary(t)}}
	a := resources.NewAllergyIntolerance(f, nil)
	m := resources.NewMedicationStatement(f, nil)
	ok := []struct {
		r  resources.Reader
		id string
	}{
		{a, "9000000009-fa60be641f3411eba2a8000c29a364eb-a1"},
		{m, "9000000009-fa60be641f3411eba2a8000c29a364eb-ma1"},
		{m, "9000000009-fa60be641f3411eba2a8000c29a364eb-mr1"},
	}
	for _, tt := range ok {
		res, err := tt.r.Read(context.Background(), tt.id)
		if err != nil || res.ID != tt.id || res.LastUpdated.IsZero() {
			t.Errorf("%s: %+v %v", tt.id, res, err)
		}
	}
	notFound := []struct {
		r  resources.Reader
		id string
	}{
		{a, "9000000009-fa60be641f3411eba2a8000c29a364eb-a2"},  // no such row
		{a, "9000000009-fa60be641f3411eba2a8000c29a364eb-ma1"}, // a medication id
		{m, "9000000009-fa60be641f3411eba2a8000c29a364eb-md1"}, // empty category
		{a, "9000000009-d18b57ed992e45a2a6af55200d20f48e-a1"},  // a replaced SCR
		{a, "9000000009"}, // not an SCR id
		{a, "9000000000-fa60be641f3411eba2a8000c29a364eb-a1"},               // invalid NHS number
		{m, "9000000009-FA60BE641F3411EBA2A8000C29A364EB-ma1"},              // not our spelling
		{a, "9000000009-fa60be641f3411eba2a8000c29a364eb-a1-and-something"}, // junk
	}
	for _, tt := range notFound {
		if _, err := tt.r.Read(context.Background(), tt.id); fhirerr.CategoryOf(err) != fhirerr.NotFound {
			t.Errorf("%s: %v", tt.id, err)
		}
	}
	for _, l := range []*scr.Latest{{UUID: sandboxUUID, Consent: scr.ConsentNo}, {UUID: sandboxUUID}} {
		f := &fakeSCR{latest: l, summaries: [][]byte{sandboxSummary(t)}}
		if _, err := resources.NewAllergyIntolerance(f, nil).Read(context.Background(), ok[0].id); fhirerr.CategoryOf(err) != fhirerr.Forbidden || f.calls.Load() != 0 {
			t.Errorf("consent %q: %v (%d GET /Bundle)", l.Consent, err, f.calls.Load())
		}
	}
	f = &fakeSCR{summaries: [][]byte{sandboxSummary(t)}}
	if _, err := resources.NewAllergyIntolerance(f, nil).Read(context.Background(), ok[0].id); fhirerr.CategoryOf(err) != fhirerr.NotFound {
		t.Errorf("no SCR: %v", err)
	}
}

// TestSCRMemo: one summary maps once for both providers, and every search
// of it reuses the mapped resources (same RenderKey).
func TestSCRMemo(t *testing.T) {
	memo, err := resources.NewMemo(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer memo.Close()
	f := &fakeSCR{latest: askConsent(), summaries: [][]byte{sandboxSummary(t)}}
	a := resources.NewAllergyIntolerance(f, memo)
	m := resources.NewMedicationStatement(f, memo)
	r1, err := search(t, a, "patient=9000000009")
	if err != nil {
		t.Fatal(err)
	}
	// ristretto admits asynchronously (a miss maps and stores again): wait
	// until two searches in a row share their resources.
	var r2 *resources.SearchResult
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r2, _ = search(t, a, "patient=9000000009")
		if r2.Entries[0].Resource == r1.Entries[0].Resource || time.Now().After(deadline) {
			break
		}
		r1 = r2
	}
	r3, _ := search(t, m, "patient=9000000009")
	if r1.Entries[0].Resource.RenderKey == "" || r1.Entries[0].Resource != r2.Entries[0].Resource {
		t.Error("the second search mapped the summary again")
	}
	if len(r3.Entries) != 2 || !strings.HasPrefix(r3.Entries[0].Resource.RenderKey, strings.Split(r1.Entries[0].Resource.RenderKey, "/")[0]) {
		t.Errorf("MedicationStatement did not reuse the mapping: %v", r3.Entries)
	}
}

// summaryWith is the sandbox summary of 9000000009 (whose discontinued
// repeats state "No relevant information available for this category."
// in a table row) with the narratives of the sections named replaced.
func summaryWith(t *testing.T, divs map[string]string) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(sandboxSummary(t), &b); err != nil {
		t.Fatal(err)
	}
	for _, e := range b["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] != "Composition" {
			continue
		}
		for _, sec := range r["section"].([]any) {
			sec := sec.(map[string]any)
			code := sec["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
			if div, ok := divs[code]; ok {
				sec["text"].(map[string]any)["div"] = div
			}
		}
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A category the SCR states holds "No relevant information" is named in an
// information issue, so that an empty answer says the summary was read and
// had nothing to share (issue #16: it was an empty list with no outcome,
// the same as a summary never read).
func TestSCRNoRelevantInformation(t *testing.T) {
	const noInfo = `<div xmlns="http://www.w3.org/1999/xhtml"><h2>Heading</h2><p>No relevant information available for this category.</p></div>`
	tests := []struct {
		name               string
		divs               map[string]string
		allergies, meds    int
		allergyIssue       string // "" for none
		medicationIssue    string
		notInMedicationIss string
	}{
		{name: "discontinued repeats only", allergies: 1, meds: 2,
			medicationIssue: "no relevant information on discontinued repeat medications", notInMedicationIss: "acute"},
		{name: "no allergies to share", divs: map[string]string{"AllergiesHeader": noInfo}, allergies: 0, meds: 2,
			allergyIssue: "no relevant information on allergies and adverse reactions", medicationIssue: "discontinued repeat medications"},
		{name: "no medications to share", divs: map[string]string{"AcuteMedsHeader": noInfo, "RepeatMedsHeader": noInfo}, allergies: 1, meds: 0,
			medicationIssue: "no relevant information on acute medications, repeat medications, discontinued repeat medications"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memo, err := resources.NewMemo(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			defer memo.Close()
			f := &fakeSCR{latest: askConsent(), summaries: [][]byte{summaryWith(t, tt.divs)}}
			check := func(s resources.Searcher, n int, want, notWant string) {
				t.Helper()
				r, err := search(t, s, "patient=9000000009")
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Entries) != n || r.Total != n {
					t.Errorf("%d entries (total %d), want %d", len(r.Entries), r.Total, n)
				}
				if want == "" {
					if len(r.Issues) != 0 {
						t.Errorf("issues %+v, want none", r.Issues)
					}
					return
				}
				if len(r.Issues) != 1 {
					t.Fatalf("issues %+v, want one saying %q", r.Issues, want)
				}
				is := r.Issues[0]
				if is.Severity != "information" || is.Code != "informational" || !strings.Contains(is.Diagnostics, want) ||
					!strings.Contains(is.Diagnostics, "No relevant information available for this category.") ||
					(notWant != "" && strings.Contains(is.Diagnostics, notWant)) {
					t.Errorf("issue %+v, want information saying %q", is, want)
				}
			}
			// Twice each: the second answer comes from the memo.
			for range 2 {
				check(resources.NewAllergyIntolerance(f, memo), tt.allergies, tt.allergyIssue, "")
				check(resources.NewMedicationStatement(f, memo), tt.meds, tt.medicationIssue, tt.notInMedicationIss)
			}
		})
	}
}
