package issuer_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

// The issuer signs and publishes with go-jose; these checks use the standard
// library only, so they hold whatever go-jose does: the kid is the RFC 7638
// thumbprint (a key file written before go-jose names its key by it, and
// LoadKeyFile compares), the header is exactly alg, kid and typ, and the
// signature is R‖S over the signing input with the published key.
func TestMintIsAPlainES256JWS(t *testing.T) {
	iss := newIssuer(t, issuer.Config{})
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(iss.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("JWKS %s", iss.JWKS())
	}
	k := doc.Keys[0]
	want := map[string]string{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": iss.KeyID(), "x": k["x"], "y": k["y"]}
	if !reflect.DeepEqual(k, want) {
		t.Errorf("JWK %v, want %v (and no private part)", k, want)
	}
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + k["x"] + `","y":"` + k["y"] + `"}`))
	if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != iss.KeyID() {
		t.Errorf("kid %q, want the RFC 7638 thumbprint %q", iss.KeyID(), got)
	}

	tok, err := iss.Mint(issuer.Claims{Subject: "910000000001", Scopes: []string{"user/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	rawHeader, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]any
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"alg": "ES256", "kid": iss.KeyID(), "typ": "at+jwt"}; !reflect.DeepEqual(header, want) {
		t.Errorf("header %v, want %v", header, want)
	}
	x, errX := base64.RawURLEncoding.DecodeString(k["x"])
	y, errY := base64.RawURLEncoding.DecodeString(k["y"])
	sig, errS := base64.RawURLEncoding.DecodeString(parts[2])
	if errX != nil || errY != nil || errS != nil || len(sig) != 64 {
		t.Fatalf("x %v, y %v, signature %v (%d bytes)", errX, errY, errS, len(sig))
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Error("the signature does not verify with the published key")
	}
}
