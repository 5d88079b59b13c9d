// Package ra simulates the Reasonable Adjustment Flag API (RA, FHIR STU3,
// docs/backends.md, "RA"): the same paths, headers, payloads and errors as
// its specification and public sandbox, over the synthetic population shared
// by every simulator. Unlike the public sandbox it keeps what is written to
// Flag and Consent (in memory, per simulator).
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET  /Consent?patient={nhs}&status=active&category=…|NRAF   the record's consent
//	POST /Consent                                              create the record (202 with Prefer: respond-async)
//	GET  /Flag?patient={nhs}&status=active|inactive&category=…|NRAF
//	POST /Flag                                                 add an adjustment (201)
//	PUT  /Flag/{id}     with If-Match: W/"<version>"           update or remove one
//
// and, as the public sandbox answers them (canned.go), List,
// UnderlyingConditionList, ThresholdCode, PUT /Consent/{id} and
// $removerarecord. Before anything, the sandbox proxy's checks (canned.go):
// required search parameters, a body on writes, X-Request-ID and
// NHSD-Session-URID on every request, Content-Type application/fhir+json on
// writes. X-Request-ID must then be a UUID and, unless the simulator is
// open, a bearer token is needed. A patient without a record answers the
// sandbox's 404 PATIENT_NOT_FOUND file. Versions are UUIDs; a created flag
// answers ETag W/"<uuid>” with the typographic closing quote of the public
// sandbox.
//
// Data: 5900026175 (the public sandbox's patient) has the sandbox's consent
// and flag (its searches answer the sandbox's files byte for byte until the
// record is written to); 9000000009 has a record with two adjustments;
// about three in a hundred people of the population have a record with one
// or two adjustments. Everyone else has none.
//
// The public sandbox's answers are the contract (contract_test.go); the
// departures and their reasons are in docs/backends.md.
package ra

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// BasePath is the path prefix RA serves, as on api.service.nhs.uk.
const BasePath = "/reasonable-adjustment-flag/FHIR/STU3"

// ErrorSystem is the code system of RA's error codes.
const ErrorSystem = "https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1"

const contentTypeFHIR = "application/fhir+json"

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandbox. Otherwise any "Bearer <token>" is accepted and a missing one
	// gets 401 ACCESS_DENIED.
	Open bool
	// Population is the synthetic population; nil means population.Default().
	Population []population.Person
	// BaseURL is the absolute base used in fullUrl, self links and Location,
	// e.g. "http://127.0.0.1:9001/reasonable-adjustment-flag/FHIR/STU3".
	// Empty means derived from each request's Host.
	BaseURL string
	// Now is the clock of writes; nil means time.Now.
	Now func() time.Time
	// NewID makes the ids and versions of writes; nil means random UUIDs.
	NewID func() string
}

// Simulator is an RA simulator. It is safe for concurrent use.
type Simulator struct {
	opts Options

	mu      sync.Mutex
	records map[string]*record // by NHS number

	faults fault.Injector
}

// record is one patient's RA record: the consent (whose existence is the
// record's) and the adjustments, in the order they were added.
type record struct {
	consent Consent
	flags   []*Flag
	// canned: the public sandbox's own record, unchanged since, whose
	// searches answer the sandbox's files byte for byte.
	canned bool
}

var _ http.Handler = (*Simulator)(nil)

// New builds a simulator over opts.Population. It panics if the embedded
// fixtures cannot be read, which is a build defect.
func New(opts Options) *Simulator {
	pop := opts.Population
	if pop == nil {
		pop = population.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewString
	}
	recs, err := seed(pop)
	if err != nil {
		panic(err)
	}
	return &Simulator{opts: opts, records: recs, faults: fault.Injector{BasePath: BasePath, ContentType: contentTypeFHIR}}
}

// Requests returns how many requests the simulator has received, including
// those answered by a fault or with an error.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// HasRecord reports whether nhs has an RA record (a consent).
func (s *Simulator) HasRecord(nhs string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[nhs] != nil
}

// Flags returns copies of nhs's adjustments (for tests).
func (s *Simulator) Flags(nhs string) []Flag {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[nhs]
	if r == nil {
		return nil
	}
	out := make([]Flag, len(r.flags))
	for i, f := range r.flags {
		out[i] = *f
	}
	return out
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeFHIR)
	wire.Echo(w, r, "X-Request-ID", "X-Correlation-ID")
	rel, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok {
		plainError(w, http.StatusNotFound, fileNotFound)
		return
	}
	if !proxyChecks(w, r, rel) {
		return
	}
	if id := r.Header.Get("X-Request-ID"); !wire.UUID.MatchString(id) {
		writeError(w, errInvalidValue("X-Request-ID must be a UUID"))
		return
	}
	if !s.opts.Open {
		if !wire.Bearer(r) {
			writeError(w, &apiError{status: http.StatusUnauthorized, issue: "forbidden", code: "ACCESS_DENIED", display: "Access denied"})
			return
		}
	}
	if s.canned(w, r, rel) {
		return
	}
	if err := s.route(w, r, rel); err != nil {
		writeError(w, err)
	}
}

func (s *Simulator) route(w http.ResponseWriter, r *http.Request, rel string) *apiError {
	switch {
	case rel == "/Flag" && r.Method == http.MethodGet:
		return s.searchFlags(w, r)
	case rel == "/Flag" && r.Method == http.MethodPost:
		return s.createFlag(w, r)
	case strings.HasPrefix(rel, "/Flag/") && r.Method == http.MethodPut:
		return s.updateFlag(w, r, strings.TrimPrefix(rel, "/Flag/"))
	case rel == "/Consent" && r.Method == http.MethodGet:
		return s.searchConsent(w, r)
	case rel == "/Consent" && r.Method == http.MethodPost:
		return s.createConsent(w, r)
	}
	plainError(w, http.StatusNotFound, fileNotFound) // the app's catch-all route
	return nil
}

func (s *Simulator) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	return "http://" + r.Host + BasePath
}
