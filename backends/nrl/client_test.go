package nrl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/internal/recorded"
	"github.com/carerecords/fhir-facade/backends/nrl"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Paths and patients of the simulator the cassettes were recorded from
// (sandbox/nrl, see testdata/SOURCES.md).
const (
	basePath = "/record-locator/consumer/FHIR/R4"
	sspPath  = "/ssp"
	// edgeCase has 24 pointers, more than a page, among them the three below.
	edgeCase        = "9990000042"
	largeDocument   = "Y05868-3000000011" // a scanned record of largeSize bytes
	largeSize       = 5 << 20
	holderDown      = "Y05868-3000000028"
	missingDocument = "Y05868-3000000035"
)

// keep is what a recorded NRL or SSP request must carry besides its
// method, URL and body.
var keep = map[string]string{
	"Authorization": "", "Accept": "", "NHSD-End-User-Organisation-ODS": "", "X-Request-ID": recorded.AnyValue,
	"Ssp-From": "", "Ssp-To": "", "Ssp-InteractionID": "", "Ssp-TraceID": recorded.AnyValue,
}

// replay serves the cassette testdata/<name>.json, recorded from the
// simulator, and returns the server's URL.
func replay(t *testing.T, name string) string {
	t.Helper()
	return recorded.Server(t, filepath.Join("testdata", name+".json"), keep).URL
}

// cassette is what testdata/<name>.json holds; nothing while it is being
// recorded.
func cassette(t *testing.T, name string) []recorded.Exchange {
	t.Helper()
	if recorded.Recording() {
		return nil
	}
	return recorded.Load(t, filepath.Join("testdata", name+".json"))
}

func newClient(t *testing.T, baseURL string, opts nrl.Options) *nrl.Client {
	t.Helper()
	up, err := upstream.New(upstream.Config{Name: nrl.Name, BaseURL: baseURL, Token: "t", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return nrl.New(up, opts)
}

func ids(t *testing.T, entries []json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, e := range entries {
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(e, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.ID)
	}
	return out
}

// Contract tests: the client against what the simulator answered it.

func TestSearchAgainstTheSimulator(t *testing.T) {
	srv := replay(t, "search")
	tests := []struct {
		name string
		opts nrl.Options
		q    nrl.Query
		want []string
	}{
		{name: "9000000009", q: nrl.Query{NHSNumber: "9000000009"}, want: []string{"Y07213-1000000107", "Y05868-1000000091", "Y04531-1000000114"}},
		{name: "by type", q: nrl.Query{NHSNumber: "9000000009", Type: "http://snomed.info/sct|736253002"}, want: []string{"Y05868-1000000091"}},
		{name: "by custodian", q: nrl.Query{NHSNumber: "9000000009", Custodian: "Y04531"}, want: []string{"Y04531-1000000114"}},
		{name: "organisation that sees crisis plans only", opts: nrl.Options{ODSCode: "RQI"}, q: nrl.Query{NHSNumber: "9000000009"}, want: []string{"Y05868-1000000091"}},
		{name: "nobody's pointers", q: nrl.Query{NHSNumber: "9111231130"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, srv+basePath, tc.opts)
			res, err := c.SearchAll(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range res.Pages {
				got = append(got, ids(t, p.Entries)...)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") || res.Total != len(tc.want) || res.Truncated {
				t.Errorf("got %v (total %d, truncated %v), want %v", got, res.Total, res.Truncated, tc.want)
			}
		})
	}
}

func TestSearchAllFollowsPages(t *testing.T) {
	srv := replay(t, "pages")
	// The pointers the simulator held, in its order: its two pages' entries
	// (the cassette asks for the first page again, for MaxPages 1).
	var want []string
	seen := map[string]bool{}
	for _, x := range cassette(t, "pages") {
		if seen[x.Request.URI] {
			continue
		}
		seen[x.Request.URI] = true
		var b struct {
			Entry []struct{ Resource json.RawMessage }
		}
		if err := json.Unmarshal(x.Response.JSON, &b); err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entry {
			want = append(want, ids(t, []json.RawMessage{e.Resource})...)
		}
	}
	if len(want) != 24 && !recorded.Recording() {
		t.Fatalf("the cassette holds %d pointers, want the edge case's 24", len(want))
	}
	c := newClient(t, srv+basePath, nrl.Options{})
	res, err := c.SearchAll(context.Background(), nrl.Query{NHSNumber: edgeCase})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Pages {
		got = append(got, ids(t, p.Entries)...)
	}
	if len(res.Pages) != 2 || strings.Join(got, ",") != strings.Join(want, ",") || res.Total != len(want) {
		t.Errorf("%d pages, %v (total %d), want %v", len(res.Pages), got, res.Total, want)
	}

	one := newClient(t, srv+basePath, nrl.Options{MaxPages: 1})
	res, err = one.SearchAll(context.Background(), nrl.Query{NHSNumber: edgeCase})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pages) != 1 || !res.Truncated || res.Total != len(want) {
		t.Errorf("MaxPages 1: %d pages, truncated %v, total %d", len(res.Pages), res.Truncated, res.Total)
	}
}

func TestReadAgainstTheSimulator(t *testing.T) {
	c := newClient(t, replay(t, "read")+basePath, nrl.Options{})
	body, err := c.Read(context.Background(), "Y05868-1234567892")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, []json.RawMessage{body}); got[0] != "Y05868-1234567892" {
		t.Errorf("read %v", got)
	}
}

func TestErrorsAgainstTheSimulator(t *testing.T) {
	srv := replay(t, "errors")
	tests := []struct {
		name     string
		opts     nrl.Options
		do       func(c *nrl.Client) error
		category fhirerr.Category
		code     string
		expr     string
	}{
		{name: "unknown id", do: func(c *nrl.Client) error { _, err := c.Read(context.Background(), "Y05861-1234567800"); return err },
			category: fhirerr.NotFound, code: "NO_RECORD_FOUND"},
		{name: "type the organisation may not see", opts: nrl.Options{ODSCode: "RQI"},
			do:       func(c *nrl.Client) error { _, err := c.Read(context.Background(), "Y05868-1234567892"); return err },
			category: fhirerr.Forbidden, code: "ACCESS DENIED"},
		{name: "organisation not onboarded", opts: nrl.Options{ODSCode: "XYZ"},
			do: func(c *nrl.Client) error {
				_, err := c.Search(context.Background(), nrl.Query{NHSNumber: "9000000009"}, "")
				return err
			},
			category: fhirerr.Forbidden, code: "ACCESS DENIED"},
		{name: "unknown type", do: func(c *nrl.Client) error {
			_, err := c.Search(context.Background(), nrl.Query{NHSNumber: "9000000009", Type: "http://snomed.info/sct|410970009"}, "")
			return err
		}, category: fhirerr.Invalid, code: "INVALID_CODE_SYSTEM", expr: "type"},
		{name: "bad page token", do: func(c *nrl.Client) error {
			_, err := c.Search(context.Background(), nrl.Query{NHSNumber: "9000000009"}, "20.nonsense")
			return err
		}, category: fhirerr.Invalid, code: "INVALID_PARAMETER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(newClient(t, srv+basePath, tc.opts))
			e := fhirerr.As(err)
			if e == nil || e.Category != tc.category || e.Details == nil || e.Details.Code != tc.code || e.Details.System != nrl.ErrorSystem || e.Expression != tc.expr {
				t.Fatalf("err = %#v, want category %d code %s expression %q", e, tc.category, tc.code, tc.expr)
			}
			if strings.Contains(e.Message, "9000000009") || strings.Contains(e.Message, "127.0.0.1") {
				t.Errorf("message leaks: %s", e.Message)
			}
		})
	}
}

// Edge cases against a fake NRL.

type fake struct {
	*httptest.Server
	hits atomic.Int32
	last atomic.Pointer[http.Request]
}

func newFake(t *testing.T, status int, ctype, body string, hdr http.Header) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.last.Store(r.Clone(context.Background()))
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(f.Close)
	return f
}

func TestSearchSendsNRLsQuery(t *testing.T) {
	f := newFake(t, 200, "application/fhir+json", `{"resourceType":"Bundle","type":"searchset","total":0}`, nil)
	c := newClient(t, f.URL+basePath, nrl.Options{ODSCode: "A12345"})
	_, err := c.Search(context.Background(), nrl.Query{NHSNumber: "9000000009", Type: "http://snomed.info/sct|736253002", Custodian: "Y05868"}, "tok")
	if err != nil {
		t.Fatal(err)
	}
	r := f.last.Load()
	q := r.URL.Query()
	for k, want := range map[string]string{
		"subject:identifier":   "https://fhir.nhs.uk/Id/nhs-number|9000000009",
		"type":                 "http://snomed.info/sct|736253002",
		"custodian:identifier": "https://fhir.nhs.uk/Id/ods-organization-code|Y05868",
		"next-page-token":      "tok",
	} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if r.Header.Get("NHSD-End-User-Organisation-ODS") != "A12345" || r.Header.Get("X-Request-ID") == "" || r.Header.Get("Authorization") != "Bearer t" {
		t.Errorf("headers %v", r.Header)
	}
	if r.URL.Path != basePath+"/DocumentReference" {
		t.Errorf("path %s", r.URL.Path)
	}
}

func TestNoBackendCallForInvalidInput(t *testing.T) {
	f := newFake(t, 200, "application/fhir+json", `{}`, nil)
	c := newClient(t, f.URL, nrl.Options{})
	_, err1 := c.Search(context.Background(), nrl.Query{NHSNumber: "9000000000"}, "")
	_, err2 := c.Search(context.Background(), nrl.Query{NHSNumber: "9000000009", Custodian: "Y05868|x"}, "")
	_, err3 := c.Read(context.Background(), "a/b")
	if fhirerr.CategoryOf(err1) != fhirerr.Invalid || fhirerr.CategoryOf(err2) != fhirerr.Invalid || fhirerr.CategoryOf(err3) != fhirerr.NotFound {
		t.Errorf("errors %v / %v / %v", err1, err2, err3)
	}
	if f.hits.Load() != 0 {
		t.Errorf("%d backend calls", f.hits.Load())
	}
}

func TestPageTokenForms(t *testing.T) {
	tests := []struct {
		name string
		meta string
		want string
	}{
		{name: "code next-page-token, token in display", meta: `{"tag":[{"code":"next-page-token","display":"abc"}]}`, want: "abc"},
		{name: "system naming it, token in code", meta: `{"tag":[{"system":"https://example.org/next-page-token","code":"xyz"}]}`, want: "xyz"},
		{name: "other tags only", meta: `{"tag":[{"system":"http://example.org","code":"x"}]}`},
		{name: "no meta", meta: `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, 200, "application/fhir+json", `{"resourceType":"Bundle","type":"searchset","total":1,"meta":`+tc.meta+`,"entry":[{"resource":{"resourceType":"DocumentReference","id":"a"}}]}`, nil)
			p, err := newClient(t, f.URL, nrl.Options{}).Search(context.Background(), nrl.Query{NHSNumber: "9000000009"}, "")
			if err != nil {
				t.Fatal(err)
			}
			if p.NextPageToken != tc.want || p.Total != 1 || len(p.Entries) != 1 {
				t.Errorf("token %q, total %d, %d entries", p.NextPageToken, p.Total, len(p.Entries))
			}
		})
	}
}

func TestSearchAllStopsOnARepeatedToken(t *testing.T) {
	f := newFake(t, 200, "application/fhir+json", `{"resourceType":"Bundle","type":"searchset","total":40,"meta":{"tag":[{"code":"next-page-token","display":"same"}]},"entry":[]}`, nil)
	res, err := newClient(t, f.URL, nrl.Options{}).SearchAll(context.Background(), nrl.Query{NHSNumber: "9000000009"})
	if err != nil {
		t.Fatal(err)
	}
	if f.hits.Load() != 2 || len(res.Pages) != 2 {
		t.Errorf("%d calls, %d pages; want 2 and 2", f.hits.Load(), len(res.Pages))
	}
}

func TestErrorMapping(t *testing.T) {
	oo := func(status int, code, display, expr string) string {
		ex := ""
		if expr != "" {
			ex = `,"expression":["` + expr + `"]`
		}
		return fmt.Sprintf(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"coding":[{"system":"%s","code":"%s","display":"%s"}]},"diagnostics":"about 9000000009"%s}]}`, nrl.ErrorSystem, code, display, ex)
	}
	tests := []struct {
		name       string
		status     int
		ctype      string
		body       string
		hdr        http.Header
		category   fhirerr.Category
		expr       string
		retryAfter time.Duration
	}{
		{name: "invalid NHS number", status: 400, body: oo(400, "INVALID_NHS_NUMBER", "Invalid NHS number", "subject:identifier"), category: fhirerr.Invalid, expr: "subject"},
		{name: "invalid custodian", status: 400, body: oo(400, "INVALID_PARAMETER", "Invalid parameter", "custodian:identifier"), category: fhirerr.Invalid, expr: "custodian"},
		{name: "header missing: the facade's fault", status: 400, body: oo(400, "MISSING_OR_INVALID_HEADER", "There is a required header missing or invalid", ""), category: fhirerr.BadGateway},
		{name: "credentials refused", status: 401, body: oo(401, "ACCESS_DENIED", "x", ""), category: fhirerr.BadGateway},
		{name: "forbidden", status: 403, body: oo(403, "ACCESS DENIED", "Access has been denied to process this request", ""), category: fhirerr.Forbidden},
		{name: "not found", status: 404, body: oo(404, "NO_RECORD_FOUND", "No record found", ""), category: fhirerr.NotFound},
		{name: "throttled", status: 429, body: "", hdr: http.Header{"Retry-After": {"3"}}, category: fhirerr.Throttled, retryAfter: 3 * time.Second},
		{name: "unavailable HTML", status: 503, ctype: "text/html", body: "<html>503 Service Temporarily Unavailable</html>", category: fhirerr.Timeout},
		{name: "gateway timeout", status: 504, body: "", category: fhirerr.Timeout},
		{name: "internal error", status: 500, body: oo(500, "INTERNAL_SERVER_ERROR", "Unexpected internal server error", ""), category: fhirerr.BadGateway},
		{name: "200 not JSON", status: 200, ctype: "text/html", body: "<html/>", category: fhirerr.BadGateway},
		{name: "200 not a Bundle", status: 200, body: `{"resourceType":"OperationOutcome"}`, category: fhirerr.BadGateway},
		{name: "200 garbage", status: 200, body: `{"resourceType":`, category: fhirerr.BadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.ctype
			if ct == "" {
				ct = "application/fhir+json"
			}
			f := newFake(t, tc.status, ct, tc.body, tc.hdr)
			_, err := newClient(t, f.URL, nrl.Options{}).Search(context.Background(), nrl.Query{NHSNumber: "9000000009"}, "")
			e := fhirerr.As(err)
			if e == nil || e.Category != tc.category || e.Expression != tc.expr || e.RetryAfter != tc.retryAfter {
				t.Fatalf("err = %#v, want category %d, expression %q, retry after %v", e, tc.category, tc.expr, tc.retryAfter)
			}
			if strings.Contains(e.Message, "9000000009") || strings.Contains(e.Message, "<html") {
				t.Errorf("message leaks: %s", e.Message)
			}
		})
	}
}
