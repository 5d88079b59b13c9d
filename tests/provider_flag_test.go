package tests

// The Flag provider over the four simulators, moved from resources/ (#18:
// only cmd/ and tests/ import sandbox/): each test drives the provider
// through the real clients against stateful simulators with their faults
// (writes that must read back, outages, a population's clocks), an
// end-to-end check that recorded payloads cannot stand in for.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"

	"github.com/carerecords/fhir-facade/backends/cpis"
	"github.com/carerecords/fhir-facade/backends/fgm"
	"github.com/carerecords/fhir-facade/backends/ovm"
	"github.com/carerecords/fhir-facade/backends/ra"
	"github.com/carerecords/fhir-facade/backends/upstream"
	ramap "github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
	simcpis "github.com/carerecords/fhir-facade/sandbox/cpis"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	simfgm "github.com/carerecords/fhir-facade/sandbox/fgm"
	simovm "github.com/carerecords/fhir-facade/sandbox/ovm"
	"github.com/carerecords/fhir-facade/sandbox/population"
	simra "github.com/carerecords/fhir-facade/sandbox/ra"
)

// flagEnv is the Flag provider over the four simulators, each on its own
// loopback server, through the real clients, on the sandbox population's
// reference date (2025-06-30).
type flagEnv struct {
	flag *resources.Flag
	ra   *simra.Simulator
	cpis *simcpis.Simulator
	fgm  *simfgm.Simulator
	ovm  *simovm.Simulator
	// outages wrap the simulators, by the Flag source's name: the ways a
	// whole service fails that SANDBOX_FAULTS names.
	outages map[string]*fault.Outage
}

var flagEnvNow = time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)

func newFlagEnv(t *testing.T) *flagEnv {
	t.Helper()
	return newFlagEnvWith(t, upstream.Config{Timeout: 2 * time.Second})
}

// newFlagEnvWith is newFlagEnv with the clients' timeout, attempts and
// breaker of policy.
func newFlagEnvWith(t *testing.T, policy upstream.Config) *flagEnv {
	t.Helper()
	e := &flagEnv{
		ra:      simra.New(simra.Options{}),
		cpis:    simcpis.New(simcpis.Options{}),
		fgm:     simfgm.New(simfgm.Options{}),
		ovm:     simovm.New(simovm.Options{}),
		outages: map[string]*fault.Outage{},
	}
	up := func(name string, h http.Handler, base string) *upstream.Client {
		o := fault.NewOutage(h)
		e.outages[name] = o
		ts := httptest.NewServer(o)
		t.Cleanup(ts.Close)
		t.Cleanup(o.Close)
		c, err := upstream.New(upstream.Config{Name: name, BaseURL: ts.URL + base, Token: "t", Timeout: policy.Timeout, MaxAttempts: policy.MaxAttempts, BreakerThreshold: policy.BreakerThreshold}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	memo, err := resources.NewMemo(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(memo.Close)
	e.flag = resources.NewFlag(
		ra.New(up(ra.Name, e.ra, simra.BasePath), ra.Options{}),
		cpis.New(up(cpis.Name, e.cpis, simcpis.BasePath), cpis.Options{}),
		fgm.New(up(fgm.Name, e.fgm, simfgm.BasePath)),
		ovm.New(up(ovm.Name, e.ovm, simovm.BasePath)),
		memo,
		resources.FlagOptions{Author: ramap.Author{UserID: "555254240100", UserName: "Test User", RoleCode: "R8000",
			RoleDisplay: "Clinical Practitioner Access Role", OrgODS: "X26", OrgName: "NHS England"},
			Now: func() time.Time { return flagEnvNow }},
	)
	return e
}

func (e *flagEnv) search(t *testing.T, params string) (*resources.SearchResult, error) {
	t.Helper()
	return providerSearch(t, e.flag, params)
}

// providerSearch runs a search of params (a query string) on p, 20 a page.
func providerSearch(t *testing.T, p resources.Searcher, params string) (*resources.SearchResult, error) {
	t.Helper()
	v, err := url.ParseQuery(params)
	if err != nil {
		t.Fatal(err)
	}
	return p.Search(context.Background(), &resources.Query{Params: v, Count: 20})
}

func flagIDs(r *resources.SearchResult) []string {
	var out []string
	for _, e := range r.Entries {
		out = append(out, e.Resource.ID)
	}
	return out
}

func prefixes(r *resources.SearchResult) map[string]int {
	out := map[string]int{}
	for _, id := range flagIDs(r) {
		p, _, _ := strings.Cut(id, "-")
		out[p]++
	}
	return out
}

func TestFlagSearch(t *testing.T) {
	e := newFlagEnv(t)
	tests := []struct {
		name   string
		params string
		want   map[string]int // flags per service
	}{
		{name: "every service", params: "patient=9000000009", want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}},
		{name: "subject", params: "subject=Patient/9000000009", want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}},
		{name: "patient:identifier", params: "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}},
		{name: "chargeable status only", params: "patient=9000000009&category=urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status", want: map[string]int{"ovm": 1}},
		{name: "chargeable status by bare code", params: "patient=9000000009&category=overseas-visitor-chargeable-status", want: map[string]int{"ovm": 1}},
		{name: "administrative flags", params: "patient=9000000009&category=http://terminology.hl7.org/CodeSystem/flag-category|admin", want: map[string]int{"ovm": 1}},
		{name: "chargeable status and admin (AND)", params: "patient=9000000009&category=admin&category=overseas-visitor-chargeable-status", want: map[string]int{"ovm": 1}},
		{name: "chargeable status or safety (OR)", params: "patient=9000000009&category=overseas-visitor-chargeable-status,safety", want: map[string]int{"ovm": 1, "cpis": 1}},
		{name: "ended chargeable status", params: "patient=9000000017&category=overseas-visitor-chargeable-status&status=inactive", want: map[string]int{"ovm": 1}},
		{name: "no current chargeable status", params: "patient=9000000017&category=overseas-visitor-chargeable-status", want: map[string]int{}},
		{name: "safety only", params: "patient=9000000009&category=http://terminology.hl7.org/CodeSystem/flag-category|safety", want: map[string]int{"cpis": 1}},
		{name: "code without system", params: "patient=9000000009&category=clinical", want: map[string]int{"fgm": 1}},
		{name: "NRAF", params: "patient=9000000009&category=NRAF", want: map[string]int{"ra": 2}},
		{name: "adjustment category", params: "patient=9000000009&category=https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1|001", want: map[string]int{"ra": 1}},
		{name: "OR", params: "patient=9000000009&category=safety,clinical", want: map[string]int{"cpis": 1, "fgm": 1}},
		{name: "AND", params: "patient=9000000009&category=NRAF&category=004", want: map[string]int{"ra": 1}},
		{name: "nothing matches", params: "patient=9000000009&category=drug", want: map[string]int{}},
		{name: "ended plans are inactive", params: "patient=9000000017&status=inactive", want: map[string]int{"cpis": 1, "ovm": 1}},
		{name: "active by default", params: "patient=9000000017", want: map[string]int{"cpis": 1}},
		{name: "every status", params: "patient=9000000017&status=active,inactive,entered-in-error", want: map[string]int{"cpis": 2, "ovm": 1}},
		{name: "RA sandbox patient", params: "patient=5900026175", want: map[string]int{"ra": 1}},
		{name: "nobody", params: "patient=9000000033", want: map[string]int{}},
		{name: "patient and subject agree", params: "patient=9000000009&subject=Patient/9000000009&category=NRAF", want: map[string]int{"ra": 2}},
		{name: "patient and subject differ", params: "patient=9000000009&subject=9000000017", want: map[string]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.search(t, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			got := prefixes(r)
			for k, n := range tc.want {
				if got[k] != n {
					t.Errorf("%s: %d flags, want %d (%v)", k, got[k], n, flagIDs(r))
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("services %v, want %v", got, tc.want)
			}
			if r.Total != len(r.Entries) || len(r.Issues) != 0 {
				t.Errorf("total %d of %d entries, issues %v", r.Total, len(r.Entries), r.Issues)
			}
		})
	}
}

// A service that cannot hold a matching flag is not asked: a category
// search for RA flags does not query CP-IS (whose unscheduled queries
// notify the local authority).
func TestFlagSearchAsksOnlyServicesThatCanMatch(t *testing.T) {
	e := newFlagEnv(t)
	ra0, cpis0, fgm0, ovm0 := e.ra.Requests(), e.cpis.Requests(), e.fgm.Requests(), e.ovm.Requests()
	if _, err := e.search(t, "patient=9000000009&category=NRAF"); err != nil {
		t.Fatal(err)
	}
	if e.ra.Requests() == ra0 || e.cpis.Requests() != cpis0 || e.fgm.Requests() != fgm0 || e.ovm.Requests() != ovm0 {
		t.Errorf("requests: RA %d, CP-IS %d, FGM-IS %d, OVM %d", e.ra.Requests()-ra0, e.cpis.Requests()-cpis0, e.fgm.Requests()-fgm0, e.ovm.Requests()-ovm0)
	}
	ra0, cpis0 = e.ra.Requests(), e.cpis.Requests()
	// (A bare code could be an RA adjustment category: RA would be asked.)
	if _, err := e.search(t, "patient=9000000009&category=urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status"); err != nil {
		t.Fatal(err)
	}
	if e.ovm.Requests() != ovm0+1 || e.ra.Requests() != ra0 || e.cpis.Requests() != cpis0 {
		t.Errorf("a chargeable status search asked RA %d, CP-IS %d, OVM %d times", e.ra.Requests()-ra0, e.cpis.Requests()-cpis0, e.ovm.Requests()-ovm0)
	}
	ra0, ovm0 = e.ra.Requests(), e.ovm.Requests()
	if _, err := e.search(t, "patient=9000000009&status=entered-in-error"); err != nil {
		t.Fatal(err)
	}
	if e.ra.Requests() != ra0 {
		t.Error("RA asked for entered-in-error flags, which it does not keep")
	}
	if e.ovm.Requests() != ovm0 {
		t.Error("OVM asked for entered-in-error flags, which it cannot hold")
	}
	if e.cpis.Accesses("9000000009") != 1 {
		t.Errorf("CP-IS recorded %d accesses: the facade's reads are silent by default", e.cpis.Accesses("9000000009")-1)
	}
}

func TestFlagProviderSearchErrors(t *testing.T) {
	e := newFlagEnv(t)
	tests := []struct {
		name   string
		params string
		expr   string
	}{
		{name: "no patient", params: "category=safety", expr: "patient"},
		{name: "invalid NHS number", params: "patient=9000000000", expr: "patient"},
		{name: "subject not a patient", params: "subject=Group/9000000009", expr: "subject"},
		{name: "bad status", params: "patient=9000000009&status=removed", expr: "status"},
		{name: "status of another system", params: "patient=9000000009&status=http://example.org|active", expr: "status"},
	}
	before := e.ra.Requests() + e.cpis.Requests() + e.fgm.Requests() + e.ovm.Requests()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.search(t, tc.params)
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != fhirerr.Invalid || fe.Expression != tc.expr {
				t.Errorf("error %#v, want Invalid at %s", err, tc.expr)
			}
		})
	}
	if after := e.ra.Requests() + e.cpis.Requests() + e.fgm.Requests() + e.ovm.Requests(); after != before {
		t.Errorf("%d backend requests for invalid searches", after-before)
	}
}

// When a service fails, the others' flags come back with an error issue
// (code incomplete) naming it; when all fail, the search fails, a timeout
// before other failures. (Issue #16: the issue was a warning, with a code
// per cause, that an app could skip and show the service's flags as none;
// the cause is now in the diagnostics, why.)
func TestFlagSearchPartialAnswers(t *testing.T) {
	e := newFlagEnv(t)
	down := &simfgm.Fault{Status: 500, Body: "internal error at fgm.internal:8443"}
	tests := []struct {
		name    string
		faults  func()
		want    map[string]int
		missing []string
		wantErr fhirerr.Category
		why     string // in the diagnostics
	}{
		{name: "FGM-IS fails", faults: func() { e.fgm.SetFault(down) },
			want: map[string]int{"ra": 2, "cpis": 1, "ovm": 1}, missing: []string{resources.SourceFGM}, why: "failed"},
		{name: "CP-IS drops the connection", faults: func() { e.cpis.SetFault(&simcpis.Fault{Drop: true}) },
			want: map[string]int{"ra": 2, "fgm": 1, "ovm": 1}, missing: []string{resources.SourceCPIS}, why: "could not be reached"},
		{name: "OVM drops the connection", faults: func() { e.ovm.SetFault(&simovm.Fault{Drop: true}) },
			want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1}, missing: []string{resources.SourceOVM}, why: "could not be reached"},
		{name: "OVM fails with an HTML page", faults: func() {
			e.ovm.SetFault(&simovm.Fault{Status: 500, Body: "<html>ovm.internal down</html>", ContentType: "text/html"})
		},
			want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1}, missing: []string{resources.SourceOVM}, why: "failed"},
		{name: "OVM refuses access", faults: func() { e.ovm.SetFault(&simovm.Fault{Status: 403, Body: `{"error":"ACCESS_DENIED"}`}) },
			want: map[string]int{"ra": 2, "cpis": 1, "fgm": 1}, missing: []string{resources.SourceOVM}, why: "refused access"},
		{name: "RA throttles", faults: func() { e.ra.SetFault(&simra.Fault{Status: 429, PathPrefix: "/Flag"}) },
			want: map[string]int{"cpis": 1, "fgm": 1, "ovm": 1}, missing: []string{resources.SourceRA}, why: "throttling"},
		{name: "two fail", faults: func() { e.fgm.SetFault(down); e.ra.SetFault(&simra.Fault{Status: 503}) },
			want: map[string]int{"cpis": 1, "ovm": 1}, missing: []string{resources.SourceRA, resources.SourceFGM}},
		{name: "all fail", faults: func() {
			e.fgm.SetFault(down)
			e.ra.SetFault(&simra.Fault{Status: 500})
			e.cpis.SetFault(&simcpis.Fault{Status: 504})
			e.ovm.SetFault(&simovm.Fault{Status: 500})
		}, wantErr: fhirerr.Timeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.faults()
			defer func() { e.ra.SetFault(nil); e.cpis.SetFault(nil); e.fgm.SetFault(nil); e.ovm.SetFault(nil) }()
			r, err := e.search(t, "patient=9000000009")
			if tc.wantErr != 0 {
				if fhirerr.CategoryOf(err) != tc.wantErr {
					t.Fatalf("error %v, want category %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := prefixes(r)
			for k, n := range tc.want {
				if got[k] != n {
					t.Errorf("%s: %d flags, want %d", k, got[k], n)
				}
			}
			if len(got) != len(tc.want) || len(r.Issues) != len(tc.missing) {
				t.Fatalf("services %v, issues %v", got, r.Issues)
			}
			for i, name := range tc.missing {
				is := r.Issues[i]
				if is.Severity != "error" || is.Code != "incomplete" || !strings.Contains(is.Diagnostics, name) || !strings.Contains(is.Diagnostics, tc.why) {
					t.Errorf("issue %+v does not name %s", is, name)
				}
				if strings.Contains(is.Diagnostics, "fgm.internal") || strings.Contains(is.Diagnostics, "ovm.internal") || strings.Contains(is.Diagnostics, "127.0.0.1") {
					t.Errorf("issue leaks backend detail: %s", is.Diagnostics)
				}
			}
		})
	}
}

// Every Flag service, failing every way SANDBOX_FAULTS names: down (503,
// 500), no answer in time, or a 200 whose body is empty, a searchset cut
// short (total above its entries) or not JSON. Each time the service is
// named by an error issue with code incomplete, and the other services'
// flags are all there: a service's flags never silently read as none
// (issue #16).
func TestFlagSearchIncompleteSources(t *testing.T) {
	// One short attempt, no breaker: each failure is seen as it is.
	e := newFlagEnvWith(t, upstream.Config{Timeout: 300 * time.Millisecond, MaxAttempts: 1, BreakerThreshold: -1})
	all := map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}
	names := map[string]string{"ra": resources.SourceRA, "cpis": resources.SourceCPIS, "fgm": resources.SourceFGM, "ovm": resources.SourceOVM}
	for _, svc := range []string{"ra", "cpis", "fgm", "ovm"} {
		for _, kind := range []fault.Kind{"503", "500", fault.Timeout, fault.Empty, fault.Truncated, fault.Malformed} {
			t.Run(svc+"="+string(kind), func(t *testing.T) {
				e.outages[svc].Set(kind)
				defer e.outages[svc].Set("")
				r, err := e.search(t, "patient=9000000009")
				if err != nil {
					t.Fatal(err)
				}
				got := prefixes(r)
				for other, n := range all {
					if other != svc && got[other] != n {
						t.Errorf("%s: %d flags, want %d", other, got[other], n)
					}
				}
				if got[svc] != 0 {
					t.Errorf("%d flags of %s", got[svc], svc)
				}
				if len(r.Issues) != 1 {
					t.Fatalf("issues %+v, want one naming %s", r.Issues, names[svc])
				}
				is := r.Issues[0]
				if is.Severity != "error" || is.Code != "incomplete" || !strings.Contains(is.Diagnostics, names[svc]) ||
					!strings.Contains(is.Diagnostics, "missing from this answer") {
					t.Errorf("issue %+v", is)
				}
				if strings.Contains(is.Diagnostics, "127.0.0.1") || strings.Contains(is.Diagnostics, "9000000009") {
					t.Errorf("issue leaks: %s", is.Diagnostics)
				}
			})
		}
	}
}

func TestFlagProviderRead(t *testing.T) {
	e := newFlagEnv(t)
	r, err := e.search(t, "patient=9000000017&status=active,inactive")
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.search(t, "patient=9000000009")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(flagIDs(r), flagIDs(all)...) {
		t.Run(id, func(t *testing.T) {
			got, err := e.flag.Read(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != id || got.Message.(*flagpb.Flag).GetId().GetValue() != id {
				t.Errorf("read %s", got.ID)
			}
		})
	}
	for _, id := range []string{"9000000009", "ra-9000000009.00000000-0000-4000-8000-000000000000", "ra-9000000000.x", "cpis-9000000009-lac",
		"fgm-9000000017-x", "cpis-x", "Flag-1", "ovm-9000000009-5b7e2c1d-3a4f-4e8b-9c6d-900000000017", "ovm-9000000000-x", "ovm-x"} {
		t.Run("not found "+id, func(t *testing.T) {
			if _, err := e.flag.Read(context.Background(), id); fhirerr.CategoryOf(err) != fhirerr.NotFound {
				t.Errorf("error %v, want not found", err)
			}
		})
	}
	e.fgm.SetFault(&simfgm.Fault{Status: 503})
	defer e.fgm.SetFault(nil)
	if _, err := e.flag.Read(context.Background(), "fgm-9000000009-FGM-ActiveFlag-Example"); fhirerr.CategoryOf(err) != fhirerr.Timeout {
		t.Errorf("read while FGM-IS is down: %v", err)
	}
	e.ovm.SetFault(&simovm.Fault{Status: 503})
	defer e.ovm.SetFault(nil)
	if _, err := e.flag.Read(context.Background(), "ovm-9000000009-5b7e2c1d-3a4f-4e8b-9c6d-900000000009"); fhirerr.CategoryOf(err) != fhirerr.Timeout {
		t.Errorf("read while OVM is down: %v", err)
	}
}

func parseFlag(t *testing.T, js string) *flagpb.Flag {
	t.Helper()
	um, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := um.Unmarshal([]byte(js))
	if err != nil {
		t.Fatalf("test flag: %v", err)
	}
	return m.(*bcrpb.ContainedResource).GetFlag()
}

func newRAFlag(nhs, extra string) string {
	return `{"resourceType":"Flag","status":"active",` + extra + `
		"category":[{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1","code":"NRAF"}]},
			{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1","code":"004"}]}],
		"code":{"coding":[{"system":"http://snomed.info/sct","code":"367741000000102","display":"Requires information verbally"}]},
		"subject":{"reference":"Patient/` + nhs + `"}}`
}

const consent = `"contained":[{"resourceType":"Consent","id":"consent","status":"active",
	"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
	"category":[{"coding":[{"system":"https://fhir.nhs.uk/STU3/CodeSystem/RARecord-FlagCategory-1","code":"NRAF"}]}],
	"patient":{"reference":"Patient/9000000017"}}],`

// Creating an RA flag for a patient without a record creates the record
// from the contained Consent first; the new flag reads back with it.
func TestFlagCreate(t *testing.T) {
	e := newFlagEnv(t)
	ctx := context.Background()

	_, err := e.flag.Create(ctx, parseFlag(t, newRAFlag("9000000017", "")))
	if fe := fhirerr.As(err); fe == nil || fe.Category != fhirerr.Unprocessable || fe.Expression != "Flag.contained" {
		t.Fatalf("without consent: %v", err)
	}
	if e.ra.HasRecord("9000000017") {
		t.Fatal("a record was created by a rejected flag")
	}

	res, err := e.flag.Create(ctx, parseFlag(t, newRAFlag("9000000017", consent)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ID, "ra-9000000017.") || res.VersionID == "" {
		t.Errorf("created %s version %q", res.ID, res.VersionID)
	}
	f := res.Message.(*flagpb.Flag)
	if len(f.GetContained()) != 1 || f.GetAuthor().GetIdentifier().GetValue().GetValue() != "X26" {
		t.Errorf("contained %d, author %v", len(f.GetContained()), f.GetAuthor())
	}
	got, err := e.flag.Read(ctx, res.ID)
	if err != nil || got.VersionID != res.VersionID {
		t.Fatalf("read back: %v %v", got, err)
	}

	// A second flag uses the existing record; its author organisation is
	// the one the client names.
	second, err := e.flag.Create(ctx, parseFlag(t, newRAFlag("9000000017", `"author":{"reference":"Organization/Y12345","display":"Example Surgery"},`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Message.(*flagpb.Flag).GetAuthor().GetIdentifier().GetValue().GetValue(); got != "Y12345" {
		t.Errorf("author %s", got)
	}
	if n := len(e.ra.Flags("9000000017")); n != 2 {
		t.Errorf("%d flags stored", n)
	}
}

func TestFlagCreateRejects(t *testing.T) {
	e := newFlagEnv(t)
	before := len(e.ra.Flags("9000000009"))
	tests := []struct {
		name string
		in   string
		expr string
	}{
		{name: "wrong category", in: strings.Replace(newRAFlag("9000000009", ""), "RARecord-FlagCategory-1", "RARecord-FlagCategory-2", 1), expr: "Flag.category[0].coding[0]"},
		{name: "wrong code system", in: strings.Replace(newRAFlag("9000000009", ""), "http://snomed.info/sct", "http://loinc.org", 1), expr: "Flag.code.coding[0]"},
		{name: "inactive", in: strings.Replace(newRAFlag("9000000009", ""), `"status":"active"`, `"status":"inactive"`, 1), expr: "Flag.status"},
		{name: "bad consent", in: newRAFlag("9000000009", strings.Replace(consent, `"status":"active"`, `"status":"draft"`, 1)), expr: "Flag.contained[0].status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.flag.Create(context.Background(), parseFlag(t, tc.in))
			if fe := fhirerr.As(err); fe == nil || fe.Category != fhirerr.Unprocessable || fe.Expression != tc.expr {
				t.Errorf("error %#v, want 422 at %s", err, tc.expr)
			}
		})
	}
	if after := len(e.ra.Flags("9000000009")); after != before {
		t.Errorf("rejected flags were written: %d → %d", before, after)
	}
}

// An RA flag is updated under its version and removed with a reason;
// CP-IS and FGM-IS flags are read-only.
func TestFlagUpdate(t *testing.T) {
	e := newFlagEnv(t)
	ctx := context.Background()
	r, err := e.search(t, "patient=9000000009&category=NRAF")
	if err != nil || len(r.Entries) == 0 {
		t.Fatalf("%v %v", r, err)
	}
	current := r.Entries[0].Resource
	id, version := current.ID, current.VersionID
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.MarshalResource(current.Message)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(status string, extra ...map[string]any) string {
		var f map[string]any
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		f["status"] = status
		exts, _ := f["extension"].([]any)
		for _, e := range extra {
			exts = append(exts, e)
		}
		f["extension"] = exts
		b, _ := json.Marshal(f)
		return string(b)
	}
	removal := edit("inactive")
	withReason := edit("inactive", map[string]any{
		"url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-RemovalReason-1",
		"extension": []any{
			map[string]any{"url": "removalReason", "valueCodeableConcept": map[string]any{"coding": []any{map[string]any{
				"system": "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-RemovalReason-1", "code": "DoesntApply"}}}},
			map[string]any{"url": "supportingComment", "valueString": "No longer needed"},
		},
	})

	tests := []struct {
		name    string
		id      string
		body    string
		ifMatch string
		want    fhirerr.Category
		issue   string
	}{
		{name: "no If-Match", id: id, body: withReason, want: fhirerr.PreconditionRequired},
		{name: "stale version", id: id, body: withReason, ifMatch: "00000000-0000-4000-8000-000000000000", want: fhirerr.PreconditionFailed},
		{name: "removal without reason", id: id, body: removal, ifMatch: version, want: fhirerr.Unprocessable},
		{name: "CP-IS flag", id: "cpis-9000000009-cpp", body: removal, ifMatch: "1", want: fhirerr.Unprocessable, issue: "business-rule"},
		{name: "FGM-IS flag", id: "fgm-9000000009-FGM-ActiveFlag-Example", body: removal, ifMatch: "1", want: fhirerr.Unprocessable, issue: "business-rule"},
		{name: "OVM flag", id: "ovm-9000000009-5b7e2c1d-3a4f-4e8b-9c6d-900000000009", body: removal, ifMatch: "1", want: fhirerr.Unprocessable, issue: "business-rule"},
		{name: "unknown RA flag", id: "ra-9000000009.00000000-0000-4000-8000-000000000000", body: removal, ifMatch: "1", want: fhirerr.MethodNotAllowed},
		{name: "not a facade id", id: "x1", body: removal, ifMatch: "1", want: fhirerr.MethodNotAllowed},
		{name: "removal (typographic ETag)", id: id, body: withReason, ifMatch: `W/"` + version + `”`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.flag.Update(ctx, tc.id, parseFlag(t, tc.body), tc.ifMatch)
			if tc.want != 0 {
				fe := fhirerr.As(err)
				if fe == nil || fe.Category != tc.want || (tc.issue != "" && fe.IssueCode != tc.issue) {
					t.Fatalf("error %#v, want category %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := res.Message.(*flagpb.Flag)
			if res.ID != id || res.VersionID == version || f.GetStatus().GetValue().String() != "INACTIVE" || f.GetPeriod().GetEnd() == nil {
				t.Errorf("updated %s version %s status %v period %v", res.ID, res.VersionID, f.GetStatus(), f.GetPeriod())
			}
		})
	}
	if r, _ := e.search(t, "patient=9000000009&status=inactive&category=NRAF"); len(r.Entries) != 1 {
		t.Errorf("removed flag not found by status=inactive: %v", flagIDs(r))
	}
}

// An overseas visitor status is active or inactive as of the provider's
// clock: the same payload maps afresh on another day (the memo keys the
// mapping by the date as well), and the read finds it with the status of
// the day.
func TestFlagOVMStatusFollowsTheClock(t *testing.T) {
	e := newFlagEnv(t)
	sim := e.ovm
	// A generated adult whose current status ends on a date after the
	// reference date.
	var nhs, end string
	for _, p := range population.Default() {
		st := sim.Statuses(p.NHSNumber)
		if len(st) > 0 && st[0].End != nil && *st[0].End > population.ReferenceDate {
			nhs, end = p.NHSNumber, *st[0].End
			break
		}
	}
	if nhs == "" {
		t.Fatal("no status ending after the reference date in the population")
	}
	endDay, _ := time.Parse(time.DateOnly, end)
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	memo, err := resources.NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(memo.Close)
	up, err := upstream.New(upstream.Config{Name: ovm.Name, BaseURL: httptestServer(t, sim) + simovm.BasePath, Token: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Time
	p := resources.NewFlag(nil, nil, nil, ovm.New(up), memo, resources.FlagOptions{Now: func() time.Time { return now }})
	tests := []struct {
		name string
		now  time.Time
		want string
	}{
		{name: "the day it ends", now: endDay.Add(20 * time.Hour), want: "active"},
		{name: "the day after", now: endDay.AddDate(0, 0, 1), want: "inactive"},
		// Half past midnight in England on the day after: still the end day
		// in UTC while British Summer Time is on.
		{name: "after midnight in England", now: time.Date(endDay.Year(), endDay.Month(), endDay.Day()+1, 0, 30, 0, 0, london).UTC(), want: "inactive"},
		{name: "before midnight in England", now: time.Date(endDay.Year(), endDay.Month(), endDay.Day(), 23, 30, 0, 0, london).UTC(), want: "active"},
		{name: "back on the last day (memoised)", now: endDay, want: "active"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.now
			r, err := p.Search(context.Background(), &resources.Query{Params: url.Values{"patient": {nhs}, "status": {tc.want}, "category": {"urn:carerecords-facade:flag-category|overseas-visitor-chargeable-status"}}, Count: 20})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Entries) == 0 {
				t.Fatalf("no %s flag", tc.want)
			}
			id := r.Entries[0].Resource.ID
			got, err := p.Read(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if st := got.Message.(*flagpb.Flag).GetStatus().GetValue().String(); !strings.EqualFold(st, tc.want) {
				t.Errorf("read %s: %s, want %s", id, st, tc.want)
			}
		})
	}
}

func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
