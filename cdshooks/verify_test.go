package cdshooks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testIss = "https://ehr.example.nhs.uk/"
	testAud = "https://facade.example.nhs.uk/cds-services/ncrs-alerts"
	// The spec's example: iss, aud and jku of its JWT.
	specIss = "https://fhir-ehr.example.com/"
	specAud = "https://cds.example.org/cds-services/some-service"
	specJKU = "https://fhir-ehr.example.com/jwk_uri"
)

// specKey is the spec's example private JWK (ES384, kid example-kid).
func specKey(t testing.TB) jose.JSONWebKey {
	t.Helper()
	var k jose.JSONWebKey
	if err := json.Unmarshal(readTestdata(t, "jwk-private.json"), &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign makes a compact JWT with the header fields given (typ and kid
// unless overridden) and claims.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, hdr map[string]any, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range hdr {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned is an alg:none JWT.
func unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": "k1"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// jwksTransport serves a JWK Set at one URL, counting fetches.
type jwksTransport struct {
	url  string
	body []byte
}

func (j jwksTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() != j.url {
		return nil, errors.New("no such host in this test")
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(string(j.body))), Request: r}, nil
}

func TestVerify(t *testing.T) {
	now := time.Now()
	spec := specKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	keys := NewStaticKeys(
		jose.JSONWebKey{Key: spec.Public().Key, KeyID: "example-kid", Algorithm: "ES384", Use: "sig"},
		jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "rsa-1", Use: "sig"},
	)
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"iss": testIss, "aud": testAud, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": randomID()}
		if change != nil {
			change(c)
		}
		return c
	}
	es384 := func(hdr map[string]any, c map[string]any) string {
		h := map[string]any{"typ": "JWT", "kid": "example-kid"}
		for k, v := range hdr {
			h[k] = v
		}
		return sign(t, jose.ES384, spec.Key, h, c)
	}
	replayed := es384(nil, claims(nil))
	cases := []struct {
		name   string
		token  string
		aud    string
		reason string // "" accepted
		status int
	}{
		{name: "the spec's example key, ES384", token: es384(nil, claims(nil))},
		{name: "RS256", token: sign(t, jose.RS256, rsaKey, map[string]any{"typ": "JWT", "kid": "rsa-1"}, claims(nil))},
		{name: "RS384", token: sign(t, jose.RS384, rsaKey, map[string]any{"typ": "JWT", "kid": "rsa-1"}, claims(nil))},
		{name: "aud as an array", token: es384(nil, claims(func(c map[string]any) { c["aud"] = []string{"https://other", testAud} }))},
		{name: "allow-listed jku", token: es384(map[string]any{"jku": specJKU}, claims(nil))},
		{name: "wrong aud", token: es384(nil, claims(nil)), aud: testAud + "/feedback", reason: ReasonAudience},
		{name: "aud of the discovery endpoint", token: es384(nil, claims(func(c map[string]any) { c["aud"] = "https://facade.example.nhs.uk/cds-services" })), reason: ReasonAudience},
		{name: "expired", token: es384(nil, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), reason: ReasonExpired},
		{name: "no exp", token: es384(nil, claims(func(c map[string]any) { delete(c, "exp") })), reason: ReasonExpired},
		{name: "exp too far ahead", token: es384(nil, claims(func(c map[string]any) { c["exp"] = now.Add(24 * time.Hour).Unix() })), reason: ReasonLifetime},
		{name: "no iat", token: es384(nil, claims(func(c map[string]any) { delete(c, "iat") })), reason: ReasonIssuedAt},
		{name: "iat in the future", token: es384(nil, claims(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() })), reason: ReasonIssuedAt},
		{name: "missing jti", token: es384(nil, claims(func(c map[string]any) { delete(c, "jti") })), reason: ReasonJTI},
		{name: "replayed jti", token: replayed, reason: ReasonReplay},
		{name: "alg none", token: unsigned(claims(nil)), reason: ReasonAlgorithm},
		{name: "HS256", token: sign(t, jose.HS256, []byte("a shared secret of thirty-two bytes!"), map[string]any{"typ": "JWT", "kid": "example-kid"}, claims(nil)), reason: ReasonAlgorithm},
		{name: "unknown issuer", token: es384(nil, claims(func(c map[string]any) { c["iss"] = "https://rogue.example/" })), reason: ReasonIssuer},
		{name: "jku not allow-listed", token: es384(map[string]any{"jku": "https://rogue.example/jwks"}, claims(nil)), reason: ReasonJKU},
		{name: "unknown kid", token: es384(map[string]any{"kid": "other"}, claims(nil)), reason: ReasonKey},
		{name: "signed by another key", token: sign(t, jose.ES384, other, map[string]any{"typ": "JWT", "kid": "example-kid"}, claims(nil)), reason: ReasonSignature},
		{name: "no kid", token: sign(t, jose.ES384, spec.Key, map[string]any{"typ": "JWT"}, claims(nil)), reason: ReasonHeader},
		{name: "typ is not JWT", token: es384(map[string]any{"typ": "at+jwt"}, claims(nil)), reason: ReasonHeader},
		{name: "not a JWS", token: "abc.def", reason: ReasonMalformed},
	}
	v, err := NewVerifier([]Client{{Issuer: testIss, Keys: keys, JKU: []string{specJKU}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The allow-listed jku serves the spec's public JWK Set.
	v.fetch = &http.Client{Transport: jwksTransport{url: specJKU, body: readTestdata(t, "jwks-public.json")}}
	if _, err := v.Verify(context.Background(), replayed, testAud); err != nil {
		t.Fatalf("first use of the replayed token: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aud := tc.aud
			if aud == "" {
				aud = testAud
			}
			got, err := v.Verify(context.Background(), tc.token, aud)
			if tc.reason == "" {
				if err != nil || got.Client.Issuer != testIss {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("accepted (%v), want refused for %s", err, tc.reason)
			}
			if ae.Reason != tc.reason || ae.Status != http.StatusUnauthorized || ae.Message == "" {
				t.Errorf("refused %d %s (%q), want 401 %s", ae.Status, ae.Reason, ae.Message, tc.reason)
			}
		})
	}
}

// The specification's own example JWT verifies with its JWK Set, fetched
// from its allow-listed jku, at a time before its exp; today it has expired.
func TestVerifySpecExampleJWT(t *testing.T) {
	raw := strings.TrimSpace(string(readTestdata(t, "jwt-compact.txt")))
	raw = strings.TrimPrefix(raw, "Authorization: Bearer ")
	var payload struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(readTestdata(t, "jwt-payload.json"), &payload); err != nil {
		t.Fatal(err)
	}
	newV := func() *Verifier {
		pub, err := ParseKeySet(readTestdata(t, "jwks-public.json"))
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier([]Client{{Issuer: specIss, Keys: pub, JKU: []string{specJKU}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		v.fetch = &http.Client{Transport: jwksTransport{url: specJKU, body: readTestdata(t, "jwks-public.json")}}
		return v
	}
	v := newV()
	v.now = func() time.Time { return time.Unix(payload.Exp-60, 0) }
	got, err := v.Verify(context.Background(), raw, specAud)
	if err != nil {
		t.Fatalf("the spec's JWT at its own time: %v", err)
	}
	if got.Tenant != "2ddd6c3a-8e9a-44c6-a305-52111ad302a2" || got.JTI != "ee22b021-e1b7-4611-ba5b-8eec6a33ac1e" {
		t.Errorf("claims %+v", got)
	}
	var ae *AuthError
	if _, err := newV().Verify(context.Background(), raw, specAud); !errors.As(err, &ae) || ae.Reason != ReasonExpired {
		t.Errorf("today: %v, want expired", err)
	}
	// Without the jku allow-listed, the same token is refused for it.
	pub, _ := ParseKeySet(readTestdata(t, "jwks-public.json"))
	strict, _ := NewVerifier([]Client{{Issuer: specIss, Keys: pub}}, nil)
	strict.now = v.now
	if _, err := strict.Verify(context.Background(), raw, specAud); !errors.As(err, &ae) || ae.Reason != ReasonJKU {
		t.Errorf("jku not allow-listed: %v", err)
	}
}

func TestVerifyRequestHeaders(t *testing.T) {
	v, _ := NewVerifier([]Client{{Issuer: testIss, Keys: NewStaticKeys()}}, nil)
	for _, tc := range []struct {
		name   string
		values []string
	}{
		{"none", nil},
		{"basic", []string{"Basic dXNlcjpwYXNz"}},
		{"empty bearer", []string{"Bearer "}},
		{"two", []string{"Bearer a.b.c", "Bearer d.e.f"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, testAud, nil)
			for _, h := range tc.values {
				r.Header.Add("Authorization", h)
			}
			var ae *AuthError
			if _, err := v.VerifyRequest(r, testAud); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
				t.Errorf("got %v, want 401", err)
			}
		})
	}
}

func TestMemoryReplay(t *testing.T) {
	m := NewMemoryReplay(2)
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	steps := []struct {
		key     string
		exp     time.Duration
		advance time.Duration
		fresh   bool
		err     error
	}{
		{key: "a", exp: time.Minute, fresh: true},
		{key: "a", exp: time.Minute, fresh: false},
		{key: "b", exp: 2 * time.Minute, fresh: true},
		{key: "c", exp: time.Minute, err: ErrReplayFull},                     // full: refused, never forgetting a or b
		{key: "c", exp: time.Minute, advance: 61 * time.Second, fresh: true}, // a expired, room again
		{key: "b", exp: time.Minute, fresh: false},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		fresh, err := m.Claim(ctx, s.key, now.Add(s.exp))
		if fresh != s.fresh || !errors.Is(err, s.err) {
			t.Errorf("step %d (%s): fresh %v err %v, want %v %v", i, s.key, fresh, err, s.fresh, s.err)
		}
	}
	if m.Len() != 2 {
		t.Errorf("holds %d, want 2", m.Len())
	}
}

func TestParseClients(t *testing.T) {
	dir := t.TempDir()
	jwks := dir + "/ehr.jwks.json"
	if err := os.WriteFile(jwks, readTestdata(t, "jwks-public.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	priv := dir + "/private.json"
	if err := os.WriteFile(priv, []byte(`{"keys":[`+string(readTestdata(t, "jwk-private.json"))+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	hmac := dir + "/hmac.json"
	_ = os.WriteFile(hmac, []byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`), 0o600)
	cases := []struct {
		spec string
		n    int
		err  string
	}{
		{spec: "", n: 0},
		{spec: "https://ehr.example/=" + jwks + ";role=R8001;org=Y05868;urid=555254240100", n: 1},
		{spec: "https://ehr.example/=https://ehr.example/jwks,https://b.example/=" + jwks, n: 2},
		{spec: "https://ehr.example/=" + priv, n: 1}, // private parts are dropped
		{spec: "https://ehr.example/", err: "is not <issuer>="},
		{spec: "a=" + jwks + ",a=" + jwks, err: "twice"},
		{spec: "a=" + jwks + ";colour=blue", err: "unknown option"},
		{spec: "a=http://ehr.example/jwks", err: "https"},
		{spec: "a=" + jwks + ";jku=http://ehr.example/jwks", err: "https"},
		{spec: "a=" + dir + "/missing.json", err: "no such file"},
		{spec: "a=" + hmac, err: "not an asymmetric"},
	}
	for _, tc := range cases {
		got, err := ParseClients(tc.spec, nil)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: err %v, want %q", tc.spec, err, tc.err)
		case tc.err == "" && (err != nil || len(got) != tc.n):
			t.Errorf("%q: %d clients, %v; want %d", tc.spec, len(got), err, tc.n)
		}
	}
	got, _ := ParseClients("https://ehr.example/=https://ehr.example/jwks;jku=https://ehr.example/other", nil)
	if len(got) != 1 || got[0].Role != "R8000" || len(got[0].JKU) != 2 {
		t.Errorf("defaults: %+v", got)
	}
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
