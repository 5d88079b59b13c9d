package cdshooks

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/carerecords/fhir-facade/auth"
)

// Client is one CDS client (an EHR) the service trusts: the issuer of its
// JWTs, where its public keys are, and the registration the facade's own
// authorisation of its calls is made from.
type Client struct {
	// Issuer is the exact iss of its JWTs.
	Issuer string
	// Keys is its JWK Set: a file read at start, a URL fetched (and
	// refreshed), or an in-process set (the local test issuer's).
	Keys KeySource
	// JKU are the jku header values honoured for this client: a JWT naming
	// any other jku is refused (CDS Hooks 2.0 §Trusting CDS Clients: "an
	// allowlist of iss and jku urls"). The client's own JWKS URL is always
	// among them.
	JKU []string
	// Role is the NHS national RBAC role its calls are authorised as
	// (default auth.RoleClinicalPractitioner); RoleProfileID (digits,
	// optional) and OrgODS the role profile and organisation sent to the
	// national services and written in the audit trail.
	Role, RoleProfileID, OrgODS string
	// Name names the client in logs ("" is its issuer).
	Name string
	// FHIRServers are the client's own FHIR servers (base URLs) the service
	// may call, when a hook call names one as fhirServer, to read the
	// Patient of a local patient id: a fhirServer equal to one, or under
	// one's path. None: fhirServer is never called. See ehr.go.
	FHIRServers []string
	// FHIRClientID is the service's client id at the client's
	// authorization server: fhirAuthorization.subject must be it ("": any
	// subject is taken).
	FHIRClientID string
}

// KeySource yields a client's verification keys with key id kid.
type KeySource interface {
	KeysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error)
}

// ParseClients reads CDS_CLIENTS: entries separated by commas (or
// newlines), each
//
//	<issuer>=<JWKS URL or JWKS file>[;role=R8000][;org=Y05868][;urid=555254240100][;jku=<URL>]…[;fhir=<FHIR base URL>]…[;fhir_client_id=<id>]
//
// The issuer is everything before the first "=". A source starting with
// https:// (or http:// to a loopback address) is fetched; anything else is
// a file holding a JWK Set, read now. jku and fhir may repeat.
func ParseClients(spec string, fetch *http.Client) ([]Client, error) {
	var out []Client
	seen := map[string]bool{}
	for _, entry := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.Split(entry, ";")
		iss, src, ok := strings.Cut(parts[0], "=")
		iss, src = strings.TrimSpace(iss), strings.TrimSpace(src)
		if !ok || iss == "" || src == "" {
			return nil, fmt.Errorf("CDS_CLIENTS: %q is not <issuer>=<JWKS URL or file>", parts[0])
		}
		if seen[iss] {
			return nil, fmt.Errorf("CDS_CLIENTS: issuer %q is named twice", iss)
		}
		seen[iss] = true
		c := Client{Issuer: iss, Role: auth.RoleClinicalPractitioner}
		for _, opt := range parts[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(opt), "=")
			if !ok || v == "" {
				return nil, fmt.Errorf("CDS_CLIENTS: %s: option %q is not key=value", iss, opt)
			}
			switch strings.ToLower(k) {
			case "role":
				c.Role = v
			case "org":
				c.OrgODS = v
			case "urid":
				c.RoleProfileID = v
			case "name":
				c.Name = v
			case "jku":
				if err := validKeyURL(v); err != nil {
					return nil, fmt.Errorf("CDS_CLIENTS: %s: jku: %w", iss, err)
				}
				c.JKU = append(c.JKU, v)
			case "fhir":
				norm, err := NormalizeFHIRServer(v)
				if err != nil {
					return nil, fmt.Errorf("CDS_CLIENTS: %s: fhir: %w", iss, err)
				}
				c.FHIRServers = append(c.FHIRServers, norm)
			case "fhir_client_id":
				c.FHIRClientID = v
			default:
				return nil, fmt.Errorf("CDS_CLIENTS: %s: unknown option %q (role, org, urid, name, jku, fhir, fhir_client_id)", iss, k)
			}
		}
		if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
			r, err := NewRemoteKeys(src, fetch)
			if err != nil {
				return nil, fmt.Errorf("CDS_CLIENTS: %s: %w", iss, err)
			}
			c.Keys = r
			if !slices.Contains(c.JKU, src) {
				c.JKU = append(c.JKU, src)
			}
		} else {
			data, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("CDS_CLIENTS: %s: %w", iss, err)
			}
			ks, err := ParseKeySet(data)
			if err != nil {
				return nil, fmt.Errorf("CDS_CLIENTS: %s: %s: %w", iss, src, err)
			}
			c.Keys = ks
		}
		out = append(out, c)
	}
	return out, nil
}

// StaticKeys is a JWK Set held in memory.
type StaticKeys struct{ keys []jose.JSONWebKey }

// ParseKeySet reads a JWK Set, keeping the public signature keys this
// service verifies with: RSA of 2048 bits or more, EC on P-256, P-384 or
// P-521. Private parts are dropped; symmetric keys are refused outright
// (a CDS client never shares a secret with the service).
func ParseKeySet(data []byte) (*StaticKeys, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub := k.Public()
		if !pub.Valid() {
			return nil, fmt.Errorf("key %q is not an asymmetric public key", k.KeyID)
		}
		switch p := pub.Key.(type) {
		case *rsa.PublicKey:
			if p.N.BitLen() < 2048 {
				return nil, fmt.Errorf("key %q: RSA below 2048 bits", k.KeyID)
			}
		case *ecdsa.PublicKey:
		default:
			return nil, fmt.Errorf("key %q: %T is not an RSA or EC key", k.KeyID, pub.Key)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWK Set holds no signature key")
	}
	return &StaticKeys{keys: keys}, nil
}

// NewStaticKeys makes a key source of public keys (the local test
// issuer's, in development).
func NewStaticKeys(keys ...jose.JSONWebKey) *StaticKeys { return &StaticKeys{keys: keys} }

// KeysFor implements KeySource.
func (s *StaticKeys) KeysFor(_ context.Context, kid string) ([]jose.JSONWebKey, error) {
	return lookup(s.keys, kid), nil
}

func lookup(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// validKeyURL accepts https, or http to a loopback address (tests, dev).
func validKeyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("%q must be https (http only to a loopback address)", raw)
}

// RemoteKeys is a JWK Set fetched from a URL: cached for keyTTL, fetched
// again early for an unknown kid at most once per keyMinRefresh, and kept
// while the URL fails (a client's key host blinking must not refuse every
// call).
type RemoteKeys struct {
	url    string
	client *http.Client
	now    func() time.Time

	fetchMu sync.Mutex
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time
	tried   time.Time
	lastErr error
}

const (
	keyTTL        = 10 * time.Minute
	keyMinRefresh = 30 * time.Second
	maxJWKSBytes  = 256 << 10
)

// NewRemoteKeys returns the key source of the JWK Set at raw (https, or
// http to loopback); nothing is fetched yet.
func NewRemoteKeys(raw string, client *http.Client) (*RemoteKeys, error) {
	if err := validKeyURL(raw); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second,
			// A redirect could take the fetch to a host nobody allow-listed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &RemoteKeys{url: raw, client: client, now: time.Now}, nil
}

// KeysFor implements KeySource.
func (r *RemoteKeys) KeysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys, done, err := r.cached(kid); done {
		return keys, err
	}
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if keys, done, err := r.cached(kid); done {
		return keys, err
	}
	now := r.now()
	keys, err := r.fetch(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tried = now
	if err != nil {
		r.lastErr = err
		if r.keys != nil {
			return lookup(r.keys, kid), nil
		}
		return nil, err
	}
	r.keys, r.fetched, r.lastErr = keys, now, nil
	return lookup(keys, kid), nil
}

func (r *RemoteKeys) cached(kid string) ([]jose.JSONWebKey, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	recent := !r.tried.IsZero() && now.Sub(r.tried) < keyMinRefresh
	if r.keys == nil {
		if recent {
			return nil, true, r.lastErr
		}
		return nil, false, nil
	}
	keys := lookup(r.keys, kid)
	if len(keys) > 0 && now.Sub(r.fetched) < keyTTL || recent {
		return keys, true, nil
	}
	return nil, false, nil
}

func (r *RemoteKeys) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", r.url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks %s answered %d", r.url, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", r.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks %s is larger than %d bytes", r.url, maxJWKSBytes)
	}
	ks, err := ParseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", r.url, err)
	}
	return ks.keys, nil
}
