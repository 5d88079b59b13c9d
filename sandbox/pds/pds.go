// Package pds simulates the Personal Demographics Service (FHIR) API: the
// same paths, headers, payloads and errors as the real service and its public
// sandbox (docs/backends.md, "PDS"), over the reserved sandbox patients of
// the fixtures plus a synthetic population.
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET   /Patient/{nhsNumber}   read (superseded → the superseding record,
//	                             invalidated → 404 INVALIDATED_RESOURCE)
//	GET   /Patient?…             search (scored, reduced records)
//	PATCH /Patient/{nhsNumber}   update with JSON Patch, stored per simulator
//	                             (patch.go, rules.go; Options.StatelessPatches
//	                             answers like the stateless public sandbox)
//	GET   /Patient/{nhsNumber}/RelatedPerson   related people (related.go)
//	POST  /Patient               create a record, allocating an NHS number
//	                             (create.go); RegisterBirth adds a notified
//	                             baby in-process, from the same allocator
//	                             (birth.go, for sandbox/bna)
//	POST  /Patient/$process-birth-details   a birth, over HTTP (birth.go)
//	GET   /Coverage?subscriber:identifier=…  EHIC coverage (coverage.go)
//
// Updates are kept per Simulator, over a database of records that is
// immutable and shared between simulators of the same population: a fresh
// simulator always starts from the sandbox's versions.
//
// The population is every patient of the sandbox's fixtures (package
// fixtures: read stubs, canned search answers, specification examples; a
// full record wins over a reduced search copy for read, and search returns
// and matches the sandbox's own search copy where there is one) plus the
// synthetic people of package population, rendered as PDS records. As in
// the sandbox, the patients of its canned searches that have no read stub
// are found by search only (read is 404), but for 9000000017 (keptNHSNumber).
// Beyond the fixtures the simulator models superseded numbers
// (superseded.go), an invalidated one (InvalidatedNHSNumber) and the
// previous names and e-mail addresses some fixture patients need
// (fixtureHistory). A short table of canned answers (scenarios) covers the
// sandbox answers no data can explain; TestScenariosAreNeeded keeps it
// minimal.
//
// The public sandbox's answers are the contract (contract_test.go, one row
// per answer it gives); where the simulator departs from one, the departure
// and its reason are in docs/backends.md.
package pds

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// BasePath is the path prefix PDS serves, as on api.service.nhs.uk.
const BasePath = "/personal-demographics/FHIR/R4"

// keptNHSNumber is Jayne Smyth, whom the sandbox returns in searches and
// related people but, since its October 2024 rewrite, answers 404 on read:
// the simulator keeps reading her (the specification's Patient-Jayne-Smyth
// example, which the earlier sandbox served), so that every patient a search
// returns can be read (docs/backends.md, PDS departures).
const keptNHSNumber = "9000000017"

const contentTypeFHIR = "application/fhir+json"

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandbox. Otherwise any "Bearer <token>" is accepted and a missing one
	// gets 401 ACCESS_DENIED.
	Open bool
	// Population is the synthetic population served next to the fixture
	// patients; nil means population.Default(). Pass an empty non-nil slice
	// to serve the fixture patients only.
	Population []population.Person
	// BaseURL is the absolute base used in search results' fullUrl, e.g.
	// "http://127.0.0.1:9001/personal-demographics/FHIR/R4". Empty means
	// derived from each request's Host.
	BaseURL string
	// StatelessPatches answers PATCH like the public sandbox: headers, body
	// and version are checked and the JSON Patch operations are applied to
	// a copy of the record, which is returned with the next version, but
	// PDS's business rules are not applied and nothing is stored, so the
	// next request sees the record unchanged. The default stores every
	// update (see patch.go). Meant for running NHS England's Postman
	// collection, whose requests all assume the sandbox's starting versions.
	StatelessPatches bool
}

// Simulator is a PDS simulator. It is safe for concurrent use.
type Simulator struct {
	opts     Options
	db       *database
	outcomes outcomes

	faults fault.Injector

	store store            // this simulator's updated and created records
	alloc allocator        // NHS numbers for created records
	now   func() time.Time // the clock of date rules
}

var _ http.Handler = (*Simulator)(nil)

// New builds a simulator. Building the default population's records takes a
// moment the first time and is shared by every later simulator. New panics if
// the embedded fixtures cannot be read, which is a build defect.
func New(opts Options) *Simulator {
	pop := opts.Population
	if pop == nil {
		pop = population.Default()
	}
	db, err := databaseFor(pop)
	if err != nil {
		panic(err)
	}
	oc, err := loadOutcomes()
	if err != nil {
		panic(err)
	}
	return &Simulator{opts: opts, db: db, outcomes: oc, now: time.Now, faults: fault.Injector{BasePath: BasePath, ContentType: contentTypeFHIR}}
}

// Requests returns how many requests the simulator has received, including
// those answered by a fault or with an error.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}

	h := w.Header()
	h.Set("Content-Type", contentTypeFHIR)
	wire.Echo(w, r, "X-Request-ID", "X-Correlation-ID")

	// PATCH checks its own headers first (patch.go), as the sandbox does.
	if r.Method != http.MethodPatch {
		if err := s.checkHeaders(r); err != nil {
			s.writeError(w, err)
			return
		}
	}
	if err := s.route(w, r); err != nil {
		s.writeError(w, err)
	}
}

// checkHeaders applies the platform's header rules in the sandbox's order:
// X-Request-ID first, then the access token. An Authorization header, when
// sent, must be "Bearer <token>" with a token of letters and digits (an
// APIM access token's alphabet), as the sandbox checks: "Bearer" alone is
// 401 "Missing access token", any other token 401 "Invalid Access Token".
// Without the header, an Open simulator (the public sandbox) serves the
// request and a closed one (the platform) answers 401.
func (s *Simulator) checkHeaders(r *http.Request) *apiError {
	id := r.Header.Get("X-Request-ID")
	switch {
	case id == "":
		return errMissingRequestID()
	case !wire.UUID.MatchString(id):
		return errInvalidHeader("X-Request-ID", id)
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if s.opts.Open {
			return nil
		}
		return errAccessDenied("Missing Authorization header")
	}
	parts := strings.Split(auth, " ")
	if len(parts) != 2 || parts[0] != "Bearer" || (!s.opts.Open && parts[1] == "") {
		return errAccessDenied("Missing access token")
	}
	// Only the open (public sandbox) mode checks the token's alphabet: the
	// embedded sandbox, closed, accepts the facade's configured token as is.
	if s.opts.Open && !validSandboxToken(parts[1]) {
		return errAccessDenied("Invalid Access Token")
	}
	return nil
}

// sandboxToken is the sandbox's access token rule,
// ^(?=.*[a-zA-Z])(?=.*\d)[a-zA-Z0-9]+(_[a-zA-Z0-9]+)?$: letters and digits,
// at least one of each, with at most one inner underscore.
var sandboxTokenAlphabet = regexp.MustCompile(`^[a-zA-Z0-9]+(_[a-zA-Z0-9]+)?$`)

func validSandboxToken(t string) bool {
	return sandboxTokenAlphabet.MatchString(t) &&
		strings.ContainsAny(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") &&
		strings.ContainsAny(t, "0123456789")
}

func (s *Simulator) route(w http.ResponseWriter, r *http.Request) *apiError {
	rel, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok {
		return errUnknownPath(r.URL.Path)
	}
	parts := strings.Split(strings.TrimPrefix(rel, "/"), "/")
	switch {
	case rel == "/Patient":
		switch r.Method {
		case http.MethodGet:
			return s.search(w, r)
		case http.MethodPost:
			return s.create(w, r)
		}
		return errMethodNotAllowed(r.Method, rel)
	case rel == "/Patient/$process-birth-details":
		if r.Method == http.MethodPost {
			return s.processBirthDetails(w, r)
		}
		return errMethodNotAllowed(r.Method, rel)
	case len(parts) == 2 && parts[0] == "Patient":
		switch r.Method {
		case http.MethodGet:
			return s.read(w, parts[1])
		case http.MethodPatch:
			return s.patch(w, r, parts[1])
		}
		return errMethodNotAllowed(r.Method, rel)
	case len(parts) == 3 && parts[0] == "Patient" && parts[2] == "RelatedPerson":
		if r.Method == http.MethodGet {
			return s.relatedPeople(w, r, parts[1])
		}
		return errMethodNotAllowed(r.Method, rel)
	case rel == "/Coverage":
		if r.Method == http.MethodGet {
			return s.coverage(w, r)
		}
		return errMethodNotAllowed(r.Method, rel)
	}
	return errUnknownPath(r.URL.Path)
}

func (s *Simulator) writeError(w http.ResponseWriter, e *apiError) {
	body := s.outcomes.render(e)
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// read answers GET /Patient/{id}.
func (s *Simulator) read(w http.ResponseWriter, id string) *apiError {
	if id == "" {
		return errUnsupportedService()
	}
	if !nhsnumber.Valid(id) {
		return errInvalidResourceID()
	}
	if s.db.invalidated[id] {
		return errInvalidated()
	}
	id = s.db.current(id)
	rec := s.readable(id)
	if rec == nil {
		return errNotFound()
	}
	w.Header().Set("ETag", rec.etag)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(rec.full)
	return nil
}
