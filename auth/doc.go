// Package auth authenticates and authorises callers of the facade: it
// verifies OAuth 2.0 bearer JWTs (RS256/ES256) from configured issuers
// against their JWKS, turns them into a Principal (user, NHS RBAC roles, role
// profile, organisation, SMART scopes, patient context), and decides each
// FHIR interaction from the SMART scopes and the NHS role table (Policy).
//
// It knows nothing of FHIR REST or OperationOutcome: every refusal is an
// *AuthError with an HTTP status, an RFC 6750 code, a user-safe description
// and a Reason, which the server turns into its answer in one place:
//
//	p, err := verifier.VerifyRequest(r)   // 400/401/503 *AuthError
//	if err != nil {
//		var ae *auth.AuthError
//		errors.As(err, &ae)
//		if h := ae.WWWAuthenticate("fhir"); h != "" {
//			w.Header().Set("WWW-Authenticate", h)
//		}
//		… answer ae.Status with an OperationOutcome saying ae.Description
//	}
//	ctx = auth.WithPrincipal(ctx, p)
//	…
//	if err := auth.Decide(p, "Patient", auth.Read); err != nil { … 403 … }
//	if nhs, ok := auth.PatientScoped(p); ok && nhs != requestedPatient { … 403 … }
//
// Conformance endpoints (metadata, OperationDefinition,
// /.well-known/smart-configuration) are public and need no Decide.
//
// See README.md in this directory for the claims read, the role table and
// the choices made.
package auth
