package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/auth"
)

const (
	testIss = "https://auth.test/realms/Healthcare"
	testAud = "https://facade.test/fhir"
	// secretValue is a claim value that must never appear in an error.
	secretValue = "Dr Sentinel Claimvalue"
)

type fixture struct {
	clock *clock
	v     *auth.Verifier
	keys  []byte // the JWKS document
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ec, _, rk := testKeys(t)
	doc := jwksDoc(t, ecJWK("ec1", &ec.PublicKey), rsaJWK("rsa1", &rk.PublicKey))
	ks, err := auth.ParseKeySet(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	v, err := auth.NewVerifier(auth.Config{
		Issuers:  []auth.IssuerConfig{{Issuer: testIss, Keys: ks}},
		Audience: testAud,
		Now:      c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{clock: c, v: v, keys: doc}
}

func (f *fixture) claims() map[string]any {
	now := f.clock.Now().Unix()
	return map[string]any{
		"iss": testIss, "sub": "910000000001", "aud": testAud,
		"iat": now, "nbf": now, "exp": now + 3600, "jti": "j1",
		"scope": "user/*.rs user/Flag.cu", "nhs_role": "R8000",
		"nhs_role_profile_id": "555254240100", "org_ods": "Y05868", "name": secretValue,
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

var (
	esHeader = map[string]any{"alg": "ES256", "typ": "JWT", "kid": "ec1"}
	rsHeader = map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rsa1"}
)

func TestVerifyAccepts(t *testing.T) {
	f := newFixture(t)
	ec, _, rk := testKeys(t)
	now := f.clock.Now().Unix()
	tests := []struct {
		name  string
		token func() string
		check func(t *testing.T, p auth.Principal)
	}{
		{name: "ES256", token: func() string { return sign(t, esHeader, f.claims(), ec) }, check: func(t *testing.T, p auth.Principal) {
			if p.Subject != "910000000001" || p.Name != secretValue || p.RoleProfileID != "555254240100" || p.OrgODS != "Y05868" ||
				p.Issuer != testIss || p.TokenID != "j1" || !p.HasRole("R8000") || len(p.Roles) != 1 {
				t.Errorf("principal = %+v", p)
			}
			if !p.ExpiresAt.Equal(time.Unix(now+3600, 0)) || !p.IssuedAt.Equal(time.Unix(now, 0)) {
				t.Errorf("times = %v %v", p.IssuedAt, p.ExpiresAt)
			}
			if !p.Scopes.Allows("Flag", auth.Create) || p.Scopes.Allows("Flag", auth.Delete) {
				t.Errorf("scopes = %v", p.Scopes)
			}
			if _, ok := auth.PatientScoped(p); ok {
				t.Error("patient scoped without a patient claim")
			}
		}},
		{name: "RS256", token: func() string { return sign(t, rsHeader, f.claims(), rk) }},
		{name: "no typ", token: func() string { return sign(t, map[string]any{"alg": "ES256", "kid": "ec1"}, f.claims(), ec) }},
		{name: "typ at+jwt", token: func() string {
			return sign(t, map[string]any{"alg": "ES256", "kid": "ec1", "typ": "at+jwt"}, f.claims(), ec)
		}},
		{name: "no kid tries every fitting key", token: func() string { return sign(t, map[string]any{"alg": "RS256"}, f.claims(), rk) }},
		{name: "aud array", token: func() string {
			return sign(t, esHeader, with(f.claims(), "aud", []string{"other", testAud}), ec)
		}},
		{name: "expired within leeway", token: func() string {
			return sign(t, esHeader, with(f.claims(), "exp", now-20), ec)
		}},
		{name: "nbf within leeway", token: func() string {
			return sign(t, esHeader, with(f.claims(), "nbf", now+20, "iat", now+20), ec)
		}},
		{name: "fractional dates", token: func() string {
			return sign(t, esHeader, with(f.claims(), "exp", float64(now)+60.5, "iat", float64(now)-0.25), ec)
		}},
		{name: "no nbf no iat no jti", token: func() string {
			return sign(t, esHeader, with(f.claims(), "nbf", nil, "iat", nil, "jti", nil), ec)
		}},
		{name: "roles space separated", token: func() string {
			return sign(t, esHeader, with(f.claims(), "nhs_role", "R8000 R8008"), ec)
		}, check: func(t *testing.T, p auth.Principal) {
			if !p.HasRole("R8000") || !p.HasRole("R8008") || len(p.Roles) != 2 {
				t.Errorf("roles = %q", p.Roles)
			}
		}},
		{name: "roles array, CIS2 form", token: func() string {
			return sign(t, esHeader, with(f.claims(), "nhs_role", []string{"S8000:G8000:R8000", "facade-auditor"}), ec)
		}, check: func(t *testing.T, p auth.Principal) {
			if len(p.Roles) != 2 || p.Roles[0] != "R8000" || p.Roles[1] != "facade-auditor" {
				t.Errorf("roles = %q", p.Roles)
			}
		}},
		{name: "scope array", token: func() string {
			return sign(t, esHeader, with(f.claims(), "scope", []string{"system/*.rs", "openid"}), ec)
		}, check: func(t *testing.T, p auth.Principal) {
			if !p.Scopes.AllowsIn(auth.SystemContext, "Patient", auth.Read) || len(p.Scopes.Other) != 1 {
				t.Errorf("scopes = %+v", p.Scopes)
			}
		}},
		{name: "patient context", token: func() string {
			return sign(t, esHeader, with(f.claims(), "patient", "9000000009", "scope", "patient/*.rs"), ec)
		}, check: func(t *testing.T, p auth.Principal) {
			if nhs, ok := auth.PatientScoped(p); !ok || nhs != "9000000009" {
				t.Errorf("PatientScoped = %q, %v", nhs, ok)
			}
		}},
		{name: "client id from azp", token: func() string {
			return sign(t, esHeader, with(f.claims(), "azp", "app-1"), ec)
		}, check: func(t *testing.T, p auth.Principal) {
			if p.ClientID != "app-1" {
				t.Errorf("ClientID = %q", p.ClientID)
			}
		}},
		{name: "unknown claims ignored", token: func() string {
			return sign(t, esHeader, with(f.claims(), "x-extra", map[string]any{"a": 1}), ec)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.v.Verify(context.Background(), tt.token())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	ec, ec2, rk := testKeys(t)
	now := f.clock.Now().Unix()
	valid := sign(t, esHeader, f.claims(), ec)
	parts := strings.Split(valid, ".")
	tests := []struct {
		name       string
		token      string
		wantReason auth.Reason
	}{
		// Time and audience.
		{name: "expired", token: sign(t, esHeader, with(f.claims(), "exp", now-31), ec), wantReason: auth.ReasonExpired},
		{name: "expired exactly at leeway", token: sign(t, esHeader, with(f.claims(), "exp", now-30), ec), wantReason: auth.ReasonExpired},
		{name: "missing exp", token: sign(t, esHeader, with(f.claims(), "exp", nil), ec), wantReason: auth.ReasonExpired},
		{name: "exp as string", token: sign(t, esHeader, with(f.claims(), "exp", "2099999999"), ec), wantReason: auth.ReasonExpired},
		{name: "exp negative", token: sign(t, esHeader, with(f.claims(), "exp", -1), ec), wantReason: auth.ReasonExpired},
		{name: "exp absurd", token: sign(t, esHeader, with(f.claims(), "exp", 1e300), ec), wantReason: auth.ReasonExpired},
		{name: "not yet valid", token: sign(t, esHeader, with(f.claims(), "nbf", now+31), ec), wantReason: auth.ReasonNotYetValid},
		{name: "issued in the future", token: sign(t, esHeader, with(f.claims(), "iat", now+31), ec), wantReason: auth.ReasonIssuedInFuture},
		{name: "nbf wrong type", token: sign(t, esHeader, with(f.claims(), "nbf", true), ec), wantReason: auth.ReasonClaims},
		{name: "wrong iss", token: sign(t, esHeader, with(f.claims(), "iss", "https://evil.test"), ec), wantReason: auth.ReasonIssuer},
		{name: "iss differs by a slash", token: sign(t, esHeader, with(f.claims(), "iss", testIss+"/"), ec), wantReason: auth.ReasonIssuer},
		{name: "no iss", token: sign(t, esHeader, with(f.claims(), "iss", nil), ec), wantReason: auth.ReasonIssuer},
		{name: "wrong aud", token: sign(t, esHeader, with(f.claims(), "aud", "https://other.test/fhir"), ec), wantReason: auth.ReasonAudience},
		{name: "aud array without us", token: sign(t, esHeader, with(f.claims(), "aud", []string{"a", "b"}), ec), wantReason: auth.ReasonAudience},
		{name: "no aud", token: sign(t, esHeader, with(f.claims(), "aud", nil), ec), wantReason: auth.ReasonAudience},
		{name: "aud wrong type", token: sign(t, esHeader, with(f.claims(), "aud", 7), ec), wantReason: auth.ReasonAudience},

		// Signatures, keys and algorithms.
		{name: "bad signature", token: parts[0] + "." + parts[1] + "." + enc(flip(t, parts[2])), wantReason: auth.ReasonSignature},
		{name: "payload altered", token: parts[0] + "." + enc(mustJSON(t, with(f.claims(), "nhs_role", "R8008"))) + "." + parts[2], wantReason: auth.ReasonSignature},
		{name: "signed by another key", token: sign(t, esHeader, f.claims(), ec2), wantReason: auth.ReasonSignature},
		{name: "unknown kid", token: sign(t, map[string]any{"alg": "ES256", "kid": "nope"}, f.claims(), ec), wantReason: auth.ReasonUnknownKey},
		{name: "alg none", token: sign(t, map[string]any{"alg": "none", "kid": "ec1"}, f.claims(), nil) + "", wantReason: auth.ReasonMalformed},
		{name: "alg none with a signature", token: parts[0][:0] + enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + "." + parts[2], wantReason: auth.ReasonAlgorithm},
		{name: "alg None", token: enc([]byte(`{"alg":"None","kid":"ec1"}`)) + "." + parts[1] + "." + parts[2], wantReason: auth.ReasonAlgorithm},
		{name: "HS256 keyed with the public JWKS", token: sign(t, map[string]any{"alg": "HS256", "kid": "ec1"}, f.claims(), f.keys), wantReason: auth.ReasonAlgorithm},
		{name: "HS256 keyed with the RSA modulus", token: sign(t, map[string]any{"alg": "HS256", "kid": "rsa1"}, f.claims(), rk.PublicKey.N.Bytes()), wantReason: auth.ReasonAlgorithm},
		{name: "ES384", token: sign(t, map[string]any{"alg": "ES384", "kid": "ec1"}, f.claims(), ec), wantReason: auth.ReasonAlgorithm},
		{name: "PS256", token: sign(t, map[string]any{"alg": "PS256", "kid": "rsa1"}, f.claims(), rk), wantReason: auth.ReasonAlgorithm},
		{name: "RS256 against an EC key", token: sign(t, map[string]any{"alg": "RS256", "kid": "ec1"}, f.claims(), rk), wantReason: auth.ReasonAlgorithm},
		{name: "ES256 against an RSA key", token: sign(t, map[string]any{"alg": "ES256", "kid": "rsa1"}, f.claims(), ec), wantReason: auth.ReasonAlgorithm},
		{name: "ES256 signature in DER", token: parts[0] + "." + parts[1] + "." + enc(derSig(t, parts[0]+"."+parts[1])), wantReason: auth.ReasonSignature},

		// Structure.
		{name: "two parts", token: parts[0] + "." + parts[1], wantReason: auth.ReasonMalformed},
		{name: "four parts", token: valid + ".x", wantReason: auth.ReasonMalformed},
		{name: "empty", token: "", wantReason: auth.ReasonMalformed},
		{name: "dots only", token: "..", wantReason: auth.ReasonMalformed},
		{name: "bad base64 header", token: "!!!." + parts[1] + "." + parts[2], wantReason: auth.ReasonMalformed},
		{name: "bad base64 payload", token: parts[0] + ".a*b." + parts[2], wantReason: auth.ReasonMalformed},
		{name: "newline in the signature", token: parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:], wantReason: auth.ReasonMalformed},
		{name: "CR in the payload", token: parts[0] + "." + parts[1][:5] + "\r" + parts[1][5:] + "." + parts[2], wantReason: auth.ReasonMalformed},
		{name: "padded base64", token: parts[0] + "." + parts[1] + "=." + parts[2], wantReason: auth.ReasonMalformed},
		{name: "standard base64 alphabet", token: strings.NewReplacer("-", "+", "_", "/").Replace(parts[0]+"."+parts[1]) + "+/." + parts[2], wantReason: auth.ReasonMalformed},
		{name: "header not JSON", token: enc([]byte("alg=ES256")) + "." + parts[1] + "." + parts[2], wantReason: auth.ReasonMalformed},
		{name: "header an array", token: enc([]byte(`["ES256"]`)) + "." + parts[1] + "." + parts[2], wantReason: auth.ReasonMalformed},
		{name: "header no alg", token: sign(t, map[string]any{"kid": "ec1"}, f.claims(), ec), wantReason: auth.ReasonMalformed},
		{name: "header alg not a string", token: sign(t, map[string]any{"alg": 256, "kid": "ec1"}, f.claims(), ec), wantReason: auth.ReasonMalformed},
		{name: "header duplicate alg", token: rawSigned(t, `{"alg":"HS256","alg":"ES256","kid":"ec1"}`, string(mustJSON(t, f.claims())), ec), wantReason: auth.ReasonMalformed},
		{name: "header crit", token: sign(t, map[string]any{"alg": "ES256", "kid": "ec1", "crit": []string{"exp"}, "exp": 1}, f.claims(), ec), wantReason: auth.ReasonMalformed},
		{name: "header typ JWE", token: sign(t, map[string]any{"alg": "ES256", "kid": "ec1", "typ": "JOSE+JSON"}, f.claims(), ec), wantReason: auth.ReasonMalformed},
		{name: "header enc", token: sign(t, map[string]any{"alg": "ES256", "kid": "ec1", "enc": "A256GCM"}, f.claims(), ec), wantReason: auth.ReasonMalformed},
		{name: "payload an array", token: rawSigned(t, `{"alg":"ES256","kid":"ec1"}`, `[1,2]`, ec), wantReason: auth.ReasonMalformed},
		{name: "payload duplicate claim", token: rawSigned(t, `{"alg":"ES256","kid":"ec1"}`, `{"sub":"a","sub":"b"}`, ec), wantReason: auth.ReasonMalformed},
		{name: "payload trailing data", token: rawSigned(t, `{"alg":"ES256","kid":"ec1"}`, string(mustJSON(t, f.claims()))+`{}`, ec), wantReason: auth.ReasonMalformed},
		{name: "payload invalid UTF-8", token: rawSigned(t, `{"alg":"ES256","kid":"ec1"}`, "{\"sub\":\"\xff\"}", ec), wantReason: auth.ReasonMalformed},
		{name: "huge token", token: valid + strings.Repeat("A", auth.DefaultMaxTokenBytes), wantReason: auth.ReasonTooLarge},

		// Claims of the principal.
		{name: "no sub", token: sign(t, esHeader, with(f.claims(), "sub", nil), ec), wantReason: auth.ReasonClaims},
		{name: "sub with a newline", token: sign(t, esHeader, with(f.claims(), "sub", "a\r\nX-Evil: 1"), ec), wantReason: auth.ReasonClaims},
		{name: "name not a string", token: sign(t, esHeader, with(f.claims(), "name", []string{secretValue}), ec), wantReason: auth.ReasonClaims},
		{name: "role profile id not digits", token: sign(t, esHeader, with(f.claims(), "nhs_role_profile_id", "5552\r\n"), ec), wantReason: auth.ReasonClaims},
		{name: "ods lower case", token: sign(t, esHeader, with(f.claims(), "org_ods", "y05868"), ec), wantReason: auth.ReasonClaims},
		{name: "patient not an NHS number", token: sign(t, esHeader, with(f.claims(), "patient", "9000000001"), ec), wantReason: auth.ReasonClaims},
		{name: "patient a number", token: sign(t, esHeader, with(f.claims(), "patient", 9000000009), ec), wantReason: auth.ReasonClaims},
		{name: "roles an object", token: sign(t, esHeader, with(f.claims(), "nhs_role", map[string]any{"r": 1}), ec), wantReason: auth.ReasonClaims},
		{name: "role empty after CIS2 prefix", token: sign(t, esHeader, with(f.claims(), "nhs_role", []string{"S8000:"}), ec), wantReason: auth.ReasonClaims},
		{name: "scope malformed", token: sign(t, esHeader, with(f.claims(), "scope", "user/Patient.rx"), ec), wantReason: auth.ReasonScope},
		{name: "scope a number", token: sign(t, esHeader, with(f.claims(), "scope", 1), ec), wantReason: auth.ReasonClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.v.Verify(context.Background(), tt.token)
			var ae *auth.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Verify = %+v, %v; want an *AuthError", p, err)
			}
			if ae.Status != http.StatusUnauthorized || ae.Code != auth.CodeInvalidToken || ae.Reason != tt.wantReason {
				t.Errorf("Verify error = %d %s %s (%s), want 401 invalid_token %s", ae.Status, ae.Code, ae.Reason, ae.Description, tt.wantReason)
			}
			assertSafe(t, ae, tt.token)
		})
	}
}

// assertSafe checks that an error says nothing of the token or its claims.
func assertSafe(t *testing.T, ae *auth.AuthError, token string) {
	t.Helper()
	for _, s := range []string{ae.Description, ae.Error(), ae.WWWAuthenticate("fhir")} {
		if len(token) > 8 && strings.Contains(s, token) {
			t.Errorf("error %q contains the token", s)
		}
		for _, part := range strings.Split(token, ".") {
			if len(part) > 8 && strings.Contains(s, part) {
				t.Errorf("error %q contains part of the token", s)
			}
		}
		for _, v := range []string{secretValue, "910000000001", "555254240100", "Y05868", "9000000009", "evil", "R8008"} {
			if strings.Contains(s, v) {
				t.Errorf("error %q contains the claim value %q", s, v)
			}
		}
	}
}

func flip(t *testing.T, seg string) []byte {
	t.Helper()
	b := decode(t, seg)
	b[len(b)/2] ^= 0x01
	return b
}

func decode(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64RawURL(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawSigned signs a header and payload given as raw JSON text.
func rawSigned(t *testing.T, header, payload string, key any) string {
	t.Helper()
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	return input + "." + enc(signBytes(t, input, key))
}

// derSig returns an ASN.1 DER ECDSA signature over input: valid, but not
// the JWS encoding (R || S), so it must not verify.
func derSig(t *testing.T, input string) []byte {
	t.Helper()
	ec, _, _ := testKeys(t)
	sig := signBytes(t, input, ec)
	return derEncode(sig[:32], sig[32:])
}

func TestVerifyMultipleIssuers(t *testing.T) {
	ec, ec2, rk := testKeys(t)
	ks1, err := auth.NewKeySet(auth.JWK{KeyID: "k", Key: &ec.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	ks2, err := auth.NewKeySet(auth.JWK{KeyID: "k", Key: &ec2.PublicKey}, auth.JWK{KeyID: "r", Key: &rk.PublicKey, Algorithm: auth.RS256})
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	v, err := auth.NewVerifier(auth.Config{
		Issuers:    []auth.IssuerConfig{{Issuer: "https://one.test", Keys: ks1}, {Issuer: "https://two.test", Keys: ks2}},
		Audience:   testAud,
		Algorithms: []string{auth.ES256},
		Now:        c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	claims := func(iss string) map[string]any {
		return map[string]any{"iss": iss, "sub": "s", "aud": testAud, "exp": c.Now().Unix() + 60}
	}
	hdr := map[string]any{"alg": "ES256", "kid": "k"}
	tests := []struct {
		name       string
		token      string
		wantReason auth.Reason // "" = accepted
	}{
		{name: "issuer one with its key", token: sign(t, hdr, claims("https://one.test"), ec)},
		{name: "issuer two with its key", token: sign(t, hdr, claims("https://two.test"), ec2)},
		{name: "issuer one with issuer two's key", token: sign(t, hdr, claims("https://one.test"), ec2), wantReason: auth.ReasonSignature},
		{name: "issuer two with issuer one's key", token: sign(t, hdr, claims("https://two.test"), ec), wantReason: auth.ReasonSignature},
		{name: "RS256 not among the allowed algorithms", token: sign(t, map[string]any{"alg": "RS256", "kid": "r"}, claims("https://two.test"), rk), wantReason: auth.ReasonAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tt.token)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.Issuer == "" {
					t.Error("no issuer in the principal")
				}
				return
			}
			var ae *auth.AuthError
			if !errors.As(err, &ae) || ae.Reason != tt.wantReason {
				t.Errorf("Verify = %v, want reason %s", err, tt.wantReason)
			}
		})
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	ks, _ := auth.NewKeySet()
	good := auth.IssuerConfig{Issuer: testIss, Keys: ks}
	tests := []struct {
		name string
		cfg  auth.Config
	}{
		{name: "no issuer", cfg: auth.Config{Audience: testAud}},
		{name: "no audience", cfg: auth.Config{Issuers: []auth.IssuerConfig{good}}},
		{name: "HS256 allowed", cfg: auth.Config{Issuers: []auth.IssuerConfig{good}, Audience: testAud, Algorithms: []string{"HS256"}}},
		{name: "none allowed", cfg: auth.Config{Issuers: []auth.IssuerConfig{good}, Audience: testAud, Algorithms: []string{"none"}}},
		{name: "negative leeway", cfg: auth.Config{Issuers: []auth.IssuerConfig{good}, Audience: testAud, Leeway: -time.Second}},
		{name: "huge leeway", cfg: auth.Config{Issuers: []auth.IssuerConfig{good}, Audience: testAud, Leeway: time.Hour}},
		{name: "duplicate issuer", cfg: auth.Config{Issuers: []auth.IssuerConfig{good, good}, Audience: testAud}},
		{name: "empty issuer", cfg: auth.Config{Issuers: []auth.IssuerConfig{{Keys: ks}}, Audience: testAud}},
		{name: "no keys", cfg: auth.Config{Issuers: []auth.IssuerConfig{{Issuer: testIss}}, Audience: testAud}},
		{name: "http jwks_uri", cfg: auth.Config{Issuers: []auth.IssuerConfig{{Issuer: testIss, JWKSURL: "http://auth.test/jwks"}}, Audience: testAud}},
		{name: "relative jwks_uri", cfg: auth.Config{Issuers: []auth.IssuerConfig{{Issuer: testIss, JWKSURL: "/jwks"}}, Audience: testAud}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := auth.NewVerifier(tt.cfg); err == nil {
				t.Error("NewVerifier succeeded, want an error")
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name       string
		headers    []string
		want       string
		wantStatus int
		wantReason auth.Reason
	}{
		{name: "bearer", headers: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "scheme case-insensitive", headers: []string{"bearer abc"}, want: "abc"},
		{name: "none", wantStatus: 401, wantReason: auth.ReasonNoToken},
		{name: "basic", headers: []string{"Basic dXNlcjpwdw=="}, wantStatus: 401, wantReason: auth.ReasonNoToken},
		{name: "empty bearer", headers: []string{"Bearer "}, wantStatus: 400, wantReason: auth.ReasonBadRequest},
		{name: "two tokens", headers: []string{"Bearer a b"}, wantStatus: 400, wantReason: auth.ReasonBadRequest},
		{name: "two headers", headers: []string{"Bearer a", "Bearer b"}, wantStatus: 400, wantReason: auth.ReasonBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/fhir/Patient/9000000009", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := auth.BearerToken(r)
			if tt.wantStatus == 0 {
				if err != nil || got != tt.want {
					t.Errorf("BearerToken = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var ae *auth.AuthError
			if !errors.As(err, &ae) || ae.Status != tt.wantStatus || ae.Reason != tt.wantReason {
				t.Errorf("BearerToken error = %v, want %d %s", err, tt.wantStatus, tt.wantReason)
			}
		})
	}
}

func TestVerifyRequest(t *testing.T) {
	f := newFixture(t)
	ec, _, _ := testKeys(t)
	r := httptest.NewRequest("GET", "/fhir/Patient/9000000009", nil)
	r.Header.Set("Authorization", "Bearer "+sign(t, esHeader, f.claims(), ec))
	p, err := f.v.VerifyRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	ctx := auth.WithPrincipal(r.Context(), p)
	got, ok := auth.FromContext(ctx)
	if !ok || got.Subject != p.Subject {
		t.Errorf("FromContext = %+v, %v", got, ok)
	}
	if _, ok := auth.FromContext(context.Background()); ok {
		t.Error("FromContext found a principal in an empty context")
	}
	if _, err := f.v.VerifyRequest(httptest.NewRequest("GET", "/", nil)); err == nil {
		t.Error("VerifyRequest without a token succeeded")
	}
}

func TestWWWAuthenticate(t *testing.T) {
	tests := []struct {
		name string
		err  *auth.AuthError
		want string
	}{
		{name: "no token", err: &auth.AuthError{Status: 401, Reason: auth.ReasonNoToken, Description: "a bearer token is required"}, want: `Bearer realm="fhir"`},
		{name: "invalid token", err: &auth.AuthError{Status: 401, Code: auth.CodeInvalidToken, Description: "the token has expired"}, want: `Bearer realm="fhir", error="invalid_token", error_description="the token has expired"`},
		{name: "insufficient scope", err: &auth.AuthError{Status: 403, Code: auth.CodeInsufficientScope, Description: "no"}, want: `Bearer realm="fhir", error="insufficient_scope", error_description="no"`},
		{name: "invalid request", err: &auth.AuthError{Status: 400, Code: auth.CodeInvalidRequest, Description: "x"}, want: `Bearer realm="fhir", error="invalid_request", error_description="x"`},
		{name: "role denial has no challenge", err: &auth.AuthError{Status: 403, Code: auth.CodeAccessDenied, Description: "no"}, want: ``},
		{name: "unavailable has no challenge", err: &auth.AuthError{Status: 503, Reason: auth.ReasonKeysUnavailable}, want: ``},
		{name: "quotes and controls escaped", err: &auth.AuthError{Status: 401, Code: auth.CodeInvalidToken, Description: "a \"b\" \\ c\r\nd é"}, want: `Bearer realm="fhir", error="invalid_token", error_description="a 'b' ' c??d ??"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.WWWAuthenticate("fhir"); got != tt.want {
				t.Errorf("WWWAuthenticate = %s, want %s", got, tt.want)
			}
		})
	}
	if got := (&auth.AuthError{Status: 401}).WWWAuthenticate(""); got != "Bearer" {
		t.Errorf("no realm: %q", got)
	}
}
