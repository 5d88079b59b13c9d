package immunisation_test

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/immunisation"
	"github.com/carerecords/fhir-facade/mappers/internal/goldentest"
	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// golden is what a golden file holds for an answer the mapper reads: every
// mapped resource as jsonformat prints it, what it left out, and how many
// records the answer counts but does not hold.
type golden struct {
	Resources  []json.RawMessage `json:"resources"`
	Unreadable []string          `json:"unreadable,omitempty"`
	Missing    int               `json:"missing,omitempty"`
}

// refused is what a golden file holds for an answer the mapper refuses: the
// error as it may be logged.
type refused struct {
	Error string `json:"error"`
}

func render(t *testing.T, h *immunisation.History) []byte {
	t.Helper()
	g := golden{Resources: goldentest.Compact(t, h.Immunizations...), Missing: h.Missing}
	for _, e := range h.Unreadable {
		g.Unreadable = append(g.Unreadable, e.Describe())
	}
	return goldentest.JSON(t, g)
}

// contentID is the form of the id of a record without one of its own.
var contentID = regexp.MustCompile(`^\d{10}-x[0-9a-f]{32}$`)

// TestGolden maps every testdata/<case>.in.json (see testdata/README.md) and
// compares the result with <case>.golden.json: the mapped resources and what
// was left out, or the refusal. Every resource of a golden is also (a)
// valid against the FHIR R4 JSON schema, (b) parsed back by jsonformat with
// validation, and (c) the input's record with exactly the documented
// changes; the mapping is stable (the same ids twice).
func TestGolden(t *testing.T) {
	cs := goldentest.ReadCases[string](t) // case → the NHS number it is asked for
	names := goldentest.Run(t, 1, func(t *testing.T, c goldentest.Case) {
		nhs := goldentest.Lookup(t, cs, c.Name)
		h, err := immunisation.Map(c.Raw, nhs)
		if err != nil {
			if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
				t.Errorf("category %v", fhirerr.CategoryOf(err))
			}
			goldentest.Check(t, c.Golden, goldentest.JSON(t, refused{Error: fhirerr.LogString(err)}))
			return
		}
		want := goldentest.Check(t, c.Golden, render(t, h))
		var g golden
		if err := json.Unmarshal(want, &g); err != nil {
			t.Fatal(err)
		}
		skip := map[int]bool{}
		for _, e := range h.Unreadable {
			skip[e.Entry] = true
		}
		records := expected(t, c.Raw, nhs, skip, g.Resources)
		if len(records) != len(g.Resources) {
			t.Fatalf("%d resources for %d records", len(g.Resources), len(records))
		}
		goldentest.ParseBack(t, g.Resources)
		for i, r := range g.Resources {
			if got := goldentest.DecodeAny(t, r); !reflect.DeepEqual(got, records[i]) {
				w, _ := json.Marshal(records[i])
				t.Errorf("resource %d is not the record with the documented changes:\n got %s\nwant %s", i, r, w)
			}
		}
		again, err := immunisation.Map(c.Raw, nhs)
		if err != nil || !reflect.DeepEqual(render(t, again), want) {
			t.Error("a second mapping differs")
		}
	})
	goldentest.RequireGenerated(t, names)
}

// expected applies the package's documented changes to every Immunization of
// the payload not in skip, as generic JSON: what each golden resource must
// equal. A record without an id takes the id of the golden resource in its
// place, which must have the form of a content id.
func expected(t *testing.T, raw []byte, nhs string, skip map[int]bool, got []json.RawMessage) []any {
	t.Helper()
	b := goldentest.DecodeAny(t, raw).(map[string]any)
	var out []any
	es, _ := b["entry"].([]any)
	for i, e := range es {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] != "Immunization" || skip[i] {
			continue
		}
		if key, _ := r["id"].(string); key != "" {
			r["id"] = immunisation.ID(nhs, key)
		} else if len(out) < len(got) {
			id, _ := goldentest.DecodeAny(t, got[len(out)]).(map[string]any)["id"].(string)
			if !contentID.MatchString(id) || !strings.HasPrefix(id, nhs+"-") {
				t.Errorf("record %d has no id of its own, and the id %q is not a content id", i, id)
			}
			r["id"] = id
		}
		r["patient"] = map[string]any{"reference": "Patient/" + nhs, "type": "Patient",
			"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}}
		kept := map[string]any{"profile": []any{ukprofile.Immunization}}
		if m, ok := r["meta"].(map[string]any); ok {
			for _, k := range []string{"lastUpdated", "security"} {
				if v, ok := m[k]; ok {
					kept[k] = v
				}
			}
		}
		r["meta"] = kept
		if sr, ok := r["statusReason"].([]any); ok {
			delete(r, "statusReason")
			if len(sr) > 0 {
				r["statusReason"] = sr[0]
			}
		}
		for _, k := range []string{"statusReason", "reportOrigin", "site", "route", "fundingSource"} {
			if m, ok := r[k].(map[string]any); ok && len(m) == 0 {
				delete(r, k)
			}
		}
		dropNullDisplays(r["extension"])
		ps, _ := r["performer"].([]any)
		for _, p := range ps {
			if a, ok := p.(map[string]any)["actor"].(map[string]any); ok && a["type"] == "Organisation" {
				a["type"] = "Organization"
			}
		}
		out = append(out, goldentest.ZeroOffsetsAsZ(r))
	}
	return out
}

// dropNullDisplays is the documented change to extension codings whose
// display is the string "null" (the public sandbox's vaccination procedure).
func dropNullDisplays(v any) {
	exts, _ := v.([]any)
	for _, e := range exts {
		m, _ := e.(map[string]any)
		if cc, ok := m["valueCodeableConcept"].(map[string]any); ok {
			cs, _ := cc["coding"].([]any)
			for _, c := range cs {
				if cm, ok := c.(map[string]any); ok && cm["display"] == "null" {
					delete(cm, "display")
				}
			}
		}
		dropNullDisplays(m["extension"])
	}
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name + ".in.json")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestRealSandbox9000000009 spells out what the public sandbox's answers
// for 9000000009 map to.
func TestRealSandbox9000000009(t *testing.T) {
	covid, err := immunisation.Map(read(t, "real_sandbox_9000000009_covid19"), "9000000009")
	if err != nil || !covid.Complete() || len(covid.Immunizations) != 2 {
		t.Fatalf("COVID19: %v, %+v", err, covid)
	}
	done, notDone := covid.Immunizations[0], covid.Immunizations[1]
	if done.GetStatus().GetValue().String() != "COMPLETED" || done.GetStatusReason() != nil ||
		done.GetPatient().GetPatientId().GetValue() != "9000000009" ||
		done.GetVaccineCode().GetCoding()[0].GetCode().GetValue() != "39114911000001105" ||
		done.GetLotNumber().GetValue() != "R04X" || done.GetReportOrigin() != nil ||
		done.GetProtocolApplied()[0].GetDoseNumber().GetPositiveInt().GetValue() != 1 ||
		done.GetPerformer()[0].GetActor().GetIdentifier().GetValue().GetValue() != "RX809" {
		t.Errorf("first %v", done)
	}
	// The vaccination that was not given stays not given, with its reason.
	if notDone.GetStatus().GetValue().String() != "NOT_DONE" || notDone.GetStatusReason().GetCoding()[0].GetCode().GetValue() != "310376006" {
		t.Errorf("second %v", notDone)
	}
	ids := map[string]bool{}
	for _, im := range covid.Immunizations {
		id := im.GetId().GetValue()
		if !contentID.MatchString(id) || ids[id] {
			t.Errorf("id %s", id)
		}
		ids[id] = true
	}
	// The same record in another answer (a date filter) has the same id,
	// so a read finds what a search listed.
	until, err := immunisation.Map(read(t, "real_sandbox_9000000009_covid19_date_to_2020-12-20"), "9000000009")
	if err != nil || len(until.Immunizations) != 1 || until.Immunizations[0].GetId().GetValue() != done.GetId().GetValue() {
		t.Errorf("date.to=2020-12-20: %v %+v", err, until)
	}
	// The flu record has the COVID-19 record's identifier, but is another
	// record, with another id.
	flu, err := immunisation.Map(read(t, "real_sandbox_9000000009_flu"), "9000000009")
	if err != nil || !flu.Complete() || len(flu.Immunizations) != 1 || ids[flu.Immunizations[0].GetId().GetValue()] {
		t.Errorf("FLU: %v %+v", err, flu)
	}
	// Every HPV record is 9912003993's: the answer is refused, naming the
	// first, and quoting neither number.
	_, err = immunisation.Map(read(t, "real_sandbox_9000000009_hpv"), "9000000009")
	if fhirerr.CategoryOf(err) != fhirerr.BadGateway || !strings.Contains(err.Error(), "entry[0]: the Immunization is another patient's") {
		t.Errorf("HPV: %v", err)
	}
	for _, s := range []string{fhirerr.LogString(err), fhirerr.As(err).Message} {
		if strings.Contains(s, "9912003993") || strings.Contains(s, "9000000009") {
			t.Errorf("%q quotes an NHS number", s)
		}
	}
	empty, err := immunisation.Map(read(t, "real_sandbox_9000000033_empty"), "9000000033")
	if err != nil || !empty.Complete() || len(empty.Immunizations) != 0 {
		t.Errorf("9000000033: %v %+v", err, empty)
	}
	// The included Patient's birth date (1965-02-28, as recorded at
	// vaccination) is nowhere in what the facade serves.
	if strings.Contains(string(render(t, covid)), "1965-02-28") {
		t.Error("the included Patient's demographics leaked into the mapping")
	}
}

// TestOpenAPIExample9000000009: the specification's example keeps the
// API's ids.
func TestOpenAPIExample9000000009(t *testing.T) {
	h, err := immunisation.Map(read(t, "openapi_example_9000000009"), "9000000009")
	if err != nil || !h.Complete() || len(h.Immunizations) != 2 {
		t.Fatalf("%v %+v", err, h)
	}
	if a, b := h.Immunizations[0].GetId().GetValue(), h.Immunizations[1].GetId().GetValue(); a != "9000000009-90640007.747583-127" || b != "9000000009-90640007.747583-128" {
		t.Errorf("ids %s, %s", a, b)
	}
}

func TestIDs(t *testing.T) {
	tests := []struct {
		name, nhs, key, want string
	}{
		{name: "the API's id", nhs: "9000000009", key: "90640007.747583-127", want: "9000000009-90640007.747583-127"},
		{name: "longest that fits", nhs: "9000000009", key: strings.Repeat("a", 53), want: "9000000009-" + strings.Repeat("a", 53)},
		{name: "too long", nhs: "9000000009", key: strings.Repeat("a", 54), want: "9000000009-x"},
		{name: "characters an id may not hold", nhs: "9000000009", key: "a/b", want: "9000000009-x"},
		{name: "content", nhs: "9000000033", key: "\x00content\x00{\"status\":\"completed\"}", want: "9000000033-x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := immunisation.ID(tt.nhs, tt.key)
			if strings.HasSuffix(tt.want, "-x") {
				if !strings.HasPrefix(id, tt.want) || len(id) != len(tt.want)+32 {
					t.Errorf("ID = %s, want %s + 32 hex digits", id, tt.want)
				}
			} else if id != tt.want {
				t.Errorf("ID = %s, want %s", id, tt.want)
			}
			if id != immunisation.ID(tt.nhs, tt.key) {
				t.Error("ID is not stable")
			}
			nhs, ok := immunisation.ParseID(id)
			if !ok || nhs != tt.nhs {
				t.Errorf("ParseID(%s) = %s, %v", id, nhs, ok)
			}
		})
	}
	for _, bad := range []string{"", "9000000009", "9000000009-", "9000000000-90640007.747583-127", "900000000-990640007.747583-127",
		"9000000009_90640007", "9000000009-a/b", "9000000009-" + strings.Repeat("a", 54)} {
		if _, ok := immunisation.ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

// bundle builds a GET /Immunization payload from entries (JSON objects),
// with total when it is not negative.
func bundleTotal(total int, entries ...string) []byte {
	t := ""
	if total >= 0 {
		t = `"total":` + strconv.Itoa(total) + `,`
	}
	return []byte(`{"resourceType":"Bundle","type":"searchset",` + t + `"entry":[` + strings.Join(entries, ",") + `]}`)
}

func bundle(entries ...string) []byte { return bundleTotal(-1, entries...) }

func record(id, patient, extra string) string {
	return `{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Immunization","id":"` + id + `","status":"completed",` +
		`"vaccineCode":{"coding":[{"system":"http://snomed.info/sct","code":"39114911000001105"}]},"patient":` + patient +
		`,"occurrenceDateTime":"2020-12-10T13:00:08.476Z"` + extra + `},"search":{"mode":"match"}}`
}

func includedPatient(fullURL, nhs string) string {
	return `{"fullUrl":"` + fullURL + `","resource":{"resourceType":"Patient","id":"P1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}],"birthDate":"1965-02-28"},"search":{"mode":"include"}}`
}

const (
	byIdentifier = `{"reference":"urn:uuid:p","type":"Patient","identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}}`
	byReference  = `{"reference":"urn:uuid:p","type":"Patient"}`
	consent      = `{"coding":[{"system":"http://snomed.info/sct","code":"310376006","display":"Immunization consent not given"}]}`
	unwell       = `{"coding":[{"system":"http://snomed.info/sct","code":"213257006","display":"Generally unwell (finding)"}]}`
)

// notDone is a record of a vaccination not given, with extra elements.
func notDone(extra string) string {
	return strings.Replace(record("A", byIdentifier, extra), `"completed"`, `"not-done"`, 1)
}

// TestMapEntries: what Map makes of each shape of answer. An entry it
// cannot read is left out and named, the others kept; an answer it cannot
// read, or that holds another patient's record, is refused.
func TestMapEntries(t *testing.T) {
	good := record("B", byIdentifier, "")
	tests := []struct {
		name       string
		raw        []byte
		n          int
		unreadable []string // Describe of each entry left out
		missing    int
		reason     string // statusReason code of the first record
		wantErr    string // the whole answer refused
	}{
		{name: "by identifier", raw: bundle(record("A", byIdentifier, "")), n: 1},
		{name: "by reference to the included Patient", raw: bundle(record("A", byReference, ""), includedPatient("urn:uuid:p", "9000000009")), n: 1},
		{name: "by relative reference", raw: bundle(record("A", `{"reference":"Patient/P1"}`, ""), includedPatient("urn:uuid:p", "9000000009")), n: 1},
		{name: "empty", raw: []byte(`{"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}`), n: 0},
		{name: "no vaccination, the Patient included", raw: bundleTotal(0, includedPatient("urn:uuid:p", "9000000009")), n: 0},
		{name: "entries of other types ignored", raw: bundleTotal(1, good, `{"resource":{"resourceType":"OperationOutcome","issue":[]},"search":{"mode":"outcome"}}`), n: 1},

		// not-done, and its reason in each shape.
		{name: "not done, reason an array", raw: bundle(notDone(`,"statusReason":[` + consent + `]`)), n: 1, reason: "310376006"},
		{name: "reason a CodeableConcept", raw: bundle(notDone(`,"statusReason":` + consent)), n: 1, reason: "310376006"},
		{name: "two reasons: the first kept", raw: bundle(notDone(`,"statusReason":[` + consent + `,` + unwell + `]`)), n: 1, reason: "310376006"},
		{name: "no reason", raw: bundle(notDone(`,"statusReason":[]`)), n: 1},
		{name: "empty reportOrigin left out", raw: bundle(record("A", byIdentifier, `,"reportOrigin":{}`)), n: 1},

		// One bad entry: named, the others kept.
		{name: "reason a string", raw: bundle(notDone(`,"statusReason":"consent"`), good), n: 1,
			unreadable: []string{"entry[0] could not be read: cannot read the Immunization: statusReason has the wrong JSON type (want an array or an object)"}},
		{name: "bad recorded", raw: bundle(good, record("A", byIdentifier, `,"recorded":"10-Dec-2020"`)), n: 1,
			unreadable: []string{"entry[1] Immunization.recorded could not be read (invalid value)"}},
		{name: "bad status", raw: []byte(strings.Replace(string(bundle(record("A", byIdentifier, ""), good)), `"completed"`, `"given"`, 1)), n: 1,
			unreadable: []string{"entry[0] Immunization.status could not be read (invalid value)"}},
		{name: "wrong JSON type", raw: bundle(record("A", byIdentifier, `,"lotNumber":12345`), good), n: 1,
			unreadable: []string{"entry[0] could not be read: cannot read the Immunization: Immunization.lotNumber has the wrong JSON type (want string)"}},
		{name: "no patient", raw: bundle(record("A", `null`, ""), good), n: 1, unreadable: []string{"entry[0] could not be read: the Immunization has no patient"}},
		{name: "reference to nothing", raw: bundle(record("A", byReference, ""), good), n: 1,
			unreadable: []string{"entry[0] could not be read: the Immunization does not say whose it is (no NHS number in patient, nor in the Patient it references)"}},
		{name: "an entry without a resource", raw: bundle(`{"fullUrl":"urn:uuid:9"}`, good), n: 1,
			unreadable: []string{"entry[0] could not be read: the entry holds no resource the facade can read"}},
		{name: "a resource without a type", raw: bundle(`{"resource":{"status":"completed"}}`, good), n: 1,
			unreadable: []string{"entry[0] could not be read: the entry holds no resource the facade can read"}},
		{name: "same record twice", raw: bundle(record("A", byIdentifier, ""), record("A", byIdentifier, "")), n: 1},
		{name: "same id, other records", raw: bundle(record("A", byIdentifier, ""), record("A", byIdentifier, `,"lotNumber":"X1"`)), n: 1,
			unreadable: []string{"entry[1] could not be read: the record has the id of another record in this answer"}},
		{name: "every entry bad", raw: bundleTotal(2, record("A", `null`, ""), record("B", `null`, "")), n: 0,
			unreadable: []string{"entry[0] could not be read: the Immunization has no patient", "entry[1] could not be read: the Immunization has no patient"}},

		// The count.
		{name: "total agrees", raw: bundleTotal(1, good, includedPatient("urn:uuid:p", "9000000009")), n: 1},
		{name: "total more than the entries", raw: bundleTotal(3, good, includedPatient("urn:uuid:p", "9000000009")), n: 1, missing: 2},
		{name: "total but no entries", raw: []byte(`{"resourceType":"Bundle","type":"searchset","total":2}`), n: 0, missing: 2},
		{name: "an unreadable entry is counted once", raw: bundleTotal(2, record("A", `null`, ""), good), n: 1,
			unreadable: []string{"entry[0] could not be read: the Immunization has no patient"}},

		// The whole answer refused.
		{name: "another patient's record", raw: bundle(good, record("A", strings.Replace(byIdentifier, "9000000009", "9000000017", 1), "")),
			wantErr: "entry[1]: the Immunization is another patient's (patient.identifier)"},
		{name: "another patient's by reference", raw: bundle(record("A", byReference, ""), includedPatient("urn:uuid:p", "9000000017")),
			wantErr: "entry[1]: the included Patient is another patient"},
		{name: "another patient included", raw: bundle(good, includedPatient("urn:uuid:p", "9000000017")), wantErr: "entry[1]: the included Patient is another patient"},
		{name: "empty body", raw: nil, wantErr: "the answer is empty"},
		{name: "blank body", raw: []byte(" \n"), wantErr: "the answer is empty"},
		{name: "not JSON", raw: []byte(`<html>9000000009</html>`), wantErr: "cannot read the Bundle"},
		{name: "truncated JSON", raw: bundle(good)[:60], wantErr: "cannot read the Bundle"},
		{name: "null", raw: []byte(`null`), wantErr: "it is not a Bundle"},
		{name: "not a Bundle", raw: []byte(`{"resourceType":"OperationOutcome","issue":[]}`), wantErr: "it is not a Bundle"},
		{name: "not a searchset", raw: []byte(`{"resourceType":"Bundle","type":"batch"}`), wantErr: "not a searchset"},
		{name: "entry not an array", raw: []byte(`{"resourceType":"Bundle","type":"searchset","entry":{}}`), wantErr: "cannot read the Bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := immunisation.Map(tt.raw, "9000000009")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range h.Unreadable {
					got = append(got, e.Describe())
				}
				if len(h.Immunizations) != tt.n || strings.Join(got, "\n") != strings.Join(tt.unreadable, "\n") || h.Missing != tt.missing {
					t.Errorf("%d records, unreadable %q, missing %d; want %d, %q, %d", len(h.Immunizations), got, h.Missing, tt.n, tt.unreadable, tt.missing)
				}
				if h.Complete() != (len(tt.unreadable) == 0 && tt.missing == 0) || h.Complete() != (h.Problems() == "") {
					t.Errorf("Complete %v, Problems %q", h.Complete(), h.Problems())
				}
				if tt.reason != "" && h.Immunizations[0].GetStatusReason().GetCoding()[0].GetCode().GetValue() != tt.reason {
					t.Errorf("statusReason %v", h.Immunizations[0].GetStatusReason())
				}
				leaks(t, h.Problems())
				return
			}
			if err == nil {
				t.Fatalf("no error; got %+v", h)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
				t.Errorf("category %v, want BadGateway", fhirerr.CategoryOf(err))
			}
			leaks(t, fhirerr.LogString(err), fhirerr.As(err).Message)
		})
	}
	if _, err := immunisation.Map(bundle(), "9000000000"); fhirerr.CategoryOf(err) != fhirerr.BadGateway {
		t.Errorf("invalid NHS number asked for: %v", err)
	}
	if _, err := immunisation.Map([]byte(`{"resourceType":"Bundle","type":"searchset","total":-1}`), "9000000009"); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative total: %v", err)
	}
}

// leaks fails t if any of ss quotes a value of the test payloads.
func leaks(t *testing.T, ss ...string) {
	t.Helper()
	for _, s := range ss {
		for _, leak := range []string{"9000000017", "10-Dec-2020", "12345", "given", "consent", "9000000009"} {
			if strings.Contains(s, leak) {
				t.Errorf("%q quotes a value of the payload (%s)", s, leak)
			}
		}
	}
}

// BenchmarkMap maps the public sandbox's COVID-19 answer (two
// vaccinations, one not given, and the included Patient): decoding and
// building the protos.
func BenchmarkMap(b *testing.B) {
	raw, err := os.ReadFile("testdata/real_sandbox_9000000009_covid19.in.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if _, err := immunisation.Map(raw, "9000000009"); err != nil {
			b.Fatal(err)
		}
	}
}
