package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/carerecords/fhir-facade/model/jsondup"
)

// The signature algorithms the facade can verify (RFC 7518 §3.1). HMAC and
// "none" are deliberately absent: a verifier holding only public keys must
// never accept a MAC keyed with one of them.
const (
	RS256 = string(jose.RS256) // RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 to 4096 bits
	ES256 = string(jose.ES256) // ECDSA on P-256 with SHA-256
)

// jws is a parsed compact JWS whose signature is not yet verified.
type jws struct {
	alg, kid string
	claims   map[string]json.RawMessage
	obj      *jose.JSONWebSignature
}

// parseCompact parses a compact JWS (RFC 7515 §7.1) with go-jose, allowing
// only the algorithms in algs. Around go-jose it keeps the refusals go-jose
// does not make, so that a token has exactly one spelling and one reading:
// bytes outside the base64url alphabet (go-jose strips white space and its
// decoder skips CR and LF), non-canonical base64url (non-zero trailing bits),
// empty parts, duplicate member names in the header or payload (which JSON
// parsers resolve differently; jsondup is the check FHIR bodies get too),
// invalid UTF-8, a header or payload that is not a JSON object, a crit or enc
// header, and a typ other than JWT or at+jwt. An alg outside algs is
// ReasonAlgorithm; every other refusal is ReasonMalformed.
func parseCompact(raw string, algs []jose.SignatureAlgorithm, allowed map[string]bool) (*jws, *AuthError) {
	malformed := func(d string) *AuthError { return invalidToken(ReasonMalformed, d) }
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
	if !canonicalB64(h) || !canonicalB64(p) || !canonicalB64(s) {
		return nil, malformed("the token is not valid base64url")
	}
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
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
	// Checked here, not left to go-jose's allow-list, to tell an algorithm
	// refusal from a malformed token; go-jose enforces the same list below.
	if !allowed[t.alg] {
		return nil, invalidToken(ReasonAlgorithm, "the token's signature algorithm is not accepted")
	}
	t.obj, err = jose.ParseSignedCompact(raw, algs)
	if err != nil || len(t.obj.Signatures) != 1 {
		// e.g. an embedded jwk that is not a public key, or an x5c that is
		// not a certificate chain.
		return nil, malformed("the token is not a valid JWS")
	}
	t.claims, err = decodeObject(t.obj.UnsafePayloadWithoutVerification())
	if err != nil {
		return nil, malformed("the token payload is not a JSON object")
	}
	return &t, nil
}

// canonicalB64 reports whether s, already known to be in the base64url
// alphabet, is unpadded base64url of a length that decodes and whose unused
// trailing bits are zero: the one spelling of its bytes. (Go's non-strict
// decoder, which go-jose uses, accepts other spellings.)
func canonicalB64(s string) bool {
	var mask byte
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		mask = 0x0f
	case 3:
		mask = 0x03
	default:
		return true
	}
	c := s[len(s)-1]
	var v byte
	switch {
	case c >= 'A' && c <= 'Z':
		v = c - 'A'
	case c >= 'a' && c <= 'z':
		v = c - 'a' + 26
	case c >= '0' && c <= '9':
		v = c - '0' + 52
	case c == '-':
		v = 62
	default:
		v = 63
	}
	return v&mask == 0
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
// the JWK's own alg and use when it states them. go-jose enforces the key
// type too, but answers a mismatch as a failed signature; checking first
// tells the client which it is.
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
