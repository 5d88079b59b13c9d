package upstream_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// basePath mimics the PDS base path; the NHS number in testPath is what must
// never reach an error message.
const (
	basePath = "/personal-demographics/FHIR/R4"
	testPath = "/Patient/9000000009"
)

// uuidV4 is X-Request-ID's pattern (BACKENDS.md §0), narrowed to version 4.
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// newClient returns a client named "pds" whose base URL is srvURL+basePath,
// with cfg's other fields as given.
func newClient(t *testing.T, srvURL string, cfg upstream.Config, m *upstream.Metrics) *upstream.Client {
	t.Helper()
	cfg.BaseURL = srvURL + basePath
	if cfg.Name == "" {
		cfg.Name = "pds"
	}
	c, err := upstream.New(cfg, m)
	if err != nil {
		t.Fatalf("New(%q): %v", cfg.BaseURL, err)
	}
	return c
}

// recorder is a test server that keeps the requests it received.
type recorder struct {
	*httptest.Server
	reqs chan *http.Request
}

func newRecorder(t *testing.T, status int, body string) *recorder {
	t.Helper()
	r := &recorder{reqs: make(chan *http.Request, 16)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.reqs <- req.Clone(context.Background())
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) next(t *testing.T) *http.Request {
	t.Helper()
	select {
	case req := <-r.reqs:
		return req
	default:
		t.Fatal("the server received no request")
		return nil
	}
}

func TestDoSendsPlatformHeaders(t *testing.T) {
	tests := []struct {
		name        string
		token       string
		static      http.Header
		correlation string
		wantAuth    []string
		wantStatic  map[string]string
	}{
		{
			name:     "open sandbox: no token, no correlation id",
			wantAuth: nil,
		},
		{
			name:        "token and correlation id",
			token:       "s3cr3t",
			correlation: "facade-req-1",
			wantAuth:    []string{"Bearer s3cr3t"},
		},
		{
			name:        "static headers as configured",
			token:       "t",
			correlation: "c-2",
			static: http.Header{
				"NHSD-End-User-Organisation-ODS": {"Y12345"},
				"Nhsd-Session-Urid":              {"555254240100"},
			},
			wantAuth: []string{"Bearer t"},
			wantStatic: map[string]string{
				"NHSD-End-User-Organisation-ODS": "Y12345",
				"NHSD-Session-URID":              "555254240100",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, http.StatusOK, `{}`)
			c := newClient(t, srv.URL, upstream.Config{Token: tt.token, Header: tt.static}, nil)
			ctx := context.Background()
			if tt.correlation != "" {
				ctx = upstream.WithCorrelationID(ctx, tt.correlation)
			}
			seen := map[string]bool{}
			for range 3 {
				res, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath, Op: "read"})
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				if res.Status != http.StatusOK || string(res.Body) != `{}` || !res.IsJSON() {
					t.Fatalf("response = %d %q (JSON %v)", res.Status, res.Body, res.IsJSON())
				}
				req := srv.next(t)
				if req.URL.Path != basePath+testPath {
					t.Errorf("path = %q, want %q", req.URL.Path, basePath+testPath)
				}
				ids := req.Header.Values("X-Request-ID")
				if len(ids) != 1 || !uuidV4.MatchString(ids[0]) {
					t.Errorf("X-Request-ID = %q, want one UUID v4", ids)
				} else if seen[ids[0]] {
					t.Errorf("X-Request-ID %s reused across calls", ids[0])
				} else {
					seen[ids[0]] = true
				}
				if got := req.Header.Values("X-Correlation-ID"); tt.correlation == "" && len(got) != 0 ||
					tt.correlation != "" && (len(got) != 1 || got[0] != tt.correlation) {
					t.Errorf("X-Correlation-ID = %q, want %q", got, tt.correlation)
				}
				if got := req.Header.Values("Authorization"); strings.Join(got, "|") != strings.Join(tt.wantAuth, "|") {
					t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
				}
				if got := req.Header.Values("Accept"); len(got) != 1 || got[0] != "application/fhir+json" {
					t.Errorf("Accept = %q, want application/fhir+json", got)
				}
				for k, v := range tt.wantStatic {
					if got := req.Header.Values(k); len(got) != 1 || got[0] != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
			}
		})
	}
}

// A retry reuses the caller's X-Request-ID (BACKENDS.md §0), however the
// caller spelled the header name, and sends it once.
func TestDoKeepsCallersRequestID(t *testing.T) {
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tests := []struct {
		name   string
		header http.Header
	}{
		{name: "canonical key", header: http.Header{"X-Request-Id": {id}}},
		{name: "spec spelling", header: http.Header{"X-Request-ID": {id}}},
		{name: "lower case", header: http.Header{"x-request-id": {id}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecorder(t, http.StatusOK, `{}`)
			c := newClient(t, srv.URL, upstream.Config{}, nil)
			if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath, Header: tt.header}); err != nil {
				t.Fatalf("Do: %v", err)
			}
			if got := srv.next(t).Header.Values("X-Request-ID"); len(got) != 1 || got[0] != id {
				t.Errorf("X-Request-ID = %q, want [%s]", got, id)
			}
		})
	}
}

func TestDoSendsQuery(t *testing.T) {
	srv := newRecorder(t, http.StatusOK, `{}`)
	c := newClient(t, srv.URL, upstream.Config{}, nil)
	q := url.Values{"family": {"Sm*"}, "given": {"John Paul", "James"}, "birthdate": {"eq2010-10-22"}}
	if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: "/Patient", Query: q}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	req := srv.next(t)
	// PDS wants '*' sent as %2A (BACKENDS.md §1).
	const want = "birthdate=eq2010-10-22&family=Sm%2A&given=John+Paul&given=James"
	if req.URL.RawQuery != want {
		t.Errorf("query = %q, want %q", req.URL.RawQuery, want)
	}
	if req.URL.Path != basePath+"/Patient" {
		t.Errorf("path = %q", req.URL.Path)
	}
}

// assertNoLeak fails if msg holds any part of the URL that was called: an NHS
// number or search parameters can be in the path or query.
func assertNoLeak(t *testing.T, msg, rawURL string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	for _, s := range []string{rawURL, u.Host, host, port, basePath, testPath, "9000000009", "Smith", "personal-demographics"} {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error message %q contains %q", msg, s)
		}
	}
}

func TestDoTransportErrors(t *testing.T) {
	// hang answers nothing until the client gives up (or the test ends).
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	// slowBody sends the status and part of the body, then stalls.
	slowBody := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"resourceType":`))
		w.(http.Flusher).Flush()
		hang(w, r)
	}
	// cut promises a body it never sends, then drops the connection.
	cut := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"resourceType":`))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	// reset sends part of the body, then resets the connection (RST), so the
	// client's read fails with a *net.OpError naming both addresses.
	reset := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"resourceType":`))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}
	big := func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 65)))
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		cfg     upstream.Config
		ctx     func() (context.Context, context.CancelFunc)
		want    fhirerr.Category
	}{
		{name: "no response headers within the timeout", handler: hang, cfg: upstream.Config{Timeout: 50 * time.Millisecond}, want: fhirerr.Timeout},
		{name: "body stalls past the timeout", handler: slowBody, cfg: upstream.Config{Timeout: 100 * time.Millisecond}, want: fhirerr.Timeout},
		{name: "caller's deadline passes first", handler: hang, cfg: upstream.Config{Timeout: time.Minute},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			}, want: fhirerr.Timeout},
		{name: "caller cancels", handler: hang, cfg: upstream.Config{Timeout: time.Minute},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			}, want: fhirerr.Timeout},
		{name: "connection refused", handler: nil, want: fhirerr.BadGateway},
		{name: "connection dropped mid-body", handler: cut, want: fhirerr.BadGateway},
		{name: "connection reset mid-body", handler: reset, want: fhirerr.BadGateway},
		{name: "body over MaxBody", handler: big, cfg: upstream.Config{MaxBody: 64}, want: fhirerr.BadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srvURL string
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
				srvURL = srv.URL
			} else {
				srvURL = refusedURL(t)
			}
			c := newClient(t, srvURL, tt.cfg, nil)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			q := url.Values{"family": {"Smith"}}
			res, err := c.Do(ctx, upstream.Request{Method: http.MethodGet, Path: testPath, Query: q, Op: "read"})
			if err == nil {
				t.Fatalf("Do = %d %q, want an error", res.Status, res.Body)
			}
			if res != nil {
				t.Errorf("Do returned a response with its error")
			}
			fe := fhirerr.As(err)
			if fe == nil {
				t.Fatalf("error %v (%T) is not a *fhirerr.Error", err, err)
			}
			if fe.Category != tt.want {
				t.Errorf("category = %v, want %v (%v)", fe.Category, tt.want, err)
			}
			if fe.Backend != "pds" {
				t.Errorf("backend = %q", fe.Backend)
			}
			assertNoLeak(t, err.Error(), srvURL+basePath+testPath+"?"+q.Encode())
			assertNoLeak(t, fe.Message, srvURL+basePath+testPath+"?"+q.Encode())
		})
	}
}

// The cause of a transport error stays inspectable after its message is
// cleaned of the URL.
func TestDoTransportErrorKeepsCause(t *testing.T) {
	c := newClient(t, refusedURL(t), upstream.Config{}, nil)
	_, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Errorf("errors.As(%v, *net.OpError) = false", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	c = newClient(t, srv.URL, upstream.Config{Timeout: 20 * time.Millisecond}, nil)
	_, err = c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false", err)
	}
}

// refusedURL returns the URL of a loopback port nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestDoMaxBody(t *testing.T) {
	tests := []struct {
		name    string
		maxBody int64
		size    int
		wantErr bool
	}{
		{name: "under the limit", maxBody: 64, size: 63},
		{name: "exactly the limit", maxBody: 64, size: 64},
		{name: "one byte over", maxBody: 64, size: 65, wantErr: true},
		{name: "default limit", maxBody: 0, size: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Repeat("x", tt.size)
			srv := newRecorder(t, http.StatusOK, body)
			c := newClient(t, srv.URL, upstream.Config{MaxBody: tt.maxBody}, nil)
			res, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath})
			if tt.wantErr {
				if fhirerr.CategoryOf(err) != fhirerr.BadGateway {
					t.Errorf("err = %v, want BadGateway", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if len(res.Body) != tt.size {
				t.Errorf("body has %d bytes, want %d", len(res.Body), tt.size)
			}
		})
	}
}

func TestNewRefusesInvalidBaseURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{name: "empty", url: ""},
		{name: "relative path", url: "/personal-demographics/FHIR/R4"},
		{name: "no scheme", url: "sandbox.api.service.nhs.uk/personal-demographics/FHIR/R4"},
		{name: "host:port without scheme", url: "localhost:9000"},
		{name: "no host", url: "https:///personal-demographics"},
		{name: "unparseable", url: "https://exa mple.com/%zz"},
		{name: "control character", url: "https://example.com/\x7f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := upstream.New(upstream.Config{Name: "pds", BaseURL: tt.url}, nil)
			if err == nil {
				t.Fatalf("New(%q) = %v, want an error", tt.url, c)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		for _, u := range []string{"https://sandbox.api.service.nhs.uk/personal-demographics/FHIR/R4", "http://127.0.0.1:9000/", "http://localhost:9000"} {
			c, err := upstream.New(upstream.Config{Name: "pds", BaseURL: u}, nil)
			if err != nil {
				t.Errorf("New(%q): %v", u, err)
				continue
			}
			if c.Name() != "pds" {
				t.Errorf("Name() = %q", c.Name())
			}
		}
	})
}

func TestIsJSON(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		want bool
	}{
		{name: "fhir+json", ct: "application/fhir+json; charset=utf-8", want: true},
		{name: "json", ct: "application/json", want: true},
		{name: "html", ct: "text/html", want: false},
		{name: "absent", ct: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &upstream.Response{Header: http.Header{}}
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			if got := r.IsJSON(); got != tt.want {
				t.Errorf("IsJSON() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		header   []string // nil: absent
		min, max time.Duration
	}{
		{name: "absent"},
		{name: "empty", header: []string{""}},
		{name: "seconds", header: []string{"120"}, min: 120 * time.Second, max: 120 * time.Second},
		{name: "seconds with spaces", header: []string{" 30 "}, min: 30 * time.Second, max: 30 * time.Second},
		{name: "zero seconds", header: []string{"0"}},
		{name: "negative", header: []string{"-5"}},
		{name: "garbage", header: []string{"soon"}},
		{name: "digits then garbage", header: []string{"12abc"}},
		{name: "fraction", header: []string{"1.5"}},
		{name: "too large for a Duration", header: []string{"99999999999999"}},
		{name: "beyond int64", header: []string{"99999999999999999999"}},
		// http.TimeFormat has whole seconds, so up to one second is lost.
		{name: "HTTP-date ahead", header: []string{time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}, min: 88 * time.Second, max: 90 * time.Second},
		{name: "RFC 850 date ahead", header: []string{time.Now().Add(90 * time.Second).UTC().Format(time.RFC850)}, min: 88 * time.Second, max: 90 * time.Second},
		{name: "HTTP-date past", header: []string{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.header {
				h.Add("Retry-After", v)
			}
			got := upstream.RetryAfter(h)
			if got < tt.min || got > tt.max {
				t.Errorf("RetryAfter(%q) = %v, want in [%v, %v]", tt.header, got, tt.min, tt.max)
			}
		})
	}
}
