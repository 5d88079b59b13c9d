package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/carerecords/fhir-facade/model/jsondup"
)

// The signature algorithms the facade can verify (RFC 7518 §3.1). HMAC and
// "none" are deliberately absent: a verifier holding only public keys must
// never accept a MAC keyed with one of them.
const (
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 bits or more
	ES256 = "ES256" // ECDSA on P-256 with SHA-256
)

// jws is a parsed compact JWS whose signature is not yet verified.
type jws struct {
	alg, kid     string
	claims       map[string]json.RawMessage
	signingInput []byte
	signature    []byte
}

var b64 = base64.RawURLEncoding.Strict()

// parseCompact splits and decodes a compact JWS (RFC 7515 §7.1). It checks
// structure only: three non-empty base64url segments, a JSON object header
// with a string alg and no crit, a JSON object payload, no duplicate member
// names, valid UTF-8.
func parseCompact(raw string) (*jws, *AuthError) {
	malformed := func(d string) *AuthError { return invalidToken(ReasonMalformed, d) }
	// The base64 decoder skips CR and LF; refusing every byte outside the
	// base64url alphabet keeps one token from having several spellings.
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, malformed("the token is not valid base64url")
		}
	}
	h, rest, ok1 := strings.Cut(raw, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s, '.') >= 0 {
		return nil, malformed("the token is not a JWS in compact serialisation (three dot-separated parts)")
	}
	if h == "" || p == "" || s == "" {
		return nil, malformed("the token has an empty header, payload or signature")
	}
	hb, err1 := b64.DecodeString(h)
	pb, err2 := b64.DecodeString(p)
	sig, err3 := b64.DecodeString(s)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, malformed("the token is not valid base64url")
	}
	header, err := decodeObject(hb)
	if err != nil {
		return nil, malformed("the token header is not a JSON object")
	}
	var t jws
	if err := json.Unmarshal(header["alg"], &t.alg); err != nil || t.alg == "" {
		return nil, malformed("the token header has no alg")
	}
	if k, ok := header["kid"]; ok {
		if err := json.Unmarshal(k, &t.kid); err != nil {
			return nil, malformed("the token header's kid is not a string")
		}
	}
	if typ, ok := header["typ"]; ok {
		var v string
		if err := json.Unmarshal(typ, &v); err != nil || !acceptableTyp(v) {
			return nil, malformed("the token header's typ is not JWT or at+jwt")
		}
	}
	if _, ok := header["crit"]; ok {
		return nil, malformed("the token header has critical extensions this service does not understand")
	}
	if _, ok := header["enc"]; ok {
		return nil, malformed("encrypted tokens (JWE) are not accepted")
	}
	t.claims, err = decodeObject(pb)
	if err != nil {
		return nil, malformed("the token payload is not a JSON object")
	}
	t.signingInput = []byte(raw[:len(h)+1+len(p)])
	t.signature = sig
	return &t, nil
}

func acceptableTyp(v string) bool {
	switch strings.ToLower(v) {
	case "jwt", "at+jwt", "application/jwt", "application/at+jwt":
		return true
	}
	return false
}

// decodeObject decodes a JSON object into its members, refusing invalid
// UTF-8, duplicate member names at any depth (which parsers resolve
// differently; jsondup is the check FHIR resource bodies get too, so the two
// cannot disagree), nesting deeper than jsondup.MaxDepth and trailing data.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("invalid UTF-8")
	}
	if err := jsondup.Check(b); err != nil {
		return nil, err
	}
	// Check has seen one JSON value: its first byte says what it is.
	if bytes.TrimLeft(b, " \t\r\n")[0] != '{' {
		return nil, errors.New("not an object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// keyFits reports whether k may verify a token signed with alg: the
// algorithm is bound to the key type (RS256 to RSA, ES256 to P-256), and to
// the JWK's own alg and use when it states them.
func keyFits(alg string, k JWK) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	switch alg {
	case RS256:
		_, ok := k.Key.(*rsa.PublicKey)
		return ok
	case ES256:
		pub, ok := k.Key.(*ecdsa.PublicKey)
		return ok && pub.Curve == elliptic.P256()
	}
	return false
}

// verifySignature checks sig over input with key under alg. The caller has
// checked keyFits.
func verifySignature(alg string, key crypto.PublicKey, input, sig []byte) bool {
	digest := sha256.Sum256(input)
	switch alg {
	case RS256:
		pub, ok := key.(*rsa.PublicKey)
		if !ok || len(sig) != pub.Size() {
			return false
		}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	case ES256:
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() || len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, digest[:], r, s)
	}
	return false
}

// Claim accessors. Each returns present=false when the claim is absent or
// JSON null, and an error when it is present with the wrong type.

var errClaimType = errors.New("wrong type")

func claimString(c map[string]json.RawMessage, name string) (string, bool, error) {
	raw, ok := c[name]
	if !ok || string(raw) == "null" {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, errClaimType
	}
	return s, true, nil
}

// claimStrings accepts a string (split on spaces when split is set, else one
// value) or an array of strings.
func claimStrings(c map[string]json.RawMessage, name string, split bool) ([]string, bool, error) {
	raw, ok := c[name]
	if !ok || string(raw) == "null" {
		return nil, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if split {
			return strings.Fields(s), true, nil
		}
		return []string{s}, true, nil
	}
	var a []string
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, true, errClaimType
	}
	return a, true, nil
}

// maxNumericDate is 9999-12-31T23:59:59Z: later dates are nonsense.
const maxNumericDate = 253402300799

// claimTime decodes a NumericDate (RFC 7519 §2): a JSON number of seconds
// since the epoch, possibly fractional.
func claimTime(c map[string]json.RawMessage, name string) (time.Time, bool, error) {
	raw, ok := c[name]
	if !ok || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	var n json.Number
	if len(raw) == 0 || raw[0] == '"' {
		return time.Time{}, true, errClaimType
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}, true, errClaimType
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, errClaimType
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true, nil
}
