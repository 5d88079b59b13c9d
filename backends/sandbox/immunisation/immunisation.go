// Package immunisation simulates the Immunisation History API (BACKENDS.md
// §7): the same path, parameters, headers, payloads and errors as the real
// service and its public sandbox, over the reserved sandbox patients and the
// shared synthetic population.
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET /Immunization?patient.identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	    &_include=Immunization:patient[&immunization.target=COVID19|FLU|HPV]
//	    [&procedure-code:below=90640007][&date.from=YYYY-MM-DD][&date.to=YYYY-MM-DD]
//
// answering a searchset Bundle of the patient's Immunizations (search.mode
// match, oldest first) and, when there is at least one, the Patient as
// recorded at vaccination (search.mode include); no immunisations is the
// API's empty Bundle. Without immunization.target (or the deprecated
// procedure-code:below, whose one value 90640007 means COVID19) every data
// store is searched (project decision: the specification does not say).
// date.from and date.to bound the day of vaccination (as written in
// occurrenceDateTime), inclusive.
//
// Errors are the API's: an OperationOutcome with issue.code processing and
// diagnostics only. 400 for a missing or invalid NHS number, one the
// simulator does not know (as the public sandbox answers "anything else"),
// a missing or wrong _include, an unknown or conflicting target, a date not
// written YYYY-MM-DD, an unknown or repeated parameter; 401 without a bearer
// token (unless Open); 404 for other paths, 405 for other methods.
//
// Who has what (see Describe):
//
//   - 9000000009 answers exactly as the public sandbox does: two COVID-19
//     vaccinations (AstraZeneca, December 2020) and the included Patient,
//     whose birth date (1965-02-28) is not the one PDS holds.
//   - 9000000033 has none: the public sandbox's empty Bundle.
//   - Every other patient known to the PDS simulator (the synthetic
//     population and the PDS fixture patients) gets a deterministic history
//     seeded by FNV-1a 64 of "imms/" + the NHS number, dated by the national
//     programmes and the patient's age: the COVID-19 primary course by age
//     cohort (December 2020 to November 2021; AstraZeneca, Pfizer-BioNTech or
//     Moderna) and the booster campaigns to spring 2025 (JN.1 vaccines from
//     September 2024), the 2024/25 flu vaccination (65 and over, and some
//     younger adults), and HPV doses in school Year 8 from 2019/20 (two doses
//     until the single-dose schedule of September 2023). The COVID-19 store
//     holds only the four years before population.ReferenceDate and FLU the
//     last year, as the specification says of the real stores. Each record
//     has the vaccination procedure (SNOMED CT), the product (dm+d), dose
//     number, date, site, route, dose quantity, lot number and expiry,
//     manufacturer and the vaccinating organisation (the patient's GP
//     practice, a pharmacy, a vaccination centre or the school immunisation
//     service, by ODS code).
//   - Any other NHS number gets 400, as in the public sandbox.
package immunisation

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/carerecords/fhir-facade/backends/sandbox/fault"
	"github.com/carerecords/fhir-facade/backends/sandbox/population"
	"github.com/carerecords/fhir-facade/backends/sandbox/wire"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// BasePath is the path prefix the API serves, as on api.service.nhs.uk.
const BasePath = "/immunisation-history/FHIR/R4"

// Reserved NHS numbers with the public sandbox's behaviour.
const (
	// SandboxNHSNumber has two COVID-19 vaccinations.
	SandboxNHSNumber = "9000000009"
	// EmptyNHSNumber has no vaccinations.
	EmptyNHSNumber = "9000000033"
)

// The data stores, as immunization.target names them.
const (
	COVID19 = "COVID19"
	FLU     = "FLU"
	HPV     = "HPV"
)

// covidParentCode is the one value of the deprecated procedure-code:below.
const covidParentCode = "90640007"

const contentTypeFHIR = "application/fhir+json"

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

	faults fault.Injector
}

var _ http.Handler = (*Simulator)(nil)

// New builds a simulator.
func New(opts Options) *Simulator {
	pop := opts.Population
	if pop == nil {
		pop = population.Default()
	}
	s := &Simulator{
		opts:   opts,
		people: population.WithFixtures(pop),
		faults: fault.Injector{BasePath: BasePath, ContentType: contentTypeFHIR, ContentTypeOverHeader: true},
	}
	return s
}

// Requests returns how many requests the simulator has received.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// Searches returns how many searches it answered with a Bundle (faults and
// errors excluded).
func (s *Simulator) Searches() int64 { return s.searches.Load() }

// knownParams are the query parameters the API understands.
var knownParams = map[string]bool{
	"patient.identifier": true, "_include": true, "immunization.target": true,
	"procedure-code:below": true, "date.from": true, "date.to": true,
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}
	h := w.Header()
	if v := r.Header.Get("X-Request-ID"); wire.UUID.MatchString(v) {
		h.Set("X-Request-Id", v)
	}
	if v := r.Header.Get("X-Correlation-ID"); v != "" {
		h.Set("X-Correlation-Id", safeEcho(v))
	}
	if !s.opts.Open {
		if !wire.Bearer(r) {
			writeOutcome(w, http.StatusUnauthorized, "Missing or invalid OAuth 2.0 bearer token")
			return
		}
	}
	if r.URL.Path != BasePath+"/Immunization" {
		writeOutcome(w, http.StatusNotFound, "Unknown path")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeOutcome(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	s.search(w, r)
}

// search answers GET /Immunization.
func (s *Simulator) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, v := range q {
		if !knownParams[k] {
			writeOutcome(w, http.StatusBadRequest, "Unknown search parameter '"+safeEcho(k)+"' for resource type 'Immunization'.")
			return
		}
		if len(v) != 1 {
			writeOutcome(w, http.StatusBadRequest, "Search parameter '"+k+"' may be given only once")
			return
		}
	}
	system, nhs, ok := strings.Cut(q.Get("patient.identifier"), "|")
	if !ok || system != nhsnumber.System || !nhsnumber.Valid(nhs) {
		writeOutcome(w, http.StatusBadRequest, "Missing or invalid NHS number")
		return
	}
	if q.Get("_include") != "Immunization:patient" {
		writeOutcome(w, http.StatusBadRequest, "_include is required and must be Immunization:patient")
		return
	}
	target := q.Get("immunization.target")
	if target != "" && target != COVID19 && target != FLU && target != HPV {
		writeOutcome(w, http.StatusBadRequest, "Missing, invalid or conflicting parent SNOMED code / Target")
		return
	}
	if pc, given := q["procedure-code:below"]; given {
		if pc[0] != covidParentCode || target != "" && target != COVID19 {
			writeOutcome(w, http.StatusBadRequest, "Missing, invalid or conflicting parent SNOMED code / Target")
			return
		}
		target = COVID19
	}
	var from, to string
	for _, p := range []struct {
		name string
		dst  *string
	}{{"date.from", &from}, {"date.to", &to}} {
		v, given := q[p.name]
		if !given {
			continue
		}
		if _, err := time.Parse(time.DateOnly, v[0]); err != nil {
			writeOutcome(w, http.StatusBadRequest, "Search parameter "+p.name+" must be in format: YYYY-MM-DD")
			return
		}
		*p.dst = v[0]
	}
	if !s.known(nhs) {
		writeOutcome(w, http.StatusBadRequest, "Missing or invalid NHS number")
		return
	}
	s.searches.Add(1)
	writeBody(w, s.answer(nhs, func(e Event) bool {
		return (target == "" || e.Target == target) && (from == "" || e.Date >= from) && (to == "" || e.Date <= to)
	}))
}

// answer is the Bundle of nhs's vaccinations that keep accepts.
func (s *Simulator) answer(nhs string, keep func(Event) bool) []byte {
	var matches []entryJSON
	var patient entryJSON
	switch nhs {
	case EmptyNHSNumber:
		return sandboxEmpty
	case SandboxNHSNumber:
		all := sandboxEntries()
		for _, e := range all {
			if e.raw.Search.Mode != "match" {
				patient = e.raw
			} else if keep(e.event) {
				matches = append(matches, e.raw)
			}
		}
		if len(matches) == len(all)-1 {
			return sandboxHistory
		}
	default:
		p := s.people[nhs]
		h := s.history(p)
		for _, r := range h.records {
			if keep(r.event) {
				matches = append(matches, r.entry)
			}
		}
		patient = entryJSON{FullURL: h.patientID, Search: searchJSON{Mode: "include"},
			Resource: marshal(patientJSON{ID: nhs, ResourceType: "Patient",
				Identifier: []identifierJSON{{System: nhsnumber.System, Value: nhs}}, BirthDate: p.BirthDate})}
	}
	if len(matches) == 0 {
		return sandboxEmpty
	}
	return marshal(bundleJSON{ResourceType: "Bundle", Type: "searchset", Total: len(matches), Entry: append(matches, patient)})
}

// writeBody answers 200 with body and its Content-Length.
func writeBody(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", contentTypeFHIR)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
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

// writeOutcome answers with the API's OperationOutcome shape: issue.code
// processing and diagnostics, no Spine coding.
func writeOutcome(w http.ResponseWriter, status int, diagnostics string) {
	body, _ := json.Marshal(map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{
			"severity":    "error",
			"code":        "processing",
			"diagnostics": diagnostics,
		}},
	})
	w.Header().Set("Content-Type", contentTypeFHIR)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
