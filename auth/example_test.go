package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/carerecords/fhir-facade/auth"
)

func ExampleVerifier() {
	// A key made here stands in for NHS CIS2's signing key.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	keys, err := auth.NewKeySet(auth.JWK{KeyID: "cis2-1", Algorithm: auth.ES256, Use: "sig", Key: &key.PublicKey})
	if err != nil {
		panic(err)
	}
	v, err := auth.NewVerifier(auth.Config{
		Issuers:  []auth.IssuerConfig{{Issuer: "http://127.0.0.1:8080/oauth", Keys: keys}}, // or {Issuer: …, JWKSURL: "https://…/jwks"}
		Audience: "http://127.0.0.1:8080/fhir",
	})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tok := signES256(key, "cis2-1", map[string]any{
		"iss": "http://127.0.0.1:8080/oauth", "aud": "http://127.0.0.1:8080/fhir", "sub": "910000000004",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nhs_role": []string{auth.RoleAdminClinicalSupport}, "nhs_role_profile_id": "555254240103",
		"org_ods": "Y05868", "scope": "user/Patient.rus",
	})
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Subject, p.Roles, p.RoleProfileID, p.OrgODS)
	fmt.Println(auth.Decide(p, "Patient", auth.Patch))
	fmt.Println(auth.Decide(p, "AllergyIntolerance", auth.Search))

	_, err = v.Verify(context.Background(), tok+"x")
	var ae *auth.AuthError
	if errors.As(err, &ae) {
		fmt.Println(ae.Status, ae.Reason)
		fmt.Println(ae.WWWAuthenticate("fhir"))
	}
	// Output:
	// 910000000004 [R8008] 555254240103 Y05868
	// <nil>
	// auth: insufficient_scope: the token's scopes do not permit search on AllergyIntolerance
	// 401 malformed
	// Bearer realm="fhir", error="invalid_token", error_description="the token is not valid base64url"
}

// signES256 returns the compact JWS (RFC 7515) of claims, an access token
// as an identity service signs one: ES256, the signature r‖s.
func signES256(key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	part := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := part(map[string]string{"alg": auth.ES256, "typ": "at+jwt", "kid": kid}) + "." + part(claims)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
