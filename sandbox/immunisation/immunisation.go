// Package immunisation simulates the Immunisation History API (BACKENDS.md
// §7) as its public sandbox answers: the same path, parameters, checks,
// bodies, status codes and headers as the sandbox's Express app
// (NHSDigital/immunisation-history-api, sandbox/, commit 1465429; copies of
// what it answers are in testdata/real-sandbox, see SOURCES.md there), over
// the sandbox's one patient with data and the shared synthetic population.
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET /Immunization?patient.identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	    &immunization.target=COVID19|FLU|HPV   (or the deprecated procedure-code:below=90640007)
//	    [&date.from=YYYY-MM-DD][&date.to=YYYY-MM-DD][&_include=Immunization:patient]
//
// The rules are the sandbox's handler's (sandbox/immunization-handler/v1/
// handler.js), in its order:
//
//   - Accept: ...;version=N picks the API version: none means 1.0; 1.x and
//     2.x are served; anything else (version=3, version=abc) is 400 "Invalid
//     version", without the version response header.
//   - patient.identifier missing (or repeated) makes the sandbox's handler
//     throw: 500 {"error":"something went wrong"}, without the version
//     header. Its value is split on "|" and the part after the first "|" is
//     the NHS number; nothing else of it is checked (the system may be any,
//     the number need not be valid). An empty number, or no "|": 400
//     "Missing required request parameters: [patient.identifier]".
//   - Exactly one of immunization.target (COVID19, HPV or FLU) and
//     procedure-code:below (only 90640007, meaning COVID19) is required:
//     neither, both, another target (MMR, RSV …) or another code is 400
//     "Missing or invalid required request parameters: [procedure-code:below]
//     OR [immunization.target]".
//   - date.from and date.to must be YYYY-MM-DD dates from 0001-01-01 to
//     9999-12-31, date.from not after date.to (400 otherwise). They filter on
//     occurrenceDateTime, inclusively, against midnight UTC of each date, as
//     the sandbox's moment comparison does: date.to=2020-12-10 keeps a
//     vaccination at 2020-12-10T00:00:00Z but not one later that day.
//   - _include and any other parameter are ignored.
//
// Every answer is Content-Type application/json; charset=utf-8 (not
// application/fhir+json) with the response header version: 1.0 (2.0 for
// version 2). 400 bodies are an OperationOutcome with one issue, severity
// error, code processing, and the diagnostics above. A 200 body is a
// searchset Bundle whose total counts the Immunizations only; the Patient
// (search.mode include) comes after them.
//
// Who has what (see Describe):
//
//   - 9000000009 answers byte for byte as the public sandbox: COVID19, two
//     vaccinations (2020-12-10 completed; 2020-12-31 not-done, whose
//     statusReason is an array, not a CodeableConcept); FLU, one; HPV, three,
//     whose patient.identifier is another NHS number (9912003993) while the
//     included Patient is 9000000009. The records have no id. The included
//     Patient's birth date (1965-02-28) is not the one PDS holds. With
//     version 2, FLU answers 200 with an empty body (a defect of the
//     sandbox's v2 handler, kept so clients meet it; the population's FLU
//     answers too).
//   - Every other person of the synthetic population and the PDS fixture
//     patients (except 9000000009 and 9000000033) gets a deterministic
//     history (a departure from the public sandbox, whose other numbers have
//     nothing: it is what makes `make run` useful), seeded by FNV-1a 64 of
//     "imms/" + the NHS number, dated by the national programmes and the
//     patient's age: the COVID-19 primary course by age cohort (December
//     2020 to November 2021; AstraZeneca, Pfizer-BioNTech or Moderna) and
//     the booster campaigns to spring 2025 (JN.1 vaccines from September
//     2024), the 2024/25 flu vaccination (65 and over, and some younger
//     adults), and HPV doses in school Year 8 from 2019/20 (two doses until
//     the single-dose schedule of September 2023). The COVID-19 store holds
//     only the four years before population.ReferenceDate and FLU the last
//     year, as the specification says of the real stores. Each record has an
//     id, the vaccination procedure (SNOMED CT), the product (dm+d), dose
//     number, date, site, route, dose quantity, lot number and expiry,
//     manufacturer and the vaccinating organisation (the patient's GP
//     practice, a pharmacy, a vaccination centre or the school immunisation
//     service, by ODS code). A store holding nothing of theirs answers the
//     empty Bundle.
//   - 9000000033 and any other number: the empty Bundle
//     {"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}, as
//     the public sandbox answers every number but 9000000009 (its
//     specification says "anything else" is 400; the sandbox never does
//     that).
//
// Departures from the public sandbox, besides the population: a bearer
// token is required unless Options.Open (the real API requires one; the
// public sandbox does not); other paths are 404 and other methods 405 with
// an OperationOutcome (the sandbox answers any method on /Immunization, and
// other paths with Express's HTML 404); X-Correlation-ID and a UUID
// X-Request-ID are mirrored, as the specification says the platform does.
package immunisation

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// BasePath is the path prefix the API serves, as on api.service.nhs.uk.
const BasePath = "/immunisation-history/FHIR/R4"

// Reserved NHS numbers with the public sandbox's behaviour.
const (
	// SandboxNHSNumber has the public sandbox's COVID19, FLU and HPV
	// histories.
	SandboxNHSNumber = "9000000009"
	// EmptyNHSNumber has no vaccinations.
	EmptyNHSNumber = "9000000033"
)

// The data stores, as immunization.target names them: the sandbox's
// IMMUNIZATION_TARGETS (and the specification's enum).
const (
	COVID19 = "COVID19"
	FLU     = "FLU"
	HPV     = "HPV"
)

// covidParentCode is the one value of the deprecated procedure-code:below.
const covidParentCode = "90640007"

// contentType is what the sandbox's Express app sends with every JSON body
// (res.json): not application/fhir+json.
const contentType = "application/json; charset=utf-8"

// The sandbox's diagnostics (handler.js, date-range.js, index.js).
const (
	diagMissingPatient = "Missing required request parameters: [patient.identifier]"
	diagTargetOrCode   = "Missing or invalid required request parameters: [procedure-code:below] OR [immunization.target]"
	diagBadDateFrom    = "Invalid request parameters: [date.from]"
	diagBadDateTo      = "Invalid request parameters: [date.to]"
	diagFromAfterTo    = "Invalid request parameters: [date.from] is greater than [date.to]"
	diagBadVersion     = "Invalid version"
)

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandbox; otherwise any "Bearer <token>" is accepted and a missing one
	// gets 401.
	Open bool
	// Population is the synthetic population; nil means population.Default().
	Population []population.Person
}

// Simulator is an Immunisation History API simulator. It is safe for
// concurrent use.
type Simulator struct {
	opts     Options
	people   map[string]*population.Person
	searches atomic.Int64

	faults      fault.Injector
	storeFaults map[string]*fault.Injector // by data store, see SetStoreFault
}

var _ http.Handler = (*Simulator)(nil)

// New builds a simulator.
func New(opts Options) *Simulator {
	pop := opts.Population
	if pop == nil {
		pop = population.Default()
	}
	s := &Simulator{
		opts:        opts,
		people:      population.WithFixtures(pop),
		faults:      fault.Injector{BasePath: BasePath, ContentType: contentType, ContentTypeOverHeader: true},
		storeFaults: map[string]*fault.Injector{},
	}
	for _, target := range []string{COVID19, FLU, HPV} {
		s.storeFaults[target] = &fault.Injector{BasePath: BasePath, ContentType: contentType, ContentTypeOverHeader: true}
	}
	return s
}

// Requests returns how many requests the simulator has received.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// Searches returns how many searches it answered with 200 (faults and
// errors excluded).
func (s *Simulator) Searches() int64 { return s.searches.Load() }

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) || s.storeFault(w, r) {
		return
	}
	h := w.Header()
	if v := r.Header.Get("X-Request-ID"); wire.UUID.MatchString(v) {
		h.Set("X-Request-Id", v)
	}
	if v := r.Header.Get("X-Correlation-ID"); v != "" {
		h.Set("X-Correlation-Id", safeEcho(v))
	}
	if !s.opts.Open && !wire.Bearer(r) {
		writeOutcome(w, http.StatusUnauthorized, "", "Missing or invalid OAuth 2.0 bearer token")
		return
	}
	if r.URL.Path != BasePath+"/Immunization" {
		writeOutcome(w, http.StatusNotFound, "", "Unknown path")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeOutcome(w, http.StatusMethodNotAllowed, "", "Method not allowed")
		return
	}
	// Node joins repeated Accept headers with ", " before the sandbox reads it.
	version, ok := acceptVersion(strings.Join(r.Header.Values("Accept"), ", "), r.Header.Get("Accept") != "")
	if !ok {
		writeOutcome(w, http.StatusBadRequest, "", diagBadVersion)
		return
	}
	s.search(w, r, version)
}

// acceptVersion reads the version parameter of Accept as the sandbox's
// versioning.js does: lower-cased, split on ";" and then "=", the first
// part named version; no Accept, or no such part, means 1.0. A non-numeric version, or
// one whose major is not 1 or 2, is not served (ok false). It returns the
// value of the version response header.
func acceptVersion(accept string, given bool) (version string, ok bool) {
	v := "1.0"
	if given {
		for _, part := range strings.Split(strings.ToLower(accept), ";") {
			kv := strings.Split(strings.TrimSpace(part), "=")
			if strings.TrimSpace(kv[0]) != "version" {
				continue
			}
			if len(kv) > 1 {
				v = strings.TrimSpace(kv[1])
			}
			break
		}
	}
	// JavaScript's isNaN(Number(v)): "" is 0, a number; "abc" is not.
	if _, err := strconv.ParseFloat(v, 64); err != nil && v != "" {
		return "", false
	}
	switch major, _, _ := strings.Cut(v, "."); major {
	case "1":
		return "1.0", true
	case "2":
		return "2.0", true
	}
	return "", false
}

// search answers GET /Immunization with the sandbox's checks, in its order.
func (s *Simulator) search(w http.ResponseWriter, r *http.Request, version string) {
	q := r.URL.Query()
	ids, given := q["patient.identifier"]
	if !given || len(ids) != 1 {
		// req.query['patient.identifier'].split('|') throws on undefined
		// (and on the array a repeated parameter makes): Express's error
		// handler answers, before any version header is set.
		writeJSON(w, http.StatusInternalServerError, "", []byte(`{"error":"something went wrong"}`))
		return
	}
	parts := strings.Split(ids[0], "|")
	if len(parts) < 2 || parts[1] == "" {
		writeOutcome(w, http.StatusBadRequest, version, diagMissingPatient)
		return
	}
	nhs := parts[1]
	target, code := single(q, "immunization.target"), single(q, "procedure-code:below")
	switch {
	case target == "" && code == "", target != "" && code != "",
		target != "" && target != COVID19 && target != FLU && target != HPV,
		code != "" && code != covidParentCode:
		writeOutcome(w, http.StatusBadRequest, version, diagTargetOrCode)
		return
	case code != "":
		target = COVID19
	}
	from, fromOK := parseDay(single(q, "date.from"), firstDay)
	to, toOK := parseDay(single(q, "date.to"), lastDay)
	switch {
	case !fromOK:
		writeOutcome(w, http.StatusBadRequest, version, diagBadDateFrom)
		return
	case !toOK:
		writeOutcome(w, http.StatusBadRequest, version, diagBadDateTo)
		return
	case from.After(to):
		writeOutcome(w, http.StatusBadRequest, version, diagFromAfterTo)
		return
	}
	s.searches.Add(1)
	body := s.answer(nhs, target, from, to)
	if version == "2.0" && target == FLU && nhs != EmptyNHSNumber && s.known(nhs) {
		// The v2 handler compares the function fluImmunizationFhir with
		// "FLU", finds no branch, and res.json(undefined) sends nothing.
		w.Header().Set("version", version)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, version, body)
}

// single is the value of a parameter given once; a repeated one reads as
// the sandbox reads the array it becomes: never a valid target, code or
// date (the array's text is "a,b").
func single(q map[string][]string, name string) string {
	v := q[name]
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	return strings.Join(v, ",")
}

// The sandbox's EXTREME_DATES: the bounds of a date and the defaults.
var (
	firstDay = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	lastDay  = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// parseDay reads a date.from or date.to as date-range.js does: "" is def;
// otherwise a strict YYYY-MM-DD within firstDay..lastDay, at midnight UTC
// (the sandbox's container runs in UTC).
func parseDay(v string, def time.Time) (time.Time, bool) {
	if v == "" {
		return def, true
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil || len(v) != len(time.DateOnly) || d.Before(firstDay) || d.After(lastDay) {
		return time.Time{}, false
	}
	return d, true
}

// answer is the Bundle of nhs's vaccinations in target that occurred from
// from to to, inclusive.
func (s *Simulator) answer(nhs, target string, from, to time.Time) []byte {
	in := func(at time.Time) bool { return !at.Before(from) && !at.After(to) }
	switch {
	case nhs == SandboxNHSNumber:
		h := sandboxHistories()[target]
		var entries [][]byte
		for _, e := range h.records {
			if in(e.at) {
				entries = append(entries, e.raw)
			}
		}
		// As the sandbox does: the Patient is included even when no
		// vaccination is in the range.
		return bundle(len(entries), append(entries, h.patient))
	case nhs == EmptyNHSNumber || !s.known(nhs):
		return bundle(0, nil)
	}
	p := s.people[nhs]
	h := s.history(p)
	var matches []entryJSON
	for _, r := range h.records {
		if r.event.Target == target && in(r.at) {
			matches = append(matches, r.entry)
		}
	}
	if len(matches) == 0 {
		return bundle(0, nil)
	}
	patient := entryJSON{FullURL: h.patientID, Search: searchJSON{Mode: "include"},
		Resource: marshal(patientJSON{ID: nhs, ResourceType: "Patient",
			Identifier: []identifierJSON{{System: nhsnumber.System, Value: nhs}}, BirthDate: p.BirthDate})}
	return marshal(bundleJSON{ResourceType: "Bundle", Type: "searchset", Total: len(matches), Entry: append(matches, patient)})
}

// bundle writes a searchset as the sandbox's JSON.stringify does: compact,
// members in its order, total first counting the Immunizations.
func bundle(total int, entries [][]byte) []byte {
	out := []byte(`{"resourceType":"Bundle","type":"searchset","total":` + strconv.Itoa(total) + `,"entry":[`)
	for i, e := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, "]}"...)
}

// writeJSON answers status with body, as the sandbox's res.json does; the
// version header is set unless version is "".
func writeJSON(w http.ResponseWriter, status int, version string, body []byte) {
	h := w.Header()
	if version != "" {
		h.Set("version", version)
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeOutcome answers with the sandbox's OperationOutcome
// (operation-outcome.fhir.js): one issue, severity error, code processing,
// the diagnostics.
func writeOutcome(w http.ResponseWriter, status int, version, diagnostics string) {
	body, _ := json.Marshal(wire.Outcome{Issue: []wire.Issue{{Severity: "error", Code: "processing", Diagnostics: diagnostics}}})
	writeJSON(w, status, version, body)
}

// safeEcho keeps an echoed value short and printable.
func safeEcho(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' || r == '\'' {
			return '?'
		}
		return r
	}, s)
}
