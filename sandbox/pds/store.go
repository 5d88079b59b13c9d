package pds

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
)

// store holds the records a simulator has updated. The database (and its
// search indexes) is immutable and may be shared by many simulators; each
// simulator overlays its own newer versions, so one simulator's updates are
// never seen by another.
type store struct {
	mu      sync.RWMutex
	patched map[string]*record // NHS number → current version
}

// lookup returns the current record for an NHS number, or nil.
func (s *Simulator) lookup(id string) *record {
	s.store.mu.RLock()
	r, ok := s.store.patched[id]
	s.store.mu.RUnlock()
	if ok {
		return r
	}
	return s.db.byID[id]
}

// readable is lookup for read, patch and related people: nil for a
// search-only fixture patient, as the sandbox answers 404 for them.
func (s *Simulator) readable(id string) *record {
	if r := s.lookup(id); r != nil && !r.searchOnly {
		return r
	}
	return nil
}

// patchedRecords returns the records updated so far.
func (s *Simulator) patchedRecords() map[string]*record {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	if len(s.store.patched) == 0 {
		return nil
	}
	out := make(map[string]*record, len(s.store.patched))
	for id, r := range s.store.patched {
		out[id] = r
	}
	return out
}

// commit installs next as the current version of its patient if base still
// is: a compare-and-swap, so of several updates made against the same
// version exactly one wins.
func (s *Simulator) commit(base, next *record) bool {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	cur, ok := s.store.patched[base.id]
	if !ok {
		cur = s.db.byID[base.id]
	}
	if cur != base {
		return false
	}
	if s.store.patched == nil {
		s.store.patched = map[string]*record{}
	}
	s.store.patched[base.id] = next
	return true
}

// version is the record's version number (its ETag W/"<n>").
func (r *record) version() int {
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.etag, `W/"`), `"`))
	return n
}

// patchedRecord builds the record of an updated patient from its new full
// body: match data, search copy and ETag are all derived again, so reads and
// searches see the new version.
func patchedRecord(base *record, full []byte, version int) (*record, error) {
	var p fhirPatient
	if err := json.Unmarshal(full, &p); err != nil {
		return nil, err
	}
	r := &record{
		id:         base.id,
		restricted: p.restricted(),
		gender:     p.Gender,
		person:     base.person,
		etag:       `W/"` + strconv.Itoa(version) + `"`,
	}
	r.birth, r.hasBirth = parseDay(p.BirthDate)
	r.death, r.hasDeath = parseDay(p.DeceasedDateTime)
	if len(p.GeneralPractitioner) > 0 {
		r.gp = normPostcode(p.GeneralPractitioner[0].Identifier.Value)
	}
	r.addMatchData(&p)
	// Everything the previous version matched on stays matchable as
	// history: PDS keeps previous names, addresses and contact details (and
	// a restricted person's hidden ones) for history and fuzzy searches.
	for _, n := range base.names {
		r.addName(n.family, n.given, true)
	}
	for _, v := range base.postcodes {
		r.addValue(&r.postcodes, v.v, true)
	}
	for _, v := range base.emails {
		r.addValue(&r.emails, v.v, true)
	}
	for _, v := range base.phones {
		r.addValue(&r.phones, v.v, true)
	}
	r.finish()

	var err error
	r.full = full
	if r.search, err = reduce(full); err != nil {
		return nil, err
	}
	if r.restricted {
		if r.full, err = redact(full); err != nil {
			return nil, err
		}
		if r.search, err = redact(r.search); err != nil {
			return nil, err
		}
	}
	return r, nil
}
