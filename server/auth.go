package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Auth is how the server authenticates callers and decides what they may do.
type Auth struct {
	// Verifier checks bearer tokens. Required.
	Verifier *auth.Verifier
	// Policy decides interactions (auth.DefaultPolicy() when nil).
	Policy *auth.Policy
	// Realm names the protection space in WWW-Authenticate.
	Realm string
}

// authenticate verifies the request's bearer token and puts the principal,
// its cache partition and the identity headers the national services
// expect into the request's context. Without Config.Auth every request is
// let through (the facade logs a loud warning at start-up).
func (s *Server) authenticate(r *http.Request) (*http.Request, error) {
	a := s.cfg.Auth
	if a == nil {
		return r, nil
	}
	p, err := s.verified(r)
	if err != nil {
		return r, authError(err, a.Realm)
	}
	infoFrom(r.Context()).principal = &p
	ctx := auth.WithPrincipal(r.Context(), p)
	// Whatever decides access is part of every cache key: nothing cached
	// for one caller is served to another who may not see it.
	ctx = upstream.WithCachePartition(ctx, partition(p))
	ctx = upstream.WithCallerHeaders(ctx, callerHeaders(p))
	return r.WithContext(ctx), nil
}

// verified returns the request's principal. A token already verified is
// taken from a small cache until it expires (at most tokenCacheTTL later):
// checking an ES256 signature costs more than the rest of a cached read.
func (s *Server) verified(r *http.Request) (auth.Principal, error) {
	raw, err := auth.BearerToken(r)
	if err != nil || s.tokens == nil {
		return s.cfg.Auth.Verifier.VerifyRequest(r)
	}
	if p, ok := s.tokens.Get(raw); ok && time.Now().Before(p.ExpiresAt) {
		return p, nil
	}
	p, err := s.cfg.Auth.Verifier.Verify(r.Context(), raw)
	if err != nil {
		return p, err
	}
	ttl := time.Until(p.ExpiresAt)
	if ttl > tokenCacheTTL {
		ttl = tokenCacheTTL
	}
	if ttl > 0 {
		s.tokens.SetWithTTL(raw, p, int64(len(raw)+256), ttl)
	}
	return p, nil
}

// tokenCacheTTL bounds how long a verified token is trusted without
// checking its signature again.
const tokenCacheTTL = 5 * time.Minute

// partition is the cache partition of a principal: role, organisation and
// patient context.
func partition(p auth.Principal) string {
	return strings.Join(p.Roles, " ") + "|" + p.OrgODS + "|" + p.Patient + "|" + p.Issuer
}

// callerHeaders are the headers that carry the caller's identity to the
// national services, so their audit trails name the real user
// (BACKENDS.md §0).
func callerHeaders(p auth.Principal) http.Header {
	h := http.Header{}
	if p.RoleProfileID != "" {
		h.Set("NHSD-Session-URID", p.RoleProfileID)
	}
	if p.OrgODS != "" {
		h.Set("NHSD-End-User-Organisation-ODS", p.OrgODS)
	}
	return h
}

// authError turns an auth refusal into the facade's categorised error, with
// the RFC 6750 challenge on 401s.
func authError(err error, realm string) error {
	var ae *auth.AuthError
	if !errors.As(err, &ae) {
		return err
	}
	e := &fhirerr.Error{Message: ae.Description, Err: err}
	switch ae.Status {
	case http.StatusUnauthorized:
		e.Category = fhirerr.Unauthorized
		e.WWWAuthenticate = ae.WWWAuthenticate(realm)
	case http.StatusForbidden:
		e.Category = fhirerr.Forbidden
		if ae.Code != "" {
			e.WWWAuthenticate = ae.WWWAuthenticate(realm)
		}
	case http.StatusBadRequest:
		e.Category = fhirerr.Invalid
		e.WWWAuthenticate = ae.WWWAuthenticate(realm)
	default:
		e.Category = fhirerr.Unavailable
	}
	return e
}

// allow decides one interaction on a resource type for the caller.
func (s *Server) allow(r *http.Request, resourceType string, i auth.Interaction) error {
	a := s.cfg.Auth
	if a == nil {
		return nil
	}
	p, _ := auth.FromContext(r.Context())
	pol := a.Policy
	if pol == nil {
		pol = auth.DefaultPolicy()
	}
	if err := pol.Decide(p, resourceType, i); err != nil {
		return authError(err, a.Realm)
	}
	return nil
}

// patientScope returns the NHS number a patient-context token is limited
// to, or "".
func patientScope(r *http.Request) string {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return ""
	}
	nhs, _ := auth.PatientScoped(p)
	return nhs
}
