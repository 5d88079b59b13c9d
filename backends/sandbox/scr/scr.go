// Package scr simulates the Summary Care Record API (BACKENDS.md §2): the
// same paths, parameters, headers, payloads and errors as the real service
// and its public sandbox, over the reserved sandbox patients and the shared
// synthetic population.
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET  /DocumentReference?patient=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	     the patient's latest summary (masterIdentifier = SCR UUID) and
//	     consent (securityLabel Ask, Yes or No); an empty Bundle when the
//	     patient has no SCR. type, _sort and _count accept only the values
//	     the API accepts (196981000000101, date, 1); others are 400.
//	GET  /Bundle?composition.identifier={uuid}&composition.subject:Patient.identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	     the summary: a Composition whose allergy and medication sections
//	     are XHTML tables, as in the API's GetScrBundle.json; an empty
//	     Bundle for a UUID that is not the patient's latest; 403 for a
//	     patient who has withheld consent.
//	POST /Bundle, /$setPermission, /AuditEvent
//	     415 without Content-Type application/fhir+json, else 403: the
//	     simulator is read-only (uploads, consent changes and privacy
//	     alerts are not simulated).
//
// Who has what (see Describe):
//
//   - 9000000009 answers exactly as the public sandbox does (its
//     DocumentReference and GET /Bundle examples: one allergy, an acute and a
//     repeat medication, an empty discontinued category; consent Ask).
//   - 9000000033 has no SCR: an empty DocumentReference Bundle, and an
//     empty Bundle for its sandbox UUID 81CC2DA0-8882-11EB-B538-0800200C9A66.
//   - OptOutNHSNumber (9000000017) has withheld consent (No).
//   - 9111231130 and any NHS number PDS does not know have no SCR.
//   - Every other patient known to the PDS simulator (the synthetic
//     population and the PDS fixture patients) gets a deterministic summary
//     chosen by a hash of the NHS number: FNV-1a 64 of "scr/" + the NHS
//     number, modulo 100: 0–9 no SCR, 10–14 consent No, 15–19 consent Yes
//     (legacy), 20–99 consent Ask. The same hash seeds the content: each of
//     the four categories is filled (allergies 45%, acute 35%, repeat 45%,
//     discontinued 20%, 1–4 rows of realistic entries with dates, certainty,
//     severity, dosage and quantity) or holds the "No relevant information
//     available for this category." row.
package scr

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/carerecords/fhir-facade/backends/sandbox/fault"
	"github.com/carerecords/fhir-facade/backends/sandbox/population"
	"github.com/carerecords/fhir-facade/backends/sandbox/wire"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// BasePath is the path prefix the SCR API serves, as on api.service.nhs.uk.
const BasePath = "/summary-care-record/FHIR/R4"

// Reserved NHS numbers with a documented SCR behaviour.
const (
	// SandboxNHSNumber has the public sandbox's summary.
	SandboxNHSNumber = "9000000009"
	// SandboxUUID is its SCR UUID.
	SandboxUUID = "FA60BE64-1F34-11EB-A2A8-000C29A364EB"
	// NoSCRNHSNumber has no SCR (public sandbox).
	NoSCRNHSNumber = "9000000033"
	// NoSCRUUID is the UUID the public sandbox documents for NoSCRNHSNumber's
	// empty GET /Bundle.
	NoSCRUUID = "81CC2DA0-8882-11EB-B538-0800200C9A66"
	// OptOutNHSNumber has withheld consent to share their SCR (project
	// decision: a PDS fixture patient, so it can be read in PDS too).
	OptOutNHSNumber = "9000000017"
)

// The consent codes the simulator issues.
const (
	ConsentAsk = "Ask"
	ConsentYes = "Yes"
	ConsentNo  = "No"
)

const contentTypeFHIR = "application/fhir+json"

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandbox; otherwise any "Bearer <token>" is accepted and a missing one
	// gets 401.
	Open bool
	// Population is the synthetic population; nil means population.Default().
	Population []population.Person
	// BaseURL is the absolute base used in DocumentReference attachment
	// URLs; empty means derived from each request's Host.
	BaseURL string
}

// Simulator is an SCR API simulator. It is safe for concurrent use.
type Simulator struct {
	opts    Options
	people  map[string]*population.Person
	docRefs atomic.Int64
	bundles atomic.Int64

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

// DocumentReferenceRequests and BundleRequests count the GET /DocumentReference
// and GET /Bundle requests answered (faults excluded), so tests can check
// the two-step retrieval, e.g. that a withheld consent stops after step 1.
func (s *Simulator) DocumentReferenceRequests() int64 { return s.docRefs.Load() }

// BundleRequests: see DocumentReferenceRequests.
func (s *Simulator) BundleRequests() int64 { return s.bundles.Load() }

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
	if v := r.Header.Get("X-Request-ID"); v != "" && !wire.UUID.MatchString(v) {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Invalid X-Request-ID header: must be a UUID")
		return
	}
	if v := r.Header.Get("NHSD-Session-URID"); v != "" && strings.Trim(v, "0123456789") != "" {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Invalid NHSD-Session-URID header")
		return
	}
	if !s.opts.Open {
		if !wire.Bearer(r) {
			writeOutcome(w, http.StatusUnauthorized, "forbidden", "Invalid access token")
			return
		}
	}
	rel, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok {
		writeOutcome(w, http.StatusNotFound, "not-found", "Unknown path")
		return
	}
	switch rel {
	case "/DocumentReference":
		if r.Method != http.MethodGet {
			s.methodNotAllowed(w, "GET")
			return
		}
		s.documentReference(w, r)
	case "/Bundle":
		switch r.Method {
		case http.MethodGet:
			s.bundle(w, r)
		case http.MethodPost:
			s.readOnly(w, r)
		default:
			s.methodNotAllowed(w, "GET, POST")
		}
	case "/$setPermission", "/AuditEvent":
		if r.Method != http.MethodPost {
			s.methodNotAllowed(w, "POST")
			return
		}
		s.readOnly(w, r)
	default:
		writeOutcome(w, http.StatusNotFound, "not-found", "Unknown path")
	}
}

func (s *Simulator) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "Method not allowed")
}

// readOnly answers the write endpoints: the Content-Type check the API
// makes first, then 403.
func (s *Simulator) readOnly(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(mt) != contentTypeFHIR {
		writeOutcome(w, http.StatusUnsupportedMediaType, "not-supported", "Content type '"+safeEcho(ct)+"' not supported")
		return
	}
	writeOutcome(w, http.StatusForbidden, "forbidden", "The SCR simulator is read-only: uploads, consent changes and privacy alerts are not simulated")
}

// patientParam reads "https://fhir.nhs.uk/Id/nhs-number|{nhs}".
func patientParam(v string) (string, bool) {
	system, nhs, ok := strings.Cut(v, "|")
	if !ok || system != nhsnumber.System || !nhsnumber.Valid(nhs) {
		return "", false
	}
	return nhs, true
}

func (s *Simulator) documentReference(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	raw := q.Get("patient")
	if raw == "" {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Missing patient parameter")
		return
	}
	nhs, ok := patientParam(raw)
	if !ok {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Invalid patient parameter: must be https://fhir.nhs.uk/Id/nhs-number|<valid NHS number>")
		return
	}
	if v, ok := q["type"]; ok && (len(v) != 1 || v[0] != "http://snomed.info/sct|196981000000101") {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Invalid type parameter: must be http://snomed.info/sct|196981000000101")
		return
	}
	if v, ok := q["_sort"]; ok && (len(v) != 1 || v[0] != "date") {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Invalid _sort parameter: the only supported value is date")
		return
	}
	if v, ok := q["_count"]; ok && (len(v) != 1 || v[0] != "1") {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Invalid _count parameter: the only supported value is 1")
		return
	}
	s.docRefs.Add(1)
	writeBody(w, s.documentReferenceBody(nhs, s.baseURL(r)))
}

func (s *Simulator) bundle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	uuid := q.Get("composition.identifier")
	subject := q.Get("composition.subject:Patient.identifier")
	if uuid == "" || subject == "" {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Missing composition.identifier or composition.subject:Patient.identifier parameter")
		return
	}
	nhs, ok := patientParam(subject)
	if !ok || !validUUID(uuid) {
		writeOutcome(w, http.StatusBadRequest, "invalid", "Invalid composition.identifier or composition.subject:Patient.identifier parameter")
		return
	}
	s.bundles.Add(1)
	d, summary := s.latest(nhs)
	if d.HasSCR && d.Consent == ConsentNo {
		writeOutcome(w, http.StatusForbidden, "forbidden", "There's no patient's consent to share the SCR")
		return
	}
	body := emptyBundle(uuid)
	if d.HasSCR && strings.EqualFold(uuid, d.UUID) {
		body = summary()
	}
	writeBody(w, body)
}

// writeBody answers 200 with body and its Content-Length.
func writeBody(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (s *Simulator) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	return "http://" + r.Host + BasePath
}

func validUUID(s string) bool { return wire.UUID.MatchString(s) }

// safeEcho keeps an echoed header value short and printable.
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

// writeOutcome answers with the API's OperationOutcome shape: issue.code and
// details.text (the API's 4xx carry no Spine coding).
func writeOutcome(w http.ResponseWriter, status int, code, text string) {
	body, _ := json.Marshal(map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{
			"severity": "error",
			"code":     code,
			"details":  map[string]any{"text": text},
		}},
	})
	w.Header().Set("Content-Type", contentTypeFHIR)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
