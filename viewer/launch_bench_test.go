package viewer_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/viewer"
)

// BenchmarkSignIn is one whole EHR launch: discovery, the redirect with
// state and PKCE, the callback's code exchange (in process) and the
// session cookie. Once per sign-in, not the hot path: measured to show
// what the OAuth library costs against a hand-written exchange.
func BenchmarkSignIn(b *testing.B) {
	f := newFakeFacade(nil) // t is used by $summary only
	log := logrus.New()
	log.SetOutput(io.Discard)
	v, err := viewer.New(viewer.Config{FHIRBase: base, API: f, Now: func() time.Time { return now }, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		v.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/view/launch?iss="+url.QueryEscape(base)+"&launch=L", nil))
		loc, err := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusFound || err != nil {
			b.Fatalf("launch: %d", w.Code)
		}
		q := loc.Query()
		r := httptest.NewRequest(http.MethodGet, "/view/callback?code="+url.QueryEscape(f.authorize(q, "9000000009"))+"&state="+url.QueryEscape(q.Get("state")), nil)
		for _, c := range w.Result().Cookies() {
			r.AddCookie(c)
		}
		w = httptest.NewRecorder()
		v.ServeHTTP(w, r)
		if w.Code != http.StatusSeeOther {
			b.Fatalf("callback: %d %s", w.Code, w.Body)
		}
	}
}
