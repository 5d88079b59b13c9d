package pds_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/pds"
)

func benchmarkGet(b *testing.B, path string) {
	sim := pds.New(pds.Options{Open: true})
	req := httptest.NewRequest(http.MethodGet, pds.BasePath+path, nil)
	req.Header.Set("X-Request-ID", testRequestID)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func BenchmarkRead(b *testing.B) { benchmarkGet(b, "/Patient/9000000009") }

func BenchmarkSearchEq(b *testing.B) {
	benchmarkGet(b, "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22")
}

func BenchmarkSearchFamilyRange(b *testing.B) {
	benchmarkGet(b, "/Patient?family=Smith&birthdate=ge1990-01-01&birthdate=le1990-12-31")
}

func BenchmarkSearchFuzzyWideRange(b *testing.B) {
	benchmarkGet(b, "/Patient?family=Smyth&given=Jane&birthdate=ge1950-01-01&birthdate=le2000-12-31&_fuzzy-match=true")
}

func BenchmarkSearchWildcard(b *testing.B) {
	benchmarkGet(b, "/Patient?family=Wil*&birthdate=ge1990-01-01&birthdate=le1999-12-31")
}
