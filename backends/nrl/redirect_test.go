package nrl_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/backends/nrl"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// A holder (or the proxy) answering a document request with a redirect
// cannot make the facade fetch another address and serve its body as the
// patient's document: the target gets no request (no token, no SSP headers,
// no Referer naming the document), and the answer is a 502 naming the
// redirect but not its target.
func TestFetchRefusesRedirects(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		sameHost bool // Location on the proxy itself
	}{
		{name: "302 to another host", status: http.StatusFound},
		{name: "301 to another host", status: http.StatusMovedPermanently},
		{name: "307 to another host", status: http.StatusTemporaryRedirect},
		{name: "308 to another host", status: http.StatusPermanentRedirect},
		{name: "302 to the proxy itself", status: http.StatusFound, sameHost: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			elsewhere := newFake(t, 200, "application/pdf", "%PDF-1.4 not the patient's document", nil)
			hdr := http.Header{}
			ssp := newFake(t, tc.status, "text/html", "<html>moved</html>", hdr)
			loc := elsewhere.URL + "/collect/9000000009.pdf"
			if tc.sameHost {
				loc = ssp.URL + "/collect/9000000009.pdf"
			}
			hdr.Set("Location", loc)

			doc, err := newFetcher(t, ssp.URL, nrl.FetcherOptions{}).Fetch(context.Background(),
				nrl.Target{URL: "https://holder.example.nhs.uk/docs/9000000009.pdf", ContentType: "application/pdf", HolderASID: "210987654321"})

			if doc != nil {
				doc.Body.Close()
			}
			if elsewhere.hits.Load() != 0 || ssp.hits.Load() != 1 {
				t.Fatalf("the redirect was followed: %d requests elsewhere, %d to the proxy (want 0 and 1)", elsewhere.hits.Load(), ssp.hits.Load())
			}
			if r := ssp.last.Load(); r.Header.Get("Referer") != "" {
				t.Errorf("Referer %q sent to the proxy", r.Header.Get("Referer"))
			}
			e := fhirerr.As(err)
			if e == nil || e.Category != fhirerr.BadGateway || e.Backend != nrl.Name || !upstream.IsRedirect(err) {
				t.Fatalf("err = %v, want a BadGateway redirect error of %s", err, nrl.Name)
			}
			if want := "answered with a redirect (HTTP " + strconv.Itoa(tc.status) + "), which the facade does not follow"; !strings.Contains(e.Message, want) {
				t.Errorf("message %q, want it to say %q", e.Message, want)
			}
			for _, leak := range []string{strings.TrimPrefix(elsewhere.URL, "http://"), strings.TrimPrefix(ssp.URL, "http://"), "collect", "9000000009", "holder.example", "<html"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q names %q", err, leak)
				}
			}
		})
	}
}

// NRL itself answering a search or read with a redirect is a 502 too, and
// the target gets nothing.
func TestClientRefusesRedirects(t *testing.T) {
	tests := []struct {
		name string
		call func(c *nrl.Client) error
	}{
		{name: "search", call: func(c *nrl.Client) error {
			_, err := c.Search(context.Background(), nrl.Query{NHSNumber: "9000000009"}, "")
			return err
		}},
		{name: "read", call: func(c *nrl.Client) error {
			_, err := c.Read(context.Background(), "Y05868-1000000091")
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			elsewhere := newFake(t, 200, "application/fhir+json", `{"resourceType":"Bundle","type":"searchset","total":0}`, nil)
			f := newFake(t, http.StatusFound, "text/html", "", http.Header{"Location": {elsewhere.URL + basePath + "/DocumentReference"}})
			err := tc.call(newClient(t, f.URL+basePath, nrl.Options{ODSCode: "A12345"}))
			if elsewhere.hits.Load() != 0 || f.hits.Load() != 1 {
				t.Fatalf("the redirect was followed: %d requests elsewhere, %d to NRL", elsewhere.hits.Load(), f.hits.Load())
			}
			if e := fhirerr.As(err); e == nil || e.Category != fhirerr.BadGateway || !strings.Contains(e.Message, "redirect (HTTP 302)") ||
				strings.Contains(err.Error(), strings.TrimPrefix(elsewhere.URL, "http://")) {
				t.Errorf("err = %v, want a BadGateway naming the redirect but not its target", err)
			}
		})
	}
}
