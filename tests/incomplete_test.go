package tests

import (
	"encoding/json"
	"html"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/sandbox"
	"github.com/carerecords/fhir-facade/sandbox/fault"
)

// Issue #16, "missing data can read as none": a source that failed, timed
// out, or answered an empty, truncated or malformed body is named by an
// OperationOutcome entry of severity error and code incomplete, in every
// search and operation, and the other sources' records are all there.

// outageKinds are the failures every source is tried with: the kinds
// SANDBOX_FAULTS offers app developers.
var outageKinds = []fault.Kind{"503", fault.Timeout, fault.Empty, fault.Truncated, fault.Malformed}

// incompleteIssues returns the diagnostics of a searchset's error issues
// with code incomplete, and fails the test on any other error issue.
func incompleteIssues(t *testing.T, r response) []string {
	t.Helper()
	_, outcomes := entries(t, r)
	var out []string
	for _, o := range outcomes {
		for _, i := range resourceOf(o)["issue"].([]any) {
			is := i.(map[string]any)
			d, _ := is["diagnostics"].(string)
			switch {
			case is["severity"] == "error" && is["code"] == "incomplete":
				out = append(out, d)
			case is["severity"] == "error":
				t.Errorf("error issue with code %v: %s", is["code"], d)
			}
		}
	}
	return out
}

// naming reports whether one of issues names source as missing.
func naming(issues []string, source string) bool {
	for _, d := range issues {
		if strings.HasPrefix(d, source+" could not be reached or read") && strings.Contains(d, "missing from this answer") {
			return true
		}
	}
	return false
}

// summaryCounts counts a $summary's matches: Patient, AllergyIntolerance,
// MedicationStatement, Immunization, DocumentReference by type, Flags by
// service (ra, cpis, fgm, ovm).
func summaryCounts(t *testing.T, r response) map[string]int {
	t.Helper()
	matches, _ := entries(t, r)
	n := map[string]int{}
	for _, m := range matches {
		res := resourceOf(m)
		typ := res["resourceType"].(string)
		if typ == "Flag" {
			svc, _, _ := strings.Cut(res["id"].(string), "-")
			typ = svc
		}
		n[typ]++
	}
	return n
}

// TestIncompleteSummary fails each backend of Patient/$summary each way
// (SANDBOX_FAULTS's kinds, through Sandbox.SetOutage): the answer is 200,
// names the missing source (an error issue, code incomplete), and holds
// every other source's records.
func TestIncompleteSummary(t *testing.T) {
	sb := env.app.Sandbox
	const path = "/Patient/9000000009/$summary"
	full := get(t, path)
	if full.status != 200 {
		t.Fatalf("with every backend up: %d %.300s", full.status, full.raw)
	}
	// What the answer says with every simulator up (nothing, unless a
	// provider reports a problem of its own): each outage must add to it.
	before := incompleteIssues(t, full)
	want := summaryCounts(t, full)
	// Each simulator, the sources of $summary it feeds (as named in the
	// answer) and the entries it gives (keys of summaryCounts). The
	// Immunization provider queries one history per disease and names each
	// it could not read in its own words, showing the records it could
	// (resources/immunization.go): for it, own is how its issues read.
	// whole is a kind under which the backend's answer still holds every
	// record the facade serves, so nothing may be named missing: the SCR's
	// summary is its Composition, and a truncated GET /Bundle leaves out
	// its last entry, the Patient, which the facade does not serve.
	backends := []struct {
		name    string
		sources []string
		gives   []string
		own     func(string) bool
		whole   fault.Kind
	}{
		{"pds", []string{"Patient (PDS)", "RelatedPerson"}, []string{"Patient", "RelatedPerson"}, func(d string) bool {
			// RelatedPerson names a part-read answer in its own words.
			return strings.HasPrefix(d, "Patient (PDS) could not be reached or read") || strings.HasPrefix(d, "RelatedPerson could not be")
		}, ""},
		{"scr", []string{"AllergyIntolerance", "MedicationStatement"}, []string{"AllergyIntolerance", "MedicationStatement"}, nil, fault.Truncated},
		{"ra", []string{resources.SourceRA}, []string{"ra"}, nil, ""},
		{"cpis", []string{resources.SourceCPIS}, []string{"cpis"}, nil, ""},
		{"fgm", []string{resources.SourceFGM}, []string{"fgm"}, nil, ""},
		{"ovm", []string{resources.SourceOVM}, []string{"ovm"}, nil, ""},
		{"nrl", []string{"DocumentReference"}, []string{"DocumentReference"}, nil, ""},
		{"imms", []string{"Immunization"}, []string{"Immunization"}, func(d string) bool {
			return strings.HasPrefix(d, "Immunization could not be reached or read") || strings.Contains(d, "immunisation record's")
		}, ""},
	}
	// The simulators' own addresses, which no answer may show.
	var hosts []string
	for _, u := range []string{sb.PDSBaseURL, sb.SCRBaseURL, sb.RABaseURL, sb.CPISBaseURL, sb.FGMBaseURL, sb.OVMBaseURL, sb.NRLBaseURL, sb.ImmsBaseURL} {
		host, _, _ := strings.Cut(strings.TrimPrefix(u, "http://"), "/")
		hosts = append(hosts, host)
	}
	for _, b := range backends {
		for _, k := range outageKinds {
			t.Run(b.name+"="+string(k), func(t *testing.T) {
				if err := sb.SetOutage(b.name, k); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = sb.SetOutage(b.name, "") }()
				r := get(t, path)
				if r.status != 200 {
					t.Fatalf("status %d: %.500s", r.status, r.raw)
				}
				issues := without(incompleteIssues(t, r), before)
				if k == b.whole {
					if got := summaryCounts(t, r); len(issues) != 0 || !maps.Equal(got, want) {
						t.Errorf("entries %v, issues %q: want every record (%v) and no issue", got, issues, want)
					}
					for _, code := range sectionsFed[b.name] {
						if got, was := emptyReason(summarySection(t, r, code)), emptyReason(summarySection(t, full, code)); got != was {
							t.Errorf("section %s: emptyReason %q, %q with every backend up", code, got, was)
						}
					}
					return
				}
				// The document's sections it feeds say it: records kept
				// and marked incomplete, or none and unavailable; never
				// "nil known".
				_, outcomes := entries(t, r)
				for _, code := range sectionsFed[b.name] {
					sec := summarySection(t, r, code)
					refs, text := sectionRefs(sec), html.UnescapeString(sectionText(sec))
					switch {
					case len(refs) == 0 && emptyReason(sec) != "unavailable":
						t.Errorf("section %s: no records, emptyReason %q, want unavailable: %s", code, emptyReason(sec), text)
					case len(refs) > 0 && (len(outcomes) != 1 || !slices.Contains(refs, outcomes[0]["fullUrl"].(string)) || !strings.Contains(text, "may be incomplete")):
						t.Errorf("section %s: records %v not marked incomplete: %s", code, refs, text)
					}
				}
				if b.own != nil {
					if len(issues) == 0 || slices.ContainsFunc(issues, func(d string) bool { return !b.own(d) }) {
						t.Errorf("issues %q, want the %s provider's own", issues, b.name)
					}
				} else {
					for _, s := range b.sources {
						if !naming(issues, s) {
							t.Errorf("%s is not named missing: issues %q", s, issues)
						}
					}
					if len(issues) != len(b.sources) {
						t.Errorf("issues %q, want one per source of %s", issues, b.name)
					}
				}
				got := summaryCounts(t, r)
				for typ, n := range want {
					gone := false
					for _, g := range b.gives {
						gone = gone || g == typ
					}
					switch {
					case gone && b.own != nil && got[typ] >= max(n, 1):
						t.Errorf("%d %s entries from a failed backend, want fewer than %d", got[typ], typ, n)
					case gone && b.own == nil && got[typ] != 0:
						t.Errorf("%d %s entries from a failed backend", got[typ], typ)
					case !gone && got[typ] != n:
						t.Errorf("%s: %d entries, want %d (the other sources' records)", typ, got[typ], n)
					}
				}
				for _, leak := range append([]string{"simulated outage"}, hosts...) {
					if strings.Contains(string(r.raw), leak) {
						t.Errorf("the answer leaks %q", leak)
					}
				}
			})
		}
	}
	if r := get(t, path); r.status != 200 || len(without(incompleteIssues(t, r), before)) != 0 {
		t.Errorf("after the outages: %d %.300s", r.status, r.raw)
	}
}

// sectionsFed are the $summary document's sections (LOINC) each simulator
// feeds.
var sectionsFed = map[string][]string{
	"scr": {"48765-2", "10160-0"}, "ra": {"104605-1"}, "cpis": {"104605-1"}, "fgm": {"104605-1"}, "ovm": {"104605-1"},
	"nrl": {"55107-7"}, "imms": {"11369-6"},
}

// without is issues less those in seen.
func without(issues, seen []string) []string {
	var out []string
	for _, is := range issues {
		if !slices.Contains(seen, is) {
			out = append(out, is)
		}
	}
	return out
}

// TestIncompleteFlagSearch: the same for a Flag search, each of its four
// services failing each way.
func TestIncompleteFlagSearch(t *testing.T) {
	sb := env.app.Sandbox
	const path = "/Flag?patient=9000000009"
	names := map[string]string{"ra": resources.SourceRA, "cpis": resources.SourceCPIS, "fgm": resources.SourceFGM, "ovm": resources.SourceOVM}
	all := map[string]int{"ra": 2, "cpis": 1, "fgm": 1, "ovm": 1}
	for _, svc := range []string{"ra", "cpis", "fgm", "ovm"} {
		for _, k := range outageKinds {
			t.Run(svc+"="+string(k), func(t *testing.T) {
				if err := sb.SetOutage(svc, k); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = sb.SetOutage(svc, "") }()
				r := get(t, path)
				if r.status != 200 {
					t.Fatalf("status %d: %.500s", r.status, r.raw)
				}
				issues := incompleteIssues(t, r)
				if len(issues) != 1 || !naming(issues, names[svc]) {
					t.Errorf("issues %q, want one naming %s", issues, names[svc])
				}
				matches, _ := entries(t, r)
				got := flagServices(t, matches)
				for other, n := range all {
					if want := map[bool]int{true: 0, false: n}[other == svc]; got[other] != want {
						t.Errorf("%s: %d flags, want %d", other, got[other], want)
					}
				}
			})
		}
	}
}

// TestSandboxFaultsEnv: SANDBOX_FAULTS is read into the sandbox's options,
// refused with a clear error when it names no simulator or kind, or a
// backend that is not the embedded simulator; a facade started with it has
// the named simulator failing, from the first request.
func TestSandboxFaultsEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    sandbox.Faults
		wantErr string
	}{
		{name: "unset", env: nil, want: nil},
		{name: "three", env: map[string]string{"SANDBOX_FAULTS": "fgm=503,cpis=timeout,imms=empty"},
			want: sandbox.Faults{"fgm": "503", "cpis": fault.Timeout, "imms": fault.Empty}},
		{name: "unknown simulator", env: map[string]string{"SANDBOX_FAULTS": "gp=503"}, wantErr: `SANDBOX_FAULTS: unknown simulator "gp"`},
		{name: "unknown kind", env: map[string]string{"SANDBOX_FAULTS": "cpis=slow"}, wantErr: `SANDBOX_FAULTS: cpis: unknown fault "slow"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := app.FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Sandbox.Faults.String() != tt.want.String() {
				t.Errorf("faults %v, want %v", cfg.Sandbox.Faults, tt.want)
			}
		})
	}

	t.Run("a configured backend cannot be failed", func(t *testing.T) {
		cfg, err := app.FromEnv(func(k string) string {
			return map[string]string{"SANDBOX_FAULTS": "cpis=503", "CPIS_BASE_URL": "https://cpis.example/cpis/FHIR/R4"}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Logger = logrus.New()
		cfg.Logger.SetOutput(io.Discard)
		a, err := app.New(cfg)
		if err == nil {
			a.Close()
			t.Fatal("a facade started with SANDBOX_FAULTS naming a configured backend")
		}
		if !strings.Contains(err.Error(), "SANDBOX_FAULTS names cpis") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("the named simulator fails", func(t *testing.T) {
		cfg, err := app.FromEnv(func(k string) string {
			return map[string]string{"SANDBOX_FAULTS": "fgm=503,cpis=truncated"}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.BackendTimeout = backendTimeout
		a, ts := startOwnFacade(t, cfg)
		if got := a.Sandbox.Outages(); got.String() != "cpis=truncated,fgm=503" {
			t.Errorf("outages %v", got)
		}
		resp, err := http.Get(ts.URL + "/fhir/Flag?patient=9000000009")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		r := response{status: resp.StatusCode, raw: raw}
		if err := json.Unmarshal(raw, &r.body); err != nil || r.status != 200 {
			t.Fatalf("%d %s", r.status, raw)
		}
		issues := incompleteIssues(t, r)
		if len(issues) != 2 || !naming(issues, resources.SourceFGM) || !naming(issues, resources.SourceCPIS) {
			t.Errorf("issues %q, want FGM-IS and CP-IS named", issues)
		}
		matches, _ := entries(t, r)
		if got := flagServices(t, matches); got["ra"] != 2 || got["ovm"] != 1 || got["fgm"] != 0 || got["cpis"] != 0 {
			t.Errorf("flags %v", got)
		}
	})
}

// TestIncompleteSCRConsentAndNoInformation: the SCR's two answers that are
// not "none" are said, in searches and in $summary. Consent withheld is a
// warning, code suppressed (issue #16: it was information, easy to skip);
// a category the summary states holds "No relevant information" is an
// information issue saying so (it was an empty list with no outcome).
func TestIncompleteSCRConsentAndNoInformation(t *testing.T) {
	issuesOf := func(t *testing.T, r response) []map[string]any {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %.300s", r.status, r.raw)
		}
		_, outcomes := entries(t, r)
		var out []map[string]any
		for _, o := range outcomes {
			for _, is := range resourceOf(o)["issue"].([]any) {
				out = append(out, is.(map[string]any))
			}
		}
		return out
	}
	has := func(issues []map[string]any, severity, code, phrase string) bool {
		for _, is := range issues {
			d, _ := is["diagnostics"].(string)
			if is["severity"] == severity && is["code"] == code && strings.Contains(d, phrase) {
				return true
			}
		}
		return false
	}
	const optOut = "9000000017" // the SCR simulator's patient with consent No
	for _, path := range []string{"/AllergyIntolerance?patient=" + optOut, "/MedicationStatement?patient=" + optOut, "/Patient/" + optOut + "/$summary"} {
		if is := issuesOf(t, get(t, path)); !has(is, "warning", "suppressed", "withheld consent") {
			t.Errorf("%s: issues %v, want a warning (suppressed) saying consent was withheld", path, is)
		}
	}
	// 9000000009's summary states no relevant information for its
	// discontinued repeats.
	const discontinued = "no relevant information on discontinued repeat medications"
	for _, path := range []string{"/MedicationStatement?patient=9000000009", "/Patient/9000000009/$summary"} {
		if is := issuesOf(t, get(t, path)); !has(is, "information", "informational", discontinued) {
			t.Errorf("%s: issues %v, want information saying %q", path, is, discontinued)
		}
	}
	if is := issuesOf(t, get(t, "/AllergyIntolerance?patient=9000000009")); has(is, "information", "informational", "no relevant information") {
		t.Errorf("allergies: issues %v name a medication category", is)
	}
}
