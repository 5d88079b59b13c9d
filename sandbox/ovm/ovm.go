// Package ovm simulates the overseas visitors chargeable-status service
// (OVM): exactly the JSON contract of BACKENDS.md §7a (a project contract,
// no public specification), over the synthetic population shared by every
// simulator.
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET /status?nhs-number={nhs}
//	    200 {"nhsNumber": "…", "statuses": [{"id", "chargingCategory",
//	    "start", "end" (null while current), "recordedBy": {"ods", "name",
//	    "phone"}, "lastUpdated"}]}; an empty list when the patient has none
//
// An invalid (or missing) NHS number is 400 {"error": "INVALID_NHS_NUMBER"}.
// Unless the simulator is open, requests need a bearer token (401
// {"error": "ACCESS_DENIED"}, the project's rule for every simulator, §0).
// X-Request-ID and X-Correlation-ID are echoed back.
//
// Data: 9000000009 has one current status (no end date), 9000000017 one
// ended status; the other reserved sandbox patients, 9000000025 (restricted)
// among them, have none, as in the other Flag services' simulators. About
// three adults in a hundred of the population have a status recorded by a
// hospital trust: most current (open, or ending on a future date), some
// ended, some with an earlier ended status too. Everyone else has none.
package ovm

import (
	"encoding/json"
	"net/http"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// BasePath is the path prefix the service serves (BACKENDS.md §7a).
const BasePath = "/overseas-visitors/v1"

const contentTypeJSON = "application/json"

// The error codes of the contract (and of the project's rule for a missing
// token).
const (
	ErrInvalidNHSNumber = "INVALID_NHS_NUMBER"
	ErrAccessDenied     = "ACCESS_DENIED"
	errNotFound         = "NOT_FOUND"
	errMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandboxes. Otherwise any "Bearer <token>" is accepted and a missing one
	// gets 401.
	Open bool
	// Population is the synthetic population; nil means population.Default().
	Population []population.Person
}

// Status is one chargeable status as the service sends it.
type Status struct {
	ID               string     `json:"id"`
	ChargingCategory string     `json:"chargingCategory"`
	Start            string     `json:"start"`
	End              *string    `json:"end"`
	RecordedBy       RecordedBy `json:"recordedBy"`
	LastUpdated      string     `json:"lastUpdated"`
}

// RecordedBy is the organisation that recorded a status.
type RecordedBy struct {
	ODS   string `json:"ods"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// answer is the body of a 200.
type answer struct {
	NHSNumber string   `json:"nhsNumber"`
	Statuses  []Status `json:"statuses"`
}

// Simulator is an OVM simulator. It is safe for concurrent use.
type Simulator struct {
	opts     Options
	statuses map[string][]Status // by NHS number

	faults fault.Injector
}

var _ http.Handler = (*Simulator)(nil)

// New builds a simulator over opts.Population.
func New(opts Options) *Simulator {
	pop := opts.Population
	if pop == nil {
		pop = population.Default()
	}
	return &Simulator{opts: opts, statuses: seed(pop), faults: fault.Injector{BasePath: BasePath, ContentType: contentTypeJSON}}
}

// Requests returns how many requests the simulator has received, including
// those answered by a fault or with an error.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// Statuses returns the statuses the simulator holds for nhs (for tests).
func (s *Simulator) Statuses(nhs string) []Status { return s.statuses[nhs] }

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	wire.Echo(w, r, "X-Request-ID", "X-Correlation-ID")
	if !s.opts.Open {
		if !wire.Bearer(r) {
			writeError(w, http.StatusUnauthorized, ErrAccessDenied)
			return
		}
	}
	switch {
	case r.URL.Path != BasePath+"/status":
		writeError(w, http.StatusNotFound, errNotFound)
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, errMethodNotAllowed)
	default:
		s.status(w, r)
	}
}

// status answers GET /status?nhs-number=…
func (s *Simulator) status(w http.ResponseWriter, r *http.Request) {
	nhs := r.URL.Query().Get("nhs-number")
	if !nhsnumber.Valid(nhs) {
		writeError(w, http.StatusBadRequest, ErrInvalidNHSNumber)
		return
	}
	a := answer{NHSNumber: nhs, Statuses: s.statuses[nhs]}
	if a.Statuses == nil {
		a.Statuses = []Status{}
	}
	body, err := json.Marshal(a)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR")
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeError writes the contract's error body: {"error": "<CODE>"}.
func writeError(w http.ResponseWriter, status int, code string) {
	body, _ := json.Marshal(map[string]string{"error": code})
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
