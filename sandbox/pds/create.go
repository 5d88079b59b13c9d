package pds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// POST /Patient (OpenAPI components/paths/patient-create.yaml, request
// schema PatientCreateRequest.yaml): create a record for a new patient and
// allocate an NHS number, only after a search has found none (not for
// births).
//
// Checks, in order, after the X-Request-ID and token: the media type (JSON),
// then the body as the public sandbox checks it, with its wording: name,
// address, gender and birthDate present ("Missing value - 'address'"),
// address/0 an object with a period, name/0/given a list, gender one of
// male, female or unknown ("Invalid value - 'other' in field 'gender'"),
// birthDate a date; then what the schema adds: no other members
// (ADDITIONAL_PROPERTIES), exactly one name with a family name
// (TOO_MANY_VALUES_SUBMITTED, MISSING_VALUE), the Registering Authority
// extension (MISSING_VALUE).
//
// Duplicates: PDS refuses to create a record that matches one it holds,
// answering 200 with an OperationOutcome, SINGLE_MATCH (the NHS number
// found, in diagnostics) or MULTIPLE_MATCHES. The simulator matches as the
// public sandbox does, on the family name and a current postcode: the
// sandbox's "McMatch-Single" (5900054586, BAP 4WG) and "McMatch-Multiple"
// (two at DN19 7UD) are in the data, and a created record is matched like
// any other, so sending the same demographics twice gives 201 then 200
// SINGLE_MATCH.
//
// A created record answers 201 with the record, ETag W/"1"; it is stored in
// this simulator only, read and searched like every other record, and can
// be updated. NHS numbers are allocated in order from 5182663366 (the one
// the public sandbox always answers), skipping any number the simulator
// already holds, a reserved sandbox number or a synthetic person's, so a
// fresh simulator allocates the same numbers in the same order.
//
// Not modelled: slow creates (503 with Retry-After) and de-duplication by
// X-Request-ID.

// FirstAllocatedNHSNumber is the first NHS number a fresh simulator
// allocates: the one the public sandbox answers to every create.
const FirstAllocatedNHSNumber = "5182663366"

// maxCreateBody bounds a POST /Patient body.
const maxCreateBody = 1 << 20

const registeringAuthorityURL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-RegisteringAuthority"

// createMembers are the members PatientCreateRequest allows.
var createMembers = map[string]bool{
	"resourceType": true, "name": true, "gender": true, "birthDate": true,
	"address": true, "telecom": true, "extension": true,
}

// persistedExtensions are the request's extensions PDS keeps on the record
// (the others are "not persisted", PatientCreateRequest.yaml).
var persistedExtensions = map[string]bool{
	"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSCommunication":    true,
	"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ContactPreference":   true,
	"https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-NHSCommunication":     true,
	"https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-ContactPreference":    true,
	"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-ContactPreference-1": true,
}

// allocator hands out new NHS numbers for one simulator.
type allocator struct {
	mu   sync.Mutex
	next int // the first nine digits of the next candidate
}

func (s *Simulator) create(w http.ResponseWriter, r *http.Request) *apiError {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != contentTypeFHIR) {
			return errInvalidHeader("Content-Type", ct)
		}
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxCreateBody+1))
	if err != nil || len(raw) > maxCreateBody {
		return errInvalidValue("request body", "body")
	}
	req, aerr := parseCreate(raw)
	if aerr != nil {
		return aerr
	}
	if found := s.duplicates(req.family, req.postcodes); len(found) == 1 {
		return errSingleMatch(found[0])
	} else if len(found) > 1 {
		return errMultipleMatches()
	}
	rec, aerr := s.insert(func(nhs string) ([]byte, error) { return req.record(nhs) })
	if aerr != nil {
		return aerr
	}
	w.Header().Set("ETag", rec.etag)
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(rec.full)
	return nil
}

// createRequest is a validated POST /Patient body.
type createRequest struct {
	members   map[string]json.RawMessage
	family    string
	postcodes []string
}

func parseCreate(raw []byte) (*createRequest, *apiError) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}") // as the sandbox reads it: every value missing
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errInvalidValue(strings.TrimSpace(string(raw)), "body")
	}
	var (
		names     []map[string]json.RawMessage
		addresses []json.RawMessage
		gender    string
		birthDate string
	)
	// The public sandbox's checks, in its order and wording.
	for _, k := range []string{"name", "address", "gender", "birthDate"} {
		if v, ok := m[k]; !ok || isEmptyJSON(v) {
			return nil, errMissingValue(fmt.Sprintf("Missing value - '%s'", k))
		}
	}
	if err := json.Unmarshal(m["address"], &addresses); err != nil || len(addresses) == 0 {
		return nil, errInvalidValue(compactJSON(m["address"]), "address")
	}
	first := bytes.TrimSpace(addresses[0])
	if len(first) > 0 && first[0] == '[' {
		return nil, errInvalidValue(compactJSON(first), "address/0")
	}
	var addr0 map[string]json.RawMessage
	if err := json.Unmarshal(first, &addr0); err != nil || addr0 == nil {
		return nil, errInvalidValue(compactJSON(first), "address/0")
	}
	if v, ok := addr0["period"]; !ok || isEmptyJSON(v) {
		return nil, errMissingValue("Missing value - 'address/0/period'")
	}
	if err := json.Unmarshal(m["name"], &names); err != nil || len(names) == 0 || names[0] == nil {
		return nil, errInvalidValue(compactJSON(m["name"]), "name")
	}
	var given []string
	if err := json.Unmarshal(names[0]["given"], &given); err != nil || names[0]["given"] == nil {
		return nil, errInvalidValue(compactJSON(names[0]["given"]), "name/0/given")
	}
	if err := json.Unmarshal(m["gender"], &gender); err != nil {
		return nil, errInvalidValue(compactJSON(m["gender"]), "gender")
	}
	switch gender {
	case "male", "female", "unknown":
	default:
		return nil, errInvalidValue(gender, "gender")
	}
	if err := json.Unmarshal(m["birthDate"], &birthDate); err != nil || !validDate(birthDate) {
		return nil, errInvalidValue(strings.Trim(compactJSON(m["birthDate"]), `"`), "birthDate")
	}

	// What the schema adds.
	var extra []string
	for k := range m {
		if !createMembers[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, errAdditionalProperties(extra)
	}
	if v, ok := m["resourceType"]; ok {
		var rt string
		if json.Unmarshal(v, &rt) != nil || rt != "Patient" {
			return nil, errInvalidValue(strings.Trim(compactJSON(v), `"`), "resourceType")
		}
	}
	if len(names) > 1 {
		return nil, &apiError{status: http.StatusBadRequest, code: "TOO_MANY_VALUES_SUBMITTED",
			diagnostics: "Invalid request with error - too many values submitted for 'name'"}
	}
	var family string
	if err := json.Unmarshal(names[0]["family"], &family); err != nil || strings.TrimSpace(family) == "" {
		return nil, errMissingValue("Missing value - 'name/0/family'")
	}
	if err := checkNameText(family, "name/0/family"); err != nil {
		return nil, err
	}
	for i, g := range given {
		if err := checkNameText(g, fmt.Sprintf("name/0/given/%d", i)); err != nil {
			return nil, err
		}
	}
	var exts []struct {
		URL string `json:"url"`
	}
	if v, ok := m["extension"]; !ok || isEmptyJSON(v) {
		return nil, errMissingValue("Missing value - 'extension'")
	} else if err := json.Unmarshal(v, &exts); err != nil {
		return nil, errInvalidValue(compactJSON(v), "extension")
	}
	hasRA := false
	for _, e := range exts {
		hasRA = hasRA || e.URL == registeringAuthorityURL
	}
	if !hasRA {
		return nil, errMissingValue("Missing value - 'extension/" + registeringAuthorityURL + "'")
	}

	req := &createRequest{members: m, family: family}
	for i, a := range addresses {
		var pa struct {
			PostalCode string `json:"postalCode"`
			Use        string `json:"use"`
		}
		if err := json.Unmarshal(a, &pa); err != nil {
			return nil, errInvalidValue(compactJSON(a), "address/"+strconv.Itoa(i))
		}
		if pa.Use == "" || pa.Use == "home" || pa.Use == "temp" {
			req.postcodes = append(req.postcodes, normPostcode(pa.PostalCode))
		}
	}
	return req, nil
}

// record renders the new patient's record: the request's name, gender,
// birth date, addresses (without blank lines) and telecoms, each list item
// with an id, and the persisted extensions.
func (c *createRequest) record(nhs string) ([]byte, error) {
	out := map[string]any{
		"resourceType": "Patient",
		"id":           nhs,
		"identifier":   []pIdent{{System: nhsnumber.System, Value: nhs, Extension: []pExtension{verifiedNHSNumber}}},
		"meta":         pMeta{VersionID: "1", Security: []pCoding{{System: confidentialitySystem, Code: "U", Display: "unrestricted"}}},
	}
	for _, k := range []string{"gender", "birthDate"} {
		out[k] = c.members[k]
	}
	for _, k := range []string{"name", "address", "telecom"} {
		raw, ok := c.members[k]
		if !ok {
			continue
		}
		var items []map[string]any
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		for i, it := range items {
			it["id"] = elementID(nhs, k+strconv.Itoa(i))
			if k == "address" {
				if lines, ok := it["line"].([]any); ok {
					kept := []any{}
					for _, l := range lines {
						if s, _ := l.(string); s != "" {
							kept = append(kept, l)
						}
					}
					it["line"] = kept
				}
			}
		}
		out[k] = items
	}
	var exts []map[string]any
	_ = json.Unmarshal(c.members["extension"], &exts)
	var kept []map[string]any
	for _, e := range exts {
		if u, _ := e["url"].(string); persistedExtensions[u] {
			kept = append(kept, e)
		}
	}
	if len(kept) > 0 {
		out["extension"] = kept
	}
	return json.Marshal(out)
}

// duplicates returns the NHS numbers of the records matching a new
// patient's family name at one of its current postcodes, sorted.
func (s *Simulator) duplicates(family string, postcodes []string) []string {
	f := normName(family)
	seen := map[string]bool{}
	var out []string
	check := func(r *record) {
		if r == nil || seen[r.id] || s.db.invalidated[r.id] {
			return
		}
		seen[r.id] = true
		if cur := s.lookup(r.id); cur != r {
			return // an older version: the current one is checked on its own
		}
		if r.matchesDemographics(f, postcodes) {
			out = append(out, r.id)
		}
	}
	for _, r := range s.db.byFamily[f] {
		check(r)
	}
	for _, r := range s.patchedRecords() {
		check(r)
	}
	sort.Strings(out)
	return out
}

func (r *record) matchesDemographics(family string, postcodes []string) bool {
	name := false
	for _, n := range r.names {
		name = name || (!n.historic && n.family == family)
	}
	if !name {
		return false
	}
	for _, v := range r.postcodes {
		for _, pc := range postcodes {
			if !v.historic && pc != "" && v.v == pc {
				return true
			}
		}
	}
	return false
}

// insert allocates the next free NHS number, renders the record for it and
// stores it as version 1.
func (s *Simulator) insert(render func(nhs string) ([]byte, error)) (*record, *apiError) {
	s.alloc.mu.Lock()
	defer s.alloc.mu.Unlock()
	nhs := s.allocate()
	full, err := render(nhs)
	if err != nil {
		return nil, errInvalidValue("request body", "body")
	}
	rec, err := patchedRecord(&record{id: nhs}, full, 1)
	if err != nil {
		return nil, errInvalidValue("request body", "body")
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if s.store.patched == nil {
		s.store.patched = map[string]*record{}
	}
	s.store.patched[nhs] = rec
	return rec, nil
}

// allocate returns the next free NHS number; s.alloc.mu is held.
func (s *Simulator) allocate() string {
	if s.alloc.next == 0 {
		s.alloc.next, _ = strconv.Atoi(FirstAllocatedNHSNumber[:9])
	}
	for {
		first9 := fmt.Sprintf("%09d", s.alloc.next)
		s.alloc.next++
		nhs, ok := withCheckDigit(first9)
		if !ok || s.taken(nhs) {
			continue
		}
		return nhs
	}
}

// taken reports whether nhs belongs to anyone the sandbox knows: a record of
// this simulator, a superseded or invalidated number, a reserved sandbox
// number or a person of the default synthetic population.
func (s *Simulator) taken(nhs string) bool {
	if s.lookup(nhs) != nil || s.db.invalidated[nhs] || population.IsReservedNHSNumber(nhs) {
		return true
	}
	if _, ok := s.db.superseded[nhs]; ok {
		return true
	}
	return defaultPopulationNumbers()[nhs]
}

var defaultPopulationNumbers = sync.OnceValue(func() map[string]bool {
	pop := population.Default()
	m := make(map[string]bool, len(pop))
	for i := range pop {
		m[pop[i].NHSNumber] = true
	}
	return m
})

// withCheckDigit completes nine digits into an NHS number (Modulus 11);
// ok is false when no check digit exists (a remainder giving 10).
func withCheckDigit(first9 string) (string, bool) {
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(first9[i]-'0') * (10 - i)
	}
	c := 11 - sum%11
	switch c {
	case 11:
		c = 0
	case 10:
		return "", false
	}
	nhs := first9 + strconv.Itoa(c)
	return nhs, nhsnumber.Valid(nhs)
}

func isEmptyJSON(v json.RawMessage) bool {
	t := string(bytes.TrimSpace(v))
	return t == "" || t == "null" || t == `""` || t == "[]" || t == "{}"
}

// compactJSON renders a JSON value for a diagnostic, strings without quotes
// left as they are.
func compactJSON(v json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return strings.TrimSpace(string(v))
	}
	return b.String()
}

// errSingleMatch is PDS's refusal to create a duplicate: HTTP 200 with an
// OperationOutcome naming the record found.
func errSingleMatch(nhs string) *apiError {
	return &apiError{status: http.StatusOK, code: "SINGLE_MATCH",
		diagnostics: "Unable to create new patient. NHS number " + nhs + " found for supplied demographic data."}
}

func errMultipleMatches() *apiError {
	return &apiError{status: http.StatusOK, code: "MULTIPLE_MATCHES",
		diagnostics: "Unable to create new patient. Multiple matches found for supplied demographic data."}
}
