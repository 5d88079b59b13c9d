// Package upstream is the HTTP plumbing every backend client shares: one
// pooled http.Client per backend, the NHS API platform headers (X-Request-ID
// per call, X-Correlation-ID from the facade's request, bearer token), a
// per-call timeout, a bounded body read, metrics, and the categorisation of
// transport failures. It knows nothing of FHIR REST.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// DefaultTimeout bounds one backend call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultMaxBody bounds the bytes read from one backend response.
const DefaultMaxBody = 8 << 20

// Config configures the client of one backend.
type Config struct {
	// Name labels metrics and errors ("pds").
	Name string
	// BaseURL is the service's base, e.g. https://sandbox.api.service.nhs.uk/personal-demographics/FHIR/R4.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>" when non-empty. It is
	// never logged.
	Token string
	// Timeout bounds each call; DefaultTimeout when zero.
	Timeout time.Duration
	// MaxBody bounds the response body read; DefaultMaxBody when zero.
	MaxBody int64
	// Header is sent on every call (e.g. NHSD-End-User-Organisation-ODS).
	Header http.Header
	// Transport overrides the pooled transport (tests).
	Transport http.RoundTripper
}

// Client calls one backend.
type Client struct {
	cfg     Config
	base    *url.URL
	http    *http.Client
	metrics *Metrics
}

// New returns a client for cfg; m may be nil (no metrics).
func New(cfg Config, m *Metrics) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("upstream %s: invalid base URL", cfg.Name)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	rt := cfg.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   128,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	return &Client{cfg: cfg, base: base, http: &http.Client{Transport: rt}, metrics: m}, nil
}

// Name is the backend's name.
func (c *Client) Name() string { return c.cfg.Name }

// Request is one call to the backend.
type Request struct {
	Method string
	// Path is appended to the base URL ("/Patient/9000000009"); it must be
	// already escaped where needed.
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Op labels metrics ("read", "search").
	Op string
}

// Response is a backend's answer, body fully read (bounded).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// IsJSON reports whether the response declares a JSON media type.
func (r *Response) IsJSON() bool {
	ct := r.Header.Get("Content-Type")
	return strings.Contains(ct, "json")
}

type correlationKey struct{}

// WithCorrelationID returns ctx carrying the facade's request id, sent to
// backends as X-Correlation-ID so one request can be traced across services.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the id set by WithCorrelationID, or "".
func CorrelationID(ctx context.Context) string {
	s, _ := ctx.Value(correlationKey{}).(string)
	return s
}

// Do performs req. Transport failures and timeouts come back as
// *fhirerr.Error (BadGateway, Timeout); any HTTP status is a Response for the
// backend client to interpret.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	resp, err := c.do(ctx, req)
	if c.metrics != nil {
		outcome := "ok"
		status := "error"
		switch {
		case err != nil:
			outcome = "transport_error"
			if fhirerr.CategoryOf(err) == fhirerr.Timeout {
				outcome = "timeout"
			}
		case resp.Status >= 500:
			outcome = "server_error"
		case resp.Status == 429:
			outcome = "throttled"
		case resp.Status >= 400:
			outcome = "client_error"
		}
		if resp != nil {
			status = fmt.Sprint(resp.Status)
		}
		c.metrics.observe(c.cfg.Name, req.Op, status, outcome, time.Since(start))
	}
	return resp, err
}

func (c *Client) do(ctx context.Context, req Request) (*Response, error) {
	u := *c.base
	u.Path = c.base.Path + req.Path
	u.RawPath = ""
	if len(req.Query) > 0 {
		u.RawQuery = req.Query.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return nil, &fhirerr.Error{Category: fhirerr.Internal, Backend: c.cfg.Name, Message: "could not build backend request", Err: redact(err, &u)}
	}
	// Keys are canonicalised so that the Get/Set below see a caller's
	// "X-Request-ID" (the spec's spelling) and do not add a second one.
	for k, vs := range c.cfg.Header {
		hr.Header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	for k, vs := range req.Header {
		hr.Header[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	if hr.Header.Get("Accept") == "" {
		hr.Header.Set("Accept", "application/fhir+json")
	}
	if hr.Header.Get("X-Request-ID") == "" {
		hr.Header.Set("X-Request-ID", uuid.NewString())
	}
	if id := CorrelationID(ctx); id != "" {
		hr.Header.Set("X-Correlation-ID", id)
	}
	if c.cfg.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, c.transportError(ctx, err, &u)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, c.cfg.MaxBody+1))
	if err != nil {
		return nil, c.transportError(ctx, err, &u)
	}
	if int64(len(b)) > c.cfg.MaxBody {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service sent a response larger than allowed"}
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// transportError categorises a failed call to u. The cause keeps the
// original error for errors.Is/As, but its message names no URL, host or
// port: the URL may hold an NHS number or search terms, and a *url.Error or
// *net.OpError would print it.
func (c *Client) transportError(ctx context.Context, err error, u *url.URL) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	cause := redact(err, u)
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
		return &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service did not answer in time", Err: cause}
	}
	if errors.Is(err, context.Canceled) {
		return &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the request was cancelled before the " + c.cfg.Name + " service answered", Err: cause}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service did not answer in time", Err: cause}
	}
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service could not be reached", Err: cause}
}

// redactedError is an error whose message has been cleaned of addresses; it
// unwraps to the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with a message that names no part of u, nor any
// network address.
func redact(err error, u *url.URL) error {
	msg := describe(err)
	// Backstop for error types describe does not know (TLS certificate
	// errors name the host, parse errors quote the URL).
	var parts []string
	for _, p := range []string{u.String(), u.EscapedPath(), u.Path, u.RawQuery, u.Host, u.Hostname()} {
		if p != "" && p != "/" {
			parts = append(parts, p, "[redacted]")
		}
	}
	if port := u.Port(); port != "" {
		parts = append(parts, ":"+port, ":[redacted]")
	}
	return &redactedError{msg: strings.NewReplacer(parts...).Replace(msg), err: err}
}

// describe prints err without the addresses that *url.Error, *net.OpError
// and *net.DNSError put in their messages.
func describe(err error) string {
	switch e := err.(type) {
	case *url.Error:
		return describe(e.Err)
	case *net.OpError:
		return e.Op + ": " + describe(e.Err)
	case *net.DNSError:
		return "lookup: " + e.Err
	case *net.AddrError:
		return e.Err
	}
	return err.Error()
}

// RetryAfter parses a Retry-After header: delay-seconds (digits only) or an
// HTTP-date (RFC 9110 §10.2.3). It is zero when the header is absent,
// malformed, in the past, or too large for a time.Duration.
func RetryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(math.MaxInt64/time.Second) {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
