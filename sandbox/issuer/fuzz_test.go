package issuer_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

// FuzzTokenEndpoint posts arbitrary form bodies to the token endpoint: it
// must never panic, answer only 200, 400 or 401, and always in JSON.
func FuzzTokenEndpoint(f *testing.F) {
	iss, err := issuer.New(issuer.Config{URL: "http://127.0.0.1:8080/oauth", Audience: aud, Now: now})
	if err != nil {
		f.Fatal(err)
	}
	h := iss.TokenHandler()
	for _, s := range []string{
		"grant_type=client_credentials&client_id=facade-dev&client_secret=facade-dev-secret&role=clinician&scope=user/*.rs",
		"grant_type=client_credentials&client_id=facade-dev&client_secret=facade-dev-secret&patient=9000000009",
		"grant_type=password", "client_id=%zz", "scope=user/Patient.rx&grant_type=client_credentials&client_id=facade-dev&client_secret=facade-dev-secret",
		"a=1&a=2", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", issuer.TokenPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 401:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("body is not JSON: %q", rec.Body)
		}
		if rec.Code == 200 && (v["access_token"] == nil || v["token_type"] != "Bearer") {
			t.Fatalf("200 without a token: %q", rec.Body)
		}
	})
}

// FuzzAuthorizeEndpoint sends arbitrary query strings to the authorization
// endpoint: it must never panic; it answers 302 only to a registered
// redirect URI (with a code and the state, or an error), and otherwise 400
// without a Location.
func FuzzAuthorizeEndpoint(f *testing.F) {
	iss, err := issuer.New(issuer.Config{URL: "http://127.0.0.1:8080/oauth", Audience: aud, Now: now,
		Clients: []issuer.Client{
			{ID: "ehr", Secret: "ehr-secret"},
			{ID: issuer.ViewerClientID, RedirectURIs: []string{viewerRedirect}},
			{ID: "other", RedirectURIs: []string{otherRedirect}},
		}})
	if err != nil {
		f.Fatal(err)
	}
	// A few real launches, so some inputs get as far as a code.
	var launches []string
	for range 4 {
		rec := postForm(iss.LaunchHandler(), issuer.LaunchPath, url.Values{"client_id": {"ehr"}, "client_secret": {"ehr-secret"}, "patient": {"9000000009"}}, [2]string{})
		var res issuer.LaunchResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			f.Fatal(err)
		}
		launches = append(launches, res.Launch)
	}
	for _, l := range launches {
		f.Add(authParams(l).Encode())
	}
	for _, s := range []string{
		"", "client_id=facade-viewer", "client_id=facade-viewer&redirect_uri=" + url.QueryEscape(viewerRedirect),
		"client_id=other&redirect_uri=" + url.QueryEscape(otherRedirect) + "&response_type=code&state=%zz",
		"client_id=facade-viewer&client_id=other", "a=1&a=2&client_id=%",
	} {
		f.Add(s)
	}
	registered := []string{viewerRedirect + "?", otherRedirect + "&"}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/oauth/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		iss.AuthorizeHandler().ServeHTTP(rec, req)
		loc := rec.Header().Get("Location")
		switch rec.Code {
		case 302:
			ok := false
			for _, r := range registered {
				ok = ok || strings.HasPrefix(loc, r)
			}
			if !ok {
				t.Fatalf("redirected to %q", loc)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("Location %q: %v", loc, err)
			}
			if q := u.Query(); (q.Get("code") == "") == (q.Get("error") == "") {
				t.Fatalf("Location %q has neither or both of code and error", loc)
			}
		case 400:
			if loc != "" {
				t.Fatalf("400 with Location %q", loc)
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}
