// Package nrl simulates the National Record Locator consumer API ("NRL v3",
// FHIR R4) and, behind the Spine Secure Proxy, the organisations holding the
// documents its pointers point at (docs/backends.md, "NRL"). A Simulator is an
// http.Handler serving:
//
//	GET  BasePath/DocumentReference?subject:identifier=…[&type=…][&custodian:identifier=…][&next-page-token=…]
//	POST BasePath/DocumentReference/_search      the same as a JSON body
//	GET  BasePath/DocumentReference/_count?subject:identifier=…
//	GET  BasePath/DocumentReference/{id}
//	GET  BasePath/_status
//	GET  SSPPath/<URL-encoded holder URL>        the document (project contract)
//
// with NRL's headers (X-Request-ID, NHSD-End-User-Organisation-ODS, bearer
// token unless open) and errors (OperationOutcomes with NRL's system and
// codes, as NRLF writes them). Results are limited to the pointer types the
// consuming organisation was onboarded for (Options.Organisations).
//
// Paging (the specification: "a token ... to retrieve the next set of 20
// records ... returned in the meta.tag field"; its shape is our project
// contract, and NRLF itself, hence the public sandbox, never pages): 20
// pointers a page, newest first; while more remain the Bundle carries
//
//	"meta": {"tag": [{"code": "next-page-token", "display": "<token>"}]}
//
// and the next page is the same search with next-page-token=<token>. total
// counts every match, not just the page.
//
// Pointers: the public sandbox's seed data, served as it stores them but for
// their attachment URLs (4409815415 has four pointers, Y05868-1234567892
// among them; 3495456481 five; 2742179658 and 9820246733 one each);
// 9000000009 has three care plans of different types (a mental health
// crisis plan PDF, an end of life care coordination summary as a FHIR
// document Bundle and as a PDF, a ReSPECT form PDF), all retrievable;
// EdgeCaseNHSNumber (synthetic) has 24, more than a page, among them a ~5 MB
// scanned record (LargeDocumentPointerID), one whose holder is down
// (HolderDownPointerID) and one whose document is gone
// (MissingDocumentPointerID); about one synthetic person in ten has one to
// three. Every document is synthetic and deterministic; the simulator's own
// pointers carry the served bytes' attachment.size and hash.
//
// The public sandbox's answers are the contract (contract_test.go); the
// departures and their reasons are in docs/backends.md.
package nrl

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// BasePath is the path prefix of the consumer API, as on api.service.nhs.uk.
const BasePath = "/record-locator/consumer/FHIR/R4"

// SSPPath is where the simulator serves documents, standing for the Spine
// Secure Proxy: every attachment.url it issues is <origin>/ssp/<URL-encoded
// holder URL>.
const SSPPath = "/ssp"

// PageSize is how many pointers one search page holds.
const PageSize = 20

const contentTypeFHIR = "application/fhir+json"

// DefaultOrganisations are the consuming organisations the simulator knows:
// Y05868 (the sandbox's) may see every pointer type, RQI only mental health
// crisis plans (as in NRLF's tests). Any other ODS code is not onboarded
// (403), as the sandbox's "XYZ".
var DefaultOrganisations = map[string][]string{
	"Y05868": nil,
	"RQI":    {typeMentalHealthCrisisPlan.token()},
}

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandbox. Otherwise any "Bearer <token>" is accepted and a missing one
	// gets 401.
	Open bool
	// Population is the synthetic population whose pointers are served next
	// to the reserved ones; nil means population.Default().
	Population []population.Person
	// BaseURL is the absolute base of the API, e.g.
	// "http://127.0.0.1:9002/record-locator/consumer/FHIR/R4"; its origin is
	// that of the attachment URLs. Empty means derived from each request's Host.
	BaseURL string
	// Organisations maps each onboarded consumer ODS code to the pointer
	// types (system|code) it may see, nil meaning all; nil means
	// DefaultOrganisations.
	Organisations map[string][]string
}

// Simulator is an NRL simulator. It is safe for concurrent use.
type Simulator struct {
	opts  Options
	store *store

	faults fault.Injector
}

var _ http.Handler = (*Simulator)(nil)

// New builds a simulator; the default population's pointers are built once
// and shared. It panics if the embedded sandbox examples cannot be read, a
// build defect.
func New(opts Options) *Simulator {
	pop := opts.Population
	if pop == nil {
		pop = population.Default()
	}
	if opts.Organisations == nil {
		opts.Organisations = DefaultOrganisations
	}
	st, err := storeFor(pop)
	if err != nil {
		panic(err)
	}
	return &Simulator{opts: opts, store: st, faults: fault.Injector{BasePath: BasePath, ContentType: contentTypeFHIR}}
}

// Requests returns how many requests the simulator has received, including
// those answered by a fault or with an error.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// Pointers returns the ids of the pointers of the patient nhs, newest first
// (every type, whoever asks).
func (s *Simulator) Pointers(nhs string) []string {
	var ids []string
	for _, p := range s.store.byNHS[nhs] {
		ids = append(ids, p.id)
	}
	return ids
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}
	h := w.Header()
	wire.Echo(w, r, "X-Request-ID", "X-Correlation-ID")
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, SSPPath+"/"):
		s.serveDocument(w, r)
	case p == BasePath+"/_status":
		h.Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"message":"OK"}`))
	case strings.HasPrefix(p, BasePath+"/"):
		if e := s.serveAPI(w, r, strings.TrimPrefix(p, BasePath)); e != nil {
			writeError(w, e)
		}
	default:
		writeError(w, errUnknownPath())
	}
}

// query is a validated search.
type query struct {
	nhs       string
	typ       string // system|code, "" for any
	custodian string // ODS code, "" for any
	offset    int
	raw       [][2]string // the parameters as sent, for the self link
}

func (s *Simulator) serveAPI(w http.ResponseWriter, r *http.Request, rel string) *apiError {
	id := r.Header.Get("X-Request-ID")
	if id == "" || !wire.UUID.MatchString(id) {
		return errMissingHeader("X-Request-ID")
	}
	if !s.opts.Open && !wire.Bearer(r) {
		return errUnauthorised()
	}
	ods := strings.TrimSpace(r.Header.Get("NHSD-End-User-Organisation-ODS"))
	if ods == "" {
		return errMissingHeader("NHSD-End-User-Organisation-ODS")
	}
	allowed, onboarded := s.opts.Organisations[ods]
	if !onboarded || (allowed != nil && len(allowed) == 0) {
		// NRLF refuses an organisation without pointer types as one it
		// does not know.
		return errOrganisationNotOnboarded(ods)
	}
	permits := func(p *pointer) bool {
		if allowed == nil {
			return true
		}
		for _, t := range allowed {
			if t == p.typ.token() {
				return true
			}
		}
		return false
	}
	base := s.baseURL(r)
	switch {
	case rel == "/DocumentReference":
		if r.Method != http.MethodGet {
			return errMethodNotAllowed(r.Method)
		}
		return s.search(w, r.URL.Query(), false, ods, allowed, permits, base)
	case rel == "/DocumentReference/_search":
		if r.Method != http.MethodPost {
			return errMethodNotAllowed(r.Method)
		}
		params, e := bodyParams(r)
		if e != nil {
			return e
		}
		return s.search(w, params, true, ods, allowed, permits, base)
	case rel == "/DocumentReference/_count":
		if r.Method != http.MethodGet {
			return errMethodNotAllowed(r.Method)
		}
		return s.count(w, r.URL.Query(), permits)
	case strings.HasPrefix(rel, "/DocumentReference/") && !strings.Contains(rel[len("/DocumentReference/"):], "/"):
		if r.Method != http.MethodGet {
			return errMethodNotAllowed(r.Method)
		}
		return s.read(w, rel[len("/DocumentReference/"):], permits, base)
	}
	return errUnknownPath()
}

// baseURL is Options.BaseURL, or one derived from the request.
func (s *Simulator) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	return "http://" + r.Host + BasePath
}

// origin is the scheme and host of base.
func origin(base string) string {
	return strings.TrimSuffix(base, BasePath)
}

func bodyParams(r *http.Request) (url.Values, *apiError) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || len(b) == 0 {
		return nil, errBadRequest("Request body is required")
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "BAD_REQUEST",
			diagnostics: "Request body could not be parsed"}
	}
	v := url.Values{}
	for k, x := range m {
		v.Set(k, x)
	}
	return v, nil
}

var (
	subjectPattern   = regexp.MustCompile(`^https://fhir\.nhs\.uk/Id/nhs-number\|(\d+)$`)
	custodianPattern = regexp.MustCompile(`^https://fhir\.nhs\.uk/Id/ods-organization-code\|(\w+)$`)
)

// parseSearch validates a search's parameters in NRLF's order: unknown
// parameters, the subject's form, then its NHS number, custodian, type (is
// it one the organisation may see), next-page-token. post says they came in
// a POST body, whose errors NRLF words differently.
func parseSearch(v url.Values, post bool, allowed []string) (*query, *apiError) {
	invalid := errInvalidParameter
	if post {
		invalid = errBodyNotWellFormed
	}
	for k := range v {
		switch k {
		case "subject:identifier", "custodian:identifier", "type", "next-page-token":
		default:
			return nil, invalid(k, "Extra inputs are not permitted")
		}
	}
	q := &query{}
	subject := v.Get("subject:identifier")
	if subject == "" {
		return nil, invalid("subject:identifier", "Field required")
	}
	m := subjectPattern.FindStringSubmatch(subject)
	if m == nil {
		return nil, invalid("subject:identifier", "String should match pattern '^https\\:\\/\\/fhir\\.nhs\\.uk\\/Id\\/nhs-number\\|(\\d+)$'")
	}
	// Ten digits: the public sandbox answers 3495456001, which fails the
	// Modulus 11 check, with an empty searchset, so NRLF checks no more.
	if len(m[1]) != 10 {
		return nil, errInvalidNHSNumber()
	}
	q.nhs = m[1]
	q.raw = append(q.raw, [2]string{"subject:identifier", subject})
	if c := v.Get("custodian:identifier"); c != "" {
		m := custodianPattern.FindStringSubmatch(c)
		if m == nil {
			return nil, errInvalidParameter("custodian:identifier", "String should match pattern '^https\\:\\/\\/fhir\\.nhs\\.uk\\/Id\\/ods-organization-code\\|(\\w+)$'")
		}
		q.custodian = m[1]
		q.raw = append(q.raw, [2]string{"custodian:identifier", c})
	}
	if t := v.Get("type"); t != "" {
		ok := false
		for _, a := range AllTypes {
			ok = ok || a == t
		}
		if allowed != nil {
			ok = false
			for _, a := range allowed {
				ok = ok || a == t
			}
		}
		if !ok {
			return nil, errInvalidType(post)
		}
		q.typ = t
		q.raw = append(q.raw, [2]string{"type", t})
	}
	return q, nil
}

// pageToken is an opaque token for the page at offset of the search key.
func pageToken(key string, offset int) string {
	h := fnv.New64a()
	h.Write([]byte(key + "#" + strconv.Itoa(offset)))
	return strconv.Itoa(offset) + "." + strconv.FormatUint(h.Sum64(), 36)
}

func (q *query) key(ods string) string {
	return q.nhs + "|" + q.typ + "|" + q.custodian + "|" + ods
}

func (s *Simulator) matches(q *query, permits func(*pointer) bool) []*pointer {
	var out []*pointer
	for _, p := range s.store.byNHS[q.nhs] {
		if !permits(p) || (q.typ != "" && p.typ.token() != q.typ) || (q.custodian != "" && p.custodian != q.custodian) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func (s *Simulator) search(w http.ResponseWriter, v url.Values, post bool, ods string, allowed []string, permits func(*pointer) bool, base string) *apiError {
	q, e := parseSearch(v, post, allowed)
	if e != nil {
		return e
	}
	found := s.matches(q, permits)
	if tok := v.Get("next-page-token"); tok != "" {
		off, _, _ := strings.Cut(tok, ".")
		n, err := strconv.Atoi(off)
		if err != nil || n <= 0 || n >= len(found) || pageToken(q.key(ods), n) != tok {
			return errInvalidParameter("next-page-token", "Invalid next-page-token")
		}
		q.offset = n
		q.raw = append(q.raw, [2]string{"next-page-token", tok})
	}
	end := min(q.offset+PageSize, len(found))
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"searchset",`)
	if end < len(found) {
		b.WriteString(`"meta":{"tag":[{"code":"next-page-token","display":"` + pageToken(q.key(ods), end) + `"}]},`)
	}
	self := base + "/DocumentReference?"
	for i, kv := range q.raw {
		if i > 0 {
			self += "&"
		}
		self += kv[0] + "=" + kv[1]
	}
	b.WriteString(`"link":[{"relation":"self","url":` + jsonString(self) + `}],"total":` + strconv.Itoa(len(found)) + `,"entry":[`)
	org := origin(base)
	for i, p := range found[q.offset:end] {
		raw, err := p.json()
		if err != nil {
			return &apiError{status: http.StatusInternalServerError, issueCode: "exception", code: "INTERNAL_SERVER_ERROR",
				diagnostics: "An error occurred whilst parsing the document reference search results"}
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"resource":`)
		b.Write(withOrigin(raw, org))
		b.WriteByte('}')
	}
	b.WriteString("]}")
	w.Header().Set("Content-Type", contentTypeFHIR)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}

func (s *Simulator) count(w http.ResponseWriter, v url.Values, permits func(*pointer) bool) *apiError {
	for k := range v {
		if k != "subject:identifier" {
			return errInvalidParameter(k, "Extra inputs are not permitted")
		}
	}
	q, e := parseSearch(v, false, nil)
	if e != nil && e.code == "INVALID_NHS_NUMBER" {
		return &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "INVALID_IDENTIFIER_VALUE",
			diagnostics: "Invalid NHS number provided in the query parameters", expression: "subject:identifier"}
	}
	if e != nil {
		return e
	}
	w.Header().Set("Content-Type", contentTypeFHIR)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","total":` + strconv.Itoa(len(s.matches(q, permits))) + `}`))
	return nil
}

// jsonString is s as a JSON string, without HTML escaping (a '&' stays '&').
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

func (s *Simulator) read(w http.ResponseWriter, id string, permits func(*pointer) bool, base string) *apiError {
	p := s.store.byID[id] // an id of any form is looked up, as NRLF does: 404 when unknown
	if p == nil {
		return errNoRecord()
	}
	if !permits(p) {
		return errTypeNotAllowed()
	}
	raw, err := p.json()
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, issueCode: "exception", code: "INTERNAL_SERVER_ERROR",
			diagnostics: "An error occurred while parsing the document reference"}
	}
	w.Header().Set("Content-Type", contentTypeFHIR)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(withOrigin(raw, origin(base)))
	return nil
}
