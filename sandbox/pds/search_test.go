package pds_test

import (
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// samMattSmiths are the fixtures' twenty male Smiths born 2000-05-05 at
// DN17 4AA (the sandbox's postcode-wildcard and fuzzy multi-match answers).
var samMattSmiths = []string{
	"5069635395", "5502481484", "5667541432", "5689174815", "5900020584",
	"5900021459", "5900022366", "5900022978", "5900025225", "5900026086",
	"5900026191", "5900027376", "5900028917", "5900030741", "5900031160",
	"5900032809", "5900033694", "5900034143", "5900034372", "5900036863",
}

func TestSearchSemantics(t *testing.T) {
	sim := openSimulator(t)
	tests := []struct {
		name      string
		query     string
		want      []string // ids in order; nil = empty searchset
		unordered bool
		exact     bool // every score is 1
		partial   bool // every score is below 1
	}{
		// family, gender, birth date
		{name: "family is case-insensitive", query: "family=sMiTh&gender=female&birthdate=eq2010-10-22", want: []string{"9000000009"}, exact: true},
		{name: "birthdate without prefix means eq", query: "family=Smith&gender=female&birthdate=2010-10-22", want: []string{"9000000009"}},
		{name: "without gender both Smiths match", query: "family=Smith&birthdate=2010-10-22", want: []string{"9000000009", "9000000015"}},
		{name: "gender filters", query: "family=Smith&gender=male&birthdate=2010-10-22", want: []string{"9000000015"}},
		{name: "birthdate range", query: "family=Smith&gender=female&birthdate=ge2010-10-21&birthdate=le2010-10-23", want: []string{"9000000009"}},
		{name: "birthdate range in either order", query: "family=Smith&gender=female&birthdate=le2010-10-23&birthdate=ge2010-10-21", want: []string{"9000000009"}},
		{name: "birthdate le", query: "family=MASSAM&birthdate=le1920-08-11", want: []string{"9693632966"}},
		{name: "birthdate ge excludes", query: "family=MASSAM&birthdate=ge1920-08-12", want: nil},
		{name: "range excluding the date", query: "family=Smith&birthdate=ge2010-10-23&birthdate=le2011-01-01", want: nil},
		{name: "no such patient", query: "family=Bingham&given=John&gender=male&birthdate=1934-12-18", want: nil},

		// given names
		{name: "compound and middle given names", query: "family=Smith&given=John%20Paul&given=James&birthdate=2010-10-22", want: []string{"9000000015"}},
		{name: "given names are positional", query: "family=Smith&given=James&birthdate=2010-10-22", want: nil},
		{name: "part of a compound name does not match", query: "family=Smith&given=John&birthdate=2010-10-22", want: nil},
		{name: "given wildcard matches the start of the first given name", query: "family=Smith&given=Joh*&birthdate=2010-10-22", want: []string{"9000000015"}, partial: true},
		{name: "more given names than recorded", query: "family=Smith&given=Jane&given=Anne&birthdate=2010-10-22", want: nil},

		// wildcards
		{name: "family wildcard", query: "family=Sm*&gender=female&birthdate=eq2010-10-22", want: []string{"9000000009", "9000000017"}, partial: true},
		{name: "family wildcard inside", query: "family=Sm*th&gender=female&birthdate=eq2010-10-22", want: []string{"9000000009", "9000000017"}, partial: true},
		{name: "postcode wildcard", query: "family=Smith&gender=male&birthdate=eq2000-05-05&address-postalcode=DN17*", want: samMattSmiths, partial: true},

		// postcode, GP, death date
		{name: "postcode ignores spaces and case", query: "family=KNAPP&birthdate=1943-07-03&address-postalcode=dn157hq", want: []string{"9736363120"}, exact: true},
		{name: "deprecated address-postcode", query: "family=KNAPP&birthdate=1943-07-03&address-postcode=DN15%207HQ", want: []string{"9736363120"}},
		{name: "wrong postcode", query: "family=KNAPP&birthdate=1943-07-03&address-postalcode=DN15%207HR", want: nil},
		{name: "temporary address postcode matches", query: "family=Smith&birthdate=2010-10-22&gender=female&address-postalcode=LS16AE", want: []string{"9000000009"}},
		{name: "general practitioner", query: "family=Me*&birthdate=eq2015-10-22&general-practitioner=A20047", want: []string{"9733162337"}},
		{name: "general practitioner is case-insensitive", query: "family=MEEK&birthdate=eq2015-10-22&general-practitioner=a20047", want: []string{"9733162337"}},
		{name: "other general practitioner", query: "family=MEEK&birthdate=eq2015-10-22&general-practitioner=Y12345", want: nil},
		{name: "death date", query: "family=TUNNEY&birthdate=ge1980-01-01&death-date=le2019-02-28", want: []string{"9733163201"}},
		{name: "death date outside", query: "family=TUNNEY&birthdate=ge1980-01-01&death-date=ge2019-02-08", want: nil},
		{name: "death date needs a death", query: "family=KNAPP&birthdate=1943-07-03&death-date=le2030-01-01", want: nil},
		{name: "all parameters", query: "_fuzzy-match=false&_exact-match=false&_max-results=1&family=Smith&gender=female&birthdate=eq2010-10-22&given=Jane&death-date=eq2010-10-22&address-postcode=LS1%206AE&general-practitioner=Y12345&phone=01632960587", want: []string{"9000000009"}},

		// email and phone
		{name: "email is case-insensitive", query: "family=Smith&birthdate=2010-10-22&email=JANE.Smith@example.com", want: []string{"9000000009"}},
		{name: "phone", query: "family=Smith&birthdate=2010-10-22&phone=01632960587", want: []string{"9000000009", "9000000015"}},
		{name: "email and phone both must match", query: "family=Smith&gender=female&birthdate=eq2010-10-22&phone=0121111111&email=deb.trotter@example.com", want: nil},
		{name: "email narrows a multiple match", query: "family=Smith&gender=male&birthdate=2000-05-05&phone=01222111111", want: []string{"5900022366"}},

		// history
		{name: "previous name needs _history", query: "family=Killen&birthdate=1936-06-21", want: nil},
		{name: "previous name with _history", query: "family=Killen&birthdate=1936-06-21&_history=true", want: []string{"9732110317"}},
		{name: "history is an alias of _history", query: "family=Killen&birthdate=1936-06-21&history=true", want: []string{"9732110317"}},
		{name: "previous e-mail with _history", query: "family=Smith&gender=male&birthdate=2000-05-05&_history=true&email=Historic@historic.com", want: []string{"5900020584"}},
		{name: "previous e-mail needs _history", query: "family=Smith&gender=male&birthdate=2000-05-05&email=Historic@historic.com", want: nil},
		{name: "previous family with _history", query: "family=HUME&birthdate=1999-09-09&_history=true", want: []string{"9733162450"}},

		// fuzzy
		{name: "fuzzy homophone", query: "family=Smyth&given=Jane&birthdate=2010-10-22&email=jane.smith@example.com&_fuzzy-match=true", want: []string{"9000000009"}, partial: true},
		{name: "fuzzy transposed names", query: "family=Jane&given=Smith&birthdate=2010-10-22&email=jane.smith@example.com&_fuzzy-match=true", want: []string{"9000000009"}, partial: true},
		{name: "fuzzy finds both homophones", query: "family=Smithe&given=Jayne&gender=female&birthdate=2010-10-22&_fuzzy-match=true", want: []string{"9000000017", "9000000009"}},
		{name: "fuzzy searches history", query: "family=Blogs&given=Joe&birthdate=1955-11-05&_fuzzy-match=true", want: []string{"9693632109"}},
		{name: "fuzzy mixes current and previous names", query: "family=MED&given=Casey&birthdate=1999-09-09&_fuzzy-match=true", want: []string{"9733162450"}},
		{name: "fuzzy folds accents", query: "family=ATTS%C3%96N&given=P%C3%80ULIN%C3%89&birthdate=1960-07-14&_fuzzy-match=true", want: []string{"9693633121", "9693633148"}, unordered: true},
		{name: "fuzzy by postcode without given", query: "family=Smythe&gender=male&birthdate=ge2000-05-03&address-postalcode=DN17%204AA&_fuzzy-match=true", want: samMattSmiths, unordered: true},
		{name: "fuzzy by given and postcode", query: "given=Mat&gender=male&birthdate=2000-05-05&address-postalcode=DN17%204AA&phone=01222111111&_fuzzy-match=true", want: []string{"5900022366"}},
		{name: "fuzzy with phone and email", query: "family=smith&given=Jane&gender=female&birthdate=2010-10-22&phone=01632960587&email=jane.smith@example.com&_fuzzy-match=true", want: []string{"9000000009"}},

		// exact match, restricted
		{name: "exact match", query: "family=KNAPP&gender=female&birthdate=1943-07-03&_exact-match=true", want: []string{"9736363120"}, exact: true},
		{name: "exact match drops partial matches", query: "family=Sm*&gender=female&birthdate=eq2010-10-22&_exact-match=true", want: nil},
		{name: "restricted patient is found", query: "family=Smythe&given=Janet&gender=female&birthdate=eq2005-06-16", want: []string{"9000000025"}},
		{name: "search copy birth date of the restricted patient", query: "family=Smythe&birthdate=eq2010-10-22", want: nil},
		{name: "the sandbox's retained record (its superseded one is not returned)", query: "family=CUFF&gender=female&birthdate=eq1926-01-07", want: []string{"9732019395"}},
		{name: "the superseding record, never a superseded number", query: "family=PRITCHARD&given=Christine&birthdate=1963-06-02", want: []string{pds.SupersedingNHSNumber}},
		{name: "four YOUDS", query: "family=YOUDS&birthdate=1970-01-24", want: []string{"9693633679", "9693633687", "9693633695", "9693633709"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, sim, "/Patient?"+tt.query)
			if r.status != 200 || str(t, r.body, "resourceType") != "Bundle" {
				t.Fatalf("status %d, want a 200 Bundle\n%s", r.status, r.raw)
			}
			got := r.entryIDs()
			want := tt.want
			if tt.unordered {
				got = append([]string(nil), got...)
				want = append([]string(nil), want...)
				sort.Strings(got)
				sort.Strings(want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ids = %v, want %v", got, want)
			}
			if total, _ := r.body["total"].(float64); int(total) != len(tt.want) {
				t.Errorf("total = %v, want %d", r.body["total"], len(tt.want))
			}
			sc := r.scores()
			for i, s := range sc {
				if s <= 0 || s > 1 {
					t.Errorf("score %v out of (0, 1]", s)
				}
				if i > 0 && s > sc[i-1] {
					t.Errorf("scores %v not in descending order", sc)
				}
				if tt.exact && s != 1 {
					t.Errorf("score = %v, want 1", s)
				}
				if tt.partial && s >= 1 {
					t.Errorf("score = %v, want below 1", s)
				}
			}
		})
	}
}

func TestSearchBundleShape(t *testing.T) {
	sim := openSimulator(t)
	r := get(t, sim, "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22")
	if got := str(t, r.body, "type"); got != "searchset" {
		t.Errorf("type = %q", got)
	}
	if _, err := time.Parse("2006-01-02T15:04:05+00:00", str(t, r.body, "timestamp")); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	if got, want := str(t, r.body, "entry", 0, "fullUrl"), "https://pds.test"+pds.BasePath+"/Patient/9000000009"; got != want {
		t.Errorf("fullUrl = %q, want %q", got, want)
	}
	res := walk(r.body, "entry", 0, "resource").(map[string]any)
	// A search result carries no birth place, pharmacies, communication or
	// contact preferences, and only usual/nickname/temp names and home addresses.
	for i := 0; walk(res, "extension", i) != nil; i++ {
		if u := str(t, res, "extension", i, "url"); !strings.HasSuffix(u, "DeathNotificationStatus") {
			t.Errorf("search result carries extension %s", u)
		}
	}
	for i := 0; walk(res, "address", i) != nil; i++ {
		if u := str(t, res, "address", i, "use"); u != "home" {
			t.Errorf("search result carries a %s address", u)
		}
	}

	empty := get(t, sim, "/Patient?family=Bingham&birthdate=1934-12-18")
	if _, has := empty.body["entry"]; has || empty.body["total"] != float64(0) {
		t.Errorf("empty searchset = %s", empty.raw)
	}

	t.Run("fullUrl from the Host without a BaseURL", func(t *testing.T) {
		plain := pds.New(pds.Options{Open: true})
		r := do(t, plain, "GET", "http://pds.example:8080"+pds.BasePath+"/Patient?family=KNAPP&birthdate=1943-07-03", nil)
		if got, want := str(t, r.body, "entry", 0, "fullUrl"), "http://pds.example:8080"+pds.BasePath+"/Patient/9736363120"; got != want {
			t.Errorf("fullUrl = %q, want %q", got, want)
		}
	})
}

// TestSearchSyntheticPeople checks search over the synthetic population:
// history, redaction of restricted people, and their exclusion from
// postcode and GP searches.
func TestSearchSyntheticPeople(t *testing.T) {
	sim := openSimulator(t)
	married := somePerson(t, func(p population.Person) bool { return p.PreviousFamily != "" && !p.Restricted })
	moved := somePerson(t, func(p population.Person) bool { return p.PreviousAddress != nil && !p.Restricted })
	secret := somePerson(t, func(p population.Person) bool { return p.Restricted && p.Email != "" })

	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	contains := func(ids []string, id string) bool {
		for _, x := range ids {
			if x == id {
				return true
			}
		}
		return false
	}
	tests := []struct {
		name  string
		query string
		id    string
		found bool
	}{
		{name: "current name", query: q("family", married.Family, "birthdate", married.BirthDate), id: married.NHSNumber, found: true},
		{name: "previous name without history", query: q("family", married.PreviousFamily, "given", married.Given[0], "birthdate", married.BirthDate), id: married.NHSNumber},
		{name: "previous name with history", query: q("family", married.PreviousFamily, "given", married.Given[0], "birthdate", married.BirthDate, "_history", "true"), id: married.NHSNumber, found: true},
		{name: "previous postcode without history", query: q("family", moved.Family, "birthdate", moved.BirthDate, "address-postalcode", moved.PreviousAddress.Postcode), id: moved.NHSNumber},
		{name: "previous postcode with history", query: q("family", moved.Family, "birthdate", moved.BirthDate, "address-postalcode", moved.PreviousAddress.Postcode, "_history", "true"), id: moved.NHSNumber, found: true},
		{name: "previous postcode in fuzzy search", query: q("family", moved.Family, "given", moved.Given[0], "birthdate", moved.BirthDate, "address-postalcode", moved.PreviousAddress.Postcode, "_fuzzy-match", "true"), id: moved.NHSNumber, found: true},
		{name: "restricted by name", query: q("family", secret.Family, "birthdate", secret.BirthDate), id: secret.NHSNumber, found: true},
		{name: "restricted by e-mail", query: q("family", secret.Family, "birthdate", secret.BirthDate, "email", secret.Email), id: secret.NHSNumber, found: true},
		{name: "restricted never by postcode", query: q("family", secret.Family, "birthdate", secret.BirthDate, "address-postalcode", secret.Address.Postcode), id: secret.NHSNumber},
		{name: "restricted never by deprecated postcode", query: q("family", secret.Family, "birthdate", secret.BirthDate, "address-postcode", secret.Address.Postcode), id: secret.NHSNumber},
		{name: "restricted never by GP", query: q("family", secret.Family, "birthdate", secret.BirthDate, "general-practitioner", secret.GPPractice), id: secret.NHSNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, sim, "/Patient?"+tt.query)
			if r.status != 200 {
				t.Fatalf("status %d\n%s", r.status, r.raw)
			}
			ids := r.entryIDs()
			if got := contains(ids, tt.id); got != tt.found {
				t.Fatalf("found %s = %v, want %v (ids %v)", tt.id, got, tt.found, ids)
			}
			if !tt.found {
				return
			}
			for i, id := range ids {
				if id != tt.id {
					continue
				}
				res := walk(r.body, "entry", i, "resource").(map[string]any)
				if str(t, res, "meta", "security", 0, "code") == "R" {
					for _, f := range redactedFields {
						if _, has := res[f]; has {
							t.Errorf("restricted search result carries %s", f)
						}
					}
				}
				for j := 0; walk(res, "name", j) != nil; j++ {
					if u := str(t, res, "name", j, "use"); u == "old" {
						t.Error("search result carries an old name")
					}
				}
				for j := 0; walk(res, "address", j) != nil; j++ {
					if u := str(t, res, "address", j, "use"); u != "home" {
						t.Errorf("search result carries a %s address", u)
					}
				}
			}
		})
	}
}

func TestSearchTooManyMatches(t *testing.T) {
	sim := openSimulator(t)
	tests := []struct {
		name  string
		query string
	}{
		{name: "more than _max-results", query: "family=Sm*&gender=female&birthdate=eq2010-10-22&_max-results=1"},
		{name: "four YOUDS, three allowed", query: "family=YOUDS&birthdate=1970-01-24&_max-results=3"},
		{name: "more than the default 50", query: "family=Smith&birthdate=ge1900-01-01"},
	}
	want := mustFixture(t, "fixtures/searchResponses/TOO_MANY_MATCHES.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, sim, "/Patient?"+tt.query)
			if r.status != 200 {
				t.Fatalf("status = %d, want 200", r.status)
			}
			if !reflect.DeepEqual(r.body, want) {
				t.Errorf("body = %s, want the sandbox's TOO_MANY_MATCHES.json", r.raw)
			}
		})
	}
	if r := get(t, sim, "/Patient?family=YOUDS&birthdate=1970-01-24&_max-results=4"); len(r.entryIDs()) != 4 {
		t.Errorf("_max-results=4 over four matches: %s", r.raw)
	}
}

func TestSearchErrors(t *testing.T) {
	sim := openSimulator(t)
	tests := []struct {
		name        string
		query       string
		code        string
		diagnostics string // exact, when set
	}{
		{name: "no parameters", query: "", code: "UNSUPPORTED_SERVICE"},
		{name: "only empty keys", query: "&=", code: "UNSUPPORTED_SERVICE"},
		{name: "unknown parameter", query: "family=Smith&birthdate=2010-10-22&foo=1", code: "ADDITIONAL_PROPERTIES",
			diagnostics: "Invalid request with error - Additional properties are not allowed ('foo' was unexpected)"},
		{name: "unknown parameters", query: "model=a&family=Smith&manufacturer=b&birthdate=2010-10-22", code: "ADDITIONAL_PROPERTIES",
			diagnostics: "Invalid request with error - Additional properties are not allowed ('model', 'manufacturer' were unexpected)"},
		{name: "bad birth date", query: "family=Smith&given=Jane&gender=female&birthdate=20101022&=", code: "INVALID_VALUE",
			diagnostics: "Invalid value - '20101022' in field 'birthdate'"},
		{name: "impossible birth date", query: "family=Smith&birthdate=2010-13-45", code: "INVALID_VALUE",
			diagnostics: "Invalid value - '2010-13-45' in field 'birthdate'"},
		{name: "bad prefix", query: "family=Smith&birthdate=gt2010-10-22", code: "INVALID_VALUE",
			diagnostics: "Invalid value - 'gt2010-10-22' in field 'birthdate'"},
		{name: "bad death date", query: "family=Smith&given=Jane&birthdate=2000-01-01&gender=female&death-date=20101022", code: "INVALID_VALUE",
			diagnostics: "Invalid value - '20101022' in field 'death-date'"},
		{name: "bad gender", query: "family=Smith&birthdate=2010-10-22&gender=mal", code: "INVALID_VALUE",
			diagnostics: "Invalid value - 'mal' in field 'gender'"},
		{name: "bad flag", query: "family=Smith&birthdate=2010-10-22&_fuzzy-match=yes", code: "INVALID_VALUE"},
		{name: "max results 0", query: "family=Smith&birthdate=2010-10-22&_max-results=0", code: "INVALID_VALUE",
			diagnostics: "Invalid value - '0' in field '_max-results'"},
		{name: "max results 51", query: "family=Smith&birthdate=2010-10-22&_max-results=51", code: "INVALID_VALUE"},
		{name: "max results not a number", query: "family=Smith&birthdate=2010-10-22&_max-results=ten", code: "INVALID_VALUE"},
		{name: "family too long", query: "family=" + strings.Repeat("a", 36) + "&birthdate=2010-10-22", code: "INVALID_VALUE"},
		{name: "empty family", query: "family=&birthdate=2010-10-22", code: "INVALID_VALUE"},
		{name: "no birth date", query: "family=Smith", code: "MISSING_VALUE",
			diagnostics: "Missing value - 'birth_date/birth_date_range_start/birth_date_range_end'"},
		{name: "email and phone alone", query: "email=j.smith@example.com&phone=0163", code: "MISSING_VALUE"},
		{name: "no family in a non-fuzzy search", query: "given=Jane&birthdate=2010-10-22", code: "INVALID_SEARCH_DATA",
			diagnostics: "Invalid search data provided - 'No searches were performed as the search criteria did not meet the minimum requirements'"},
		{name: "email without family", query: "birthdate=2010-10-22&email=jane.smith@example.com", code: "INVALID_SEARCH_DATA"},
		{name: "fuzzy without given or postcode", query: "family=Smith&birthdate=2010-10-22&_fuzzy-match=true", code: "INVALID_SEARCH_DATA"},
		{name: "fuzzy postcode without gender", query: "family=Smith&birthdate=2010-10-22&address-postalcode=LS16AE&_fuzzy-match=true", code: "INVALID_SEARCH_DATA"},
		{name: "both postcode parameters", query: "family=Smith&birthdate=2010-10-22&address-postcode=LS16AE&address-postalcode=LS16AE", code: "INVALID_SEARCH_DATA"},
		{name: "wildcard in the first two characters", query: "family=S*&birthdate=2010-10-22", code: "INVALID_SEARCH_DATA"},
		{name: "leading wildcard", query: "family=*mith&birthdate=2010-10-22", code: "INVALID_SEARCH_DATA"},
		{name: "wildcard in fuzzy search", query: "family=Smi*&given=Jane&birthdate=2010-10-22&_fuzzy-match=true", code: "INVALID_SEARCH_DATA"},
		{name: "wildcard in a second given name", query: "family=Smith&given=Jane&given=An*&birthdate=2010-10-22", code: "INVALID_SEARCH_DATA"},
		{name: "wildcard in postcode start", query: "family=Smith&birthdate=2010-10-22&address-postalcode=L*", code: "INVALID_SEARCH_DATA"},
		{name: "wildcard in email", query: "family=Smith&birthdate=2010-10-22&email=jane*@example.com", code: "INVALID_SEARCH_DATA"},
		{name: "wildcard in phone", query: "family=Smith&birthdate=2010-10-22&phone=01632*", code: "INVALID_SEARCH_DATA"},
		{name: "two eq birth dates", query: "family=Smith&birthdate=2010-10-22&birthdate=2010-10-23", code: "INVALID_SEARCH_DATA"},
		{name: "three birth dates", query: "family=Smith&birthdate=ge2010-10-22&birthdate=le2010-10-23&birthdate=2010-10-22", code: "INVALID_SEARCH_DATA"},
		{name: "family twice", query: "family=Smith&family=Jones&birthdate=2010-10-22", code: "INVALID_SEARCH_DATA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, sim, "/Patient?"+tt.query)
			if r.status != 400 {
				t.Fatalf("status = %d, want 400\n%s", r.status, r.raw)
			}
			if got := r.errorCode(t); got != tt.code {
				t.Errorf("code = %q, want %q (%s)", got, tt.code, str(t, r.body, "issue", 0, "diagnostics"))
			}
			if tt.diagnostics != "" {
				if got := str(t, r.body, "issue", 0, "diagnostics"); got != tt.diagnostics {
					t.Errorf("diagnostics = %q, want %q", got, tt.diagnostics)
				}
			}
		})
	}
}
