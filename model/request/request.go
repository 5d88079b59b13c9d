// Package request is the one typed value a FHIR request carries through the
// facade: who is calling, the correlation id, the cache partition and
// no-cache choice, the types the caller may search, the CP-IS access
// context and the identity headers forwarded to the national services.
//
// The server makes it once per request (server's instrument, then its
// preamble, before any handler runs) and puts it in the context with With;
// providers and backend clients read it with From and never change it. A
// provider that needs a variant for its own backend calls (a read that must
// bypass the cache) derives a copy (WithNoCache); the server's value is
// never written after the handler starts.
package request

import (
	"context"
	"net/http"
	"slices"
)

// Caller is the authenticated caller, as the server's verifier read the
// access token. It is shared by every request the token makes: read-only.
type Caller struct {
	// Subject is the user's id ("sub"); for an application-restricted token
	// usually the client id.
	Subject string
	// Name is the user's display name, if the token gives one.
	Name string
	// Roles are the NHS national RBAC role codes ("R8000").
	Roles []string
	// RoleProfileID is the user's selected role profile (NHSD-Session-URID).
	RoleProfileID string
	// OrgODS is the ODS code of the user's organisation.
	OrgODS string
	// Patient is the SMART patient context (launch patient), an NHS
	// number, or "": the token is then limited to that patient's records.
	Patient string
	// ClientID is the OAuth client the token was issued to, if given.
	ClientID string
	// Issuer is the token's "iss".
	Issuer string
}

// Info is what the facade knows about one request. The fields down to
// Unscheduled are facts the server establishes before the handler runs;
// Route, ResourceType, Interaction and Subjects are the server's own notes
// for logs, metrics and the audit trail, written only by the goroutine
// serving the request.
type Info struct {
	// ID is the request id: echoed as X-Request-ID, the audit record's id,
	// and sent to the national services as X-Correlation-ID.
	ID string
	// Caller is nil without authentication (development) or before it.
	Caller *Caller
	// CachePartition names whatever decides what the caller may see (role,
	// organisation, patient context, issuer): part of every backend cache
	// key, so nothing fetched for one caller is served to another. "" is a
	// partition like any other.
	CachePartition string
	// NoCache says backend reads bypass the cache (Cache-Control: no-cache):
	// each is fetched afresh, and its answer refreshes the cache.
	NoCache bool
	// Forward are the headers that name the caller to the national
	// services (NHSD-Session-URID, NHSD-End-User-Organisation-ODS), so their
	// audit trails record the real user. Read-only: shared by every request
	// of one token.
	Forward http.Header
	// Allowed tells whether the caller may search a resource type; fan-out
	// operations ask only the sources it accepts. nil accepts every type.
	Allowed func(resourceType string) bool
	// Unscheduled, when set, says whether CP-IS queries made for the request
	// are unscheduled-care accesses, overriding the client's configured
	// default.
	Unscheduled *bool

	// Route is the route template ("/fhir/{type}/{id}"), never the path.
	Route string
	// ResourceType and Interaction label the request ("Patient", "read").
	ResourceType, Interaction string
	// Subjects are the patients the request touched or named.
	Subjects Subjects
}

// AllowedType reports whether fan-outs made for the request may ask
// sources of resourceType.
func (i *Info) AllowedType(resourceType string) bool {
	return i.Allowed == nil || i.Allowed(resourceType)
}

// UnscheduledOr returns Unscheduled when the request says, else def.
func (i *Info) UnscheduledOr(def bool) bool {
	if i.Unscheduled != nil {
		return *i.Unscheduled
	}
	return def
}

type key struct{}

// With returns ctx carrying info. The server calls it once per request.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the Info in ctx; a context without one (a backend client's
// unit test, a call made outside any request) gets a fresh empty Info, so
// callers never check for nil.
func From(ctx context.Context) *Info {
	if i, ok := Lookup(ctx); ok {
		return i
	}
	return &Info{}
}

// Lookup returns the Info in ctx, and whether there was one.
func Lookup(ctx context.Context) (*Info, bool) {
	i, ok := ctx.Value(key{}).(*Info)
	return i, ok && i != nil
}

// Derive returns ctx carrying a copy of its Info (or of an empty one)
// changed by f: the means to vary a request's facts for some calls without
// touching the value the server and other goroutines share. The copy shares
// the notes made so far (Subjects); only the server notes, and on its own
// value.
func Derive(ctx context.Context, f func(*Info)) context.Context {
	c := *From(ctx)
	f(&c)
	return With(ctx, &c)
}

// WithNoCache returns ctx whose backend reads bypass the cache: a provider
// that must see a national service as it is now (after a write) uses it.
func WithNoCache(ctx context.Context) context.Context {
	if i, ok := Lookup(ctx); ok && i.NoCache {
		return ctx
	}
	return Derive(ctx, func(i *Info) { i.NoCache = true })
}

// Subjects are the NHS numbers a request concerns, as the server notes them:
// the patients it touched or named (the audit record's subject), the
// superseded numbers it named for a current one, and what PDS said of each
// patient's restriction. The zero value is empty and ready.
type Subjects struct {
	// patients are kept sorted, without repeats: most requests concern one
	// patient, and a slice costs less than a map to note and to list.
	patients   []string
	aliases    map[string]string
	restricted map[string]bool
}

// Note records that the request concerns the patients given ("" is no one).
func (s *Subjects) Note(nhs ...string) {
	for _, p := range nhs {
		if p == "" {
			continue
		}
		if i, found := slices.BinarySearch(s.patients, p); !found {
			s.patients = slices.Insert(s.patients, i, p)
		}
	}
}

// Len is how many patients were noted.
func (s *Subjects) Len() int { return len(s.patients) }

// List returns the patients noted so far, sorted (a copy; empty, not nil,
// when none were).
func (s *Subjects) List() []string {
	return append([]string{}, s.patients...)
}

// Alias records that PDS answered old with current: the same person.
func (s *Subjects) Alias(old, current string) {
	if s.aliases == nil {
		s.aliases = map[string]string{}
	}
	s.aliases[current] = old
}

// Unalias returns patients with each current number PDS gave for a
// superseded one replaced by the number the request named.
func (s *Subjects) Unalias(patients []string) []string {
	if len(s.aliases) == 0 {
		return patients
	}
	out := make([]string, len(patients))
	for i, p := range patients {
		if old, ok := s.aliases[p]; ok {
			p = old
		}
		out[i] = p
	}
	return out
}

// Restricted returns what was noted of patient nhs's restriction, and
// whether anything was.
func (s *Subjects) Restricted(nhs string) (restricted, known bool) {
	restricted, known = s.restricted[nhs]
	return restricted, known
}

// SetRestricted notes whether patient nhs's record is restricted.
func (s *Subjects) SetRestricted(nhs string, restricted bool) {
	if s.restricted == nil {
		s.restricted = map[string]bool{}
	}
	s.restricted[nhs] = restricted
}
