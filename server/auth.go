package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/request"
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

// caller is a verified token's principal and what every request made with
// it carries, made once per token (the token cache keeps it): read-only.
type caller struct {
	principal auth.Principal
	// info is the caller as providers and the audit trail see it.
	info *request.Caller
	// partition is the backend cache partition: whatever decides access
	// (roles, organisation, patient context, issuer) is part of every cache
	// key, so nothing cached for one caller is served to another who may
	// not see it.
	partition string
	// forward are the headers that carry the caller's identity to the
	// national services, so their audit trails name the real user
	// (BACKENDS.md §0).
	forward http.Header
	// searchable tells whether the caller may search a type: what a
	// fan-out operation may ask.
	searchable func(resourceType string) bool
	// admission is callerKey(info), made once.
	admission string
}

// newCaller derives once what a principal's requests carry.
func (s *Server) newCaller(p auth.Principal) *caller {
	c := &caller{
		principal: p,
		info: &request.Caller{Subject: p.Subject, Name: p.Name, Roles: p.Roles, RoleProfileID: p.RoleProfileID,
			OrgODS: p.OrgODS, Patient: p.Patient, ClientID: p.ClientID, Issuer: p.Issuer},
		partition: strings.Join(p.Roles, " ") + "|" + p.OrgODS + "|" + p.Patient + "|" + p.Issuer,
		forward:   http.Header{},
	}
	if p.RoleProfileID != "" {
		c.forward.Set("NHSD-Session-URID", p.RoleProfileID)
	}
	if p.OrgODS != "" {
		c.forward.Set("NHSD-End-User-Organisation-ODS", p.OrgODS)
	}
	c.searchable = func(t string) bool { return s.decide(c, t, auth.Search) == nil }
	c.admission = callerKey(c.info)
	return c
}

// authenticate verifies the request's bearer token and puts the caller,
// its cache partition, the identity headers the national services expect
// and the types it may search into ri, the request's value (still the
// server's alone: no handler runs yet). Without Config.Auth every request
// is let through (the facade logs a loud warning at start-up), and the
// caller is nil.
func (s *Server) authenticate(r *http.Request, ri *request.Info) (*caller, error) {
	a := s.cfg.Auth
	if a == nil {
		return nil, nil
	}
	c, err := s.verified(r)
	if err != nil {
		// A batch entry's value held its batch's caller: the refusal's
		// audit record names no one, as it names no one for any request
		// refused before its token was verified.
		ri.Caller = nil
		return nil, authError(err, a.Realm)
	}
	ri.Caller, ri.CachePartition, ri.Forward, ri.Allowed = c.info, c.partition, c.forward, c.searchable
	return c, nil
}

// verified returns the request's caller. A token already verified is
// taken from a small cache until it expires (at most tokenCacheTTL later):
// checking an ES256 signature costs more than the rest of a cached read.
func (s *Server) verified(r *http.Request) (*caller, error) {
	raw, err := auth.BearerToken(r)
	if err != nil || s.tokens == nil {
		p, err := s.cfg.Auth.Verifier.VerifyRequest(r)
		if err != nil {
			return nil, err
		}
		return s.newCaller(p), nil
	}
	if c, ok := s.tokens.Get(raw); ok && time.Now().Before(c.principal.ExpiresAt) {
		return c, nil
	}
	p, err := s.cfg.Auth.Verifier.Verify(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	c := s.newCaller(p)
	ttl := time.Until(p.ExpiresAt)
	if ttl > tokenCacheTTL {
		ttl = tokenCacheTTL
	}
	if ttl > 0 {
		s.tokens.SetWithTTL(raw, c, int64(len(raw)+512), ttl)
	}
	return c, nil
}

// tokenCacheTTL bounds how long a verified token is trusted without
// checking its signature again.
const tokenCacheTTL = 5 * time.Minute

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

// allow decides one interaction on a resource type for the request's
// caller (a.caller, nil without authentication).
func (s *Server) allow(a *access, resourceType string, i auth.Interaction) error {
	return s.decide(a.caller, resourceType, i)
}

// decide decides one interaction on a resource type for c.
func (s *Server) decide(c *caller, resourceType string, i auth.Interaction) error {
	a := s.cfg.Auth
	if a == nil {
		return nil
	}
	var p auth.Principal
	if c != nil {
		p = c.principal
	}
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
	if c := request.From(r.Context()).Caller; c != nil {
		return c.Patient
	}
	return ""
}
