package recorded

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeT collects what Handler reports, so an unrecorded request can be
// seen to fail the test without failing this one.
type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Errorf(format string, args ...any) { f.errs = append(f.errs, format) }

func TestReplay(t *testing.T) {
	cassette := `[
	 {"request": {"method": "GET", "uri": "/Flag?patient=1&status=active", "header": {"X-Request-ID": ["*"], "Authorization": ["Bearer t"]}},
	  "response": {"status": 200, "header": {"Content-Type": ["application/json"], "Content-Length": ["1"]}, "json": {"self": "{base}/Flag", "n": 1}}},
	 {"request": {"method": "GET", "uri": "/Flag?patient=1&status=active", "header": {"X-Request-ID": ["*"], "Authorization": ["Bearer t"]}},
	  "response": {"status": 200, "json": {"n": 2}}},
	 {"request": {"method": "POST", "uri": "/Flag", "body": {"a": 1, "b": [1, 2]}},
	  "response": {"status": 201, "text": "made"}}
	]`
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(cassette), 0o644); err != nil {
		t.Fatal(err)
	}
	ft := &fakeT{TB: t}
	srv := Server(ft, path, nil)
	get := func(uri string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+uri, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return do(t, req)
	}
	full := map[string]string{"X-Request-ID": "abc", "Authorization": "Bearer t"}
	tests := []struct {
		name   string
		status int
		body   string
		errs   int
		call   func() (int, string)
	}{
		{name: "query in another order, any request id", status: 200, body: `{"self":"` + srv.URL + `/Flag","n":1}`,
			call: func() (int, string) { return get("/Flag?status=active&patient=1", full) }},
		{name: "the next unused answer", status: 200, body: `{"n":2}`, call: func() (int, string) { return get("/Flag?patient=1&status=active", full) }},
		{name: "then the last again", status: 200, body: `{"n":2}`, call: func() (int, string) { return get("/Flag?patient=1&status=active", full) }},
		{name: "a header missing", status: 501, errs: 1, call: func() (int, string) {
			return get("/Flag?patient=1&status=active", map[string]string{"Authorization": "Bearer t"})
		}},
		{name: "another header value", status: 501, errs: 1, call: func() (int, string) {
			return get("/Flag?patient=1&status=active", map[string]string{"X-Request-ID": "abc", "Authorization": "Bearer u"})
		}},
		{name: "another query", status: 501, errs: 1, call: func() (int, string) { return get("/Flag?patient=2&status=active", full) }},
		{name: "an extra parameter", status: 501, errs: 1, call: func() (int, string) { return get("/Flag?patient=1&status=active&x=1", full) }},
		{name: "body the same JSON, other spacing", status: 201, body: "made", call: func() (int, string) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/Flag", strings.NewReader(`{"a":1,"b":[1,2]}`))
			return do(t, req)
		}},
		{name: "another body", status: 501, errs: 1, call: func() (int, string) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/Flag", strings.NewReader(`{"a":2,"b":[1,2]}`))
			return do(t, req)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ft.errs = nil
			status, body := tc.call()
			if status != tc.status || (tc.body != "" && body != tc.body) || len(ft.errs) != tc.errs {
				t.Errorf("%d %s, %d test errors; want %d %s, %d", status, body, len(ft.errs), tc.status, tc.body, tc.errs)
			}
		})
	}
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body) // a recorded Content-Length not the body's would cut it short
	return res.StatusCode, string(b)
}
