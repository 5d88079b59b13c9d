package auth

import (
	"errors"
	"fmt"
	"strings"
)

// Interaction is a FHIR RESTful interaction the policy decides on.
type Interaction int

// The interactions. Operation is any $operation that only reads
// ($summary…); it needs read permission on the resource type it is invoked
// on. CreateOperation is a $operation that creates resources of that type
// (Patient/$notify-birth); it needs create permission, and a grant of its
// own, so that who may create through it and who may create directly (POST
// [type]) are decided apart.
const (
	Read Interaction = iota + 1
	VRead
	Search
	Create
	Update
	Patch
	Delete
	Operation
	CreateOperation
)

var interactionNames = [...]string{
	Read: "read", VRead: "vread", Search: "search", Create: "create",
	Update: "update", Patch: "patch", Delete: "delete", Operation: "operation",
	CreateOperation: "create-operation",
}

// String returns the interaction's FHIR name ("read", "search-type" is
// "search", any $operation is "operation").
func (i Interaction) String() string {
	if i < Read || i > CreateOperation {
		return fmt.Sprintf("Interaction(%d)", int(i))
	}
	return interactionNames[i]
}

// Permission returns the SMART v2 permission the interaction needs: read and
// vread need r, search s, create c, update and patch u, delete d, an
// operation r, a creating operation c. It is 0 for an invalid Interaction.
func (i Interaction) Permission() Permissions {
	switch i {
	case Read, VRead, Operation:
		return PermRead
	case Search:
		return PermSearch
	case Create, CreateOperation:
		return PermCreate
	case Update, Patch:
		return PermUpdate
	case Delete:
		return PermDelete
	}
	return 0
}

// Permissions is a set of SMART v2 permissions (the letters c r u d s).
type Permissions uint8

// The SMART v2 permissions, in the order the letters must appear.
const (
	PermCreate Permissions = 1 << iota // c
	PermRead                           // r
	PermUpdate                         // u
	PermDelete                         // d
	PermSearch                         // s

	PermAll = PermCreate | PermRead | PermUpdate | PermDelete | PermSearch
)

const permLetters = "cruds"

// String returns the permissions as SMART v2 letters in canonical order.
func (p Permissions) String() string {
	var b [5]byte
	n := 0
	for i := 0; i < len(permLetters); i++ {
		if p&(1<<i) != 0 {
			b[n] = permLetters[i]
			n++
		}
	}
	return string(b[:n])
}

// Context is the launch context of a SMART scope: the part before the slash.
type Context string

// The SMART scope contexts.
const (
	PatientContext Context = "patient" // data about the patient in context (the token's patient claim)
	UserContext    Context = "user"    // data the user may see
	SystemContext  Context = "system"  // application-restricted access, no user
)

// Scope is one SMART resource scope, v1 or v2, normalised to v2 permissions.
//
// See: https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html
type Scope struct {
	Context Context
	// ResourceType is a FHIR resource type, or "*" for all.
	ResourceType string
	Permissions  Permissions
	// Query is a SMART v2 search constraint ("category=laboratory"), without
	// its "?". The facade cannot enforce such constraints, so a scope with a
	// Query grants nothing (it is parsed, kept and ignored).
	Query string
}

// String returns the scope in SMART v2 syntax.
func (s Scope) String() string {
	out := string(s.Context) + "/" + s.ResourceType + "." + s.Permissions.String()
	if s.Query != "" {
		out += "?" + s.Query
	}
	return out
}

// Allows reports whether the scope grants interaction i on resourceType.
func (s Scope) Allows(resourceType string, i Interaction) bool {
	need := i.Permission()
	if need == 0 || s.Query != "" || resourceType == "" {
		return false
	}
	if s.ResourceType != "*" && s.ResourceType != resourceType {
		return false
	}
	return s.Permissions&need != 0
}

// Scopes is a parsed OAuth scope string: the SMART resource scopes and
// everything else (openid, fhirUser, launch/patient, offline_access, an
// issuer's own scopes…), which grants nothing here.
type Scopes struct {
	Resource []Scope
	Other    []string
}

// String returns the scopes space-separated, resource scopes in v2 syntax.
func (s Scopes) String() string {
	parts := make([]string, 0, len(s.Resource)+len(s.Other))
	for _, r := range s.Resource {
		parts = append(parts, r.String())
	}
	parts = append(parts, s.Other...)
	return strings.Join(parts, " ")
}

// Has reports whether word (openid, fhirUser, launch/patient…) is among
// the scopes that are not resource scopes.
func (s Scopes) Has(word string) bool {
	for _, w := range s.Other {
		if w == word {
			return true
		}
	}
	return false
}

// Allows reports whether any resource scope, whatever its context, grants
// interaction i on resourceType. Policy.Decide also weighs the context and
// the role; use it to decide a request.
func (s Scopes) Allows(resourceType string, i Interaction) bool {
	for _, r := range s.Resource {
		if r.Allows(resourceType, i) {
			return true
		}
	}
	return false
}

// AllowsIn is Allows restricted to the scopes of one context.
func (s Scopes) AllowsIn(c Context, resourceType string, i Interaction) bool {
	for _, r := range s.Resource {
		if r.Context == c && r.Allows(resourceType, i) {
			return true
		}
	}
	return false
}

// ErrScope is wrapped by every error ParseScope and ParseScopes return.
var ErrScope = errors.New("malformed SMART scope")

// MaxScopes bounds how many scopes ParseScopes accepts.
const MaxScopes = 256

// ParseScopes parses a space-separated OAuth scope string (RFC 6749 §3.3).
// A word starting with "patient/", "user/" or "system/" must be a valid SMART
// resource scope, or the whole string is refused; any other word is kept in
// Other and grants nothing (so a bare "*.*" grants nothing: it has no
// context). The error never quotes the offending scope.
func ParseScopes(s string) (Scopes, error) {
	var out Scopes
	words := strings.Fields(s)
	if len(words) > MaxScopes {
		return Scopes{}, fmt.Errorf("%w: more than %d scopes", ErrScope, MaxScopes)
	}
	for n, w := range words {
		if !isScopeToken(w) {
			return Scopes{}, fmt.Errorf("%w: scope %d has characters RFC 6749 does not allow", ErrScope, n+1)
		}
		if !hasContext(w) {
			out.Other = append(out.Other, w)
			continue
		}
		sc, err := ParseScope(w)
		if err != nil {
			return Scopes{}, fmt.Errorf("scope %d: %w", n+1, err)
		}
		out.Resource = append(out.Resource, sc)
	}
	return out, nil
}

func hasContext(w string) bool {
	for _, c := range []Context{PatientContext, UserContext, SystemContext} {
		if strings.HasPrefix(w, string(c)+"/") {
			return true
		}
	}
	return false
}

// ParseScope parses one SMART resource scope:
//
//	v2: (patient|user|system)/(Type|*).<c r u d s in that order, each at most once>[?query]
//	v1: (patient|user|system)/(Type|*).(read|write|*)
//
// v1 "read" becomes "rs", "write" "cud" and "*" "cruds", as SMART v2 §
// "Scopes for requesting FHIR resources" says they correspond.
func ParseScope(w string) (Scope, error) {
	ctx, rest, ok := strings.Cut(w, "/")
	if !ok {
		return Scope{}, fmt.Errorf("%w: no context", ErrScope)
	}
	var sc Scope
	switch Context(ctx) {
	case PatientContext, UserContext, SystemContext:
		sc.Context = Context(ctx)
	default:
		return Scope{}, fmt.Errorf("%w: unknown context", ErrScope)
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok {
		return Scope{}, fmt.Errorf("%w: no permissions", ErrScope)
	}
	if typ != "*" && !isResourceType(typ) {
		return Scope{}, fmt.Errorf("%w: not a resource type", ErrScope)
	}
	sc.ResourceType = typ
	switch perms {
	case "read":
		sc.Permissions = PermRead | PermSearch
	case "write":
		sc.Permissions = PermCreate | PermUpdate | PermDelete
	case "*":
		sc.Permissions = PermAll
	default:
		p, err := parsePermissions(perms)
		if err != nil {
			return Scope{}, err
		}
		sc.Permissions = p
	}
	if hasQuery {
		if perms == "read" || perms == "write" || perms == "*" {
			return Scope{}, fmt.Errorf("%w: SMART v1 scopes take no query", ErrScope)
		}
		if query == "" {
			return Scope{}, fmt.Errorf("%w: empty query", ErrScope)
		}
		sc.Query = query
	}
	return sc, nil
}

func parsePermissions(s string) (Permissions, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: no permissions", ErrScope)
	}
	var p Permissions
	last := -1
	for i := 0; i < len(s); i++ {
		idx := strings.IndexByte(permLetters, s[i])
		if idx < 0 {
			return 0, fmt.Errorf("%w: unknown permission letter", ErrScope)
		}
		if idx <= last {
			return 0, fmt.Errorf("%w: permissions repeated or out of the order c r u d s", ErrScope)
		}
		last = idx
		p |= 1 << idx
	}
	return p, nil
}

// isResourceType reports whether s looks like a FHIR resource type name:
// an upper-case ASCII letter then letters, at most 64.
func isResourceType(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// isScopeToken reports whether w is 1*NQCHAR (RFC 6749 §3.3).
func isScopeToken(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}
