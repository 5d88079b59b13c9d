package upstream_test

import (
	"context"
	"crypto/tls"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// A backend answering with a redirect is a failed call: the target is never
// asked for anything (so neither the credential, nor the caller's identity
// headers, nor a Referer holding the NHS number reach it), the call is not
// retried, and the error is a 502 naming the redirect, never its Location.
// Whatever the method, whether the read is cached or streamed, and whether
// the target is another host or the backend's own.
func TestRedirectsAreNotFollowed(t *testing.T) {
	type call func(c *upstream.Client, ctx context.Context) error
	do := func(method string) call {
		return func(c *upstream.Client, ctx context.Context) error {
			var body []byte
			if method != http.MethodGet {
				body = []byte(`{}`)
			}
			_, err := c.Do(ctx, upstream.Request{Method: method, Path: testPath, Body: body, Op: "read"})
			return err
		}
	}
	stream := func(c *upstream.Client, ctx context.Context) error {
		res, err := c.Stream(ctx, upstream.Request{Method: http.MethodGet, Path: sspPath, Op: "document"}, upstream.StreamOptions{})
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	tests := []struct {
		name     string
		status   int
		sameHost bool // Location on the backend's own host, where net/http keeps Authorization
		cfg      upstream.Config
		call     call
	}{
		{name: "302 GET", status: http.StatusFound, call: do(http.MethodGet)},
		{name: "301 GET", status: http.StatusMovedPermanently, call: do(http.MethodGet)},
		{name: "303 POST", status: http.StatusSeeOther, call: do(http.MethodPost)},
		{name: "307 PATCH", status: http.StatusTemporaryRedirect, call: do(http.MethodPatch)},
		{name: "308 PUT", status: http.StatusPermanentRedirect, call: do(http.MethodPut)},
		{name: "300 GET", status: http.StatusMultipleChoices, call: do(http.MethodGet)},
		{name: "302 GET on the same host", status: http.StatusFound, sameHost: true, call: do(http.MethodGet)},
		{name: "302 cached GET", status: http.StatusFound, cfg: upstream.Config{CacheTTL: time.Minute}, call: do(http.MethodGet)},
		{name: "302 stream", status: http.StatusFound, call: stream},
		{name: "307 stream on the same host", status: http.StatusTemporaryRedirect, sameHost: true, call: stream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := newScripted(t, always(http.StatusOK))
			var backend *scripted
			backend = newScripted(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n > 1 {
					answer(w, http.StatusOK, `{"resourceType":"Patient","id":"stolen"}`)
					return
				}
				loc := target.URL + "/collect?nhs=9000000009"
				if tt.sameHost {
					loc = backend.URL + "/collect?nhs=9000000009"
				}
				answer(w, tt.status, `<a href="`+loc+`">moved</a>`, "Location", loc, "Content-Type", "text/html")
			})
			reg := prometheus.NewRegistry()
			cfg := tt.cfg
			cfg.Token = "s3cr3t"
			cfg.Header = http.Header{"NHSD-End-User-Organisation-ODS": {"Y12345"}}
			// Backoffs of a millisecond, should the call wrongly be retried.
			cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, time.Millisecond
			c := newClient(t, backend.URL, cfg, upstream.NewMetrics(reg))
			t.Cleanup(c.Close)
			ctx := upstream.WithCallerHeaders(context.Background(), http.Header{"NHSD-Session-URID": {"555254240100"}})

			err := tt.call(c, ctx)

			if target.count() != 0 || backend.count() != 1 {
				t.Fatalf("the redirect was followed: the target had %d requests, the backend %d (want 0 and 1)", target.count(), backend.count())
			}
			e := fhirerr.As(err)
			if e == nil || e.Category != fhirerr.BadGateway || e.Backend != "pds" || !upstream.IsRedirect(err) {
				t.Fatalf("err = %v, want a BadGateway redirect error of pds", err)
			}
			want := "the pds service answered with a redirect (HTTP " + strconv.Itoa(tt.status) + "), which the facade does not follow"
			if e.Message != want {
				t.Errorf("message %q, want %q", e.Message, want)
			}
			// Neither the shown message nor the logged one names the target.
			for _, leak := range []string{strings.TrimPrefix(target.URL, "http://"), strings.TrimPrefix(backend.URL, "http://"), "collect", "9000000009", "moved"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q names %q", err, leak)
				}
			}
			if got := backend.requests()[0].header.Get("Referer"); got != "" {
				t.Errorf("Referer %q sent", got)
			}
			op := "read"
			if strings.Contains(tt.name, "stream") {
				op = "document"
			}
			key := `backend="pds",op="` + op + `",outcome="redirect",status="` + strconv.Itoa(tt.status) + `"`
			if got := values(t, reg, "facade_backend_requests_total"); got[key] != 1 || len(got) != 1 {
				t.Errorf("facade_backend_requests_total = %v, want {%s} 1", got, key)
			}
		})
	}
}

// A 304 is not a redirect (it names no target): it stays an answer, for the
// backend client to read like any other non-200.
func TestNotModifiedIsAnAnswer(t *testing.T) {
	srv := newRecorder(t, http.StatusNotModified, "")
	c := newClient(t, srv.URL, upstream.Config{}, nil)
	res, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
	if err != nil || res.Status != http.StatusNotModified {
		t.Fatalf("Do = %v, %v; want a 304 answer", res, err)
	}
}

// No Referer reaches a backend, whoever asked for one: the URL it would name
// holds the NHS number.
func TestNoReferer(t *testing.T) {
	tests := []struct {
		name   string
		static http.Header
		header http.Header
	}{
		{name: "none asked for"},
		{name: "configured", static: http.Header{"Referer": {"https://facade.example/fhir/Patient/9000000009"}}},
		{name: "in the request", header: http.Header{"referer": {"https://facade.example/fhir/Patient/9000000009"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, http.StatusOK, `{}`)
			c := newClient(t, srv.URL, upstream.Config{Header: tt.static}, nil)
			req := upstream.Request{Method: http.MethodGet, Path: testPath, Header: tt.header}
			if _, err := c.Do(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			res, err := c.Stream(context.Background(), req, upstream.StreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			for i := range 2 {
				if got := srv.next(t).Header.Values("Referer"); len(got) != 0 {
					t.Errorf("call %d sent Referer %q", i, got)
				}
			}
		})
	}
}

// Every configuration New accepts gives a client that refuses redirects:
// the pooled transport, a transport of the caller's, TLS, a cache.
func TestEveryClientRefusesRedirects(t *testing.T) {
	tests := []struct {
		name string
		cfg  upstream.Config
	}{
		{name: "defaults"},
		{name: "own transport", cfg: upstream.Config{Transport: http.DefaultTransport}},
		{name: "TLS", cfg: upstream.Config{TLS: &tls.Config{MinVersion: tls.VersionTLS12}}},
		{name: "cached, rate limited, no breaker", cfg: upstream.Config{CacheTTL: time.Minute, RateLimit: 5, BreakerThreshold: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, "https://backend.example", tt.cfg, nil)
			t.Cleanup(c.Close)
			hc := upstream.HTTPClient(c)
			if hc.CheckRedirect == nil {
				t.Fatal("no CheckRedirect: net/http follows up to 10 redirects")
			}
			next, _ := http.NewRequest(http.MethodGet, "https://elsewhere.example/", nil)
			prev, _ := http.NewRequest(http.MethodGet, "https://backend.example/", nil)
			if err := hc.CheckRedirect(next, []*http.Request{prev}); !errors.Is(err, http.ErrUseLastResponse) {
				t.Errorf("CheckRedirect = %v, want http.ErrUseLastResponse", err)
			}
		})
	}
}

// upstream.New is the only maker of the http.Client a backend is called
// with, so no backend can be built that follows redirects: no backend client
// and nothing in cmd/facade builds an http.Client or http.Transport of its
// own, or uses net/http's default client (which follows redirects).
func TestNoBackendClientOutsideUpstream(t *testing.T) {
	banned := map[string]bool{
		"Client": true, "Transport": true, "DefaultClient": true, "DefaultTransport": true,
		"Get": true, "Head": true, "Post": true, "PostForm": true,
	}
	roots := []string{"..", filepath.Join("..", "..", "cmd", "facade")}
	scanned := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				// upstream builds the client; the sandbox is the national
				// services' stand-in, not a client of them.
				if d.Name() == "upstream" && filepath.Dir(path) == ".." || d.Name() == "sandbox" || d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			scanned++
			httpName := ""
			for _, im := range f.Imports {
				if im.Path.Value == `"net/http"` {
					httpName = "http"
					if im.Name != nil {
						httpName = im.Name.Name
					}
				}
			}
			if httpName == "" {
				return nil
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == httpName && banned[sel.Sel.Name] {
					t.Errorf("%s uses http.%s: call backends through upstream.New, whose client refuses redirects", path, sel.Sel.Name)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if scanned < 10 {
		t.Fatalf("scanned %d files: the walk missed the backends", scanned)
	}
}
