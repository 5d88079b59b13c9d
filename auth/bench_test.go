package auth_test

import (
	"context"
	"testing"

	"github.com/carerecords/fhir-facade/auth"
)

// BenchmarkVerify measures Verify on the hot path: a valid token of each
// algorithm, and two cheap refusals (a bad signature, a malformed token).
func BenchmarkVerify(b *testing.B) {
	ec, ec2, rk := testKeys(b)
	ks, err := auth.ParseKeySet(jwksDoc(b, ecJWK("ec1", &ec.PublicKey), rsaJWK("rsa1", &rk.PublicKey)))
	if err != nil {
		b.Fatal(err)
	}
	c := newClock()
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{{Issuer: testIss, Keys: ks}}, Audience: testAud, Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	now := c.Now().Unix()
	claims := map[string]any{"iss": testIss, "sub": "910000000001", "aud": testAud, "iat": now, "nbf": now, "exp": now + 3600, "jti": "j1",
		"scope": "user/*.rs user/Flag.cu", "nhs_role": "R8000", "nhs_role_profile_id": "555254240100", "org_ods": "Y05868", "name": "Dr Bench"}
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{name: "ES256", token: sign(b, esHeader, claims, ec), ok: true},
		{name: "RS256", token: sign(b, rsHeader, claims, rk), ok: true},
		{name: "bad signature", token: sign(b, esHeader, claims, ec2)},
		{name: "malformed", token: "eyJhbGciOiJFUzI1NiJ9.e30"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tt.token); (err == nil) != tt.ok {
					b.Fatalf("Verify: %v", err)
				}
			}
		})
	}
}

// BenchmarkParseKeySet measures parsing a two-key JWKS (each fetch).
func BenchmarkParseKeySet(b *testing.B) {
	ec, _, rk := testKeys(b)
	doc := jwksDoc(b, ecJWK("ec1", &ec.PublicKey), rsaJWK("rsa1", &rk.PublicKey))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := auth.ParseKeySet(doc); err != nil {
			b.Fatal(err)
		}
	}
}
