package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// JWK is one public verification key of a JSON Web Key Set (RFC 7517).
type JWK struct {
	KeyID string
	// Algorithm is the JWK's "alg", or "" when it does not say; when set,
	// the key verifies only tokens signed with that algorithm.
	Algorithm string
	// Use is the JWK's "use": "sig" or "".
	Use string
	// Key is an *rsa.PublicKey (2048 to 4096 bits) or an *ecdsa.PublicKey on P-256.
	Key crypto.PublicKey
}

// KeySet is a parsed JSON Web Key Set holding only the keys this package can
// use: RSA and P-256 EC public keys meant for signatures. Symmetric ("oct")
// keys, other curves, encryption keys and private parts are ignored.
type KeySet struct {
	keys []JWK
}

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// maxRSABits is the largest: go-jose's jose.MaxRSAModulusBits, above which
// it refuses a JWK (verifying with a huge modulus costs the verifier dearly).
const maxRSABits = 4096

// NewKeySet returns a KeySet of keys, refusing a key of a type or size this
// package does not verify with.
func NewKeySet(keys ...JWK) (*KeySet, error) {
	for _, k := range keys {
		if !usableKey(k.Key) {
			return nil, fmt.Errorf("auth: key %q: not an RSA key of %d-%d bits or a P-256 EC key", k.KeyID, MinRSABits, maxRSABits)
		}
	}
	return &KeySet{keys: append([]JWK(nil), keys...)}, nil
}

func usableKey(k crypto.PublicKey) bool {
	switch pub := k.(type) {
	case *rsa.PublicKey:
		return pub.N != nil && pub.N.BitLen() >= MinRSABits && pub.N.BitLen() <= maxRSABits &&
			pub.E > 1 && pub.E%2 == 1 && int64(pub.E) <= math.MaxUint32
	case *ecdsa.PublicKey:
		return pub.Curve == elliptic.P256()
	}
	return false
}

// Keys returns a copy of the set's keys.
func (s *KeySet) Keys() []JWK {
	if s == nil {
		return nil
	}
	return append([]JWK(nil), s.keys...)
}

// Lookup returns the keys whose kid is kid, or every key when kid is "".
func (s *KeySet) Lookup(kid string) []JWK {
	if s == nil {
		return nil
	}
	if kid == "" {
		return s.Keys()
	}
	var out []JWK
	for _, k := range s.keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// KeysFor implements KeySource for an in-process key set.
func (s *KeySet) KeysFor(_ context.Context, kid string) ([]JWK, error) {
	return s.Lookup(kid), nil
}

// ParseKeySet parses a JWKS document ({"keys":[…]}) with go-jose. Keys it
// cannot use (see KeySet) are skipped; an RSA or EC key that is malformed is
// an error, so a broken publisher is noticed rather than silently
// half-trusted.
func ParseKeySet(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`auth: jwks: no "keys" array`)
	}
	set := &KeySet{}
	for n, raw := range doc.Keys {
		// Which keys to skip is decided on these members before go-jose
		// parses the key: it refuses a key type or curve it does not know,
		// where RFC 7517 §5 has a set's reader ignore such keys.
		var k struct {
			Kty string `json:"kty"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			Crv string `json:"crv"`
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("auth: jwks: key %d: %w", n, err)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == RS256):
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == ES256):
		default:
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("auth: jwks: key %d: %w", n, err)
		}
		pub := jwk.Public() // a private part left in by the publisher is dropped
		if !usableKey(pub.Key) {
			return nil, fmt.Errorf("auth: jwks: key %d: not an RSA key of %d-%d bits with an odd 32-bit exponent, nor a P-256 key", n, MinRSABits, maxRSABits)
		}
		set.keys = append(set.keys, JWK{KeyID: pub.KeyID, Algorithm: pub.Algorithm, Use: pub.Use, Key: pub.Key})
	}
	return set, nil
}

// KeySource yields an issuer's verification keys. KeysFor returns the keys
// with key id kid (all keys when kid is ""); an empty result means no such
// key; an error means the keys could not be had at all.
type KeySource interface {
	KeysFor(ctx context.Context, kid string) ([]JWK, error)
}

var (
	_ KeySource = (*KeySet)(nil)
	_ KeySource = (*RemoteKeySet)(nil)
)

// RemoteKeySetOptions tune a RemoteKeySet; zero values take the defaults.
type RemoteKeySetOptions struct {
	// Client fetches the JWKS. Default: a client with a 5 s timeout that
	// follows no redirects.
	Client *http.Client
	// TTL is how long a fetched set is used before it is fetched again.
	// Default 10 minutes.
	TTL time.Duration
	// MinRefresh is the least time between two fetches, however many tokens
	// with unknown key ids arrive: it stops such tokens from turning the
	// facade into a flood against the issuer. Default 30 seconds.
	MinRefresh time.Duration
	// MaxStale is how long past TTL a set is still used while fetching fails.
	// Default 1 hour.
	MaxStale time.Duration
	// MaxBytes bounds the JWKS document. Default 256 KiB.
	MaxBytes int64
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RemoteKeySet is a KeySource fetching an issuer's JWKS over HTTP: fetched on
// first use, cached for TTL, fetched again early when a token names an
// unknown kid (at most once per MinRefresh), and kept for MaxStale past its
// TTL while the issuer cannot be reached.
type RemoteKeySet struct {
	url  string
	opts RemoteKeySetOptions

	fetchMu sync.Mutex // one fetch at a time

	mu        sync.RWMutex
	set       *KeySet
	fetchedAt time.Time // when set was fetched
	triedAt   time.Time // when the last fetch, good or bad, started
	lastErr   error
	fetches   int
}

// ValidateJWKSURL refuses a JWKS URL that is not https, except http to a
// loopback address (tests, the embedded default).
func ValidateJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("auth: jwks_uri %q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("auth: jwks_uri %q must be https (http only to a loopback address)", raw)
}

// NewRemoteKeySet returns a RemoteKeySet for the JWKS at url (see
// ValidateJWKSURL). It fetches nothing yet.
func NewRemoteKeySet(url string, opts RemoteKeySetOptions) (*RemoteKeySet, error) {
	if err := ValidateJWKSURL(url); err != nil {
		return nil, err
	}
	if opts.Client == nil {
		opts.Client = &http.Client{
			Timeout: 5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.MinRefresh <= 0 {
		opts.MinRefresh = 30 * time.Second
	}
	if opts.MaxStale <= 0 {
		opts.MaxStale = time.Hour
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &RemoteKeySet{url: url, opts: opts}, nil
}

// Fetches returns how many fetches have been started, for tests and metrics.
func (r *RemoteKeySet) Fetches() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.fetches
}

// KeysFor returns the keys with key id kid, fetching the JWKS when there is
// none yet, when it is older than TTL, or when kid is unknown and the last
// fetch is older than MinRefresh.
func (r *RemoteKeySet) KeysFor(ctx context.Context, kid string) ([]JWK, error) {
	if keys, done, err := r.cached(kid); done {
		return keys, err
	}
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	// Another caller may have fetched while this one waited.
	if keys, done, err := r.cached(kid); done {
		return keys, err
	}
	now := r.opts.Now()
	r.mu.Lock()
	r.triedAt = now
	r.fetches++
	r.mu.Unlock()

	// The fetch serves every caller waiting on fetchMu, so one client that
	// hangs up must not make it fail for all; the client's timeout bounds it.
	set, err := r.fetch(context.WithoutCancel(ctx))

	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.lastErr = err
		if r.set != nil && now.Sub(r.fetchedAt) < r.opts.TTL+r.opts.MaxStale {
			return r.set.Lookup(kid), nil
		}
		return nil, err
	}
	r.set, r.fetchedAt, r.lastErr = set, now, nil
	return set.Lookup(kid), nil
}

// cached answers from the cache when no fetch is due (done=true).
func (r *RemoteKeySet) cached(kid string) (keys []JWK, done bool, err error) {
	now := r.opts.Now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	recentlyTried := !r.triedAt.IsZero() && now.Sub(r.triedAt) < r.opts.MinRefresh
	if r.set == nil {
		if recentlyTried && r.lastErr != nil {
			return nil, true, r.lastErr // failing: do not hammer the issuer
		}
		return nil, false, nil
	}
	fresh := now.Sub(r.fetchedAt) < r.opts.TTL
	usable := now.Sub(r.fetchedAt) < r.opts.TTL+r.opts.MaxStale
	keys = r.set.Lookup(kid)
	switch {
	case fresh && len(keys) > 0:
		return keys, true, nil
	case recentlyTried && usable:
		return keys, true, nil // unknown kid or stale, but refreshed a moment ago
	case recentlyTried:
		return nil, true, r.lastErr
	}
	return nil, false, nil
}

func (r *RemoteKeySet) fetch(ctx context.Context) (*KeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := r.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		return nil, fmt.Errorf("auth: jwks: %s answered %d", r.url, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, r.opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: reading %s: %w", r.url, err)
	}
	if int64(len(body)) > r.opts.MaxBytes {
		return nil, fmt.Errorf("auth: jwks: %s is larger than %d bytes", r.url, r.opts.MaxBytes)
	}
	set, err := ParseKeySet(body)
	if err != nil {
		return nil, err
	}
	if len(set.keys) == 0 {
		return nil, fmt.Errorf("auth: jwks: %s holds no usable signing key", r.url)
	}
	return set, nil
}
