// Package resources holds one provider per FHIR resource type and the
// registry that lists them. A provider says what it is and which search
// parameters it understands; it implements Reader and Searcher only if it can.
// The server builds its routes, and capability/ the CapabilityStatement, from
// the same registry by type assertion, so the two cannot drift.
package resources

import (
	"context"
	"io"
	"net/url"
	"sort"
	"sync/atomic"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
)

// Provider is implemented by every resource provider.
type Provider interface {
	// ResourceType is the FHIR resource type served, e.g. "Patient".
	ResourceType() string
	// Profile is the canonical URL of the profile the resources conform to,
	// or "" for the base resource.
	Profile() string
	// Documentation describes, for the CapabilityStatement, where the data
	// comes from.
	Documentation() string
}

// Versioned is implemented by providers whose backend versions its records:
// their resources carry meta.versionId and an ETag, and If-None-Match works.
type Versioned interface {
	Versioned() bool
}

// Reader is implemented by providers that support the FHIR read interaction.
type Reader interface {
	Read(ctx context.Context, id string) (*Resource, error)
}

// Searcher is implemented by providers that support search-type.
type Searcher interface {
	// SearchParams lists every parameter Search understands; the
	// CapabilityStatement advertises exactly these.
	SearchParams() []SearchParam
	// Search runs q. Parameters in q are only those listed by SearchParams;
	// the server has already removed and reported unknown ones.
	Search(ctx context.Context, q *Query) (*SearchResult, error)
}

// Resource is one FHIR resource with the versioning facts the server needs
// for ETag and Last-Modified.
type Resource struct {
	// Type and ID identify the resource ("Patient", "9000000009").
	Type string
	ID   string
	// VersionID is meta.versionId, or "" when the backend keeps no versions.
	VersionID string
	// LastUpdated is meta.lastUpdated, or the zero time when unknown.
	LastUpdated time.Time
	// Message is the resource proto (e.g. *patient_go_proto.Patient).
	Message proto.Message
	// RenderKey, when set, names this exact rendering of the resource: two
	// Resources with the same RenderKey render to the same bytes, so the
	// server may reuse the JSON it rendered before. Providers set it only
	// when the backend versions its records (e.g. "pds-read/<id>/<version>").
	RenderKey string
	// Rendering, when set (only with a RenderKey, on a Resource shared by
	// every request that reads it: a Memo's), keeps the JSON the server
	// rendered it to, so a shared resource is rendered, and found again,
	// without a lookup in any cache.
	Rendering *Rendering
}

// Rendering is what a shared Resource rendered to, kept on the Resource
// itself. It holds one rendering, that of one renderer (by) under one
// RenderKey; a Load by another renderer or key finds nothing. Safe for
// concurrent use; the body is shared: read-only.
type Rendering struct {
	p atomic.Pointer[rendering]
}

type rendering struct {
	by   any
	key  string
	body []byte
}

// Load returns what by rendered under key, if it is what is kept.
func (r *Rendering) Load(by any, key string) ([]byte, bool) {
	if r == nil {
		return nil, false
	}
	v := r.p.Load()
	if v == nil || v.by != by || v.key != key {
		return nil, false
	}
	return v.body, true
}

// Store keeps body as what by rendered under key.
func (r *Rendering) Store(by any, key string, body []byte) {
	if r != nil {
		r.p.Store(&rendering{by: by, key: key, body: body})
	}
}

// SearchParamType is a FHIR search parameter type.
// See: http://hl7.org/fhir/R4/search.html#ptypes
type SearchParamType string

// The FHIR search parameter types used here.
const (
	TypeString    SearchParamType = "string"
	TypeToken     SearchParamType = "token"
	TypeDate      SearchParamType = "date"
	TypeReference SearchParamType = "reference"
	TypeNumber    SearchParamType = "number"
	TypeURI       SearchParamType = "uri"
	TypeSpecial   SearchParamType = "special"
)

// SearchParam describes one search parameter a Searcher accepts.
type SearchParam struct {
	Name string
	Type SearchParamType
	// Definition is the canonical SearchParameter URL, "" for the facade's own.
	Definition string
	// Documentation says what the parameter does and how it is passed on.
	Documentation string
	// Repeatable says whether several occurrences are allowed (e.g. given,
	// birthdate ge+le); otherwise a repeat is a 400.
	Repeatable bool
	// Modifiers lists the modifiers accepted (e.g. "exact"); any other
	// modifier is rejected with 400, as FHIR requires.
	Modifiers []string
	// Example is a value that the parameter accepts, used by the conformance
	// test; ":<modifier>=<value>" for a parameter accepted only with a
	// modifier (AuditEvent's agent:identifier).
	Example string
}

// Query is a search request after the server has separated the result
// parameters (_count, _offset …) from the search parameters.
type Query struct {
	// Params holds the recognised search parameters, as sent.
	Params url.Values
	// Count is the page size the client asked for (already clamped).
	Count int
	// Offset is the index of the first entry of the requested page.
	Offset int
}

// SearchEntry is one entry of a search result.
type SearchEntry struct {
	Resource *Resource
	// Mode is the Bundle entry.search.mode: "match", "include" or "outcome".
	Mode string
	// Score is entry.search.score when the backend ranks its matches.
	Score *float64
}

// Issue is a non-fatal remark about a search, returned to the client in an
// OperationOutcome entry (search.mode "outcome").
type Issue struct {
	Severity    string // "information", "warning", "error"
	Code        string // OperationOutcome issue.code, e.g. "multiple-matches"
	Diagnostics string
	Expression  string
	// Details is the backend's code, if any.
	DetailsSystem, DetailsCode, DetailsDisplay string
}

// SearchResult is everything a search found, unpaged: the server slices the
// page from Entries, so Entries holds every match (backends like PDS return at
// most 50). Total is the number of matches.
type SearchResult struct {
	Total   int
	Entries []SearchEntry
	Issues  []Issue
	// Parts, set by a fan-out operation ($summary), is what each of its
	// sources answered, for an answer that reports them one by one.
	Parts []SourcePart
}

// Registry lists the providers, one per resource type.
type Registry struct {
	byType map[string]Provider
}

// NewRegistry returns a registry holding ps. It panics on two providers for
// one type: that is a wiring bug.
func NewRegistry(ps ...Provider) *Registry {
	r := &Registry{byType: make(map[string]Provider, len(ps))}
	for _, p := range ps {
		t := p.ResourceType()
		if _, dup := r.byType[t]; dup {
			panic("resources: two providers for " + t)
		}
		r.byType[t] = p
	}
	return r
}

// Lookup returns the provider for resource type t.
func (r *Registry) Lookup(t string) (Provider, bool) {
	p, ok := r.byType[t]
	return p, ok
}

// Providers returns every provider, sorted by resource type.
func (r *Registry) Providers() []Provider {
	out := make([]Provider, 0, len(r.byType))
	for _, p := range r.byType {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ResourceType() < out[j].ResourceType() })
	return out
}

// Creator is implemented by providers that support the FHIR create
// interaction (POST [base]/[type]). The server has already parsed and
// structurally validated the body (jsonformat), checked its resourceType,
// and passes the resource proto (e.g. *flag_go_proto.Flag).
type Creator interface {
	Create(ctx context.Context, resource proto.Message) (*Resource, error)
}

// ConditionalCreator is implemented by providers that support conditional
// create: POST [base]/[type] with If-None-Exist: [search parameters]. The
// provider runs that search itself; no match creates the resource (created
// true, 201), one match returns it unchanged (created false, 200), several
// are fhirerr.PreconditionFailed (412). ifNoneExist is the header's query,
// parsed; the provider validates its parameters. A provider that requires
// the condition answers a plain Create with fhirerr.PreconditionRequired.
// See: http://hl7.org/fhir/R4/http.html#ccreate
type ConditionalCreator interface {
	CreateConditional(ctx context.Context, resource proto.Message, ifNoneExist url.Values) (res *Resource, created bool, err error)
}

// Updater is implemented by providers that support the FHIR update
// interaction (PUT [base]/[type]/[id]). ifMatch is the version from the
// client's If-Match header ("" when absent: the provider decides whether
// that is allowed, usually not: fhirerr.PreconditionRequired).
type Updater interface {
	Update(ctx context.Context, id string, resource proto.Message, ifMatch string) (*Resource, error)
}

// Patcher is implemented by providers that support the FHIR patch
// interaction (PATCH [base]/[type]/[id]). patch is the raw body and
// contentType its media type; the provider parses and validates it. ifMatch
// is the version from If-Match ("" when absent).
type Patcher interface {
	Patch(ctx context.Context, id string, patch []byte, contentType, ifMatch string) (*Resource, error)
}

// Stream is raw content served as is (a document behind a DocumentReference).
type Stream struct {
	// ContentType is sent as the Content-Type of the response.
	ContentType string
	// Size is the length in bytes, or -1 when unknown.
	Size int64
	// Body is read to the end (or until the client goes) and closed by the server.
	Body io.ReadCloser
	// Patient is the NHS number of the patient the content is about, for
	// the audit trail ("" when unknown).
	Patient string
	// Version names what the content was fetched from (the pointer to
	// it): another Version when the content may have changed. It is the
	// raw content's weak ETag; "" for none.
	Version string
	// SecurityContext is the resource whose access rules the content
	// follows ("DocumentReference/<id>"), for the Binary resource's
	// securityContext; "" for none.
	SecurityContext string
}

// Streamer is implemented by providers whose read returns raw content rather
// than a FHIR resource: Binary. The server copies Body to the client without
// buffering it whole.
type Streamer interface {
	// ReadStream finds the content id names and calls admit with the NHS
	// number of the patient it is about ("" when unknown) and the version
	// it would fetch (Stream.Version) before fetching any of it: when admit
	// refuses, its error is returned and the holder of the content is never
	// asked (so it records no access, and the caller learns nothing from
	// how the holder would have answered). The server also refuses there a
	// content the client already holds (If-None-Match): a 304 costs the
	// holder nothing.
	ReadStream(ctx context.Context, id string, admit func(patient, version string) error) (*Stream, error)
}

// Compartmented is implemented by providers that can tell, without asking a
// backend, which patient a record or a client's resource belongs to. The
// server uses it to hold a patient-bound token to its patient before any
// backend is called, for reads and writes alike, and to name the patients
// of refused and failed accesses in the audit trail.
type Compartmented interface {
	// PatientOfID returns the NHS number of the patient whose record id
	// is, and true, when the id says; false when it does not.
	PatientOfID(id string) (nhs string, ok bool)
	// PatientsOf returns the patients a resource sent by a client would be
	// written to, as this provider reads it (a Flag's subject, in any of
	// the forms the provider accepts). A resource naming none returns none.
	PatientsOf(msg proto.Message) []string
}

// Include says that a resource's element references another resource that
// _include can add to a search result (and _revinclude can search from the
// other side).
// See: http://hl7.org/fhir/R4/search.html#include
type Include struct {
	// Param is the search parameter named in _include, e.g. "patient" in
	// AllergyIntolerance:patient. For _revinclude the provider must also
	// accept it as a search parameter taking a reference to Target.
	Param string
	// Element is the top-level element holding the Reference(s).
	Element string
	// Target is the resource type referenced.
	Target string
}

// Includer is implemented by providers whose resources reference others.
type Includer interface {
	Includes() []Include
}

// Sorter is implemented by providers whose results can be sorted with
// _sort. SortParams maps each sortable search parameter to the top-level
// element whose value orders the results (dates, codes and strings sort as
// text; a Period sorts by its start).
type Sorter interface {
	SortParams() map[string]string
}

// RevIncludable reports whether p's resources can be found from a target
// resource through param (for _revinclude=<p's type>:param): p declares an
// include of param pointing at target and accepts param as a search
// parameter.
func RevIncludable(p Provider, param, target string) bool {
	inc, ok := p.(Includer)
	sr, ok2 := p.(Searcher)
	if !ok || !ok2 {
		return false
	}
	accepts := false
	for _, sp := range sr.SearchParams() {
		if sp.Name == param {
			accepts = true
		}
	}
	if !accepts {
		return false
	}
	for _, d := range inc.Includes() {
		if d.Param == param && d.Target == target {
			return true
		}
	}
	return false
}

// metaLastUpdated is a resource's meta.lastUpdated, or the zero time when
// it has none.
func metaLastUpdated(m *dtpb.Meta) time.Time {
	lu := m.GetLastUpdated()
	if lu == nil {
		return time.Time{}
	}
	return time.UnixMicro(lu.GetValueUs()).UTC()
}
