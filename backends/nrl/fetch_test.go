package nrl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/internal/recorded"
	"github.com/carerecords/fhir-facade/backends/nrl"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

func newFetcher(t *testing.T, sspBase string, opts nrl.FetcherOptions) *nrl.Fetcher {
	t.Helper()
	up, err := upstream.New(upstream.Config{Name: "nrl-ssp", BaseURL: sspBase, Token: "t", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.SSPBaseURL = sspBase
	f, err := nrl.NewFetcher(up, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// target reads pointer id from the server at srv and returns its content[i].
func target(t *testing.T, srv, id string, i int) nrl.Target {
	t.Helper()
	body, err := newClient(t, srv+basePath, nrl.Options{}).Read(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Content []struct {
			Attachment struct {
				URL         string `json:"url"`
				ContentType string `json:"contentType"`
			} `json:"attachment"`
		} `json:"content"`
		Context struct {
			Related []struct {
				Identifier struct{ System, Value string } `json:"identifier"`
			} `json:"related"`
		} `json:"context"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	tg := nrl.Target{URL: p.Content[i].Attachment.URL, ContentType: p.Content[i].Attachment.ContentType}
	for _, r := range p.Context.Related {
		if r.Identifier.System == "https://fhir.nhs.uk/Id/nhsSpineASID" {
			tg.HolderASID = r.Identifier.Value
		}
	}
	return tg
}

// documentServer answers pointer reads and SSP document requests as the
// simulator did (testdata/fetch.json), but for the large scanned record,
// made here rather than kept as 5 MB of data: a PDF of largeSize bytes,
// as the simulator serves it.
func documentServer(t *testing.T) string {
	t.Helper()
	large := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{'0'}, largeSize-9)...)
	replayed := recorded.Handler(t, filepath.Join("testdata", "fetch.json"), keep)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, sspPath+"/") || !strings.Contains(r.URL.Path, "3000000011") {
			replayed.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Length", strconv.Itoa(len(large)))
		_, _ = w.Write(large)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetchFromTheSimulator(t *testing.T) {
	srv := documentServer(t)
	tests := []struct {
		name     string
		id       string
		index    int
		ctype    string
		minSize  int
		prefix   string
		modify   func(*nrl.Target)
		opts     nrl.FetcherOptions
		category fhirerr.Category // 0: success
	}{
		{name: "crisis plan PDF", id: "Y05868-1000000091", ctype: "application/pdf", prefix: "%PDF-"},
		{name: "structured end of life summary", id: "Y07213-1000000107", ctype: "application/fhir+json", prefix: "{"},
		{name: "its PDF rendering", id: "Y07213-1000000107", index: 1, ctype: "application/pdf", prefix: "%PDF-"},
		{name: "sandbox example without a holder ASID", id: "Y05868-1234567892", ctype: "application/pdf", prefix: "%PDF-"},
		{name: "large scanned record", id: largeDocument, ctype: "application/pdf", prefix: "%PDF-", minSize: largeSize - 1024},
		{name: "holder down", id: holderDown, category: fhirerr.BadGateway},
		{name: "document gone", id: missingDocument, category: fhirerr.NotFound},
		{name: "another content type than declared", id: "Y05868-1000000091", modify: func(tg *nrl.Target) { tg.ContentType = "text/html" }, category: fhirerr.BadGateway},
		{name: "declared type with parameters and case", id: "Y05868-1000000091", modify: func(tg *nrl.Target) { tg.ContentType = "Application/PDF; q=1" }, ctype: "Application/PDF; q=1", prefix: "%PDF-"},
		{name: "larger than allowed", id: largeDocument, opts: nrl.FetcherOptions{MaxSize: 1 << 20}, category: fhirerr.BadGateway},
		{name: "wrong holder ASID", id: "Y05868-1000000091", modify: func(tg *nrl.Target) { tg.HolderASID = "000000000000" }, category: fhirerr.Forbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := target(t, srv, tc.id, tc.index)
			if tc.modify != nil {
				tc.modify(&tg)
			}
			doc, err := newFetcher(t, srv+sspPath, tc.opts).Fetch(context.Background(), tg)
			if tc.category != 0 {
				if fhirerr.CategoryOf(err) != tc.category {
					t.Fatalf("err = %v, want category %d", err, tc.category)
				}
				for _, leak := range []string{"127.0.0.1", "example.nhs.uk", "ssp/", "9000000009", "3495456481"} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error leaks %q: %v", leak, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(doc.Body)
			doc.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if doc.ContentType != tc.ctype || !strings.HasPrefix(string(b), tc.prefix) || len(b) < tc.minSize || doc.Size != int64(len(b)) {
				t.Errorf("type %s, size %d, %d bytes starting %.10q", doc.ContentType, doc.Size, len(b), b)
			}
		})
	}
}

// TestFetchTimeout: a proxy that sends no headers for 2 s (the simulator's
// Delay fault) is given up on after HeaderTimeout.
func TestFetchTimeout(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write([]byte("%PDF-1.4"))
	}))
	f := newFetcher(t, srv+sspPath, nrl.FetcherOptions{HeaderTimeout: 100 * time.Millisecond})
	_, err := f.Fetch(context.Background(), nrl.Target{URL: srv + sspPath + "/" + url.QueryEscape("https://docs.y05868.example.nhs.uk/mhcp/1000000091.pdf"), ContentType: "application/pdf"})
	if e := fhirerr.As(err); e == nil || e.Category != fhirerr.Timeout || !strings.Contains(e.Message, "did not answer in time") {
		t.Fatalf("err = %v, want Timeout", err)
	}
}

func TestFetchProxyUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	f := newFetcher(t, dead, nrl.FetcherOptions{})
	_, err = f.Fetch(context.Background(), nrl.Target{URL: "https://holder.example.nhs.uk/doc.pdf", ContentType: "application/pdf"})
	if e := fhirerr.As(err); e == nil || e.Category != fhirerr.BadGateway || strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("err = %v, want BadGateway without the address", err)
	}
}

func TestFetchSendsSSPHeadersAndPaths(t *testing.T) {
	const holder = "https://holder.example.nhs.uk/docs/plan.pdf?v=2"
	tests := []struct {
		name     string
		url      string
		path     string // escaped path the proxy must see, after its base
		query    string
		badURL   bool
		fakeBase string // "" is the fake's root; "/ssp" a base path
	}{
		{name: "URL under the configured proxy", url: "{base}/https%3A%2F%2Fholder.example.nhs.uk%2Fdocs%2Fplan.pdf", path: "/https%3A%2F%2Fholder.example.nhs.uk%2Fdocs%2Fplan.pdf", fakeBase: "/ssp"},
		{name: "national proxy URL, re-based", url: "https://spine-proxy.national.ncrs.nhs.uk/https%3A%2F%2Fp1.nhs.uk%2FMentalhealthCrisisPlanReport.pdf", path: "/https%3A%2F%2Fp1.nhs.uk%2FMentalhealthCrisisPlanReport.pdf", fakeBase: "/ssp"},
		{name: "ssp:// scheme", url: "ssp://spine-proxy.national.ncrs.nhs.uk/https%3A%2F%2Fp1.nhs.uk%2FMentalhealthCrisisPlanReport.pdf", path: "/https%3A%2F%2Fp1.nhs.uk%2FMentalhealthCrisisPlanReport.pdf"},
		{name: "older form, raw URL appended", url: "https://spine-proxy.national.ncrs.nhs.uk/p1.nhs.uk/EPAACS/EOLSummaryReport.pdf", path: "/p1.nhs.uk/EPAACS/EOLSummaryReport.pdf"},
		{name: "a holder's own URL goes through the proxy", url: holder, path: "/" + url.QueryEscape(holder)},
		{name: "query kept", url: "https://spine-proxy.national.ncrs.nhs.uk/x%2Fy?a=1", path: "/x%2Fy", query: "a=1"},
		{name: "not http", url: "ftp://holder.example.nhs.uk/doc.pdf", badURL: true},
		{name: "relative", url: "Binary/x", badURL: true},
		{name: "proxy root only", url: "https://spine-proxy.national.ncrs.nhs.uk/", badURL: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, 200, "application/pdf", "%PDF-1.4", nil)
			base := f.URL + tc.fakeBase
			fe := newFetcher(t, base, nrl.FetcherOptions{ASID: "123456789012"})
			u := strings.ReplaceAll(tc.url, "{base}", base)
			doc, err := fe.Fetch(context.Background(), nrl.Target{URL: u, ContentType: "application/pdf", HolderASID: "210987654321"})
			if tc.badURL {
				if fhirerr.CategoryOf(err) != fhirerr.BadGateway || f.hits.Load() != 0 {
					t.Fatalf("err = %v after %d calls, want BadGateway and no call", err, f.hits.Load())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			doc.Body.Close()
			r := f.last.Load()
			if got := strings.TrimPrefix(r.URL.EscapedPath(), tc.fakeBase); got != tc.path || r.URL.RawQuery != tc.query {
				t.Errorf("proxy saw %s ? %s, want %s ? %s", got, r.URL.RawQuery, tc.path, tc.query)
			}
			for k, want := range map[string]string{
				"Ssp-From": "123456789012", "Ssp-To": "210987654321", "Ssp-InteractionID": nrl.InteractionID,
				"Accept": "application/pdf", "Authorization": "Bearer t",
			} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if len(r.Header.Get("Ssp-TraceID")) != 36 {
				t.Errorf("Ssp-TraceID %q", r.Header.Get("Ssp-TraceID"))
			}
		})
	}
}

func TestFetchStatusMapping(t *testing.T) {
	tests := []struct {
		status   int
		category fhirerr.Category
	}{
		{404, fhirerr.NotFound}, {410, fhirerr.NotFound}, {401, fhirerr.BadGateway}, {403, fhirerr.Forbidden},
		{408, fhirerr.Timeout}, {503, fhirerr.Timeout}, {504, fhirerr.Timeout}, {429, fhirerr.Throttled},
		{502, fhirerr.BadGateway}, {500, fhirerr.BadGateway}, {400, fhirerr.BadGateway},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			f := newFake(t, tc.status, "text/html", "<html>holder.internal:8443</html>", nil)
			_, err := newFetcher(t, f.URL, nrl.FetcherOptions{}).Fetch(context.Background(), nrl.Target{URL: "https://holder.example.nhs.uk/d.pdf", ContentType: "application/pdf"})
			if fhirerr.CategoryOf(err) != tc.category || strings.Contains(err.Error(), "holder.") || strings.Contains(err.Error(), "<html") {
				t.Errorf("err = %v, want category %d", err, tc.category)
			}
		})
	}
}

func TestNewFetcherRefusesBadBase(t *testing.T) {
	up, _ := upstream.New(upstream.Config{Name: "x", BaseURL: "http://127.0.0.1:1"}, nil)
	if _, err := nrl.NewFetcher(up, nrl.FetcherOptions{SSPBaseURL: "not a url"}); err == nil {
		t.Error("accepted a base URL without scheme and host")
	}
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}
