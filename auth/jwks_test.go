package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/auth"
)

// jwksServer serves a JWKS document that tests can change, counting hits.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	doc    []byte
	status int
	hits   int
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{doc: doc, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.hits++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		_, _ = w.Write(s.doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc, s.status = doc, status
}

func (s *jwksServer) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func TestRemoteKeySetRefresh(t *testing.T) {
	ec, ec2, _ := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(t, ecJWK("k1", &ec.PublicKey)))
	c := newClock()
	v, err := auth.NewVerifier(auth.Config{
		Issuers:  []auth.IssuerConfig{{Issuer: testIss, JWKSURL: srv.URL + "/jwks"}},
		Audience: testAud,
		Now:      c.Now,
		JWKS:     auth.RemoteKeySetOptions{TTL: 10 * time.Minute, MinRefresh: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	token := func(kid string, key *ecdsa.PrivateKey) string {
		return sign(t, map[string]any{"alg": "ES256", "kid": kid}, map[string]any{
			"iss": testIss, "sub": "s", "aud": testAud, "exp": c.Now().Unix() + 3600}, key)
	}
	verify := func(tok string) auth.Reason {
		t.Helper()
		_, err := v.Verify(context.Background(), tok)
		if err == nil {
			return ""
		}
		var ae *auth.AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("Verify error %v is not an *AuthError", err)
		}
		return ae.Reason
	}
	steps := []struct {
		name      string
		advance   time.Duration
		serve     []byte // a new JWKS, if set
		status    int    // the status the server answers from now on, if set
		kid       string
		key       *ecdsa.PrivateKey
		want      auth.Reason
		wantFetch int // total fetches so far
	}{
		{name: "first use fetches", kid: "k1", key: ec, wantFetch: 1},
		{name: "known kid from the cache", kid: "k1", key: ec, wantFetch: 1},
		{name: "unknown kid right after a fetch is not refetched", kid: "k2", key: ec2, want: auth.ReasonUnknownKey, wantFetch: 1},
		{name: "key rotated at the issuer, but within MinRefresh", advance: 10 * time.Second, serve: jwksDoc(t, ecJWK("k1", &ec.PublicKey), ecJWK("k2", &ec2.PublicKey)), kid: "k2", key: ec2, want: auth.ReasonUnknownKey, wantFetch: 1},
		{name: "unknown kid after MinRefresh refreshes and finds it", advance: 21 * time.Second, kid: "k2", key: ec2, wantFetch: 2},
		{name: "unknown kid after refresh", advance: 31 * time.Second, kid: "k3", key: ec2, want: auth.ReasonUnknownKey, wantFetch: 3},
		{name: "a flood of unknown kids is rate-limited", advance: time.Second, kid: "k4", key: ec2, want: auth.ReasonUnknownKey, wantFetch: 3},
		{name: "kid dropped at the issuer still cached before TTL", serve: jwksDoc(t, ecJWK("k2", &ec2.PublicKey)), kid: "k1", key: ec, wantFetch: 3},
		{name: "after TTL the set is fetched again and k1 is gone", advance: 10 * time.Minute, kid: "k1", key: ec, want: auth.ReasonUnknownKey, wantFetch: 4},
		{name: "issuer down: stale set still used", advance: 11 * time.Minute, status: http.StatusInternalServerError, kid: "k2", key: ec2, wantFetch: 5},
		{name: "issuer down: failures are not retried within MinRefresh", advance: time.Second, kid: "k2", key: ec2, wantFetch: 5},
		{name: "issuer down past MaxStale: unavailable", advance: 2 * time.Hour, kid: "k2", key: ec2, want: auth.ReasonKeysUnavailable, wantFetch: 6},
		{name: "issuer down past MaxStale: no hammering", advance: time.Second, kid: "k2", key: ec2, want: auth.ReasonKeysUnavailable, wantFetch: 6},
		{name: "issuer back", advance: 31 * time.Second, status: http.StatusOK, kid: "k2", key: ec2, wantFetch: 7},
	}
	for _, st := range steps {
		c.Advance(st.advance)
		if st.serve != nil || st.status != 0 {
			doc, status := st.serve, st.status
			srv.mu.Lock()
			if doc == nil {
				doc = srv.doc
			}
			if status == 0 {
				status = srv.status
			}
			srv.mu.Unlock()
			srv.set(doc, status)
		}
		if got := verify(token(st.kid, st.key)); got != st.want {
			t.Errorf("%s: reason %q, want %q", st.name, got, st.want)
		}
		if got := srv.Hits(); got != st.wantFetch {
			t.Errorf("%s: %d fetches, want %d", st.name, got, st.wantFetch)
		}
	}
}

func TestRemoteKeySetUnavailable(t *testing.T) {
	ec, _, _ := testKeys(t)
	tests := []struct {
		name   string
		doc    []byte
		status int
	}{
		{name: "500", doc: []byte(`oops`), status: 500},
		{name: "not JSON", doc: []byte(`<html>`), status: 200},
		{name: "no keys array", doc: []byte(`{}`), status: 200},
		{name: "no usable key", doc: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), status: 200},
		{name: "too large", doc: []byte(`{"keys":[],"pad":"` + strings.Repeat("x", 2000) + `"}`), status: 200},
		{name: "redirect not followed", doc: nil, status: http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, tt.doc)
			srv.set(tt.doc, tt.status)
			c := newClock()
			ks, err := auth.NewRemoteKeySet(srv.URL, auth.RemoteKeySetOptions{MaxBytes: 1024, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{{Issuer: testIss, Keys: ks}}, Audience: testAud, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			tok := sign(t, map[string]any{"alg": "ES256", "kid": "k1"}, map[string]any{"iss": testIss, "sub": "s", "aud": testAud, "exp": c.Now().Unix() + 60}, ec)
			_, err = v.Verify(context.Background(), tok)
			var ae *auth.AuthError
			if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Reason != auth.ReasonKeysUnavailable || ae.Err == nil {
				t.Fatalf("Verify = %v, want 503 keys_unavailable with a cause", err)
			}
			if ae.WWWAuthenticate("fhir") != "" {
				t.Error("a 503 carries a bearer challenge")
			}
			if ks.Fetches() != 1 {
				t.Errorf("%d fetches, want 1", ks.Fetches())
			}
		})
	}
}

// A client that hangs up must not poison the cache for everyone else.
func TestRemoteKeySetIgnoresCallerCancellation(t *testing.T) {
	ec, _, _ := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(t, ecJWK("k1", &ec.PublicKey)))
	ks, err := auth.NewRemoteKeySet(srv.URL, auth.RemoteKeySetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	keys, err := ks.KeysFor(ctx, "k1")
	if err != nil || len(keys) != 1 {
		t.Fatalf("KeysFor with a cancelled context = %v, %v", keys, err)
	}
}

func TestRemoteKeySetConcurrent(t *testing.T) {
	ec, _, _ := testKeys(t)
	srv := newJWKSServer(t, jwksDoc(t, ecJWK("k1", &ec.PublicKey)))
	ks, err := auth.NewRemoteKeySet(srv.URL, auth.RemoteKeySetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if keys, err := ks.KeysFor(context.Background(), "k1"); err != nil || len(keys) != 1 {
				t.Errorf("KeysFor = %v, %v", keys, err)
			}
		}()
	}
	wg.Wait()
	if srv.Hits() != 1 {
		t.Errorf("%d fetches for 20 concurrent first uses, want 1", srv.Hits())
	}
}

func TestValidateJWKSURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{name: "https", url: "https://auth.test/jwks", ok: true},
		{name: "http loopback v4", url: "http://127.0.0.1:8080/jwks", ok: true},
		{name: "http loopback v6", url: "http://[::1]:8080/jwks", ok: true},
		{name: "http localhost", url: "http://localhost/jwks", ok: true},
		{name: "http remote", url: "http://auth.test/jwks"},
		{name: "file", url: "file:///etc/passwd"},
		{name: "relative", url: "/jwks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := auth.ValidateJWKSURL(tt.url); (err == nil) != tt.ok {
				t.Errorf("ValidateJWKSURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}

func TestParseKeySet(t *testing.T) {
	ec, _, rk := testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := ecJWK("bad", &ec.PublicKey)
	offCurve["y"] = offCurve["x"]
	withPrivate := ecJWK("priv", &ec.PublicKey)
	d, err := ec.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	withPrivate["d"] = enc(d)
	p384raw, err := p384.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	encKey := rsaJWK("enc", &rk.PublicKey)
	encKey["use"] = "enc"
	mislabelled := ecJWK("ml", &ec.PublicKey)
	mislabelled["alg"] = "RS256"
	tests := []struct {
		name     string
		doc      string
		wantKids []string
		wantErr  bool
	}{
		{name: "ec and rsa", doc: string(jwksDoc(t, ecJWK("e", &ec.PublicKey), rsaJWK("r", &rk.PublicKey))), wantKids: []string{"e", "r"}},
		{name: "private part ignored", doc: string(jwksDoc(t, withPrivate)), wantKids: []string{"priv"}},
		{name: "oct skipped", doc: `{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`},
		{name: "encryption key skipped", doc: string(jwksDoc(t, encKey))},
		{name: "EC key labelled RS256 skipped", doc: string(jwksDoc(t, mislabelled))},
		{name: "P-384 skipped", doc: `{"keys":[{"kty":"EC","crv":"P-384","kid":"p","x":"` + enc(p384raw[1:49]) + `","y":"` + enc(p384raw[49:]) + `"}]}`},
		{name: "unknown kty skipped", doc: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA"}]}`},
		{name: "RSA 1024 refused", doc: string(jwksDoc(t, rsaJWK("s", &small.PublicKey))), wantErr: true},
		{name: "point off the curve refused", doc: string(jwksDoc(t, offCurve)), wantErr: true},
		{name: "bad base64 refused", doc: `{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}`, wantErr: true},
		{name: "even exponent refused", doc: strings.Replace(string(jwksDoc(t, rsaJWK("r", &rk.PublicKey))), `"e":"AQAB"`, `"e":"AQAC"`, 1), wantErr: true},
		{name: "huge exponent refused", doc: strings.Replace(string(jwksDoc(t, rsaJWK("r", &rk.PublicKey))), `"e":"AQAB"`, `"e":"AQAAAAAB"`, 1), wantErr: true},
		{name: "not an object", doc: `[]`, wantErr: true},
		{name: "no keys", doc: `{}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := auth.ParseKeySet([]byte(tt.doc))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseKeySet error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			keys := set.Keys()
			if len(keys) != len(tt.wantKids) {
				t.Fatalf("%d keys, want %v", len(keys), tt.wantKids)
			}
			for i, k := range keys {
				if k.KeyID != tt.wantKids[i] {
					t.Errorf("key %d kid %q, want %q", i, k.KeyID, tt.wantKids[i])
				}
				if _, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool }); !ok {
					t.Errorf("key %d is %T", i, k.Key)
				}
			}
		})
	}
}

func TestNewKeySetRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  any
	}{
		{name: "RSA 1024", key: &small.PublicKey},
		{name: "P-384", key: &p384.PublicKey},
		{name: "a private key", key: small},
		{name: "bytes", key: []byte("secret")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := auth.NewKeySet(auth.JWK{KeyID: "k", Key: tt.key}); err == nil {
				t.Error("NewKeySet succeeded")
			}
		})
	}
}
