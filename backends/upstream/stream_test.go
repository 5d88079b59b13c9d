package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// sspPath is a Spine Secure Proxy style path: the holder's URL, URL-encoded.
const sspPath = "/https%3A%2F%2Fholder.example.nhs.uk%2Fdocs%2F9000000009.pdf"

func TestStreamSendsHeadersAndKeepsEscaping(t *testing.T) {
	rec := newRecorder(t, http.StatusOK, "%PDF-1.4 …")
	c := newClient(t, rec.URL, upstream.Config{Token: "secret", Header: http.Header{"Ssp-From": {"200000000001"}}}, nil)
	ctx := upstream.WithCorrelationID(context.Background(), "facade-req-1")
	res, err := c.Stream(ctx, upstream.Request{Method: http.MethodGet, Path: sspPath, Op: "document",
		Header: http.Header{"Accept": {"*/*"}, "Ssp-TraceID": {"trace-1"}}}, upstream.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if string(body) != "%PDF-1.4 …" || res.Status != 200 || res.ContentLength != int64(len(body)) {
		t.Errorf("status %d, length %d, body %q", res.Status, res.ContentLength, body)
	}
	req := rec.next(t)
	if got, want := req.URL.EscapedPath(), basePath+sspPath; got != want {
		t.Errorf("path %s, want %s (escaping kept)", got, want)
	}
	for k, want := range map[string]string{
		"Authorization": "Bearer secret", "X-Correlation-Id": "facade-req-1", "Accept": "*/*",
		"Ssp-From": "200000000001", "Ssp-Traceid": "trace-1",
	} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if id := req.Header.Get("X-Request-ID"); !uuidV4.MatchString(id) {
		t.Errorf("X-Request-ID %q is not a UUID v4", id)
	}
}

func TestStreamHandsOverErrorStatuses(t *testing.T) {
	rec := newRecorder(t, http.StatusNotFound, `{"resourceType":"OperationOutcome"}`)
	c := newClient(t, rec.URL, upstream.Config{}, nil)
	res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: sspPath}, upstream.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Status != 404 {
		t.Errorf("status %d", res.Status)
	}
}

func TestStreamTimeouts(t *testing.T) {
	// slowHeaders answers after the header timeout; slowBody sends half the
	// body, then stalls until the client gives up.
	slowHeaders := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	slowBody := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		_, _ = w.Write(make([]byte, 500))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		opts     upstream.StreamOptions
		failRead bool // the call succeeds, reading the body fails
	}{
		{name: "headers late", handler: slowHeaders, opts: upstream.StreamOptions{HeaderTimeout: 50 * time.Millisecond}},
		{name: "whole exchange late", handler: slowHeaders, opts: upstream.StreamOptions{HeaderTimeout: time.Minute, Timeout: 50 * time.Millisecond}},
		{name: "body stalls", handler: slowBody, opts: upstream.StreamOptions{HeaderTimeout: time.Minute, Timeout: 200 * time.Millisecond}, failRead: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			c := newClient(t, srv.URL, upstream.Config{}, nil)
			res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}, tc.opts)
			if !tc.failRead {
				if fhirerr.CategoryOf(err) != fhirerr.Timeout {
					t.Fatalf("err = %v, want Timeout", err)
				}
				assertNoLeak(t, err.Error(), srv.URL+basePath+testPath)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			_, err = io.ReadAll(res.Body)
			if fhirerr.CategoryOf(err) != fhirerr.Timeout {
				t.Fatalf("read err = %v, want Timeout", err)
			}
			assertNoLeak(t, err.Error(), srv.URL+basePath+testPath)
		})
	}
}

func TestStreamMaxBody(t *testing.T) {
	const limit = 100
	tests := []struct {
		name     string
		size     int
		declared bool // Content-Length sent, else chunked
		failCall bool // refused before the body is read
		failRead bool // refused while reading
	}{
		{name: "exactly the limit, declared", size: limit, declared: true},
		{name: "exactly the limit, chunked", size: limit},
		{name: "declared too large", size: limit + 1, declared: true, failCall: true},
		{name: "chunked too large", size: 5 * limit, failRead: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.declared {
					w.Header().Set("Content-Length", strconv.Itoa(tc.size))
				}
				w.WriteHeader(200)
				for i := 0; i < tc.size; i += 10 {
					_, _ = w.Write([]byte(strings.Repeat("x", min(10, tc.size-i))))
					w.(http.Flusher).Flush()
				}
			}))
			t.Cleanup(srv.Close)
			c := newClient(t, srv.URL, upstream.Config{MaxBody: 1 << 20}, nil)
			res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}, upstream.StreamOptions{MaxBody: limit})
			if tc.failCall {
				if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
					t.Fatalf("err = %v, want BadGateway", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if tc.failRead {
				if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
					t.Fatalf("read err = %v, want BadGateway", err)
				}
				if len(b) > limit {
					t.Errorf("read %d bytes, more than the limit %d", len(b), limit)
				}
				return
			}
			if err != nil || len(b) != tc.size {
				t.Fatalf("read %d bytes, err %v", len(b), err)
			}
		})
	}
}

func TestStreamRefused(t *testing.T) {
	u := refusedURL(t)
	c := newClient(t, u, upstream.Config{}, nil)
	_, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}, upstream.StreamOptions{})
	if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
		t.Fatalf("err = %v, want BadGateway", err)
	}
	assertNoLeak(t, err.Error(), u+basePath+testPath)
	var se syscall.Errno
	if !errors.As(err, &se) || se != syscall.ECONNREFUSED {
		t.Errorf("cause not kept: %v", err)
	}
}

func TestStreamCloseEndsTheExchange(t *testing.T) {
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte("part"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the client closed before the end
		close(gone)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, upstream.Config{}, nil)
	res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}, upstream.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatal(err)
	}
	if err := res.Body.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend request was not cancelled by Close")
	}
}

func TestStreamMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := upstream.NewMetrics(reg)
	rec := newRecorder(t, http.StatusOK, "doc")
	c := newClient(t, rec.URL, upstream.Config{Name: "nrl"}, m)
	res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: sspPath, Op: "document"}, upstream.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	calls, _ := gather(t, reg)
	if len(calls) != 1 {
		t.Fatalf("calls %s", show(calls))
	}
	for k, v := range calls {
		if !strings.Contains(k, "nrl") || !strings.Contains(k, "document") || !strings.Contains(k, "200") || v != 1 {
			t.Errorf("call %s = %v", k, v)
		}
	}
}

// A retry refused by the breaker (opened by the failed first attempt) is an
// error, never a nil answer with a nil error.
func TestStreamRetryRefusedIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, upstream.Config{MaxAttempts: 3, BreakerThreshold: 1, BreakerCooldown: time.Hour}, nil)
	res, err := c.Stream(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath}, upstream.StreamOptions{})
	if res == nil && err == nil {
		t.Fatal("Stream returned (nil, nil)")
	}
	if res != nil {
		res.Body.Close()
	}
	if err != nil && fhirerr.CategoryOf(err) != fhirerr.Unavailable {
		t.Errorf("err = %v, want the breaker's Unavailable", err)
	}
}
