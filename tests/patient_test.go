package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sandboxpds "github.com/carerecords/fhir-facade/sandbox/pds"
)

func TestPatientRead(t *testing.T) {
	r := get(t, "/Patient/9000000009")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if r.body["resourceType"] != "Patient" || r.body["id"] != "9000000009" {
		t.Fatalf("body %s", r.raw)
	}
	if got := r.header.Get("ETag"); got != `W/"2"` {
		t.Errorf("ETag %q", got)
	}
	if v := r.body["meta"].(map[string]any)["versionId"]; v != "2" {
		t.Errorf("meta.versionId %v", v)
	}
	if lm := r.header.Get("Last-Modified"); lm != "" {
		// PDS sends no meta.lastUpdated: none is invented (#17).
		t.Errorf("Last-Modified %q for a record that does not say when it changed", lm)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
		t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
	}
	for _, field := range []string{"name", "address", "telecom", "generalPractitioner", "birthDate", "identifier"} {
		if _, ok := r.body[field]; !ok {
			t.Errorf("9000000009 lacks %s", field)
		}
	}
	r2 := call(t, "GET", "/Patient/9000000009", map[string]string{"If-None-Match": `W/"2"`}, "")
	if r2.status != 304 || len(r2.raw) != 0 {
		t.Errorf("If-None-Match: status %d body %q", r2.status, r2.raw)
	}
	r3 := call(t, "GET", "/Patient/9000000009", map[string]string{"If-Modified-Since": time.Now().UTC().Format(http.TimeFormat)}, "")
	if r3.status != 200 {
		t.Errorf("If-Modified-Since without a Last-Modified to compare: status %d, want 200", r3.status)
	}
}

func TestRestrictedPatientHidesContactDetails(t *testing.T) {
	for _, path := range []string{
		"/Patient/9000000025",
		"/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000025",
		"/Patient?family=Smythe&given=Janet&gender=female&birthdate=eq2005-06-16",
	} {
		t.Run(path, func(t *testing.T) {
			r := get(t, path)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			p := r.body
			if p["resourceType"] == "Bundle" {
				matches, _ := entries(t, r)
				if len(matches) != 1 {
					t.Fatalf("%d matches: %s", len(matches), r.raw)
				}
				p = matches[0]["resource"].(map[string]any)
			}
			sec := p["meta"].(map[string]any)["security"].([]any)[0].(map[string]any)
			if sec["code"] != "R" {
				t.Errorf("security %v", sec)
			}
			for _, field := range []string{"address", "telecom", "contact", "generalPractitioner", "managingOrganization"} {
				if _, ok := p[field]; ok {
					t.Errorf("restricted patient shows %s", field)
				}
			}
		})
	}
}

func TestPatientReadErrors(t *testing.T) {
	before := env.app.Sandbox.PDS.Requests()
	tests := []struct {
		name   string
		path   string
		status int
		code   string
	}{
		{name: "bad check digit", path: "/Patient/9000000000", status: 400, code: "invalid"},
		{name: "too short", path: "/Patient/12345", status: 400, code: "invalid"},
		{name: "letters", path: "/Patient/abcdefghij", status: 400, code: "invalid"},
		{name: "search bad identifier", path: "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000000", status: 400, code: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.path)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if is := outcomeIssue(t, r); is["code"] != tt.code {
				t.Errorf("issue.code %v, want %s", is["code"], tt.code)
			}
		})
	}
	if after := env.app.Sandbox.PDS.Requests(); after != before {
		t.Errorf("invalid NHS numbers reached PDS: %d calls", after-before)
	}
	r := get(t, "/Patient/9111231130")
	if r.status != 404 || outcomeIssue(t, r)["code"] != "not-found" {
		t.Errorf("unknown patient: %d %s", r.status, r.raw)
	}
}

func TestPatientSearchBasic(t *testing.T) {
	r := get(t, "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	matches, outcomes := entries(t, r)
	if r.body["total"] != 1.0 || len(matches) != 1 || len(outcomes) != 0 {
		t.Fatalf("total %v, %d matches, %d outcomes: %s", r.body["total"], len(matches), len(outcomes), r.raw)
	}
	m := matches[0]
	if m["resource"].(map[string]any)["id"] != "9000000009" {
		t.Errorf("match %v", m["resource"])
	}
	if m["fullUrl"] != env.url+"/Patient/9000000009" {
		t.Errorf("fullUrl %v", m["fullUrl"])
	}
	if _, ok := m["search"].(map[string]any)["score"]; !ok {
		t.Error("no search.score")
	}
	if self := linkURL(r, "self"); !strings.Contains(self, "family=Smith") || !strings.Contains(self, "birthdate=eq2010-10-22") {
		t.Errorf("self %q", self)
	}
}

func TestPatientSearchVariants(t *testing.T) {
	tests := []struct {
		name  string
		query string
		ids   []string
	}{
		{name: "date range", query: "family=Smith&gender=female&birthdate=ge2010-10-21&birthdate=le2010-10-23", ids: []string{"9000000009"}},
		{name: "gt and lt", query: "family=Smith&gender=female&birthdate=gt2010-10-21&birthdate=lt2010-10-23", ids: []string{"9000000009"}},
		{name: "with phone", query: "family=Smith&gender=female&birthdate=eq2010-10-22&phone=01632960587", ids: []string{"9000000009"}},
		{name: "with email", query: "family=Smith&gender=female&birthdate=eq2010-10-22&email=jane.smith@example.com", ids: []string{"9000000009"}},
		{name: "no match", query: "family=Smith&gender=female&birthdate=eq2010-10-22&phone=0121111111", ids: nil},
		{name: "wildcard", query: "family=Sm*&gender=female&birthdate=eq2010-10-22", ids: []string{"9000000009", "9000000017"}},
		{name: "identifier", query: "identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", ids: []string{"9000000009"}},
		{name: "bare identifier", query: "identifier=9000000009", ids: []string{"9000000009"}},
		{name: "unknown identifier", query: "identifier=https://fhir.nhs.uk/Id/nhs-number|9111231130", ids: nil},
		{name: "contradictory dates", query: "family=Smith&birthdate=ge2011-01-01&birthdate=le2010-01-01", ids: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, "/Patient?"+tt.query)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			matches, _ := entries(t, r)
			var got []string
			for _, m := range matches {
				got = append(got, m["resource"].(map[string]any)["id"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("ids %v, want %v", got, tt.ids)
			}
			if int(r.body["total"].(float64)) != len(tt.ids) {
				t.Errorf("total %v, want %d", r.body["total"], len(tt.ids))
			}
		})
	}
}

func TestPatientSearchTooManyMatches(t *testing.T) {
	r := get(t, "/Patient?family=Sm*&gender=female&birthdate=eq2010-10-22&_max-results=1")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	matches, outcomes := entries(t, r)
	if r.body["total"] != 0.0 || len(matches) != 0 || len(outcomes) != 1 {
		t.Fatalf("%s", r.raw)
	}
	oo := outcomes[0]["resource"].(map[string]any)
	is := oo["issue"].([]any)[0].(map[string]any)
	if is["code"] != "multiple-matches" {
		t.Errorf("issue %v", is)
	}
}

func TestPatientSearchPaging(t *testing.T) {
	first := get(t, "/Patient?family=Smith&gender=male&birthdate=eq2000-05-05&_count=4")
	if first.status != 200 {
		t.Fatalf("status %d: %s", first.status, first.raw)
	}
	total := int(first.body["total"].(float64))
	if total <= 4 {
		t.Fatalf("need more than one page to test paging; total %d", total)
	}
	seen := map[string]bool{}
	r := first
	for page := 0; ; page++ {
		if page > total {
			t.Fatal("next links do not end")
		}
		matches, _ := entries(t, r)
		if len(matches) > 4 {
			t.Fatalf("page of %d", len(matches))
		}
		for _, m := range matches {
			id := m["resource"].(map[string]any)["id"].(string)
			if seen[id] {
				t.Errorf("%s on two pages", id)
			}
			seen[id] = true
		}
		next := linkURL(r, "next")
		if next == "" {
			break
		}
		for _, want := range []string{"family=Smith", "gender=male", "birthdate=eq2000-05-05", "_count=4"} {
			if !strings.Contains(next, want) {
				t.Errorf("next %q lacks %s", next, want)
			}
		}
		r = get(t, next)
		if r.status != 200 {
			t.Fatalf("next: %d %s", r.status, r.raw)
		}
	}
	if len(seen) != total {
		t.Errorf("paged through %d patients, total says %d", len(seen), total)
	}
}

func TestPatientSearchCountClampedAndUnknownParams(t *testing.T) {
	r := get(t, "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22&_count=500&shoe-size=9")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	_, outcomes := entries(t, r)
	if len(outcomes) != 1 {
		t.Fatalf("want one outcome entry: %s", r.raw)
	}
	oo, _ := json.Marshal(outcomes[0]["resource"])
	for _, want := range []string{"_count=500", "shoe-size", `"severity":"warning"`} {
		if !strings.Contains(string(oo), want) {
			t.Errorf("outcome lacks %s: %s", want, oo)
		}
	}
	if self := linkURL(r, "self"); !strings.Contains(self, "_count=50") || strings.Contains(self, "shoe-size") {
		t.Errorf("self %q", self)
	}
	strict := call(t, "GET", "/Patient?family=Smith&birthdate=eq2010-10-22&shoe-size=9", map[string]string{"Prefer": "handling=strict"}, "")
	if strict.status != 400 || outcomeIssue(t, strict)["code"] != "invalid" {
		t.Errorf("strict: %d %s", strict.status, strict.raw)
	}
}

func TestPatientSearchErrors(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		status int
		code   string
		expr   string
	}{
		{name: "no parameters", query: "", status: 400, code: "invalid"},
		{name: "bad birthdate", query: "family=Smith&birthdate=20101022", status: 400, code: "invalid", expr: "birthdate"},
		{name: "unsupported prefix", query: "family=Smith&birthdate=ne2010-10-22", status: 400, code: "not-supported", expr: "birthdate"},
		{name: "bad gender", query: "family=Smith&birthdate=2010-10-22&gender=f", status: 400, code: "invalid", expr: "gender"},
		{name: "bad max results", query: "family=Smith&birthdate=2010-10-22&_max-results=51", status: 400, code: "invalid", expr: "_max-results"},
		{name: "identifier with others", query: "identifier=9000000009&family=Smith", status: 400, code: "invalid"},
		{name: "too few for PDS", query: "family=Smith", status: 400, code: "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, "/Patient?"+tt.query)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			is := outcomeIssue(t, r)
			if is["code"] != tt.code {
				t.Errorf("issue.code %v, want %s", is["code"], tt.code)
			}
			if tt.expr != "" {
				ex, _ := is["expression"].([]any)
				if len(ex) == 0 || ex[0] != tt.expr {
					t.Errorf("expression %v, want %s", ex, tt.expr)
				}
			}
		})
	}
}

func TestSearchByPost(t *testing.T) {
	form := url.Values{"family": {"Smith"}, "gender": {"female"}, "birthdate": {"eq2010-10-22"}}
	r := call(t, "POST", "/Patient/_search", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	if r.status != 200 || r.body["total"] != 1.0 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
}

func TestSupersededAndInvalidated(t *testing.T) {
	r := get(t, "/Patient/"+sandboxpds.SupersededNHSNumber)
	if r.status != 200 || r.body["id"] != sandboxpds.SupersedingNHSNumber {
		t.Fatalf("superseded: %d %s", r.status, r.raw)
	}
	links, _ := r.body["link"].([]any)
	found := false
	for _, l := range links {
		m := l.(map[string]any)
		other, _ := m["other"].(map[string]any)
		ident, _ := other["identifier"].(map[string]any)
		if m["type"] == "replaces" && ident["value"] == sandboxpds.SupersededNHSNumber && ident["system"] == "https://fhir.nhs.uk/Id/nhs-number" {
			found = true
		}
	}
	if !found {
		t.Errorf("no link replaces %s: %v", sandboxpds.SupersededNHSNumber, links)
	}
	r = get(t, "/Patient/"+sandboxpds.InvalidatedNHSNumber)
	if r.status != 410 || outcomeIssue(t, r)["code"] != "deleted" {
		t.Errorf("invalidated: %d %s", r.status, r.raw)
	}
	r = get(t, "/Patient?identifier="+sandboxpds.InvalidatedNHSNumber)
	if r.status != 200 || r.body["total"] != 0.0 {
		t.Errorf("invalidated by identifier: %d %s", r.status, r.raw)
	}
}

func TestPatientSearchExactAndMissing(t *testing.T) {
	tests := []struct {
		name  string
		query string
		ids   []string
	}{
		{name: "exact family", query: "family:exact=Smith&gender=female&birthdate=eq2010-10-22", ids: []string{"9000000009"}},
		{name: "exact family, other case", query: "family:exact=SMITH&gender=female&birthdate=eq2010-10-22", ids: nil},
		{name: "exact given", query: "family=Smith&given:exact=Jane&gender=female&birthdate=eq2010-10-22", ids: []string{"9000000009"}},
		{name: "death date missing=false", query: "family=Smith&gender=female&birthdate=eq2010-10-22&death-date:missing=false", ids: []string{"9000000009"}},
		{name: "death date missing=true", query: "family=Smith&gender=female&birthdate=eq2010-10-22&death-date:missing=true", ids: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, "/Patient?"+tt.query)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			matches, _ := entries(t, r)
			var got []string
			for _, m := range matches {
				got = append(got, m["resource"].(map[string]any)["id"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("ids %v, want %v", got, tt.ids)
			}
		})
	}
	if r := get(t, "/Patient?family:exact=Sm*&birthdate=eq2010-10-22"); r.status != 400 {
		t.Errorf("wildcard with :exact: %d", r.status)
	}
}
