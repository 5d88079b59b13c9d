package issuer_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/auth/issuer"
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
