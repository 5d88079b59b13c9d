// Package cpis simulates Child Protection – Information Sharing (CP-IS, FHIR
// R4 API): the paths and headers of the public implementation guide, with the
// payloads and errors of the project contract (BACKENDS.md §4.1), over the
// synthetic population shared by every simulator.
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET /CareTeam?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	    searchset Bundle of the patient's plans (empty when none)
//	GET /AuditEvent?patient:identifier=…
//	    the patient's 25 most recent unscheduled-care accesses, newest first
//
// Requests need a TraceID header (400 MISSING_VALUE) and, unless the
// simulator is open, a bearer token (401 ACCESS_DENIED). A CareTeam query
// with IsUnscheduledAccessEvent "true", or without the header (CP-IS treats
// an omitted header as unscheduled), is recorded as an access, which the
// real service would notify the local authority of; "false" is a silent
// read.
//
// Data: 9000000009 has the child protection plan of the contract fixture,
// 9000000017 the ended looked-after-child plan and the unborn child
// protection plan of the other fixture; about one child in twenty of the
// population has a plan (a child protection plan or looked after, some
// ended, some with an earlier ended plan of the other kind), and a few women
// and girls of 15 to 45 an unborn child protection plan. Each plan names the
// local authority of the child's town, with office-hours and emergency-duty
// numbers. Everyone else has no plan.
package cpis

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire"
	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// BasePath is the path prefix CP-IS serves.
const BasePath = "/cpis/FHIR/R4"

// ErrorSystem is the code system of CP-IS's error codes.
const ErrorSystem = "https://fhir.nhs.uk/CodeSystem/England-SpineErrorOrWarningCode"

// MaxAccesses is how many accesses the access history keeps per patient.
const MaxAccesses = 25

const contentTypeFHIR = "application/fhir+json"

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandboxes. Otherwise any "Bearer <token>" is accepted and a missing one
	// gets 401 ACCESS_DENIED.
	Open bool
	// Population is the synthetic population; nil means population.Default().
	Population []population.Person
	// BaseURL is the absolute base used in fullUrl and self links, e.g.
	// "http://127.0.0.1:9002/cpis/FHIR/R4". Empty means derived from each
	// request's Host.
	BaseURL string
	// Now is the clock of the access history; nil means time.Now.
	Now func() time.Time
}

// Simulator is a CP-IS simulator. It is safe for concurrent use.
type Simulator struct {
	opts  Options
	plans map[string][]CareTeam // by NHS number

	accessMu sync.Mutex
	accesses map[string][]auditEvent // by NHS number, newest first

	faults fault.Injector
}

var _ http.Handler = (*Simulator)(nil)

// New builds a simulator over opts.Population.
func New(opts Options) *Simulator {
	pop := opts.Population
	if pop == nil {
		pop = population.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Simulator{opts: opts, plans: seed(pop), accesses: seedAccesses(), faults: fault.Injector{BasePath: BasePath, ContentType: contentTypeFHIR}}
}

// Requests returns how many requests the simulator has received, including
// those answered by a fault or with an error.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// Plans returns the plans the simulator holds for nhs (for tests).
func (s *Simulator) Plans(nhs string) []CareTeam { return s.plans[nhs] }

// Accesses returns how many unscheduled-care accesses of nhs the access
// history holds (at most MaxAccesses).
func (s *Simulator) Accesses(nhs string) int {
	s.accessMu.Lock()
	defer s.accessMu.Unlock()
	return len(s.accesses[nhs])
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeFHIR)
	wire.Echo(w, r, "TraceID", "X-Correlation-ID")
	if !s.opts.Open {
		if !wire.Bearer(r) {
			writeOutcome(w, http.StatusUnauthorized, "forbidden", "ACCESS_DENIED", "Access denied", "Missing or invalid access token")
			return
		}
	}
	rel, found := strings.CutPrefix(r.URL.Path, BasePath)
	switch {
	case !found:
		writeOutcome(w, http.StatusNotFound, "not-found", "RESOURCE_NOT_FOUND", "Resource not found", "Unknown path")
	case (rel == "/CareTeam" || rel == "/AuditEvent") && r.Method != http.MethodGet:
		writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "NOT_SUPPORTED", "Not supported", "CP-IS is read-only for consumers")
	case rel == "/CareTeam":
		s.careTeams(w, r)
	case rel == "/AuditEvent":
		s.auditEvents(w, r)
	default:
		writeOutcome(w, http.StatusNotFound, "not-found", "RESOURCE_NOT_FOUND", "Resource not found", "Unknown path")
	}
}

// patient checks the headers and the patient:identifier every query needs.
func patient(w http.ResponseWriter, r *http.Request) (string, bool) {
	if r.Header.Get("TraceID") == "" {
		writeOutcome(w, http.StatusBadRequest, "required", "MISSING_VALUE", "Missing value", "Missing TraceID header")
		return "", false
	}
	v := r.URL.Query().Get("patient:identifier")
	if v == "" {
		writeOutcome(w, http.StatusBadRequest, "required", "MISSING_VALUE", "Missing value", "Missing patient:identifier")
		return "", false
	}
	system, nhs, found := strings.Cut(v, "|")
	if !found {
		nhs, system = system, ""
	}
	if (system != "" && system != nhsnumber.System) || !nhsnumber.Valid(nhs) {
		writeOutcome(w, http.StatusBadRequest, "value", "INVALID_VALUE", "Invalid value", "Invalid NHS Number")
		return "", false
	}
	return nhs, true
}

// careTeams answers GET /CareTeam?patient:identifier=…
func (s *Simulator) careTeams(w http.ResponseWriter, r *http.Request) {
	nhs, ok := patient(w, r)
	if !ok {
		return
	}
	var unscheduled bool
	switch v := r.Header.Get("IsUnscheduledAccessEvent"); strings.ToLower(v) {
	case "", "true":
		unscheduled = true // omitted counts as unscheduled (the IG)
	case "false":
	default:
		writeOutcome(w, http.StatusBadRequest, "value", "INVALID_VALUE", "Invalid value", "IsUnscheduledAccessEvent must be true or false")
		return
	}
	if unscheduled {
		s.recordAccess(nhs, r)
	}
	base := s.base(r)
	entries := make([]fhirwire.BundleEntry, 0, len(s.plans[nhs]))
	for _, ct := range s.plans[nhs] {
		raw, _ := json.Marshal(ct)
		entries = append(entries, fhirwire.Match(base+"/CareTeam/"+ct.ID, raw))
	}
	writeBundle(w, base+"/CareTeam?patient:identifier="+nhsnumber.System+"|"+nhs, entries)
}

// auditEvents answers GET /AuditEvent?patient:identifier=…: the access
// history, newest first.
func (s *Simulator) auditEvents(w http.ResponseWriter, r *http.Request) {
	nhs, ok := patient(w, r)
	if !ok {
		return
	}
	base := s.base(r)
	s.accessMu.Lock()
	events := append([]auditEvent(nil), s.accesses[nhs]...)
	s.accessMu.Unlock()
	entries := make([]fhirwire.BundleEntry, 0, len(events))
	for _, e := range events {
		raw, _ := json.Marshal(e)
		entries = append(entries, fhirwire.Match(base+"/AuditEvent/"+e.ID, raw))
	}
	writeBundle(w, base+"/AuditEvent?patient:identifier="+nhsnumber.System+"|"+nhs, entries)
}

func (s *Simulator) recordAccess(nhs string, r *http.Request) {
	user := r.Header.Get("NHSD-Session-URID")
	if user == "" {
		user = "unknown"
	}
	org := r.Header.Get("NHSD-End-User-Organisation-ODS")
	if org == "" {
		org = "UNKNOWN"
	}
	e := newAuditEvent("cpis-access-"+uuid.NewString(), s.opts.Now(), nhs, user, org)
	s.accessMu.Lock()
	defer s.accessMu.Unlock()
	list := append([]auditEvent{e}, s.accesses[nhs]...)
	if len(list) > MaxAccesses {
		list = list[:MaxAccesses]
	}
	s.accesses[nhs] = list
}

func (s *Simulator) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	return "http://" + r.Host + BasePath
}

func writeBundle(w http.ResponseWriter, self string, entries []fhirwire.BundleEntry) {
	body, err := json.Marshal(fhirwire.Searchset(uuid.NewString(), self, entries))
	if err != nil {
		writeOutcome(w, http.StatusInternalServerError, "exception", "INTERNAL_SERVER_ERROR", "Internal error", "")
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeOutcome writes a CP-IS error: an OperationOutcome with the
// England-SpineErrorOrWarningCode code.
func writeOutcome(w http.ResponseWriter, status int, issueCode, code, display, diagnostics string) {
	wire.WriteOutcome(w, status, contentTypeFHIR, wire.Outcome{Issue: []wire.Issue{wire.Error(issueCode, ErrorSystem, code, display, diagnostics)}})
}
