// Package fgm simulates the Female Genital Mutilation Information Sharing
// service (FGM-IS, FHIR R4): the same path, headers, payloads and errors as
// BACKENDS.md §5 and its project contract (§5.1), over the synthetic
// population shared by every simulator.
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET /Flag?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	    searchset Bundle of the patient's FGM flags (active and removed);
//	    empty when there are none
//
// Requests need a TraceID header (400 MISSING_VALUE) and, unless the
// simulator is open, a bearer token (401 ACCESS_DENIED). Creating and
// removing flags (POST, PUT) are not simulated: the facade only reads FGM-IS.
//
// Data: 9000000009 has the active flag of the contract fixture
// (Bundle-flag-found-9000000009.json); 9000000017 has none (the fixture
// Bundle-flag-not-found.json); and about one in fifty girls under 18 of the
// population has a flag, one in five of them removed (entered-in-error or
// inactive, with a removal reason and an end date). Everyone else has none.
//
// ForbiddenNHSNumber is a scenario rather than data: FGM-IS refuses every
// query about that patient with 403 ACCESS_DENIED (as national RBAC would),
// so a client can see how the facade answers when one of its services
// fails, without injecting a fault.
package fgm

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire"
	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// BasePath is the path prefix FGM-IS serves (project contract, BACKENDS.md §5.1).
const BasePath = "/fgm/FHIR/R4"

// ErrorSystem is the code system of FGM-IS's error codes.
const ErrorSystem = "https://fhir.nhs.uk/CodeSystem/England-SpineErrorOrWarningCode"

const contentTypeFHIR = "application/fhir+json"

// ForbiddenNHSNumber is the patient FGM-IS refuses to answer about (403).
const ForbiddenNHSNumber = "9000000092"

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandboxes. Otherwise any "Bearer <token>" is accepted and a missing one
	// gets 401 ACCESS_DENIED.
	Open bool
	// Population is the synthetic population; nil means population.Default().
	Population []population.Person
	// BaseURL is the absolute base used in fullUrl and self links, e.g.
	// "http://127.0.0.1:9003/fgm/FHIR/R4". Empty means derived from each
	// request's Host.
	BaseURL string
}

// Simulator is an FGM-IS simulator. It is safe for concurrent use.
type Simulator struct {
	opts  Options
	flags map[string][]Flag // by NHS number

	faults fault.Injector
}

var _ http.Handler = (*Simulator)(nil)

// New builds a simulator over opts.Population.
func New(opts Options) *Simulator {
	pop := opts.Population
	if pop == nil {
		pop = population.Default()
	}
	return &Simulator{opts: opts, flags: seed(pop), faults: fault.Injector{BasePath: BasePath, ContentType: contentTypeFHIR}}
}

// Requests returns how many requests the simulator has received, including
// those answered by a fault or with an error.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// Flags returns the flags the simulator holds for nhs (for tests).
func (s *Simulator) Flags(nhs string) []Flag { return s.flags[nhs] }

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
	rel, _ := strings.CutPrefix(r.URL.Path, BasePath)
	switch {
	case !strings.HasPrefix(r.URL.Path, BasePath):
		writeOutcome(w, http.StatusNotFound, "not-found", "RESOURCE_NOT_FOUND", "Resource not found", "Unknown path")
	case rel == "/Flag" && r.Method == http.MethodGet:
		s.search(w, r)
	case rel == "/Flag" || strings.HasPrefix(rel, "/Flag/"):
		writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "NOT_SUPPORTED", "Not supported", "Only searching flags is simulated")
	default:
		writeOutcome(w, http.StatusNotFound, "not-found", "RESOURCE_NOT_FOUND", "Resource not found", "Unknown path")
	}
}

// search answers GET /Flag?patient:identifier=…
func (s *Simulator) search(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("TraceID") == "" {
		writeOutcome(w, http.StatusBadRequest, "required", "MISSING_VALUE", "Missing value", "Missing TraceID header")
		return
	}
	q := r.URL.Query()
	v := q.Get("patient:identifier")
	if v == "" {
		writeOutcome(w, http.StatusBadRequest, "required", "MISSING_VALUE", "Missing value", "Missing patient:identifier")
		return
	}
	system, nhs, found := strings.Cut(v, "|")
	if !found {
		nhs, system = system, ""
	}
	if (system != "" && system != nhsnumber.System) || !nhsnumber.Valid(nhs) {
		writeOutcome(w, http.StatusBadRequest, "value", "INVALID_VALUE", "Invalid value", "Invalid NHS Number")
		return
	}
	if nhs == ForbiddenNHSNumber {
		writeOutcome(w, http.StatusForbidden, "forbidden", "ACCESS_DENIED", "Access denied", "The user's role does not permit access to this record")
		return
	}
	base := s.base(r)
	var entries []fhirwire.BundleEntry
	for _, f := range s.flags[nhs] {
		raw, err := json.Marshal(f)
		if err != nil {
			writeOutcome(w, http.StatusInternalServerError, "exception", "INTERNAL_SERVER_ERROR", "Internal error", "")
			return
		}
		entries = append(entries, fhirwire.Match(base+"/Flag/"+f.ID, raw))
	}
	b := fhirwire.Searchset(uuid.NewString(), base+"/Flag?patient:identifier="+nhsnumber.System+"|"+nhs, entries)
	body, err := json.Marshal(b)
	if err != nil {
		writeOutcome(w, http.StatusInternalServerError, "exception", "INTERNAL_SERVER_ERROR", "Internal error", "")
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (s *Simulator) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	return "http://" + r.Host + BasePath
}

// writeOutcome writes an FGM-IS error: an OperationOutcome with the
// England-SpineErrorOrWarningCode code.
func writeOutcome(w http.ResponseWriter, status int, issueCode, code, display, diagnostics string) {
	wire.WriteOutcome(w, status, contentTypeFHIR, wire.Outcome{Issue: []wire.Issue{wire.Error(issueCode, ErrorSystem, code, display, diagnostics)}})
}
