package auth

import (
	"context"
	"time"
)

// Principal is who is calling, as a verified access token says.
//
// Every string field has been checked to be free of control characters, so
// it may be put into a header; RoleProfileID is digits only and OrgODS an
// upper-case alphanumeric code, as the backends' NHSD-Session-URID and
// NHSD-End-User-Organisation-ODS headers need.
type Principal struct {
	// Subject is the user's id ("sub"); for an application-restricted token
	// it is usually the client id.
	Subject string
	// Name is the user's display name ("name" by default), if given.
	Name string
	// Roles are the NHS national RBAC role codes ("R8000"), from the claim
	// ClaimNames.Roles: a space-separated string or an array of strings; a
	// CIS2-style "S8000:G8000:R8000" is reduced to its last part.
	Roles []string
	// RoleProfileID is the user's selected role profile, for the
	// NHSD-Session-URID header ("nhs_role_profile_id" by default).
	RoleProfileID string
	// OrgODS is the ODS code of the user's organisation ("org_ods" by default).
	OrgODS string
	// Scopes are the token's parsed OAuth scopes ("scope").
	Scopes Scopes
	// Patient is the SMART patient context, an NHS number ("patient"), or "".
	Patient string
	// ClientID is the OAuth client the token was issued to ("client_id",
	// else "azp"), if given.
	ClientID string
	// TokenID is the token's "jti", if given.
	TokenID string
	// Issuer is the token's "iss", one of the configured issuers.
	Issuer    string
	IssuedAt  time.Time // zero if the token has no "iat"
	ExpiresAt time.Time
}

// HasRole reports whether code is one of p's roles.
func (p Principal) HasRole(code string) bool {
	for _, r := range p.Roles {
		if r == code {
			return true
		}
	}
	return false
}

// PatientScoped returns the NHS number of the patient p is limited to, and
// true, when the token carries a SMART patient context. The server must then
// restrict every read, search and write to that patient's compartment.
func PatientScoped(p Principal) (nhs string, ok bool) {
	return p.Patient, p.Patient != ""
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
//
// Deprecated: the facade carries its caller in model/request (the server
// makes a request.Caller of the Principal its verifier returns); nothing in
// it reads this key. It remains for auth's own tests and outside users.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal WithPrincipal stored in ctx, and whether
// there was one.
//
// Deprecated: read request.From(ctx).Caller.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
