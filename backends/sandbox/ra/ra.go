// Package ra simulates the Reasonable Adjustment Flag API (RA, FHIR STU3,
// BACKENDS.md §3): the same paths, headers, payloads and errors as its
// specification and public sandbox, over the synthetic population shared by
// every simulator. Unlike the public sandbox it keeps what is written (in
// memory, per simulator).
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET  /Consent?patient={nhs}&status=active&category=…|NRAF   the record's consent
//	POST /Consent                                              create the record
//	GET  /Flag?patient={nhs}&status=active|inactive&category=…|NRAF
//	POST /Flag                                                 add an adjustment (201)
//	PUT  /Flag/{id}     with If-Match: W/"<version>"           update or remove one
//
// Every request needs an X-Request-ID (a UUID) and, unless the simulator is
// open, a bearer token. A patient without a record answers 404
// PATIENT_NOT_FOUND, as the public sandbox does for every patient but its
// own. Versions are UUIDs; a create answers ETag W/"<uuid>” with the
// typographic closing quote of the public sandbox. Impairments (List),
// underlying conditions, threshold codes, consent updates and
// $removerarecord are not simulated (501).
//
// Data: 5900026175 (the public sandbox's patient) has the sandbox's consent
// and flag (fixtures/, copied from shared/fixtures/ra/sandbox-mocks);
// 9000000009 has a record with two adjustments; about three in a hundred
// people of the population have a record with one or two adjustments.
// Everyone else has none.
package ra

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/backends/sandbox/fault"
	"github.com/carerecords/fhir-facade/backends/sandbox/population"
	"github.com/carerecords/fhir-facade/backends/sandbox/wire"
	"github.com/carerecords/fhir-facade/model/fhirjson"
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
	consent fhirjson.STU3Consent
	flags   []*fhirjson.STU3Flag
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
func (s *Simulator) Flags(nhs string) []fhirjson.STU3Flag {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[nhs]
	if r == nil {
		return nil
	}
	out := make([]fhirjson.STU3Flag, len(r.flags))
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
	if v := r.Header.Get("X-Request-ID"); v != "" {
		h.Set("X-Request-Id", v)
	}
	if v := r.Header.Get("X-Correlation-ID"); v != "" {
		h.Set("X-Correlation-Id", v)
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
	if err := s.route(w, r); err != nil {
		writeError(w, err)
	}
}

func (s *Simulator) route(w http.ResponseWriter, r *http.Request) *apiError {
	rel, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok {
		return errUnsupportedService()
	}
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
	case rel == "/Flag", strings.HasPrefix(rel, "/Flag/"), rel == "/Consent":
		return &apiError{status: http.StatusMethodNotAllowed, issue: "not-supported", code: "UNSUPPORTED_SERVICE", display: "Unsupported Service"}
	case strings.HasPrefix(rel, "/Consent/"), strings.HasPrefix(rel, "/List"), strings.HasPrefix(rel, "/UnderlyingConditionList"),
		strings.HasPrefix(rel, "/ThresholdCode"), rel == "/$removerarecord":
		return &apiError{status: http.StatusNotImplemented, issue: "not-supported", code: "UNSUPPORTED_SERVICE", display: "Not simulated"}
	}
	return errUnsupportedService()
}

func (s *Simulator) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	return "http://" + r.Host + BasePath
}
