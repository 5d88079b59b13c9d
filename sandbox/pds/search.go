package pds

import (
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// param is one query parameter, in request order.
type param struct{ key, value string }

// searchParams lists the query parameters PDS search accepts. "history" is
// not in the specification but the public sandbox accepts it as _history,
// and NHS England's Postman collection relies on that.
var searchParams = map[string]bool{
	"_fuzzy-match": true, "_exact-match": true, "_history": true, "history": true,
	"_max-results": true, "family": true, "given": true, "gender": true,
	"birthdate": true, "death-date": true, "address-postalcode": true,
	"address-postcode": true, "general-practitioner": true, "email": true,
	"phone": true,
}

// repeatable says how many times a parameter may appear (default once).
var repeatable = map[string]int{"given": 10, "birthdate": 2, "death-date": 2}

const defaultMaxResults = 50

// dateRange is an inclusive range of days.
type dateRange struct{ lo, hi day }

func (d dateRange) contains(x day) bool { return x >= d.lo && x <= d.hi }

// query is a validated search.
type query struct {
	family       string // normalised, may hold '*'
	familySdx    string // Soundex of family (fuzzy search)
	familyWild   bool
	given        []string // normalised; only given[0] may hold '*'
	givenSdx     []string // Soundex of each given name (fuzzy search)
	givenWild    bool
	gender       string
	birth        dateRange
	death        *dateRange
	postcode     string // normalised, may hold '*'
	postcodeWild bool
	postcodeSet  bool
	gp           string
	email        string
	phone        string
	fuzzy        bool
	exact        bool
	history      bool
	max          int
}

// parseParams splits a raw query into parameters, keeping their order.
// Parameters with an empty name (a trailing "&=") are ignored, as PDS does.
func parseParams(raw string) ([]param, *apiError) {
	var out []param
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, errInvalidValue(k, "query")
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, errInvalidValue(v, key)
		}
		if key == "" {
			continue
		}
		out = append(out, param{key, value})
	}
	return out, nil
}

var datePattern = regexp.MustCompile(`^(eq|ge|le)?([0-9]{4}-[0-9]{2}-[0-9]{2})$`)

// parseDateParam reads "[eq|ge|le]YYYY-MM-DD" values into a range.
func parseDateParam(field string, values []string) (dateRange, *apiError) {
	r := dateRange{minDay, maxDay}
	type bound struct {
		prefix string
		d      day
	}
	var bs []bound
	for _, v := range values {
		m := datePattern.FindStringSubmatch(v)
		if m == nil {
			return r, errInvalidValue(v, field)
		}
		d, ok := parseDay(m[2])
		if !ok {
			return r, errInvalidValue(v, field)
		}
		p := m[1]
		if p == "" {
			p = "eq"
		}
		bs = append(bs, bound{p, d})
	}
	switch {
	case len(bs) == 1 && bs[0].prefix == "eq":
		r = dateRange{bs[0].d, bs[0].d}
	case len(bs) == 1 && bs[0].prefix == "ge":
		r.lo = bs[0].d
	case len(bs) == 1 && bs[0].prefix == "le":
		r.hi = bs[0].d
	case len(bs) == 2 && bs[0].prefix == "ge" && bs[1].prefix == "le":
		r = dateRange{bs[0].d, bs[1].d}
	case len(bs) == 2 && bs[0].prefix == "le" && bs[1].prefix == "ge":
		r = dateRange{bs[1].d, bs[0].d}
	default:
		return r, errInvalidSearchData("A range of '" + field + "' needs one 'ge' and one 'le' value")
	}
	return r, nil
}

func parseBool(field, v string) (bool, *apiError) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errInvalidValue(v, field)
}

const minimumCriteria = "No searches were performed as the search criteria did not meet the minimum requirements"

// parseQuery validates the parameters of a search in the order the sandbox
// checks them and builds the query.
func parseQuery(ps []param) (*query, *apiError) {
	if len(ps) == 0 {
		return nil, errUnsupportedService()
	}
	values := map[string][]string{}
	var unknown []string
	for _, p := range ps {
		if !searchParams[p.key] {
			if values[p.key] == nil {
				unknown = append(unknown, p.key)
			}
		}
		values[p.key] = append(values[p.key], p.value)
	}
	if len(unknown) > 0 {
		return nil, errAdditionalProperties(unknown)
	}
	for k, vs := range values {
		limit := repeatable[k]
		if limit == 0 {
			limit = 1
		}
		if len(vs) > limit {
			return nil, errInvalidSearchData("Too many values for '" + k + "'")
		}
	}

	q := &query{max: defaultMaxResults, birth: dateRange{minDay, maxDay}}
	var err *apiError
	// Dates first, as the sandbox does.
	if vs := values["birthdate"]; vs != nil {
		if q.birth, err = parseDateParam("birthdate", vs); err != nil {
			return nil, err
		}
	}
	if vs := values["death-date"]; vs != nil {
		d, err := parseDateParam("death-date", vs)
		if err != nil {
			return nil, err
		}
		q.death = &d
	}

	one := func(k string) string {
		if vs := values[k]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	for _, k := range []string{"_fuzzy-match", "_exact-match", "_history", "history"} {
		if vs := values[k]; vs != nil {
			b, err := parseBool(k, vs[0])
			if err != nil {
				return nil, err
			}
			switch k {
			case "_fuzzy-match":
				q.fuzzy = b
			case "_exact-match":
				q.exact = b
			default:
				q.history = q.history || b
			}
		}
	}
	if vs := values["_max-results"]; vs != nil {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > 50 {
			return nil, errInvalidValue(vs[0], "_max-results")
		}
		q.max = n
	}
	if vs := values["gender"]; vs != nil {
		switch vs[0] {
		case "male", "female", "other", "unknown":
			q.gender = vs[0]
		default:
			return nil, errInvalidValue(vs[0], "gender")
		}
	}
	for _, k := range []string{"family", "given", "address-postalcode", "address-postcode", "general-practitioner", "email", "phone"} {
		for _, v := range values[k] {
			if strings.TrimSpace(v) == "" || ((k == "family" || k == "given") && len([]rune(v)) > 35) {
				return nil, errInvalidValue(v, k)
			}
		}
	}

	if values["address-postalcode"] != nil && values["address-postcode"] != nil {
		return nil, errInvalidSearchData("Only one of 'address-postalcode' and 'address-postcode' may be used")
	}
	postKey := "address-postalcode"
	if values["address-postcode"] != nil {
		postKey = "address-postcode"
	}

	// Wildcards: not in the first two characters, not in fuzzy search, not in
	// exact-only fields, and only in the first given name.
	wild := func(k, v string, allowed bool) (bool, *apiError) {
		i := strings.IndexByte(v, '*')
		switch {
		case i < 0:
			return false, nil
		case !allowed:
			return false, errInvalidSearchData("Wildcards are not allowed in '" + k + "'")
		case q.fuzzy:
			return false, errInvalidSearchData("Wildcards are not allowed in a fuzzy search")
		case i < 2:
			return false, errInvalidSearchData("A wildcard in '" + k + "' must follow at least two characters")
		}
		return true, nil
	}
	if v := one("family"); v != "" {
		q.family = normName(v)
		if q.familyWild, err = wild("family", v, true); err != nil {
			return nil, err
		}
	}
	for i, v := range values["given"] {
		w, err := wild("given", v, i == 0)
		if err != nil {
			return nil, err
		}
		q.givenWild = q.givenWild || w
		q.given = append(q.given, normName(v))
	}
	if v := one(postKey); v != "" {
		q.postcodeSet = true
		q.postcode = normPostcode(v)
		if q.postcodeWild, err = wild(postKey, v, true); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"general-practitioner", "email", "phone"} {
		if _, err := wild(k, one(k), false); err != nil {
			return nil, err
		}
	}
	q.familySdx = soundex(q.family)
	for _, g := range q.given {
		q.givenSdx = append(q.givenSdx, soundex(g))
	}
	q.gp = normPostcode(one("general-practitioner"))
	q.email = normEmail(one("email"))
	q.phone = normPhone(one("phone"))

	if values["birthdate"] == nil {
		return nil, errMissingValue("Missing value - 'birth_date/birth_date_range_start/birth_date_range_end'")
	}
	if q.fuzzy {
		withGiven := len(q.given) > 0
		byPostcode := q.gender != "" && q.postcodeSet
		if !(withGiven && q.family != "") && !(byPostcode && (q.family != "" || withGiven)) {
			return nil, errInvalidSearchData(minimumCriteria)
		}
	} else if q.family == "" {
		return nil, errInvalidSearchData(minimumCriteria)
	}
	return q, nil
}

// hit is one search result.
type hit struct {
	rec   *record
	score float64
	// resource, when set, is the entry's resource as a canned answer has
	// it (scenarios with a stub), instead of rec.search.
	resource []byte
}

// search answers GET /Patient?….
func (s *Simulator) search(w http.ResponseWriter, r *http.Request) *apiError {
	ps, err := parseParams(r.URL.RawQuery)
	if err != nil {
		return err
	}
	q, err := parseQuery(ps)
	if err != nil {
		return err
	}
	hits, ok := s.scenario(ps)
	if !ok {
		hits = s.db.findWith(q, s.patchedRecords())
	}
	if len(hits) > q.max {
		return errTooManyMatches()
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.bundle(r, hits))
	return nil
}

// find runs a query over the population: candidates from the narrowest
// index, then matching and scoring each.
func (db *database) find(q *query) []hit { return db.findWith(q, nil) }

// findWith runs a query over the population as a simulator's updates left
// it: a patched record is matched in its new version (and not through the
// shared indexes, which hold the old one).
func (db *database) findWith(q *query, patched map[string]*record) []hit {
	cands := db.birthRange(q.birth.lo, q.birth.hi)
	if q.family != "" {
		var byName []*record
		switch {
		case q.fuzzy:
			byName = db.bySdx[q.familySdx]
		case q.familyWild:
			if i, j := db.familyPrefixRange(q.family[:strings.IndexByte(q.family, '*')]); j-i < len(cands) {
				byName = db.familyPrefix(i, j)
			} else {
				byName = cands
			}
		default:
			byName = db.byFamily[q.family]
		}
		if len(byName) < len(cands) {
			cands = byName
		}
	}
	var hits []hit
	if len(patched) > 0 {
		fresh := make([]*record, 0, len(cands)+len(patched))
		for _, r := range cands {
			if _, ok := patched[r.id]; !ok {
				fresh = append(fresh, r)
			}
		}
		for _, r := range patched {
			fresh = append(fresh, r)
		}
		cands = fresh
	}
	for _, r := range cands {
		if sc, ok := q.match(r); ok {
			if q.exact && sc < 1 {
				continue
			}
			hits = append(hits, hit{rec: r, score: sc})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		return hits[i].rec.id < hits[j].rec.id
	})
	return hits
}

// bundle renders a searchset from precomputed entry resources.
func (s *Simulator) bundle(r *http.Request, hits []hit) []byte {
	base := s.baseURL(r)
	size := 128
	for _, h := range hits {
		size += len(h.rec.search) + len(h.resource) + len(base) + 64
	}
	b := make([]byte, 0, size)
	b = append(b, `{"resourceType":"Bundle","type":"searchset","timestamp":"`...)
	b = time.Now().UTC().AppendFormat(b, "2006-01-02T15:04:05+00:00")
	b = append(b, `","total":`...)
	b = strconv.AppendInt(b, int64(len(hits)), 10)
	if len(hits) > 0 {
		b = append(b, `,"entry":[`...)
		for i, h := range hits {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"fullUrl":`...)
			b = strconv.AppendQuote(b, base+"/Patient/"+h.rec.id)
			b = append(b, `,"search":{"score":`...)
			b = strconv.AppendFloat(b, h.score, 'f', -1, 64)
			b = append(b, `},"resource":`...)
			if h.resource != nil {
				b = append(b, h.resource...)
			} else {
				b = append(b, h.rec.search...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
