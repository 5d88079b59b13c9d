package cdshooks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Identity is the facade-issued identity the service reads national data
// with. The CDS client's JWT authenticates the EHR, not a user, and carries
// no FHIR authorisation; so for each hook call the service mints a short
// ES256 access token of its own, which the facade's verifier trusts as one
// more issuer (IssuerConfig), and calls the FHIR API in-process with it.
// The call then passes the same preamble as any other: the role table
// decides on the client's registered role, the token is bound to the one
// patient the hook names (SMART patient context, patient/ scopes: it can
// read nothing else), CP-IS and the other services are told the user and
// organisation, and the audit trail records the access with the user from
// context.userId as subject and the CDS client as client_id.
//
// The key is made at start and never leaves the process; the tokens are
// never sent anywhere but to the facade's own handler.
type Identity struct {
	issuer, audience string
	kid              string
	key              *ecdsa.PrivateKey
	signer           jose.Signer
	ttl              time.Duration
	now              func() time.Time
}

// identityTTL is the lifetime of an identity token: one hook call.
const identityTTL = time.Minute

// NewIdentity makes a fresh key for issuer (the facade's CDS services URL)
// minting tokens for audience (what the facade's verifier expects).
func NewIdentity(issuer, audience string) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	kidb := make([]byte, 8)
	if _, err := rand.Read(kidb); err != nil {
		return nil, err
	}
	kid := "cds-" + hex.EncodeToString(kidb)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return nil, err
	}
	return &Identity{issuer: issuer, audience: audience, kid: kid, key: key, signer: s, ttl: identityTTL, now: time.Now}, nil
}

// Issuer is the iss of the identity's tokens.
func (id *Identity) Issuer() string { return id.issuer }

// IssuerConfig is the identity as one more issuer of the facade's verifier.
func (id *Identity) IssuerConfig() (auth.IssuerConfig, error) {
	ks, err := auth.NewKeySet(auth.JWK{KeyID: id.kid, Algorithm: auth.ES256, Use: "sig", Key: &id.key.PublicKey})
	if err != nil {
		return auth.IssuerConfig{}, err
	}
	return auth.IssuerConfig{Issuer: id.issuer, Keys: ks}, nil
}

// Grant is what one hook call may read.
type Grant struct {
	// User is context.userId ("Practitioner/123"): the token's subject.
	User string
	// Client is the CDS client: the token's client_id and the source of
	// its role and organisation.
	Client *Client
	// Patient is the NHS number the token is bound to.
	Patient string
	// Scopes are SMART patient/ scopes, e.g. patient/Flag.rs.
	Scopes []string
}

// Mint returns the access token of g.
func (id *Identity) Mint(g Grant) (string, error) {
	if g.Client == nil || g.User == "" || !nhsnumber.Valid(g.Patient) {
		return "", fmt.Errorf("cdshooks: an identity needs a client, a user and a valid NHS number")
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := id.now()
	names := auth.DefaultClaimNames
	claims := map[string]any{
		"iss": id.issuer, "sub": g.User, "aud": id.audience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(id.ttl).Unix(),
		"jti":         hex.EncodeToString(jti),
		"client_id":   g.Client.Issuer,
		names.Patient: g.Patient,
		names.Scope:   strings.Join(g.Scopes, " "),
	}
	if g.Client.Role != "" {
		claims[names.Roles] = []string{g.Client.Role}
	}
	if g.Client.OrgODS != "" {
		claims[names.OrgODS] = g.Client.OrgODS
	}
	if g.Client.RoleProfileID != "" {
		claims[names.RoleProfileID] = g.Client.RoleProfileID
	}
	return jwt.Signed(id.signer).Claims(claims).Serialize()
}
