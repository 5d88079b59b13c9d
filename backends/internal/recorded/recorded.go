// Package recorded replays HTTP exchanges recorded from this project's
// simulators (sandbox/...), so that the backend clients' tests run against
// payloads kept as data instead of importing the simulators (issue #18: the
// workshop stays in the workshop). A cassette is a JSON file of exchanges,
// each a request and the answer the simulator gave it; Server serves one on
// a loopback httptest.Server and fails the test on any request it does not
// hold, so a client that changes what it asks for is caught as surely as
// one that misreads the answer.
//
// Recording: run the test with -record and an overlay (never committed)
// that points RecordFrom at the simulator, e.g. for NRL a file
//
//	package nrl_test
//	import ("<module>/backends/internal/recorded"; sim "<module>/sandbox/nrl")
//	func init() { recorded.RecordFrom = sim.New(sim.Options{}) }
//
// named in overlay.json as {"Replace":{"<abs>/backends/nrl/record_test.go":"/tmp/record_test.go"}}, then
// go test ./backends/nrl -overlay overlay.json -run TestX -args -record.
// Each cassette is then written afresh with what the simulator answered.
package recorded

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"
)

var record = flag.Bool("record", false, "record cassettes from recorded.RecordFrom instead of replaying them")

// RecordFrom is the simulator that -record records from; set only by an
// uncommitted overlay (see the package comment).
var RecordFrom http.Handler

// Recording says whether this run records cassettes (-record) rather than
// replaying them: a test that reads its cassette skips that while it is
// being written.
func Recording() bool { return *record }

// Base stands for the server's own URL in a recorded body or header.
const Base = "{base}"

// AnyValue as a recorded request header's value asks only that the header
// be sent (a request id differs on every request).
const AnyValue = "*"

// Exchange is one request and the simulator's answer.
type Exchange struct {
	Request  Request  `json:"request"`
	Response Response `json:"response"`
}

// Request is what the client must send: method, path and query (compared
// as values, in any order), the headers named (each with its value, or
// AnyValue) and, when recorded, the body (JSON compared compactly).
type Request struct {
	Method string          `json:"method"`
	URI    string          `json:"uri"`
	Header http.Header     `json:"header,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// Response is the simulator's answer. A JSON body is kept as JSON (and
// served compact), any other as text or, when not UTF-8, as base64.
type Response struct {
	Status int             `json:"status"`
	Header http.Header     `json:"header,omitempty"`
	JSON   json.RawMessage `json:"json,omitempty"`
	Text   string          `json:"text,omitempty"`
	Bytes  []byte          `json:"bytes,omitempty"`
}

// Load reads the exchanges of a cassette.
func Load(t testing.TB, path string) []Exchange {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var xs []Exchange
	if err := json.Unmarshal(b, &xs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return xs
}

// Server serves the cassette at path (see Handler) on a loopback server
// closed with the test.
func Server(t testing.TB, path string, keep map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(t, path, keep))
	t.Cleanup(srv.Close)
	return srv
}

// Handler answers from the cassette at path. The first unused exchange
// matching a request answers it; once all matching ones have answered, the
// last answers again. A request that matches none fails the test and gets
// a 501. keep names the request headers recorded, beside Content-Type:
// their values are kept, except where keep gives AnyValue for one.
func Handler(t testing.TB, path string, keep map[string]string) http.Handler {
	t.Helper()
	if *record {
		return recorder(t, path, keep)
	}
	xs := Load(t, path)
	used := make([]bool, len(xs))
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		i := -1
		for j := range xs {
			if matches(xs[j].Request, r, body) && (i < 0 || used[i]) {
				i = j
				if !used[j] {
					break
				}
			}
		}
		if i >= 0 {
			used[i] = true
		}
		mu.Unlock()
		if i < 0 {
			t.Errorf("%s: no recorded exchange for %s %s (headers %v, body %s)", path, r.Method, r.URL.RequestURI(), r.Header, body)
			http.Error(w, "not recorded", http.StatusNotImplemented)
			return
		}
		xs[i].Response.write(w, "http://"+r.Host)
	})
}

func matches(want Request, r *http.Request, body []byte) bool {
	u, err := url.ParseRequestURI(want.URI)
	if err != nil || want.Method != r.Method || u.EscapedPath() != r.URL.EscapedPath() {
		return false
	}
	if wq, gq := u.Query(), r.URL.Query(); len(wq) != len(gq) || !equalValues(wq, gq) {
		return false
	}
	for k, vs := range want.Header {
		if got := r.Header.Values(k); !(len(vs) == 1 && vs[0] == AnyValue && len(got) > 0) && !slices.Equal(vs, got) {
			return false
		}
	}
	if want.Body == nil {
		return true
	}
	var a, b bytes.Buffer
	if json.Compact(&a, want.Body) != nil || json.Compact(&b, body) != nil {
		return bytes.Equal(want.Body, body)
	}
	return bytes.Equal(a.Bytes(), b.Bytes())
}

func equalValues(a, b url.Values) bool {
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func (resp Response) write(w http.ResponseWriter, base string) {
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, string(bytes.ReplaceAll([]byte(v), []byte(Base), []byte(base))))
		}
	}
	var body []byte
	switch {
	case resp.JSON != nil:
		var c bytes.Buffer
		_ = json.Compact(&c, resp.JSON)
		body = bytes.ReplaceAll(c.Bytes(), []byte(Base), []byte(base))
	case resp.Text != "":
		body = []byte(resp.Text)
	default:
		body = resp.Bytes
	}
	if w.Header().Get("Content-Length") != "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(body)
}

// recorder passes every request to RecordFrom and writes the cassette anew
// when the test ends.
func recorder(t testing.TB, path string, keep map[string]string) http.Handler {
	t.Helper()
	if RecordFrom == nil {
		t.Fatal("-record needs recorded.RecordFrom set to a simulator (see the package comment)")
	}
	var (
		mu sync.Mutex
		xs []Exchange
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		RecordFrom.ServeHTTP(rec, r)
		x := Exchange{Request: Request{Method: r.Method, URI: r.URL.RequestURI(), Header: http.Header{}}}
		for k, v := range keep {
			if got := r.Header.Values(k); len(got) > 0 {
				x.Request.Header[k] = got
				if v == AnyValue {
					x.Request.Header[k] = []string{AnyValue}
				}
			}
		}
		if ct := r.Header.Values("Content-Type"); len(ct) > 0 {
			x.Request.Header["Content-Type"] = ct
		}
		if len(x.Request.Header) == 0 {
			x.Request.Header = nil
		}
		if len(body) > 0 {
			x.Request.Body = json.RawMessage(body)
			if !json.Valid(body) {
				x.Request.Body, _ = json.Marshal(string(body))
			}
		}
		res := rec.Result()
		x.Response = Response{Status: res.StatusCode, Header: res.Header.Clone()}
		x.Response.Header.Del("Date")
		out := rec.Body.Bytes()
		self := []byte("http://" + r.Host)
		switch {
		case json.Valid(out) && len(out) > 0:
			x.Response.JSON = bytes.ReplaceAll(out, self, []byte(Base))
		case len(out) > 0 && isText(out):
			x.Response.Text = string(out)
		default:
			x.Response.Bytes = out
		}
		for _, vs := range x.Response.Header {
			for i := range vs {
				vs[i] = string(bytes.ReplaceAll([]byte(vs[i]), self, []byte(Base)))
			}
		}
		mu.Lock()
		xs = append(xs, x)
		mu.Unlock()
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(out)
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep a URI's & readable
		enc.SetIndent("", "  ")
		err := enc.Encode(xs)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(path), 0o755)
		}
		if err == nil {
			err = os.WriteFile(path, b.Bytes(), 0o644)
		}
		if err != nil {
			t.Errorf("recording %s: %v", path, err)
		}
		fmt.Fprintf(os.Stderr, "recorded %d exchanges in %s\n", len(xs), path)
	})
	return h
}

func isText(b []byte) bool { return utf8.Valid(b) && !bytes.ContainsRune(b, 0) }
