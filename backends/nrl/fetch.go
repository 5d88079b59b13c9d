package nrl

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// InteractionID is the Ssp-InteractionID of NRL document retrieval.
const InteractionID = "urn:nhs:names:services:nrl:DocumentReference.content.read"

// NationalProxyHost is the host of the Spine Secure Proxy in NRL's pointers.
const NationalProxyHost = "spine-proxy.national.ncrs.nhs.uk"

// DefaultMaxDocumentSize bounds a retrieved document: 50 MiB, room for a
// scanned record, small enough that one request cannot stream without end.
const DefaultMaxDocumentSize = 50 << 20

// DefaultASID is the Ssp-From sent when none is configured (the sandbox's).
const DefaultASID = "200000000001"

// FetcherOptions configure a Fetcher.
type FetcherOptions struct {
	// SSPBaseURL is the base of the Spine Secure Proxy the upstream client
	// calls, e.g. https://spine-proxy.national.ncrs.nhs.uk or, in the
	// sandbox, http://127.0.0.1:9002/ssp. Pointer URLs under it (or under
	// NationalProxyHost) are re-based onto it; any other URL is proxied
	// through it.
	SSPBaseURL string
	// ASID is the facade's Spine ASID, sent as Ssp-From; DefaultASID when empty.
	ASID string
	// MaxSize bounds a document; DefaultMaxDocumentSize when zero.
	MaxSize int64
	// HeaderTimeout bounds the wait for the holder's answer; the upstream
	// client's timeout when zero. Timeout bounds the whole transfer;
	// upstream.DefaultStreamTimeout when zero.
	HeaderTimeout, Timeout time.Duration
}

// Fetcher retrieves the documents NRL's pointers point at, the way NRL's
// consumers must: through the Spine Secure Proxy (SSP), with the SSP headers
// (Ssp-TraceID, Ssp-From, Ssp-To, Ssp-InteractionID). It never contacts a
// holder directly: a pointer URL that is not an SSP URL is sent through the
// configured proxy, so a pointer cannot make the facade call an arbitrary
// address.
type Fetcher struct {
	up   *upstream.Client
	base *url.URL
	opts FetcherOptions
}

// NewFetcher returns a fetcher over up, an upstream client whose base URL is
// opts.SSPBaseURL.
func NewFetcher(up *upstream.Client, opts FetcherOptions) (*Fetcher, error) {
	base, err := url.Parse(strings.TrimRight(opts.SSPBaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, errors.New("nrl fetcher: invalid SSP base URL")
	}
	if opts.ASID == "" {
		opts.ASID = DefaultASID
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxDocumentSize
	}
	return &Fetcher{up: up, base: base, opts: opts}, nil
}

// Target is one content entry of a pointer, as NRL gave it.
type Target struct {
	// URL is attachment.url.
	URL string
	// ContentType is attachment.contentType: the holder must answer with it.
	ContentType string
	// HolderASID is the holder's Spine ASID (context.related), sent as
	// Ssp-To; "" when the pointer names none.
	HolderASID string
}

// Document is a document being retrieved: read Body to the end, then Close it.
type Document struct {
	// ContentType is the document's media type (the pointer's, which the
	// holder's answer matched).
	ContentType string
	// Size is the length in bytes, -1 when the holder did not say.
	Size int64
	Body io.ReadCloser
}

// Fetch starts retrieving t's document and returns once the holder has
// answered, leaving the body to be streamed. Errors, all *fhirerr.Error
// naming neither the URL nor the holder: the holder unreachable (the proxy
// says so, or cannot be reached itself) is BadGateway, no answer in time is
// Timeout, a document the holder no longer has is NotFound, a document of
// another type than declared or larger than MaxSize is BadGateway, and so is
// a redirect (from the proxy or, through it, the holder), which is never
// followed.
func (f *Fetcher) Fetch(ctx context.Context, t Target) (*Document, error) {
	path, query, err := f.proxyPath(t.URL)
	if err != nil {
		return nil, err
	}
	h := http.Header{
		"Ssp-TraceID":       {uuid.NewString()},
		"Ssp-From":          {f.opts.ASID},
		"Ssp-InteractionID": {InteractionID},
		"Accept":            {"*/*"},
	}
	if t.ContentType != "" {
		h.Set("Accept", t.ContentType)
	}
	if t.HolderASID != "" {
		h.Set("Ssp-To", t.HolderASID)
	}
	res, err := f.up.Stream(ctx, upstream.Request{Method: http.MethodGet, Path: path, Query: query, Header: h, Op: "document"},
		upstream.StreamOptions{HeaderTimeout: f.opts.HeaderTimeout, Timeout: f.opts.Timeout, MaxBody: f.opts.MaxSize})
	if err != nil {
		return nil, documentError(err)
	}
	if res == nil {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the organisation holding the document could not be reached"}
	}
	if res.Status != http.StatusOK {
		drain(res.Body)
		return nil, statusError(res)
	}
	got := res.Header.Get("Content-Type")
	ct := t.ContentType
	switch {
	case ct == "" && got == "":
		ct = "application/octet-stream"
	case ct == "":
		ct = got
	case got != "" && !sameMediaType(ct, got):
		drain(res.Body)
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name,
			Message: "the organisation holding the document sent content of another type than the pointer declares"}
	}
	return &Document{ContentType: ct, Size: res.ContentLength, Body: res.Body}, nil
}

// proxyPath returns the path (escaped, relative to the SSP base) and query
// that retrieve rawURL through the configured proxy.
func (f *Fetcher) proxyPath(rawURL string) (string, url.Values, error) {
	bad := &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the pointer's document URL cannot be retrieved"}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", nil, bad
	}
	if u.Scheme == "ssp" {
		u.Scheme = "https"
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", nil, bad
	}
	var rest string
	switch {
	case u.Host == f.base.Host && u.Scheme == f.base.Scheme && strings.HasPrefix(u.EscapedPath(), f.base.EscapedPath()+"/"):
		rest = strings.TrimPrefix(u.EscapedPath(), f.base.EscapedPath())
	case strings.EqualFold(u.Hostname(), NationalProxyHost):
		rest = u.EscapedPath()
	default:
		// A holder's own URL: through the proxy, encoded as NRL's SSP URLs carry it.
		return "/" + url.QueryEscape(u.String()), nil, nil
	}
	if len(rest) <= 1 {
		return "", nil, bad
	}
	var q url.Values
	if u.RawQuery != "" {
		if q, err = url.ParseQuery(u.RawQuery); err != nil {
			return "", nil, bad
		}
	}
	return rest, q, nil
}

// sameMediaType compares two Content-Types by media type, ignoring
// parameters and case; the JSON spellings of FHIR count as one.
func sameMediaType(a, b string) bool {
	norm := func(s string) string {
		mt, _, err := mime.ParseMediaType(s)
		if err != nil {
			mt = strings.ToLower(strings.TrimSpace(s))
		}
		if mt == "application/json+fhir" {
			mt = "application/fhir+json"
		}
		return mt
	}
	return norm(a) == norm(b)
}

// drain discards a little of an unwanted body (so the connection can be
// reused) and closes it.
func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	rc.Close()
}

// documentError restates a transport failure of the proxy call in terms of
// the document, keeping the cause for the log.
func documentError(err error) error {
	e := fhirerr.As(err)
	if e == nil {
		return err
	}
	out := *e
	out.Backend = Name
	switch e.Category {
	case fhirerr.Timeout:
		out.Message = "the organisation holding the document did not answer in time"
	case fhirerr.BadGateway:
		var re *upstream.RedirectError
		switch {
		case errors.As(err, &re):
			// The proxy passes on the holder's answer: either may have sent
			// it. The redirect's target is never fetched nor named.
			out.Message = "the organisation holding the document answered with a redirect (HTTP " + strconv.Itoa(re.Status) + "), which the facade does not follow"
		case upstream.IsTooLarge(e):
			out.Message = "the document is larger than the facade serves"
		default:
			out.Message = "the organisation holding the document could not be reached"
		}
	}
	return &out
}

// statusError maps the proxy's (or, through it, the holder's) error status.
func statusError(res *upstream.StreamResponse) error {
	e := &fhirerr.Error{Backend: Name}
	switch res.Status {
	case http.StatusNotFound, http.StatusGone:
		e.Category, e.Message = fhirerr.NotFound, "the document is no longer available from the organisation that holds it"
	case http.StatusUnauthorized:
		e.Category, e.Message = fhirerr.BadGateway, "the facade could not authenticate to the Spine Secure Proxy"
	case http.StatusForbidden:
		e.Category, e.Message = fhirerr.Forbidden, "the Spine Secure Proxy refused access to the document"
	case http.StatusRequestTimeout, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.Category, e.Message = fhirerr.Timeout, "the organisation holding the document did not answer in time"
		e.RetryAfter = upstream.RetryAfter(res.Header)
	case http.StatusTooManyRequests:
		e.Category, e.Message = fhirerr.Throttled, "the Spine Secure Proxy is throttling requests; retry later"
		e.RetryAfter = upstream.RetryAfter(res.Header)
	default: // 502 from the proxy: the holder cannot be reached; other 4xx/5xx: it failed
		e.Category, e.Message = fhirerr.BadGateway, "the organisation holding the document could not be reached"
	}
	return e
}
