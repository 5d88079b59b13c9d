package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// BackendTLS is the TLS a backend is reached with: a CA bundle to trust
// (env <X>_CA_FILE) and, for mutual TLS, the facade's client certificate and
// key (env <X>_CLIENT_CERT, <X>_CLIENT_KEY; PEM files).
type BackendTLS struct {
	CAFile, CertFile, KeyFile string
}

func tlsFromEnv(getenv func(string) string, prefix string) (BackendTLS, error) {
	t := BackendTLS{CAFile: getenv(prefix + "_CA_FILE"), CertFile: getenv(prefix + "_CLIENT_CERT"), KeyFile: getenv(prefix + "_CLIENT_KEY")}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return t, fmt.Errorf("%s_CLIENT_CERT and %s_CLIENT_KEY go together", prefix, prefix)
	}
	return t, nil
}

// config builds the tls.Config, or nil when nothing is configured. TLS 1.2
// is the floor, as the NHS API platform requires.
func (t BackendTLS) config() (*tls.Config, error) {
	if t.CAFile == "" && t.CertFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA file holds no PEM certificate")
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			// The key file's content is never echoed.
			return nil, fmt.Errorf("load the client certificate and key: invalid or unreadable PEM")
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
