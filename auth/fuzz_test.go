package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/auth"
)

// FuzzVerify feeds arbitrary strings to Verifier.Verify. It must never
// panic; every refusal is a categorised *AuthError that does not echo the
// token; and a token it accepts must carry a signature that independently
// verifies with the test keys under RS256 or ES256.
func FuzzVerify(f *testing.F) {
	ec, ec2, rk := testKeys(f)
	doc := jwksDoc(f, ecJWK("ec1", &ec.PublicKey), rsaJWK("rsa1", &rk.PublicKey))
	ks, err := auth.ParseKeySet(doc)
	if err != nil {
		f.Fatal(err)
	}
	c := newClock()
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{{Issuer: testIss, Keys: ks}}, Audience: testAud, Now: c.Now})
	if err != nil {
		f.Fatal(err)
	}
	now := c.Now().Unix()
	claims := map[string]any{"iss": testIss, "sub": "910000000001", "aud": testAud, "iat": now, "exp": now + 3600,
		"scope": "user/*.rs patient/Flag.cu", "nhs_role": "R8000", "patient": "9000000009", "org_ods": "Y05868", "nhs_role_profile_id": "555254240100"}
	// Seeds signed with this run's keys: the committed corpus cannot hold
	// valid tokens, as the keys are generated afresh.
	f.Add(sign(f, esHeader, claims, ec))
	f.Add(sign(f, rsHeader, claims, rk))
	f.Add(sign(f, esHeader, claims, ec2))
	f.Add(sign(f, map[string]any{"alg": "HS256", "kid": "ec1"}, claims, doc))
	f.Add(sign(f, map[string]any{"alg": "none"}, claims, nil))
	f.Add(sign(f, map[string]any{"alg": "RS256", "kid": "ec1"}, claims, rk))
	// Headers go-jose itself interprets: an embedded key, a certificate chain.
	f.Add(sign(f, map[string]any{"alg": "ES256", "jwk": ecJWK("ec1", &ec.PublicKey)}, claims, ec))
	f.Add(sign(f, map[string]any{"alg": "ES256", "kid": "ec1", "x5c": []string{"AAAA"}}, claims, ec))
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			var ae *auth.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *AuthError", err)
			}
			switch ae.Status {
			case 401:
				if ae.Code != auth.CodeInvalidToken {
					t.Fatalf("401 with code %q", ae.Code)
				}
			case 503:
			default:
				t.Fatalf("status %d", ae.Status)
			}
			if ae.Description == "" || ae.Reason == "" {
				t.Fatalf("uncategorised error %+v", ae)
			}
			for _, part := range strings.Split(tok, ".") {
				if len(part) >= 24 && strings.Contains(ae.Description, part) {
					t.Fatalf("description %q echoes the token", ae.Description)
				}
			}
			return
		}
		if p.Subject == "" || p.Issuer != testIss || !c.Now().Before(p.ExpiresAt.Add(auth.DefaultLeeway)) {
			t.Fatalf("accepted principal %+v", p)
		}
		if !independentlyVerified(tok, &ec.PublicKey, &rk.PublicKey) {
			t.Fatalf("accepted a token whose signature does not verify independently: %q", tok)
		}
	})
}

// independentlyVerified re-checks a compact JWS with the standard library
// only, as an oracle for FuzzVerify.
func independentlyVerified(tok string, ecPub *ecdsa.PublicKey, rsaPub *rsa.PublicKey) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	hb, err := base64RawURL(parts[0])
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return false
	}
	sig, err := base64RawURL(parts[2])
	if err != nil {
		return false
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch h.Alg {
	case "ES256":
		return len(sig) == 64 && ecdsa.Verify(ecPub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	case "RS256":
		return rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, digest[:], sig) == nil
	}
	return false
}

// FuzzParseScopes: never panics; errors wrap ErrScope; what parses prints in
// canonical form that parses back to the same scopes.
func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{
		"user/*.rs user/Flag.cu", "patient/Observation.rs?category=laboratory", "system/Patient.r",
		"user/Patient.read patient/*.write user/*.*", "openid fhirUser launch/patient", "*.*",
		"user/Patient.rx", "user/Patient.sr", "user/.r", "", "  ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := auth.ParseScopes(s)
		if err != nil {
			if !errors.Is(err, auth.ErrScope) {
				t.Fatalf("error %v does not wrap ErrScope", err)
			}
			return
		}
		for _, sc := range got.Resource {
			if sc.Permissions == 0 || sc.Permissions&^auth.PermAll != 0 || sc.ResourceType == "" {
				t.Fatalf("scope %+v", sc)
			}
		}
		again, err := auth.ParseScopes(got.String())
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", got.String(), err)
		}
		if again.String() != got.String() || len(again.Resource) != len(got.Resource) {
			t.Fatalf("round trip %q -> %q", got.String(), again.String())
		}
		for i := range got.Resource {
			if again.Resource[i] != got.Resource[i] {
				t.Fatalf("round trip changed scope %d: %+v -> %+v", i, got.Resource[i], again.Resource[i])
			}
		}
	})
}

// FuzzParseKeySet: never panics; every key it keeps is one Verify can use.
func FuzzParseKeySet(f *testing.F) {
	ec, _, rk := testKeys(f)
	f.Add(string(jwksDoc(f, ecJWK("e", &ec.PublicKey), rsaJWK("r", &rk.PublicKey))))
	f.Add(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)
	f.Add(`{"keys":[]}`)
	// Members go-jose parses and this package used to ignore.
	withX5c := ecJWK("x", &ec.PublicKey)
	withX5c["x5c"] = []string{"AAAA"}
	f.Add(string(jwksDoc(f, withX5c)))
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAAAAAB","d":"AQ"}]}`)
	f.Add(`{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"},{"kty":"OKP","crv":"Ed25519","x":"AA"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		set, err := auth.ParseKeySet([]byte(doc))
		if err != nil {
			return
		}
		if _, err := auth.NewKeySet(set.Keys()...); err != nil {
			t.Fatalf("ParseKeySet kept a key NewKeySet refuses: %v", err)
		}
	})
}
