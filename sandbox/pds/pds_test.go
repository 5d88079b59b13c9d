package pds_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

func TestHeaders(t *testing.T) {
	closed := pds.New(pds.Options{})
	tests := []struct {
		name        string
		h           http.Handler
		headers     map[string]string
		status      int
		code        string
		diagnostics string
	}{
		{name: "open sandbox needs no token", h: openSimulator(t), status: 200},
		{name: "any bearer token", h: closed, headers: map[string]string{"Authorization": "Bearer anything"}, status: 200},
		{name: "missing token", h: closed, status: 401, code: "ACCESS_DENIED", diagnostics: "Missing Authorization header"},
		{name: "not a bearer token", h: closed, headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, status: 401, code: "ACCESS_DENIED", diagnostics: "Missing access token"},
		{name: "empty bearer token", h: closed, headers: map[string]string{"Authorization": "Bearer "}, status: 401, code: "ACCESS_DENIED"},
		{name: "open: the sandbox's token alphabet", h: openSimulator(t), headers: map[string]string{"Authorization": "Bearer anything"}, status: 401, code: "ACCESS_DENIED",
			diagnostics: "Invalid Access Token"},
		{name: "open: letters and digits", h: openSimulator(t), headers: map[string]string{"Authorization": "Bearer abc123_X9"}, status: 200},
		{name: "open: Bearer alone", h: openSimulator(t), headers: map[string]string{"Authorization": "Bearer"}, status: 401, code: "ACCESS_DENIED",
			diagnostics: "Missing access token"},
		{name: "missing X-Request-ID", h: closed, headers: map[string]string{"X-Request-ID": "", "Authorization": "Bearer x"}, status: 400, code: "MISSING_VALUE",
			diagnostics: "Invalid request with error - X-Request-ID header must be supplied to access this resource"},
		{name: "X-Request-ID is checked before the token", h: closed, headers: map[string]string{"X-Request-ID": ""}, status: 400, code: "MISSING_VALUE"},
		{name: "X-Request-ID not a UUID", h: openSimulator(t), headers: map[string]string{"X-Request-ID": "1234"}, status: 400, code: "INVALID_VALUE",
			diagnostics: "Invalid value - '1234' in header 'X-Request-ID'"},
		{name: "lower-case UUID", h: openSimulator(t), headers: map[string]string{"X-Request-ID": strings.ToLower(testRequestID)}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.h, http.MethodGet, pds.BasePath+"/Patient/9000000009", tt.headers)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tt.status, r.raw)
			}
			if tt.code == "" {
				return
			}
			if got := r.errorCode(t); got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
			if tt.diagnostics != "" {
				if got := str(t, r.body, "issue", 0, "diagnostics"); got != tt.diagnostics {
					t.Errorf("diagnostics = %q, want %q", got, tt.diagnostics)
				}
			}
		})
	}
}

func TestHeadersEchoed(t *testing.T) {
	sim := openSimulator(t)
	tests := []struct {
		name string
		path string
	}{
		{name: "read", path: "/Patient/9000000009"},
		{name: "search", path: "/Patient?family=Smith&birthdate=2010-10-22"},
		{name: "error", path: "/Patient/9000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, sim, http.MethodGet, pds.BasePath+tt.path, map[string]string{"X-Correlation-ID": "corr-42"})
			if got := r.header.Get("X-Request-Id"); got != testRequestID {
				t.Errorf("X-Request-Id = %q", got)
			}
			if got := r.header.Get("X-Correlation-Id"); got != "corr-42" {
				t.Errorf("X-Correlation-Id = %q", got)
			}
		})
	}
	if r := get(t, sim, "/Patient/9000000009"); r.header.Get("X-Correlation-Id") != "" {
		t.Error("X-Correlation-Id echoed although none was sent")
	}
}

// TestErrorBodiesMatchTheSandbox compares every error body with the
// sandbox's template in fixtures/, diagnostics filled in.
func TestErrorBodiesMatchTheSandbox(t *testing.T) {
	sim := openSimulator(t)
	closed := pds.New(pds.Options{})
	tests := []struct {
		name        string
		h           http.Handler
		path        string
		headers     map[string]string
		template    string
		display     string // replaces a #(display) placeholder
		diagnostics string // replaces #(diagnostics); "" removes it
	}{
		{name: "INVALID_RESOURCE_ID", h: sim, path: "/Patient/9000000000", template: "INVALID_RESOURCE_ID"},
		{name: "RESOURCE_NOT_FOUND", h: sim, path: "/Patient/9111231130", template: "RESOURCE_NOT_FOUND"},
		{name: "INVALIDATED_RESOURCE", h: sim, path: "/Patient/" + pds.InvalidatedNHSNumber, template: "INVALIDATED_RESOURCE"},
		{name: "UNSUPPORTED_SERVICE", h: sim, path: "/Patient", template: "UNSUPPORTED_SERVICE"},
		{name: "INVALID_VALUE", h: sim, path: "/Patient?family=Smith&birthdate=2010-1-1", template: "INVALID_VALUE",
			diagnostics: "Invalid value - '2010-1-1' in field 'birthdate'"},
		{name: "INVALID_SEARCH_DATA", h: sim, path: "/Patient?birthdate=2010-01-01&given=Jane", template: "INVALID_SEARCH_DATA",
			diagnostics: "Invalid search data provided - 'No searches were performed as the search criteria did not meet the minimum requirements'"},
		{name: "ADDITIONAL_PROPERTIES", h: sim, path: "/Patient?nhs=1", template: "ADDITIONAL_PROPERTIES",
			diagnostics: "Invalid request with error - Additional properties are not allowed ('nhs' was unexpected)"},
		{name: "MISSING_VALUE", h: sim, path: "/Patient/9000000009", headers: map[string]string{"X-Request-ID": ""}, template: "MISSING_VALUE",
			diagnostics: "Invalid request with error - X-Request-ID header must be supplied to access this resource"},
		{name: "ACCESS_DENIED", h: closed, path: "/Patient/9000000009", template: "ACCESS_DENIED",
			display: "Access Denied - Unauthorised", diagnostics: "Missing Authorization header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.h, http.MethodGet, pds.BasePath+tt.path, tt.headers)
			want := mustFixture(t, "fixtures/errorResponses/"+tt.template+".json")
			issue := walk(want, "issue", 0).(map[string]any)
			if issue["diagnostics"] == "#(diagnostics)" {
				if tt.diagnostics == "" {
					delete(issue, "diagnostics")
				} else {
					issue["diagnostics"] = tt.diagnostics
				}
			}
			coding := walk(issue, "details", "coding", 0).(map[string]any)
			if coding["display"] == "#(display)" {
				coding["display"] = tt.display
			}
			if !reflect.DeepEqual(r.body, want) {
				t.Errorf("body = %s\nwant  %v", r.raw, want)
			}
			if got := str(t, r.body, "issue", 0, "details", "coding", 0, "system"); got != pds.SpineErrorSystem {
				t.Errorf("system = %q", got)
			}
		})
	}
}

func TestUnsupportedRoutes(t *testing.T) {
	sim := openSimulator(t)
	tests := []struct {
		name      string
		method    string
		path      string
		status    int
		issueCode string
	}{
		{name: "unknown resource", method: "GET", path: pds.BasePath + "/Practitioner/1", status: 404, issueCode: "not-found"},
		{name: "outside the base path", method: "GET", path: "/Patient/9000000009", status: 404, issueCode: "not-found"},
		{name: "deep path", method: "GET", path: pds.BasePath + "/Patient/9000000009/Foo/1", status: 404, issueCode: "not-found"},
		{name: "DELETE a patient", method: "DELETE", path: pds.BasePath + "/Patient/9000000009", status: 405, issueCode: "not-supported"},
		{name: "PUT a search", method: "PUT", path: pds.BasePath + "/Patient", status: 405, issueCode: "not-supported"},
		{name: "PATCH a search", method: "PATCH", path: pds.BasePath + "/Patient", status: 405, issueCode: "not-supported"},
		{name: "create without a body", method: "POST", path: pds.BasePath + "/Patient", status: 400, issueCode: "required"},
		{name: "POST a RelatedPerson", method: "POST", path: pds.BasePath + "/Patient/9000000017/RelatedPerson", status: 405, issueCode: "not-supported"},
		{name: "POST a Coverage", method: "POST", path: pds.BasePath + "/Coverage", status: 405, issueCode: "not-supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, sim, tt.method, tt.path, nil)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tt.status, r.raw)
			}
			if got := str(t, r.body, "issue", 0, "code"); got != tt.issueCode {
				t.Errorf("issue.code = %q, want %q", got, tt.issueCode)
			}
			if str(t, r.body, "issue", 0, "details", "coding", 0, "code") == "" || str(t, r.body, "issue", 0, "diagnostics") == "" {
				t.Errorf("want a Spine code and diagnostics: %s", r.raw)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	small := []population.Person{}
	tests := []struct {
		name    string
		fault   pds.Fault
		path    string
		status  int
		ctype   string
		body    string
		header  [2]string
		faulted int // how many of three identical requests get the fault
	}{
		{name: "HTML 503 from the gateway", fault: pds.Fault{Status: 503, Body: "<html>503 Service Temporarily Unavailable</html>", ContentType: "text/html"},
			path: "/Patient/9000000009", status: 503, ctype: "text/html", body: "<html>503 Service Temporarily Unavailable</html>", faulted: 3},
		{name: "429 with Retry-After, twice", fault: pds.Fault{Status: 429, Body: `{"resourceType":"OperationOutcome"}`, Header: http.Header{"Retry-After": {"2"}}, Count: 2},
			path: "/Patient/9000000009", status: 429, ctype: "application/fhir+json", header: [2]string{"Retry-After", "2"}, faulted: 2},
		{name: "path prefix relative to the base", fault: pds.Fault{Status: 500, PathPrefix: "/Patient/9000000025"},
			path: "/Patient/9000000025", status: 500, faulted: 3},
		{name: "path prefix with the base", fault: pds.Fault{Status: 500, PathPrefix: pds.BasePath + "/Patient/9000000025"},
			path: "/Patient/9000000025", status: 500, faulted: 3},
		{name: "other paths are served", fault: pds.Fault{Status: 500, PathPrefix: "/Patient/9000000025"},
			path: "/Patient/9000000009", status: 500, faulted: 0},
		{name: "delay only", fault: pds.Fault{Delay: 20 * time.Millisecond, Count: 1},
			path: "/Patient/9000000009", status: 200, faulted: 3}, // status 200 all the same
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := pds.New(pds.Options{Open: true, Population: small})
			f := tt.fault
			sim.SetFault(&f)
			f.Status = 418 // SetFault keeps its own copy
			faulted := 0
			for i := 0; i < 3; i++ {
				start := time.Now()
				r := get(t, sim, tt.path)
				if tt.fault.Status == 0 {
					if r.status != 200 {
						t.Errorf("request %d: status %d", i, r.status)
					}
					if i == 0 && time.Since(start) < tt.fault.Delay {
						t.Errorf("answered in %v, before the %v delay", time.Since(start), tt.fault.Delay)
					}
					faulted++
					continue
				}
				if r.status != tt.status {
					continue
				}
				faulted++
				if tt.ctype != "" && r.header.Get("Content-Type") != tt.ctype {
					t.Errorf("Content-Type = %q, want %q", r.header.Get("Content-Type"), tt.ctype)
				}
				if tt.body != "" && string(r.raw) != tt.body {
					t.Errorf("body = %q, want %q", r.raw, tt.body)
				}
				if tt.header[0] != "" && r.header.Get(tt.header[0]) != tt.header[1] {
					t.Errorf("%s = %q, want %q", tt.header[0], r.header.Get(tt.header[0]), tt.header[1])
				}
			}
			if faulted != tt.faulted {
				t.Errorf("%d of 3 requests faulted, want %d", faulted, tt.faulted)
			}
			if got := sim.Requests(); got != 3 {
				t.Errorf("Requests() = %d, want 3", got)
			}
			sim.SetFault(nil)
			if r := get(t, sim, "/Patient/9000000009"); r.status != 200 {
				t.Errorf("after SetFault(nil): status %d", r.status)
			}
		})
	}
}

func TestFaultDelayRespectsCancellation(t *testing.T) {
	sim := pds.New(pds.Options{Open: true, Population: []population.Person{}})
	sim.SetFault(&pds.Fault{Status: 200, Delay: time.Minute})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+pds.BasePath+"/Patient/9000000009", nil)
	req.Header.Set("X-Request-ID", testRequestID)
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %s, want the client's deadline", resp.Status)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	// The handler returns once the request is cancelled, so the server closes
	// promptly (srv.Close waits for handlers).
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still waiting after the request was cancelled")
	}
}

func TestRequestsCount(t *testing.T) {
	sim := pds.New(pds.Options{Open: true, Population: []population.Person{}})
	if sim.Requests() != 0 {
		t.Fatalf("fresh simulator counted %d requests", sim.Requests())
	}
	get(t, sim, "/Patient/9000000009")
	get(t, sim, "/Patient/9000000000")
	do(t, sim, http.MethodGet, pds.BasePath+"/Patient/9000000009", map[string]string{"X-Request-ID": ""})
	if got := sim.Requests(); got != 3 {
		t.Errorf("Requests() = %d, want 3", got)
	}
}

// TestConcurrentUse exercises reads, searches and fault changes together;
// run with -race.
func TestConcurrentUse(t *testing.T) {
	sim := pds.New(pds.Options{Open: true})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	paths := []string{
		"/Patient/9000000009",
		"/Patient/" + population.Default()[42].NHSNumber,
		"/Patient?family=Smith&birthdate=ge1980-01-01&birthdate=le1981-01-01",
		"/Patient?family=Sm*&gender=female&birthdate=eq2010-10-22",
		"/Patient?family=smith&given=Jane&gender=female&birthdate=2010-10-22&_fuzzy-match=true",
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if g == 0 && i%10 == 0 {
					sim.SetFault(&pds.Fault{Status: 503, Count: 1, PathPrefix: "/nowhere"})
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL+pds.BasePath+paths[(g+i)%len(paths)], nil)
				req.Header.Set("X-Request-ID", testRequestID)
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- errors.New(req.URL.String() + ": " + resp.Status)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := sim.Requests(); got != 400 {
		t.Errorf("Requests() = %d, want 400", got)
	}
}
