package pds

import (
	"math"
	"strings"
)

// Scoring. PDS documents only that 1.0 is an exact match and lower scores
// are partial matches; the simulator scores a result as the weighted mean of
// how well each supplied criterion matched (1 exact, less for wildcards,
// homophones and transposed names, 0 for a fuzzy-mode mismatch of a
// criterion that only affects the score), rounded to 4 decimals.
const (
	weightFamily     = 3
	weightFirstGiven = 2
	weightMoreGiven  = 1
	weightBirth      = 3
	weightGender     = 1
	weightPostcode   = 2
	weightOther      = 1 // death date, GP, e-mail, phone

	scoreSoundex    = 0.85
	scoreTransposed = 0.8
)

type scorer struct{ sum, weights float64 }

func (s *scorer) add(weight, score float64) { s.sum += weight * score; s.weights += weight }

func (s *scorer) score() float64 {
	if s.weights == 0 {
		return 1
	}
	return math.Round(s.sum/s.weights*10000) / 10000
}

// wildScore scores a wildcard match by how much of the value the pattern's
// literal characters pin down.
func wildScore(pattern, value string) float64 {
	if !strings.Contains(pattern, "*") {
		return 1
	}
	n := len(value)
	if n == 0 {
		return 0.5
	}
	return 0.5 + 0.5*math.Min(1, float64(literalLen(pattern))/float64(n))
}

// match reports whether r satisfies q, and its score.
func (q *query) match(r *record) (float64, bool) {
	if !r.hasBirth || !q.birth.contains(r.birth) {
		return 0, false
	}
	if q.gender != "" && r.gender != q.gender {
		return 0, false
	}
	// Restricted patients are never found by where they live or who their GP is.
	if r.restricted && (q.postcodeSet || q.gp != "") {
		return 0, false
	}
	if q.fuzzy {
		return q.matchFuzzy(r)
	}
	return q.matchTrace(r)
}

// matchTrace is the non-fuzzy search: every supplied criterion must match,
// on current data or, with _history, on previous data too.
func (q *query) matchTrace(r *record) (float64, bool) {
	var sc scorer
	sc.add(weightBirth, 1)
	if q.gender != "" {
		sc.add(weightGender, 1)
	}
	if q.death != nil {
		if !r.hasDeath || !q.death.contains(r.death) {
			return 0, false
		}
		sc.add(weightOther, 1)
	}

	// Names: family and given names must match the same name, position by
	// position.
	best, found := 0.0, false
	var bestGiven []float64
	for _, n := range r.names {
		if n.historic && !q.history {
			continue
		}
		if !globMatch(q.family, n.family) || len(q.given) > len(n.given) {
			continue
		}
		gs := make([]float64, len(q.given))
		ok := true
		for i, g := range q.given {
			if !globMatch(g, n.given[i]) {
				ok = false
				break
			}
			gs[i] = wildScore(g, n.given[i])
		}
		if !ok {
			continue
		}
		fs := wildScore(q.family, n.family)
		if !found || fs > best {
			best, bestGiven, found = fs, gs, true
		}
	}
	if !found {
		return 0, false
	}
	sc.add(weightFamily, best)
	for i, g := range bestGiven {
		w := float64(weightMoreGiven)
		if i == 0 {
			w = weightFirstGiven
		}
		sc.add(w, g)
	}

	if q.postcodeSet {
		s, ok := bestValue(r.postcodes, q.postcode, q.history, true)
		if !ok {
			return 0, false
		}
		sc.add(weightPostcode, s)
	}
	if q.gp != "" {
		if r.gp != q.gp {
			return 0, false
		}
		sc.add(weightOther, 1)
	}
	if q.email != "" {
		if _, ok := bestValue(r.emails, q.email, q.history, false); !ok {
			return 0, false
		}
		sc.add(weightOther, 1)
	}
	if q.phone != "" {
		if _, ok := bestValue(r.phones, q.phone, q.history, false); !ok {
			return 0, false
		}
		sc.add(weightOther, 1)
	}
	return sc.score(), true
}

// bestValue finds want among vs (previous values too when history is set),
// with wildcards when allowed.
func bestValue(vs []matchValue, want string, history, wildcards bool) (float64, bool) {
	best, found := 0.0, false
	for _, v := range vs {
		if v.historic && !history {
			continue
		}
		switch {
		case v.v == want:
			return 1, true
		case wildcards && globMatch(want, v.v):
			if s := wildScore(want, v.v); s > best {
				best, found = s, true
			}
		}
	}
	return best, found
}

// nameScore compares a query name with a record name, each with its
// Soundex code: 1 when equal, less when they only sound alike.
func nameScore(q, qSdx, n, nSdx string) float64 {
	switch {
	case q == n:
		return 1
	case qSdx != "" && qSdx == nSdx:
		return scoreSoundex
	}
	return 0
}

// matchFuzzy is the fuzzy search: homophones and transposed names match,
// history is always searched, and death date and GP only affect the score.
func (q *query) matchFuzzy(r *record) (float64, bool) {
	var sc scorer
	sc.add(weightBirth, 1)
	if q.gender != "" {
		sc.add(weightGender, 1)
	}
	if q.postcodeSet {
		if _, ok := bestValue(r.postcodes, q.postcode, true, false); !ok {
			return 0, false
		}
		sc.add(weightPostcode, 1)
	}
	if q.email != "" {
		if _, ok := bestValue(r.emails, q.email, true, false); !ok {
			return 0, false
		}
		sc.add(weightOther, 1)
	}
	if q.phone != "" {
		if _, ok := bestValue(r.phones, q.phone, true, false); !ok {
			return 0, false
		}
		sc.add(weightOther, 1)
	}

	// Family name: any current or previous family name, or transposed with
	// a given name.
	if q.family != "" {
		best := 0.0
		for _, n := range r.names {
			best = math.Max(best, nameScore(q.family, q.familySdx, n.family, n.familySdx))
			for k, g := range n.given {
				best = math.Max(best, scoreTransposed*nameScore(q.family, q.familySdx, g, n.givenSdx[k]))
			}
		}
		if best == 0 {
			return 0, false
		}
		sc.add(weightFamily, best)
	}
	// Given names: the first must match (any given name, or transposed with
	// the family name) unless the family name already met the minimum
	// criteria; the others only affect the score.
	for i, g := range q.given {
		best := 0.0
		for _, n := range r.names {
			for k, rg := range n.given {
				best = math.Max(best, nameScore(g, q.givenSdx[i], rg, n.givenSdx[k]))
			}
			if i == 0 {
				best = math.Max(best, scoreTransposed*nameScore(g, q.givenSdx[i], n.family, n.familySdx))
			}
		}
		if i == 0 && best == 0 && q.family == "" {
			return 0, false
		}
		w := float64(weightMoreGiven)
		if i == 0 {
			w = weightFirstGiven
		}
		sc.add(w, best)
	}

	if q.death != nil {
		s := 0.0
		if r.hasDeath && q.death.contains(r.death) {
			s = 1
		}
		sc.add(weightOther, s)
	}
	if q.gp != "" {
		s := 0.0
		if r.gp == q.gp {
			s = 1
		}
		sc.add(weightOther, s)
	}
	return sc.score(), true
}
