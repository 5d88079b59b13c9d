package pds

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/carerecords/fhir-facade/sandbox/pds/fixtures"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// record is one patient as the simulator serves and matches it. Records are
// immutable once built and shared between goroutines.
type record struct {
	id         string
	full       []byte // read body (already redacted when restricted)
	etag       string // ETag header value, W/"<versionId>"
	search     []byte // search entry resource (reduced, redacted)
	restricted bool
	// searchOnly marks a fixture patient the public sandbox only returns in
	// canned search answers: like the sandbox, read, patch and related
	// people answer 404 for it.
	searchOnly bool

	gender    string
	birth     day
	hasBirth  bool
	death     day
	hasDeath  bool
	gp        string // upper case ODS code
	names     []matchName
	postcodes []matchValue // normalised
	emails    []matchValue // lower case
	phones    []matchValue // digits
	nameSdx   []string     // distinct Soundex codes of every family and given name

	person *population.Person // the synthetic person, nil for fixture patients
}

type matchName struct {
	family    string   // normalised
	given     []string // normalised
	familySdx string   // Soundex of family
	givenSdx  []string // Soundex of each given name
	historic  bool
}

type matchValue struct {
	v        string
	historic bool
}

func (r *record) addValue(list *[]matchValue, v string, historic bool) {
	if v == "" {
		return
	}
	for i, m := range *list {
		if m.v == v {
			if !historic {
				(*list)[i].historic = false
			}
			return
		}
	}
	*list = append(*list, matchValue{v, historic})
}

func (r *record) addName(family string, given []string, historic bool) {
	n := matchName{family: normName(family), historic: historic}
	n.familySdx = soundex(n.family)
	for _, g := range given {
		ng := normName(g)
		n.given = append(n.given, ng)
		n.givenSdx = append(n.givenSdx, soundex(ng))
	}
	if n.family == "" && len(n.given) == 0 {
		return
	}
	for i, m := range r.names {
		if m.family == n.family && equalStrings(m.given, n.given) {
			if !historic {
				r.names[i].historic = false
			}
			return
		}
	}
	r.names = append(r.names, n)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// finish computes the derived match data.
func (r *record) finish() {
	seen := map[string]bool{}
	add := func(c string) {
		if c != "" && !seen[c] {
			seen[c] = true
			r.nameSdx = append(r.nameSdx, c)
		}
	}
	for _, n := range r.names {
		add(n.familySdx)
		for _, g := range n.givenSdx {
			add(g)
		}
	}
}

// database is the served population with its search indexes.
type database struct {
	byID        map[string]*record
	superseded  map[string]string // old NHS number → superseding one
	invalidated map[string]bool

	byBirth  []*record            // records with a birth date, by birth then id
	byFamily map[string][]*record // normalised family (current and historic) → records
	families []familyEntry        // sorted by family, for wildcard prefixes
	bySdx    map[string][]*record // Soundex of any family or given name → records
}

type familyEntry struct {
	family string
	rec    *record
}

var (
	dbMu    sync.Mutex
	dbCache = map[dbKey]*database{}
)

// dbKey identifies a population slice: the same backing array and length
// give the same database, so simulators over population.Default() share one.
type dbKey struct {
	first *population.Person
	n     int
}

func databaseFor(pop []population.Person) (*database, error) {
	k := dbKey{n: len(pop)}
	if len(pop) > 0 {
		k.first = &pop[0]
	}
	dbMu.Lock()
	defer dbMu.Unlock()
	if db, ok := dbCache[k]; ok {
		return db, nil
	}
	db, err := buildDatabase(pop)
	if err != nil {
		return nil, err
	}
	if len(pop) >= 1000 { // keep only the big ones; tests build many small ones
		dbCache[k] = db
	}
	return db, nil
}

func buildDatabase(pop []population.Person) (*database, error) {
	fx, err := fixtures.Patients()
	if err != nil {
		return nil, err
	}
	db := &database{
		byID:        make(map[string]*record, len(fx)+len(pop)),
		superseded:  supersededNumbers,
		invalidated: map[string]bool{InvalidatedNHSNumber: true},
		byFamily:    map[string][]*record{},
		bySdx:       map[string][]*record{},
	}
	for _, p := range fx {
		r, err := fixtureRecord(p)
		if err != nil {
			return nil, fmt.Errorf("pds: fixture patient %s: %w", p.ID, err)
		}
		db.byID[r.id] = r
	}
	for i := range pop {
		if _, taken := db.byID[pop[i].NHSNumber]; taken {
			continue // never happens: synthetic numbers use the 999 test range
		}
		r := personRecord(&pop[i])
		db.byID[r.id] = r
	}
	db.index()
	return db, nil
}

func (db *database) index() {
	ids := make([]string, 0, len(db.byID))
	for id := range db.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := db.byID[id]
		if r.hasBirth {
			db.byBirth = append(db.byBirth, r)
		}
		seen := map[string]bool{}
		for _, n := range r.names {
			if n.family == "" || seen[n.family] {
				continue
			}
			seen[n.family] = true
			db.byFamily[n.family] = append(db.byFamily[n.family], r)
			db.families = append(db.families, familyEntry{n.family, r})
		}
		for _, c := range r.nameSdx {
			db.bySdx[c] = append(db.bySdx[c], r)
		}
	}
	sort.SliceStable(db.byBirth, func(i, j int) bool { return db.byBirth[i].birth < db.byBirth[j].birth })
	sort.SliceStable(db.families, func(i, j int) bool { return db.families[i].family < db.families[j].family })
}

// birthRange returns the records born within [lo, hi].
func (db *database) birthRange(lo, hi day) []*record {
	i := sort.Search(len(db.byBirth), func(i int) bool { return db.byBirth[i].birth >= lo })
	j := sort.Search(len(db.byBirth), func(i int) bool { return db.byBirth[i].birth > hi })
	if j < i {
		return nil
	}
	return db.byBirth[i:j]
}

// familyPrefixRange returns the span of db.families whose family starts
// with prefix.
func (db *database) familyPrefixRange(prefix string) (int, int) {
	i := sort.Search(len(db.families), func(i int) bool { return db.families[i].family >= prefix })
	j := sort.Search(len(db.families), func(j int) bool {
		f := db.families[j].family
		return f >= prefix && !strings.HasPrefix(f, prefix)
	})
	if j < i {
		j = i
	}
	return i, j
}

// familyPrefix returns the records with a family name in db.families[i:j],
// each once.
func (db *database) familyPrefix(i, j int) []*record {
	out := make([]*record, 0, j-i)
	seen := make(map[*record]bool, j-i)
	for _, e := range db.families[i:j] {
		if !seen[e.rec] {
			seen[e.rec] = true
			out = append(out, e.rec)
		}
	}
	return out
}

// fhirPatient holds the Patient fields the simulator matches on.
type fhirPatient struct {
	ID   string `json:"id"`
	Meta struct {
		VersionID string `json:"versionId"`
		Security  []struct {
			Code string `json:"code"`
		} `json:"security"`
	} `json:"meta"`
	Name []struct {
		Use    string   `json:"use"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	Gender           string `json:"gender"`
	BirthDate        string `json:"birthDate"`
	DeceasedDateTime string `json:"deceasedDateTime"`
	Address          []struct {
		Use        string `json:"use"`
		PostalCode string `json:"postalCode"`
	} `json:"address"`
	Telecom []struct {
		System string `json:"system"`
		Value  string `json:"value"`
		Use    string `json:"use"`
	} `json:"telecom"`
	GeneralPractitioner []struct {
		Identifier struct {
			Value string `json:"value"`
		} `json:"identifier"`
	} `json:"generalPractitioner"`
}

func (p *fhirPatient) restricted() bool {
	for _, s := range p.Meta.Security {
		if s.Code == "R" || s.Code == "V" {
			return true
		}
	}
	return false
}

// currentNameUses are the name uses PDS searches without history (and
// returns in search results).
var currentNameUses = map[string]bool{"usual": true, "nickname": true, "temp": true}

// addMatchData adds the names, addresses and telecoms of p to r. Names and
// addresses with other uses (old, maiden…) count as history.
func (r *record) addMatchData(p *fhirPatient) {
	for _, n := range p.Name {
		r.addName(n.Family, n.Given, !currentNameUses[n.Use])
	}
	for _, a := range p.Address {
		r.addValue(&r.postcodes, normPostcode(a.PostalCode), a.Use != "home" && a.Use != "temp")
	}
	for _, t := range p.Telecom {
		historic := t.Use == "old"
		switch t.System {
		case "email":
			r.addValue(&r.emails, normEmail(t.Value), historic)
		case "phone":
			r.addValue(&r.phones, normPhone(t.Value), historic)
		}
	}
}

func fixtureRecord(p fixtures.Patient) (*record, error) {
	var full fhirPatient
	if err := json.Unmarshal(p.Full, &full); err != nil {
		return nil, err
	}
	// The search view is what search matches on and returns: the sandbox's
	// own reduced copy when the fixtures hold one (for 9000000025 it carries a
	// different birth date from the read record, as in the public sandbox).
	view := full
	if p.Search != nil {
		view = fhirPatient{}
		if err := json.Unmarshal(p.Search, &view); err != nil {
			return nil, err
		}
	}
	r := &record{
		id:         p.ID,
		restricted: full.restricted() || view.restricted(),
		searchOnly: !strings.HasPrefix(p.FullSource, "patientResponses/") && p.ID != keptNHSNumber,
		gender:     view.Gender,
	}
	r.birth, r.hasBirth = parseDay(view.BirthDate)
	r.death, r.hasDeath = parseDay(view.DeceasedDateTime)
	if len(view.GeneralPractitioner) > 0 {
		r.gp = normPostcode(view.GeneralPractitioner[0].Identifier.Value)
	}
	r.addMatchData(&view)
	r.addMatchData(&full)
	if h, ok := fixtureHistory[p.ID]; ok {
		for _, n := range h.names {
			r.addName(n.family, n.given, true)
		}
		for _, e := range h.emails {
			r.addValue(&r.emails, normEmail(e), true)
		}
	}
	r.finish()

	var err error
	r.full = p.Full
	if r.restricted {
		if r.full, err = redact(p.Full); err != nil {
			return nil, err
		}
	}
	if p.Search != nil {
		r.search = p.Search
	} else if r.search, err = reduce(p.Full); err != nil {
		return nil, err
	}
	if r.restricted {
		if r.search, err = redact(r.search); err != nil {
			return nil, err
		}
	}
	v := full.Meta.VersionID
	if v == "" {
		v = "1"
	}
	r.etag = `W/"` + v + `"`
	return r, nil
}

// restrictedFields are removed from restricted (sensitive) patients.
var restrictedFields = []string{"address", "telecom", "contact", "generalPractitioner", "managingOrganization"}

// redact removes the location-revealing fields of a restricted patient.
func redact(raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	changed := false
	for _, f := range restrictedFields {
		if _, ok := m[f]; ok {
			delete(m, f)
			changed = true
		}
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(m)
}

// searchFields are the Patient elements PDS returns in search results.
var searchFields = map[string]bool{
	"resourceType": true, "id": true, "identifier": true, "meta": true,
	"name": true, "gender": true, "birthDate": true,
	"multipleBirthBoolean": true, "multipleBirthInteger": true,
	"deceasedBoolean": true, "deceasedDateTime": true,
	"address": true, "telecom": true, "contact": true,
	"generalPractitioner": true, "extension": true,
}

// searchExtensions are the extensions kept in search results (birth place,
// pharmacies, communication and contact preferences are not).
var searchExtensions = map[string]bool{
	"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus": true,
}

// reduce derives a search result from a full record: only usual, nickname
// and temp names, only home addresses, no place of birth, pharmacies,
// communication or contact preferences.
func reduce(raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k := range m {
		if !searchFields[k] {
			delete(m, k)
		}
	}
	if err := filterList(m, "name", func(e map[string]json.RawMessage) bool {
		var use string
		_ = json.Unmarshal(e["use"], &use)
		return currentNameUses[use]
	}); err != nil {
		return nil, err
	}
	if err := filterList(m, "address", func(e map[string]json.RawMessage) bool {
		var use string
		_ = json.Unmarshal(e["use"], &use)
		return use == "home"
	}); err != nil {
		return nil, err
	}
	if err := filterList(m, "extension", func(e map[string]json.RawMessage) bool {
		var url string
		_ = json.Unmarshal(e["url"], &url)
		return searchExtensions[url]
	}); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// filterList keeps the elements of the list m[key] for which keep is true,
// dropping the key when none is left.
func filterList(m map[string]json.RawMessage, key string, keep func(map[string]json.RawMessage) bool) error {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	var out []json.RawMessage
	for _, el := range list {
		var e map[string]json.RawMessage
		if err := json.Unmarshal(el, &e); err != nil {
			return err
		}
		if keep(e) {
			out = append(out, el)
		}
	}
	if len(out) == 0 {
		delete(m, key)
		return nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	m[key] = b
	return nil
}
