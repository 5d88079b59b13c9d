// Package scr simulates the Summary Care Record API: the same paths,
// parameters, headers, payloads and errors as the real service and its
// public sandbox (docs/backends.md, "SCR"), over the reserved sandbox
// patients and the shared synthetic population.
//
// A Simulator is an http.Handler serving everything under BasePath:
//
//	GET  /DocumentReference?patient=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	     the patient's latest summary (masterIdentifier = SCR UUID) and
//	     consent (securityLabel Ask, Yes or No); an empty Bundle when the
//	     patient has no SCR; 403 PSIS-30418 when the SCR's access control
//	     refuses the patient. type, _sort and _count accept only the values
//	     the API accepts (196981000000101, date, 1); others are 400.
//	GET  /Bundle?composition.identifier={uuid}&composition.subject:Patient.identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}
//	     the summary: a Composition whose allergy and medication sections
//	     are XHTML tables, as in the API's GetScrBundle.json; an empty
//	     Bundle for a UUID that is not the patient's latest; 403 PSIS-30418
//	     for a refused patient or one who has withheld consent.
//	POST /Bundle, /$setPermission, /AuditEvent
//	     415 without Content-Type application/fhir+json, 400 without
//	     NHSD-Session-URID; then as the sandbox: 201 with no body (an upload
//	     must hold a Composition; a permission must name a patient whose SCR
//	     the simulator holds), nothing stored.
//
// Who has what (see Describe):
//
//   - 9000000009 answers as the public sandbox does (its DocumentReference,
//     consent Yes, and a summary of GetScrBundle.json's shape: one allergy,
//     an acute and a repeat medication, an empty discontinued category).
//   - 9000000033 (RefusedNHSNumber), 9111231130 and any NHS number PDS does
//     not know are refused: 403 PSIS-30418, the sandbox's answer to every
//     number but 9000000009.
//   - OptOutNHSNumber (9000000017) has withheld consent (No).
//   - Every other patient known to the PDS simulator (the synthetic
//     population and the PDS fixture patients) gets a deterministic summary
//     chosen by a hash of the NHS number: FNV-1a 64 of "scr/" + the NHS
//     number, modulo 100: 0–9 no SCR, 10–14 consent No, 15–19 consent Yes
//     (legacy), 20–99 consent Ask. The same hash seeds the content: each of
//     the four categories is filled (allergies 45%, acute 35%, repeat 45%,
//     discontinued 20%, 1–4 rows of realistic entries with dates, certainty,
//     severity, dosage and quantity) or holds the "No relevant information
//     available for this category." row.
//
// The public sandbox's answers are the contract (contract_test.go); the
// departures and their reasons are in docs/backends.md.
package scr

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// BasePath is the path prefix the SCR API serves, as on api.service.nhs.uk.
const BasePath = "/summary-care-record/FHIR/R4"

// Reserved NHS numbers with a documented SCR behaviour.
const (
	// SandboxNHSNumber has the public sandbox's summary.
	SandboxNHSNumber = "9000000009"
	// SandboxUUID is its SCR UUID.
	SandboxUUID = "FA60BE64-1F34-11EB-A2A8-000C29A364EB"
	// RefusedNHSNumber is refused by the SCR's access control (403
	// PSIS-30418), as the public sandbox answers every number but
	// 9000000009: the specification's "no SCR" patient, whom the sandbox
	// never answers with an empty Bundle.
	RefusedNHSNumber = "9000000033"
	// unknownNHSNumber is the sandbox's example of an unknown patient.
	unknownNHSNumber = "9111231130"
	// OptOutNHSNumber has withheld consent to share their SCR (project
	// decision: a PDS fixture patient, so it can be read in PDS too).
	OptOutNHSNumber = "9000000017"
	// SandboxSessionURID is the role (NHSD-Session-URID) of the sandbox's
	// user: the public sandbox's $setPermission needs a role it knows.
	SandboxSessionURID = "555254240100"
)

// sandboxBase is the base of the URLs in the sandbox's answers.
const sandboxBase = "https://sandbox.api.service.nhs.uk/summary-care-record/FHIR/R4"

// Error texts of the service (its OperationOutcomes carry one issue with
// details.text): PSIS answers passed on, and its own validation.
const (
	textNoConsent = "Code: 420, Display: Business condition related to access control  which prevents the action being performed by PSIS;" +
		"Code: 30418, Display: [PSIS-30418] - ACF does not permit access to resource"
	textNHSNumberNotFound = "Code: 400, Display: Invalid Request;Code: 35160, Display: [PSIS-35160] - Invalid input message. " +
		"Mandatory field NHS Number is missing or incorrect"
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
	wire.Echo(w, r, "X-Request-ID", "X-Correlation-ID")
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
			s.upload(w, r)
		default:
			s.methodNotAllowed(w, "GET, POST")
		}
	case "/$setPermission":
		if r.Method != http.MethodPost {
			s.methodNotAllowed(w, "POST")
			return
		}
		s.setPermission(w, r)
	case "/AuditEvent":
		if r.Method != http.MethodPost {
			s.methodNotAllowed(w, "POST")
			return
		}
		if s.writeChecks(w, r) {
			created(w)
		}
	default:
		writeOutcome(w, http.StatusNotFound, "not-found", "Unknown path")
	}
}

func (s *Simulator) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "Method not allowed")
}

// writeChecks applies what every write checks first: Content-Type
// application/fhir+json (415), then the NHSD-Session-URID header (400). It
// reports whether the request passed.
func (s *Simulator) writeChecks(w http.ResponseWriter, r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(mt) != contentTypeFHIR {
		writeOutcome(w, http.StatusUnsupportedMediaType, "not-supported", "Content type '"+safeEcho(ct)+"' not supported")
		return false
	}
	if r.Header.Get("NHSD-Session-URID") == "" {
		writeOutcome(w, http.StatusBadRequest, "value", "Required request header 'NHSD-Session-URID' for method parameter type String is not present")
		return false
	}
	return true
}

// created answers 201 with no body, as the service's writes do.
func created(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// upload answers POST /Bundle: a summary sent by a GP system. As the
// sandbox, it is accepted (201, nothing stored: the simulator's summaries
// are generated) when the Bundle holds a Composition, else 400.
func (s *Simulator) upload(w http.ResponseWriter, r *http.Request) {
	if !s.writeChecks(w, r) {
		return
	}
	var b struct {
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
		} `json:"entry"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, maxWriteBody)).Decode(&b)
	for _, e := range b.Entry {
		if e.Resource.ResourceType == "Composition" {
			created(w)
			return
		}
	}
	writeOutcome(w, http.StatusBadRequest, "value", "Composition missing from payload")
}

// setPermission answers POST /$setPermission (Parameters with one
// setPermissions parameter: its nhsNumber and permissionCode parts), as the
// sandbox: 201 for a patient whose SCR the simulator holds (9000000009, the
// population), nothing stored; PSIS's 400 for any other number.
func (s *Simulator) setPermission(w http.ResponseWriter, r *http.Request) {
	if !s.writeChecks(w, r) {
		return
	}
	var p struct {
		Parameter []struct {
			Part []struct {
				Name            string `json:"name"`
				ValueString     string `json:"valueString"`
				ValueIdentifier *struct {
					Value string `json:"value"`
				} `json:"valueIdentifier"`
				ValueCoding *struct {
					System string `json:"system"`
					Code   string `json:"code"`
				} `json:"valueCoding"`
			} `json:"part"`
		} `json:"parameter"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, maxWriteBody)).Decode(&p)
	nhs, permissions := "", 0
	for _, prm := range p.Parameter {
		for _, part := range prm.Part {
			switch {
			case part.Name == "nhsNumber" && part.ValueIdentifier != nil:
				nhs = part.ValueIdentifier.Value
			case part.Name == "nhsNumber":
				nhs = part.ValueString
			case part.Name == "permissionCode" && part.ValueCoding != nil && part.ValueCoding.System == "https://fhir.nhs.uk/CodeSystem/SCR-ACSPermission":
				permissions++
			}
		}
	}
	switch {
	case nhs == "":
		writeOutcome(w, http.StatusBadRequest, "value", "Missing value for Parameter.Part 'nhsNumber'")
	case permissions != 1:
		writeOutcome(w, http.StatusBadRequest, "value", "Exactly 1 Parameter.Part named 'permissionCode' with valueCoding.system https://fhir.nhs.uk/CodeSystem/SCR-ACSPermission expected")
	case s.Describe(nhs).HasSCR:
		created(w)
	default:
		writeOutcome(w, http.StatusBadRequest, "value", textNHSNumberNotFound)
	}
}

// maxWriteBody bounds the body a write reads.
const maxWriteBody = 1 << 20

// patientParam reads "https://fhir.nhs.uk/Id/nhs-number|{nhs}" as the
// service does: the prefix and a value (checked by the Spine, later).
func patientParam(v string) (string, bool) {
	nhs, ok := strings.CutPrefix(v, nhsnumber.System+"|")
	return nhs, ok && nhs != ""
}

// missingParam is the service's answer to a missing query parameter.
func missingParam(w http.ResponseWriter, name string) {
	writeOutcome(w, http.StatusBadRequest, "value", "Required request parameter '"+name+"' for method parameter type String is not present")
}

// refused answers a patient the SCR's access control refuses.
func refused(w http.ResponseWriter) {
	writeOutcome(w, http.StatusForbidden, "forbidden", textNoConsent)
}

func (s *Simulator) documentReference(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	raw, ok := q["patient"]
	if !ok {
		missingParam(w, "patient")
		return
	}
	nhs, ok := patientParam(raw[0])
	if !ok {
		writeOutcome(w, http.StatusBadRequest, "value", "Invalid value - "+safeEcho(raw[0])+" in field 'patient'")
		return
	}
	if v, ok := q["type"]; ok && (len(v) != 1 || v[0] != "http://snomed.info/sct|196981000000101") {
		writeOutcome(w, http.StatusBadRequest, "value", "Invalid value - "+safeEcho(v[0])+" in field 'type'")
		return
	}
	if v, ok := q["_sort"]; ok && (len(v) != 1 || v[0] != "date") {
		writeOutcome(w, http.StatusBadRequest, "value", "Invalid value - "+safeEcho(v[0])+" in field '_sort'")
		return
	}
	if v, ok := q["_count"]; ok && (len(v) != 1 || v[0] != "1") {
		writeOutcome(w, http.StatusBadRequest, "value", "Invalid value - "+safeEcho(v[0])+" in field '_count'")
		return
	}
	s.docRefs.Add(1)
	if !nhsnumber.Valid(nhs) || s.Describe(nhs).Refused {
		refused(w)
		return
	}
	writeBody(w, s.documentReferenceBody(nhs, s.baseURL(r)))
}

func (s *Simulator) bundle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, name := range []string{"composition.identifier", "composition.subject:Patient.identifier"} {
		if _, ok := q[name]; !ok {
			missingParam(w, name)
			return
		}
	}
	uuid, subject := q.Get("composition.identifier"), q.Get("composition.subject:Patient.identifier")
	nhs, ok := patientParam(subject)
	if !ok {
		writeOutcome(w, http.StatusBadRequest, "value", "Invalid value - "+safeEcho(subject)+" in field 'patient'")
		return
	}
	s.bundles.Add(1)
	if !nhsnumber.Valid(nhs) {
		refused(w)
		return
	}
	d, summary := s.latest(nhs)
	if d.Refused || (d.HasSCR && d.Consent == ConsentNo) {
		refused(w)
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

// writeOutcome answers with the API's OperationOutcome: one issue with its
// code and details.text (the API's errors carry no Spine coding), members in
// the service's order.
func writeOutcome(w http.ResponseWriter, status int, code, text string) {
	wire.WriteOutcome(w, status, contentTypeFHIR, wire.Outcome{Issue: []wire.Issue{{Severity: "error", Code: code, Details: &wire.Details{Text: text}}}})
}
