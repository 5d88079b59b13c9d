package pds

import (
	"sort"
	"strings"
)

// scenarios are the public sandbox's canned answers that its data cannot
// explain. They are consulted, after validation, before the generic search,
// exactly as the sandbox does (it is a table of canned answers). Keep this
// list minimal: where a canned answer can be explained by data, model the
// data instead (see fixtureHistory).
//
// Keys are canonical queries (see canonicalQuery): parameters sorted by name,
// names and e-mail lower-cased, the "eq" date prefix, false flags and
// _max-results dropped.
var scenarios = map[string]struct {
	why    string
	ids    []string
	scores []float64
}{
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
			hits = append(hits, hit{r, sc.scores[i]})
		}
	}
	return hits, true
}
