package auth

import (
	"net/http"
	"strings"
)

// OAuth 2.0 bearer token error codes (RFC 6750 §3.1), plus access_denied for
// a refusal by the role table, which is not about the token at all.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
	CodeAccessDenied      = "access_denied"
)

// Reason says precisely why a request was refused. It is stable, safe to log
// and to count in metrics; the HTTP status comes from AuthError.Status.
type Reason string

// Reasons for refusing a request.
const (
	ReasonNoToken           Reason = "no_token"           // 401, no Authorization: Bearer header
	ReasonBadRequest        Reason = "bad_request"        // 400, a malformed Authorization header
	ReasonMalformed         Reason = "malformed"          // 401, not a compact JWS with JSON header and claims
	ReasonTooLarge          Reason = "too_large"          // 401, longer than Config.MaxTokenBytes
	ReasonAlgorithm         Reason = "algorithm"          // 401, alg not allowed, or not the key's type
	ReasonUnknownKey        Reason = "unknown_key"        // 401, no key with that kid, even after a refresh
	ReasonSignature         Reason = "signature"          // 401, the signature does not verify
	ReasonIssuer            Reason = "issuer"             // 401, iss is not a configured issuer
	ReasonAudience          Reason = "audience"           // 401, aud does not name this service
	ReasonExpired           Reason = "expired"            // 401, exp missing or past
	ReasonNotYetValid       Reason = "not_yet_valid"      // 401, nbf in the future
	ReasonIssuedInFuture    Reason = "issued_in_future"   // 401, iat in the future
	ReasonClaims            Reason = "claims"             // 401, a claim is missing, of the wrong type or ill-formed
	ReasonScope             Reason = "scope"              // 401, the scope claim holds a malformed SMART scope
	ReasonKeysUnavailable   Reason = "keys_unavailable"   // 503, the issuer's JWKS could not be fetched
	ReasonInsufficientScope Reason = "insufficient_scope" // 403, no scope grants the interaction
	ReasonRole              Reason = "role"               // 403, a scope grants it but the role table does not
	ReasonPatientContext    Reason = "patient_context"    // 403, patient scopes without a patient, or user scopes with one
)

// AuthError is a categorised refusal. Description is safe to show to the
// client: it never contains the token nor any claim's value (at most a claim's
// name, a resource type and an interaction). Err, when set, is a cause for the
// log only (e.g. why the JWKS could not be fetched).
type AuthError struct {
	// Status is the HTTP status to answer: 400, 401, 403 or 503.
	Status int
	// Code is the RFC 6750 error code, or "" when the request carried no
	// bearer token at all (RFC 6750 §3.1: then the challenge has no error).
	Code string
	// Description is a user-safe sentence for error_description and the
	// OperationOutcome's diagnostics.
	Description string
	// Reason is the machine-readable cause.
	Reason Reason
	// Err is the underlying cause, for the log only.
	Err error
}

func (e *AuthError) Error() string {
	s := "auth: " + string(e.Reason) + ": " + e.Description
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *AuthError) Unwrap() error { return e.Err }

// WWWAuthenticate returns the value of the WWW-Authenticate header to send
// with e (RFC 6750 §3), or "" when none is due (a 403 from the role table, a
// 503). realm may be "".
func (e *AuthError) WWWAuthenticate(realm string) string {
	if e.Status != http.StatusUnauthorized && e.Code != CodeInsufficientScope && e.Code != CodeInvalidRequest {
		return ""
	}
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	attr := func(k, v string) {
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(quote(v))
		b.WriteString(`"`)
		sep = ", "
	}
	if realm != "" {
		attr("realm", realm)
	}
	if e.Code != "" {
		attr("error", e.Code)
		if e.Description != "" {
			attr("error_description", e.Description)
		}
	}
	return b.String()
}

// quote makes s safe inside an RFC 7230 quoted-string, keeping to the
// %x20-21 / %x23-5B / %x5D-7E RFC 6750 allows for error_description.
func quote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\'')
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func invalidToken(r Reason, desc string) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: desc, Reason: r}
}

func forbidden(code string, r Reason, desc string) *AuthError {
	return &AuthError{Status: http.StatusForbidden, Code: code, Description: desc, Reason: r}
}
