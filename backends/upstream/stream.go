package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// DefaultStreamTimeout bounds a whole streamed exchange, body included, when
// StreamOptions.Timeout is zero: long enough for tens of megabytes on a slow
// link, short enough that a stalled holder does not hold a connection for ever.
const DefaultStreamTimeout = 2 * time.Minute

// StreamOptions bound one streamed call.
type StreamOptions struct {
	// HeaderTimeout bounds the wait for the response headers (the backend's
	// think time); the client's Timeout when zero. Exceeding it is a Timeout
	// error.
	HeaderTimeout time.Duration
	// Timeout bounds the whole exchange, body included;
	// DefaultStreamTimeout when zero. When it passes mid-body, reading the
	// body fails.
	Timeout time.Duration
	// MaxBody bounds the body: a larger declared Content-Length fails the
	// call (BadGateway), and reading past MaxBody bytes fails the read. The
	// client's MaxBody when zero.
	MaxBody int64
}

// StreamResponse is a backend's answer whose body is handed over unread.
type StreamResponse struct {
	Status int
	Header http.Header
	// ContentLength is the declared length of the body, -1 when unknown.
	ContentLength int64
	// Body yields the body as it arrives, at most MaxBody bytes. The caller
	// must Close it; closing ends the exchange and releases its timeout.
	Body io.ReadCloser
}

// Stream performs req like Do — same headers (X-Request-ID, X-Correlation-ID,
// bearer token, configured headers), same categorisation of transport
// failures, same refusal of redirects, same metrics, same resilience policy
// (retries of idempotent reads, circuit breaker, rate limit, bulkhead) — but
// returns as soon as the response headers arrive, leaving the body to be read
// by the caller: a large document is passed on without ever being held whole
// in memory. It is never cached. A retry happens only before the caller is handed any of the
// answer; the call holds its bulkhead slot until the body is closed.
//
// Unlike Do, req.Path keeps its escaping as given (a %2F stays %2F), as
// proxies that take a URL-encoded target URL as the path need.
func (c *Client) Stream(ctx context.Context, req Request, opts StreamOptions) (*StreamResponse, error) {
	start := time.Now()
	req.Header = withCallerHeaders(ctx, withRequestID(req.Header))
	attempts := 1
	if idempotent(req.Method) {
		attempts = c.cfg.MaxAttempts
	}
	var (
		resp *StreamResponse
		err  error
	)
	for n := 1; ; n++ {
		t, aerr := c.admit(ctx)
		if aerr != nil {
			if n == 1 {
				return nil, aerr
			}
			// A retry was refused (breaker, bulkhead, rate limit) after the
			// previous answer was closed: the refusal is the answer, never
			// (nil, nil).
			if resp == nil && err == nil {
				err = aerr
			}
			break
		}
		var failed bool
		resp, failed, err = c.stream(ctx, req, opts)
		status := 0
		var h http.Header
		if resp != nil {
			status, h = resp.Status, resp.Header
		}
		o, reason := judge(ctx, status, err, failed)
		c.finish(t, o)
		if reason != "" && n < attempts {
			if wait, ok := c.retryWait(ctx, n, h); ok {
				if resp != nil {
					resp.Body.Close()
					resp = nil
				}
				c.release(t)
				c.metrics.retried(c.cfg.Name, req.Op, reason)
				if c.sleep(ctx, wait) == nil {
					continue
				}
				// The caller gave up while waiting: the failed attempt's
				// error stands (its answer was closed).
				if err == nil {
					err = c.contextError(ctx, ctx.Err())
				}
				break
			}
		}
		if resp == nil {
			c.release(t)
			break
		}
		// The slot is held until the caller closes the body.
		if sb, ok := resp.Body.(*streamBody); ok && t.slot {
			end := sb.release
			sb.release = func() { end(); c.release(t) }
		} else {
			c.release(t)
		}
		break
	}
	status := 0
	if resp != nil {
		status = resp.Status
	}
	c.metrics.observe(c.cfg.Name, req.Op, status, err, time.Since(start))
	if writes(req.Method) {
		c.invalidate(req.Path)
	}
	return resp, err
}

// errHeaderTimeout is the cancellation cause when the headers are late.
var errHeaderTimeout = errors.New("no response headers in time")

func (c *Client) stream(parent context.Context, req Request, opts StreamOptions) (resp *StreamResponse, failed bool, err error) {
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = c.cfg.Timeout
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultStreamTimeout
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = c.cfg.MaxBody
	}
	u := *c.base
	rawPath := c.base.EscapedPath() + req.Path
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil, false, &fhirerr.Error{Category: fhirerr.Internal, Backend: c.cfg.Name, Message: "could not build backend request", Err: errors.New("invalid path escaping")}
	}
	u.Path, u.RawPath = path, rawPath
	if len(req.Query) > 0 {
		u.RawQuery = req.Query.Encode()
	}

	timed, cancelTimed := context.WithTimeout(parent, opts.Timeout)
	ctx, cancel := context.WithCancelCause(timed)
	release := func() { cancel(nil); cancelTimed() }
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		release()
		return nil, false, &fhirerr.Error{Category: fhirerr.Internal, Backend: c.cfg.Name, Message: "could not build backend request", Err: redact(err, &u)}
	}
	c.setHeaders(parent, hr.Header, req.Header)

	headerTimer := time.AfterFunc(opts.HeaderTimeout, func() { cancel(errHeaderTimeout) })
	res, err := c.http.Do(hr)
	headerTimer.Stop()
	if err != nil {
		cause := context.Cause(ctx)
		release()
		if errors.Is(cause, errHeaderTimeout) {
			return nil, true, &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service did not answer in time", Err: redact(err, &u)}
		}
		return nil, true, c.transportError(timed, err, &u)
	}
	if context.Cause(ctx) == errHeaderTimeout {
		// The timer fired just as the headers arrived: the body is cancelled.
		res.Body.Close()
		release()
		return nil, true, &fhirerr.Error{Category: fhirerr.Timeout, Backend: c.cfg.Name, Message: "the " + c.cfg.Name + " service did not answer in time"}
	}
	if isRedirect(res.StatusCode) {
		discard(res.Body)
		release()
		return nil, false, redirected(c.cfg.Name, res.StatusCode)
	}
	if res.ContentLength > opts.MaxBody {
		res.Body.Close()
		release()
		return nil, false, tooLarge(c.cfg.Name)
	}
	return &StreamResponse{
		Status:        res.StatusCode,
		Header:        res.Header,
		ContentLength: res.ContentLength,
		Body: &streamBody{
			rc: res.Body, left: opts.MaxBody, release: release,
			fail: func(err error) error { return c.transportError(timed, err, &u) },
			name: c.cfg.Name,
		},
	}, false, nil
}

// setHeaders applies the configured headers, the caller's, and the
// platform's (Accept, X-Request-ID, X-Correlation-ID, Authorization), as Do
// does.
func (c *Client) setHeaders(ctx context.Context, h, extra http.Header) {
	for k, vs := range c.cfg.Header {
		h[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	for k, vs := range extra {
		h[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	if h.Get("Accept") == "" {
		h.Set("Accept", "application/fhir+json")
	}
	if h.Get("X-Request-ID") == "" {
		h.Set("X-Request-ID", uuid.NewString())
	}
	if id := CorrelationID(ctx); id != "" {
		h.Set("X-Correlation-ID", id)
	}
	if c.cfg.Token != "" {
		h.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	// A Referer would name a facade or backend URL, which may hold an NHS
	// number. net/http adds one only when following a redirect, which the
	// client never does; one configured or passed in is dropped too.
	h.Del("Referer")
}

// streamBody is a response body bounded to left bytes whose read errors are
// categorised and whose Close ends the exchange.
type streamBody struct {
	rc      io.ReadCloser
	left    int64
	release func()
	fail    func(error) error
	name    string
	once    sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, tooLarge(b.name)
		}
		return 0, b.readErr(err)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, b.readErr(err)
}

func (b *streamBody) readErr(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return b.fail(err)
}

func (b *streamBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.release)
	return err
}
