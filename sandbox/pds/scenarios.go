package pds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/carerecords/fhir-facade/sandbox/pds/fixtures"
)

// scenarioAnswer is one canned answer: the patients, in order, with their
// scores, and, for an answer taken from a stub, the entries' resources as
// the stub has them.
type scenarioAnswer struct {
	why       string
	ids       []string
	scores    []float64
	resources [][]byte
}

// scenarios are the public sandbox's canned answers that its data cannot
// explain. They are consulted, after validation, before the generic search,
// exactly as the sandbox does (it is a table of canned answers). Keep this
// list minimal: where a canned answer can be explained by data, model the
// data instead (see fixtureHistory).
//
// Keys are canonical queries (see canonicalQuery): parameters sorted by name,
// names and e-mail lower-cased, the "eq" date prefix, false flags and
// _max-results dropped.
var scenarios = map[string]scenarioAnswer{
	// Postman "Fuzzy search"; OAS "Fuzzy search without phone or email".
	"_fuzzy-match=true&birthdate=2010-10-22&family=smith&gender=female&given=jane": {
		why: "the sandbox answers with the homophone Jayne Smyth alone, " +
			"although Jane Smith (9000000009) matches exactly",
		ids: []string{"9000000017"}, scores: []float64{0.8976},
	},
	// Postman "Fuzzy search including phone".
	"_fuzzy-match=true&birthdate=2010-10-22&family=smith&gender=female&given=jane&phone=01632960587": {
		why: "9000000017 carries the same phone number as 9000000009 in every " +
			"fixture, yet the sandbox answers with 9000000009 alone",
		ids: []string{"9000000009"}, scores: []float64{0.9124},
	},
	// Postman "Wildcard search including phone" and "Search with limited
	// results inc phone" (_max-results=1).
	"birthdate=2010-10-22&family=sm*&gender=female&phone=01632960587": {
		why: "Sm* also finds Jayne Smyth (9000000017), who has the same phone " +
			"number; the sandbox answers with 9000000009 alone",
		ids: []string{"9000000009"}, scores: []float64{1},
	},
	// OAS "Wildcard search": the sandbox's canned score for both Smiths.
	"birthdate=2010-10-22&family=sm*&gender=female": {
		why: "the sandbox scores both wildcard matches 0.8343, whatever their names",
		ids: []string{"9000000009", "9000000017"}, scores: []float64{0.8343, 0.8343},
	},
	// "Wildcard search including email" and "... phone and email".
	"birthdate=2010-10-22&email=jane.smith@example.com&family=sm*&gender=female": {
		why: "the sandbox scores a wildcard match on the e-mail address 1",
		ids: []string{"9000000009"}, scores: []float64{1},
	},
	"birthdate=2010-10-22&email=jane.smith@example.com&family=sm*&gender=female&phone=01632960587": {
		why: "the sandbox scores a wildcard match on phone and e-mail 1",
		ids: []string{"9000000009"}, scores: []float64{1},
	},
	// OAS "Fuzzy search including phone and email".
	"_fuzzy-match=true&birthdate=2010-10-22&email=jane.smith@example.com&family=smith&gender=female&given=jane&phone=01632960587": {
		why: "the sandbox scores this exact fuzzy match 0.9542",
		ids: []string{"9000000009"}, scores: []float64{0.9542},
	},
	// "Compound name search" (the sandbox ignores the birth date; 2010-10-22
	// is the patient's).
	"birthdate=2010-10-22&family=smith&gender=male&given=john paul&given=james": {
		why: "the sandbox scores this exact match 0.75 (john_paul_smith_searchset.json)",
		ids: []string{"9000000015"}, scores: []float64{0.75},
	},
	// Postman "Search with limited results inc email".
	"birthdate=2010-10-22&email=janet.smythe@example.com&family=sm*&gender=female": {
		why: "no fixture patient has this e-mail address (Janet Smythe's record " +
			"holds no telecom); the sandbox answers with 9000000009",
		ids: []string{"9000000009"}, scores: []float64{1},
	},
}

// canonicalQuery normalises validated search parameters into a scenario key.
func canonicalQuery(ps []param) string {
	var kv []param
	for _, p := range ps {
		k, v := p.key, p.value
		switch k {
		case "_max-results":
			continue
		case "history":
			k = "_history"
		case "address-postcode":
			k = "address-postalcode"
		}
		switch k {
		case "_fuzzy-match", "_exact-match", "_history":
			v = strings.ToLower(v)
			if v == "false" {
				continue
			}
		case "birthdate", "death-date":
			v = strings.TrimPrefix(v, "eq")
		case "address-postalcode":
			v = normPostcode(v)
		case "family", "given", "gender", "email", "general-practitioner":
			v = strings.ToLower(strings.TrimSpace(v))
		case "phone":
			v = normPhone(v)
		}
		kv = append(kv, param{k, v})
	}
	sort.SliceStable(kv, func(i, j int) bool {
		if kv[i].key != kv[j].key {
			return kv[i].key < kv[j].key
		}
		// Date ranges in either order; given names keep their order.
		return kv[i].key == "birthdate" && kv[i].value < kv[j].value
	})
	var b strings.Builder
	for i, p := range kv {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// scenario returns the canned answer for ps, if there is one.
func (s *Simulator) scenario(ps []param) ([]hit, bool) {
	sc, ok := scenarios[canonicalQuery(ps)]
	if !ok {
		return nil, false
	}
	hits := make([]hit, 0, len(sc.ids))
	for i, id := range sc.ids {
		if r := s.lookup(id); r != nil {
			h := hit{rec: r, score: sc.scores[i]}
			if sc.resources != nil {
				h.resource = sc.resources[i]
			}
			hits = append(hits, h)
		}
	}
	return hits, true
}

// stubScenarios are the sandbox's scripted searches whose canned answers
// (searchResponses/) the data cannot give: their scores, their order, or
// their patients (the synthetic population adds people matching the
// criteria). The simulator answers the stub's entries as they are, under
// its own fullUrls. The queries are the requests the sandbox's mock answers
// with these stubs, with the patient's birth date where the mock ignores it.
var stubScenarios = []struct{ query, stub, why string }{
	{"family=ATTS%C3%96N&given=P%C3%80ULIN%C3%89&birthdate=1960-07-14&_fuzzy-match=true", "pauline_attison_searchset.json",
		"the sandbox's order of the two accent-folded matches"},
	{"family=Smith&given=Sam&gender=male&birthdate=2000-05-05&phone=01222111111&email=test@test.com&_fuzzy-match=true", "fuzzy_single_searchset.json",
		"the sandbox scores this match 0.8827"},
	{"family=Smythe&given=Mat&gender=male&birthdate=ge2000-05-03&address-postalcode=DN17%204AA&_fuzzy-match=true", "fuzzy_multimatch_searchset.json",
		"the sandbox's scores and order of the twenty matches"},
	{"family=MED&given=Casey&birthdate=1999-09-09&_fuzzy-match=true", "med_rowenad_searchset.json",
		"the sandbox scores this historic-birth-date match 0.6806"},
	{"family=HUME&birthdate=1999-09-09&_history=true", "med_rowenad_searchset.json",
		"the sandbox scores this historic match 0.6806"},
	{"family=Smith&gender=male&birthdate=2000-05-05&phone=01234123123&email=test@test.com", "multimatch_phoneAndEmail_searchset.json",
		"the sandbox's scores and order of the eleven matches"},
	{"family=Sm*&gender=male&birthdate=2000-05-05&phone=01234123123&email=test@test.com", "multimatch_phoneAndEmail_searchset.json",
		"the sandbox's scores and order of the eleven matches"},
	{"family=Smith&gender=male&birthdate=2000-05-05&address-postalcode=DN17*", "postalcode_wildcard_searchset.json",
		"the sandbox's scores and order of the twenty matches"},
	{"family=Me*&birthdate=2015-10-22&general-practitioner=A20047", "general_practitioner_searchset.json",
		"the sandbox scores this wildcard match 0.9259"},
	{"family=Jones&gender=male&birthdate=ge1992-01-01", "jackie_jones_searchset.json",
		"synthetic male Joneses born since 1992 match too; the sandbox answers its one patient"},
}

func init() {
	for _, st := range stubScenarios {
		ps, err := parseParams(st.query)
		if err != nil {
			panic(fmt.Sprintf("pds: stub scenario %q: %v", st.query, err))
		}
		raw, rerr := fixtures.FS.ReadFile("searchResponses/" + st.stub)
		if rerr != nil {
			panic(rerr) // embedded: a build defect
		}
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
				Search   struct {
					Score float64 `json:"score"`
				} `json:"search"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			panic(fmt.Sprintf("pds: stub %s: %v", st.stub, err))
		}
		sc := scenarioAnswer{why: st.why + " (" + st.stub + ")"}
		for _, e := range b.Entry {
			var head struct {
				ID string `json:"id"`
			}
			var buf bytes.Buffer
			if json.Unmarshal(e.Resource, &head) != nil || json.Compact(&buf, e.Resource) != nil {
				panic(fmt.Sprintf("pds: stub %s: bad entry", st.stub))
			}
			sc.ids = append(sc.ids, head.ID)
			sc.scores = append(sc.scores, e.Search.Score)
			sc.resources = append(sc.resources, buf.Bytes())
		}
		scenarios[canonicalQuery(ps)] = sc
	}
}
