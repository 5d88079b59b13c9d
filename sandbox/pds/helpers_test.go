package pds_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/pds"
)

const testRequestID = "60E0B220-8136-4CA5-AE46-1D97EF59D068"

var (
	openOnce sync.Once
	openSim  *pds.Simulator
)

// openSimulator is one open-mode simulator over the default population,
// shared by the tests that install no fault.
func openSimulator(t *testing.T) *pds.Simulator {
	t.Helper()
	openOnce.Do(func() { openSim = pds.New(pds.Options{Open: true, BaseURL: "https://pds.test" + pds.BasePath}) })
	return openSim
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// serve sends a request straight to the handler: a valid X-Request-ID,
// then headers over it (a "" value removes one).
func serve(t *testing.T, h http.Handler, method, path, body string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("X-Request-ID", testRequestID)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Code, rec.Result().Header, raw
}

// do sends a request straight to the handler. headers default to a valid
// X-Request-ID; pass a "X-Request-ID": "" entry to omit it.
func do(t *testing.T, h http.Handler, method, path string, headers map[string]string) response {
	t.Helper()
	status, header, raw := serve(t, h, method, path, "", headers)
	r := response{status: status, header: header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(strings.TrimSpace(string(raw)), "{") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

func get(t *testing.T, h http.Handler, path string) response {
	t.Helper()
	return do(t, h, http.MethodGet, pds.BasePath+path, nil)
}

// errorCode returns issue[0].details.coding[0].code of an OperationOutcome.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	return str(t, r.body, "issue", 0, "details", "coding", 0, "code")
}

// str walks a decoded JSON value by keys and indexes and returns the string
// found, or "" when the path does not exist.
func str(t *testing.T, v any, path ...any) string {
	t.Helper()
	s, _ := walk(v, path...).(string)
	return s
}

func walk(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// entryIDs lists the resource ids of a searchset's entries.
func (r response) entryIDs() []string {
	var ids []string
	entries, _ := r.body["entry"].([]any)
	for _, e := range entries {
		id, _ := walk(e, "resource", "id").(string)
		ids = append(ids, id)
	}
	return ids
}

func (r response) scores() []float64 {
	var out []float64
	entries, _ := r.body["entry"].([]any)
	for _, e := range entries {
		s, _ := walk(e, "search", "score").(float64)
		out = append(out, s)
	}
	return out
}

// mustFixture decodes a JSON file of this package.
func mustFixture(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}
