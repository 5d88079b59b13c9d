package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// cdsOptions are the -cds mode's: a CDS client JWT (CDS Hooks 2.0 §Trusting
// CDS Clients) for one call to a CDS Hooks endpoint of the facade, signed
// either with the local test issuer's key file (the facade trusts that
// issuer as a development EHR) or with a private JWK of a client named in
// CDS_CLIENTS (e.g. the CDS Hooks specification's example key).
type cdsOptions struct {
	aud, jwkFile, iss, jku, tenant string
}

// defaultCDSService is the facade's patient-view service path.
const defaultCDSService = "/cds-services/ncrs-alerts"

// cdsTTL is a CDS client JWT's default lifetime: one call, with margin.
const cdsTTL = 5 * time.Minute

// mintCDS returns a CDS client JWT: iss, aud, exp, iat, jti (and tenant),
// header alg, kid, typ JWT (and jku).
func mintCDS(o options) (string, error) {
	c := o.cds
	aud := c.aud
	if aud == "" {
		u, err := url.JoinPath(o.url, defaultCDSService)
		if err != nil {
			return "", fmt.Errorf("bad -url: %w", err)
		}
		aud = u
	}
	var key crypto.Signer
	var alg jose.SignatureAlgorithm
	var kid, iss string
	switch {
	case c.jwkFile != "" && o.keyFile != "":
		return "", errors.New("-cds: give -key-file (the local test issuer) or -cds-key (a client's private JWK), not both")
	case c.jwkFile != "":
		if c.iss == "" {
			return "", errors.New("-cds-key needs -iss: the issuer the facade's CDS_CLIENTS trusts the key for")
		}
		var err error
		key, alg, kid, err = loadPrivateJWK(c.jwkFile)
		if err != nil {
			return "", err
		}
		iss = c.iss
	case o.keyFile != "":
		var err error
		key, kid, iss, err = loadIssuerKey(o.keyFile)
		if err != nil {
			return "", err
		}
		alg = jose.ES256
		if c.iss != "" && c.iss != iss {
			return "", fmt.Errorf("-iss %q is not the key file's issuer %q", c.iss, iss)
		}
	default:
		return "", errors.New("-cds needs a signing key: -key-file <the facade's AUTH_DEV_KEY_FILE> or -cds-key <private JWK> -iss <issuer>")
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	if c.jku != "" {
		opts = opts.WithHeader("jku", c.jku)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", err
	}
	ttl := o.ttl
	if ttl <= 0 {
		ttl = cdsTTL
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := time.Now()
	claims := map[string]any{"iss": iss, "aud": aud, "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": hex.EncodeToString(jti)}
	if c.tenant != "" {
		claims["tenant"] = c.tenant
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

// loadPrivateJWK reads a private JWK (EC or RSA) and the algorithm it
// signs with: its alg, else ES256/ES384/ES512 by curve, RS384 for RSA.
func loadPrivateJWK(path string) (crypto.Signer, jose.SignatureAlgorithm, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", "", err
	}
	var k jose.JSONWebKey
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, "", "", fmt.Errorf("%s: not a JWK: %w", path, err)
	}
	if k.IsPublic() {
		return nil, "", "", fmt.Errorf("%s: a public key cannot sign: give the client's private JWK", path)
	}
	if k.KeyID == "" {
		return nil, "", "", fmt.Errorf("%s: the JWK has no kid (CDS Hooks requires one in the JWT header)", path)
	}
	alg := jose.SignatureAlgorithm(k.Algorithm)
	switch key := k.Key.(type) {
	case *ecdsa.PrivateKey:
		if alg == "" {
			alg = map[elliptic.Curve]jose.SignatureAlgorithm{elliptic.P256(): jose.ES256, elliptic.P384(): jose.ES384, elliptic.P521(): jose.ES512}[key.Curve]
		}
		return key, alg, k.KeyID, nil
	case *rsa.PrivateKey:
		if alg == "" {
			alg = jose.RS384
		}
		return key, alg, k.KeyID, nil
	}
	return nil, "", "", fmt.Errorf("%s: %T is not an EC or RSA private key", path, k.Key)
}

// loadIssuerKey reads the local test issuer's key file (its issuer, kid
// and PKCS #8 key), refusing one others may read.
func loadIssuerKey(path string) (crypto.Signer, string, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, "", "", fmt.Errorf("key file %s has mode %v: it must be readable by its owner only (0600)", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", "", err
	}
	var kf struct {
		Issuer     string `json:"issuer"`
		KeyID      string `json:"kid"`
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, "", "", fmt.Errorf("key file %s: %w", path, err)
	}
	block, _ := pem.Decode([]byte(kf.PrivateKey))
	if block == nil {
		return nil, "", "", fmt.Errorf("key file %s holds no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, "", "", fmt.Errorf("key file %s: %w", path, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || kf.Issuer == "" || kf.KeyID == "" {
		return nil, "", "", fmt.Errorf("key file %s is not the local test issuer's", path)
	}
	return ec, kf.KeyID, kf.Issuer, nil
}
