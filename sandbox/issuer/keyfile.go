package issuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// keyFile is what Config.KeyFile holds: enough to mint tokens the running
// facade accepts.
type keyFile struct {
	Issuer     string `json:"issuer"`
	Audience   string `json:"audience"`
	KeyID      string `json:"kid"`
	PrivateKey string `json:"private_key"` // PKCS #8 PEM
}

// writeKeyFile writes the key file atomically with mode 0600.
func (i *Issuer) writeKeyFile(path string) error {
	der, err := x509.MarshalPKCS8PrivateKey(i.key)
	if err != nil {
		return fmt.Errorf("issuer: key file: %w", err)
	}
	data, err := json.MarshalIndent(keyFile{
		Issuer: i.url, Audience: i.audience, KeyID: i.kid,
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".issuer-key-*") // created 0600
	if err != nil {
		return fmt.Errorf("issuer: key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("issuer: key file: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("issuer: key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("issuer: key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("issuer: key file: %w", err)
	}
	return nil
}

// LoadKeyFile returns an Issuer that mints with the key a running issuer
// wrote to path (Config.KeyFile), for cmd/token. It refuses a file that
// anyone but its owner may read or write. The returned Issuer has the
// default dev roles and clients; now may be nil.
func LoadKeyFile(path string, now func() time.Time) (*Issuer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("issuer: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("issuer: key file %s has mode %v: it must be readable by its owner only (0600)", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("issuer: key file: %w", err)
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("issuer: key file %s: %w", path, err)
	}
	block, _ := pem.Decode([]byte(kf.PrivateKey))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("issuer: key file %s: no PKCS #8 private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("issuer: key file %s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("issuer: key file: not a P-256 key")
	}
	i, err := newIssuer(Config{URL: kf.Issuer, Audience: kf.Audience, Now: now}, key)
	if err != nil {
		return nil, err
	}
	if i.kid != kf.KeyID {
		return nil, fmt.Errorf("issuer: key file %s: kid does not match the key", path)
	}
	return i, nil
}
