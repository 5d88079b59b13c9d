package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

// facade stands in for the running facade: the dev issuer's token endpoint
// and /healthz on loopback, and a key file.
func facade(t *testing.T) (*issuer.Issuer, *httptest.Server, string) {
	t.Helper()
	iss, srv, keyFile := facadeWith(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv.Start()
	return iss, srv, keyFile
}

// facadeWith is facade with its own /healthz, not started yet.
func facadeWith(t *testing.T, healthz http.HandlerFunc) (*issuer.Issuer, *httptest.Server, string) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	t.Cleanup(srv.Close)
	root := "http://" + srv.Listener.Addr().String()
	keyFile := filepath.Join(t.TempDir(), "issuer-key.json")
	iss, err := issuer.New(issuer.Config{URL: root + "/oauth", Audience: root + "/fhir", KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST "+issuer.TokenPath, iss.TokenHandler())
	mux.Handle("GET /healthz", healthz)
	return iss, srv, keyFile
}

// noFacadeEnv clears what would point run at a facade other than the test's.
func noFacadeEnv(t *testing.T) {
	for _, k := range []string{"TOKEN_CLIENT_SECRET", "FACADE_URL", "FACADE_BASE_URL", "FACADE_ADDR"} {
		t.Setenv(k, "")
	}
}

func TestRun(t *testing.T) {
	noFacadeEnv(t)
	iss, srv, keyFile := facade(t)
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{iss.IssuerConfig()}, Audience: iss.Audience()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantErr   string // in stderr
		wantRole  string
		wantScope string
		wantPat   string
	}{
		{name: "endpoint clinician", args: []string{"-url", srv.URL, "-role", "clinician", "-scope", "user/*.rs user/Flag.cu"}, wantRole: "R8000", wantScope: "user/*.rs user/Flag.cu"},
		{name: "endpoint default role and scope", args: []string{"-url", srv.URL}, wantRole: "R8000", wantScope: "user/*.rs user/Flag.cu user/Patient.c"},
		{name: "endpoint patient context", args: []string{"-url", srv.URL, "-patient", "9000000009"}, wantRole: "R8000", wantScope: "patient/*.rs", wantPat: "9000000009"},
		{name: "endpoint system token", args: []string{"-url", srv.URL, "-role", ""}, wantScope: "system/*.rs"},
		{name: "key file admin", args: []string{"-key-file", keyFile, "-role", "admin"}, wantRole: "R8008", wantScope: "user/Patient.crus"},
		{name: "key file auditor with scope", args: []string{"-key-file", keyFile, "-role", "auditor", "-scope", "user/AuditEvent.s"}, wantRole: "facade-auditor", wantScope: "user/AuditEvent.s"},
		{name: "endpoint unknown role", args: []string{"-url", srv.URL, "-role", "superuser"}, wantCode: 1, wantErr: "invalid_request"},
		{name: "endpoint bad secret", args: []string{"-url", srv.URL, "-client-secret", "nope"}, wantCode: 1, wantErr: "invalid_client"},
		{name: "endpoint wrong path", args: []string{"-url", srv.URL, "-path", "/nope"}, wantCode: 1, wantErr: "404"},
		{name: "key file unknown role", args: []string{"-key-file", keyFile, "-role", "superuser"}, wantCode: 1, wantErr: "unknown role"},
		{name: "key file missing", args: []string{"-key-file", filepath.Join(t.TempDir(), "none")}, wantCode: 1, wantErr: "key file"},
		{name: "bad flag", args: []string{"-nope"}, wantCode: 2},
		{name: "stray argument", args: []string{"clinician"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if tt.wantCode != 0 {
				if stdout.Len() != 0 {
					t.Errorf("stdout on failure: %q", stdout.String())
				}
				if !strings.Contains(stderr.String(), tt.wantErr) {
					t.Errorf("stderr %q, want it to mention %q", stderr.String(), tt.wantErr)
				}
				return
			}
			out := stdout.String()
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || stderr.Len() != 0 {
				t.Fatalf("stdout %q, stderr %q: want only the token and a newline", out, stderr.String())
			}
			p, err := v.Verify(context.Background(), strings.TrimSpace(out))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.wantRole != "" && !p.HasRole(tt.wantRole) || tt.wantRole == "" && len(p.Roles) != 0 {
				t.Errorf("roles %q, want %q", p.Roles, tt.wantRole)
			}
			if got := p.Scopes.String(); got != tt.wantScope {
				t.Errorf("scope %q, want %q", got, tt.wantScope)
			}
			if p.Patient != tt.wantPat {
				t.Errorf("patient %q, want %q", p.Patient, tt.wantPat)
			}
		})
	}
}

// make token straight after make run: the token waits for the facade to
// answer /healthz, boundedly, saying once on stderr what it waits for.
func TestWait(t *testing.T) {
	noFacadeEnv(t)
	defer func(d time.Duration) { pollInterval = d }(pollInterval)
	pollInterval = 10 * time.Millisecond
	const waiting = "waiting for the facade at"
	// free is a loopback address nothing listens on (yet): connection refused.
	free := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	// unready answers 503 to the first n polls, then 200.
	unready := func(n int32) http.HandlerFunc {
		var polls atomic.Int32
		return func(w http.ResponseWriter, _ *http.Request) {
			if polls.Add(1) <= n {
				http.Error(w, `{"status":"starting"}`, http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	}
	tests := []struct {
		name string
		// start returns the -url; the facade, if any, is started by then
		// or later (while run waits).
		start    func(t *testing.T) string
		wait     string
		wantCode int
		wantWait bool     // the waiting line, once
		wantErr  []string // in stderr
		maxTime  time.Duration
	}{
		{name: "ready at once", wait: "5s", start: func(t *testing.T) string {
			_, srv, _ := facade(t)
			return srv.URL
		}, maxTime: 2 * time.Second},
		{name: "503 three times, then ready", wait: "5s", wantWait: true, start: func(t *testing.T) string {
			_, srv, _ := facadeWith(t, unready(3))
			srv.Start()
			return srv.URL
		}, maxTime: 2 * time.Second},
		{name: "connection refused while compiling, then ready", wait: "5s", wantWait: true, start: func(t *testing.T) string {
			_, srv, _ := facadeWith(t, unready(0))
			addr := srv.Listener.Addr().String()
			srv.Listener.Close() // nothing listens: refused
			go func() {
				time.Sleep(150 * time.Millisecond) // several polls refused
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return // the port was taken meanwhile: the test then times out and says so
				}
				srv.Listener = ln
				srv.Start()
			}()
			return "http://" + addr
		}, maxTime: 3 * time.Second},
		{name: "never answers: bounded", wait: "300ms", wantCode: 1, wantWait: true, start: func(t *testing.T) string {
			return "http://" + free(t)
		}, wantErr: []string{"no facade answered at http://127.0.0.1:", "within 300ms", "start it with `make run`"}, maxTime: 2 * time.Second},
		{name: "never ready: bounded, with the last answer", wait: "300ms", wantCode: 1, wantWait: true, start: func(t *testing.T) string {
			_, srv, _ := facadeWith(t, unready(1<<30))
			srv.Start()
			return srv.URL
		}, wantErr: []string{"no facade answered", "503", "start it with `make run`"}, maxTime: 2 * time.Second},
		{name: "503, then a poll the wait cuts short: the 503 is the reason given", wait: "300ms", wantCode: 1, wantWait: true, start: func(t *testing.T) string {
			var polls atomic.Int32
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			_, srv, _ := facadeWith(t, func(w http.ResponseWriter, r *http.Request) {
				if polls.Add(1) == 1 {
					http.Error(w, `{"status":"starting"}`, http.StatusServiceUnavailable)
					return
				}
				select { // hangs past the wait
				case <-release:
				case <-r.Context().Done():
				}
			})
			srv.Start()
			return srv.URL
		}, wantErr: []string{"no facade answered", "503"}, maxTime: 2 * time.Second},
		{name: "-wait 0 does not wait", wait: "0", wantCode: 1, start: func(t *testing.T) string {
			return "http://" + free(t)
		}, wantErr: []string{"is the facade running?"}, maxTime: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.start(t)
			var stdout, stderr bytes.Buffer
			began := time.Now()
			code := run(context.Background(), []string{"-url", u, "-wait", tt.wait}, &stdout, &stderr)
			if took := time.Since(began); took > tt.maxTime {
				t.Errorf("took %s, want under %s", took, tt.maxTime)
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			want := 0
			if tt.wantWait {
				want = 1
			}
			if n := strings.Count(stderr.String(), waiting); n != want {
				t.Errorf("stderr %q: the waiting line %d times, want %d", stderr.String(), n, want)
			}
			if tt.wantWait && !strings.Contains(stderr.String(), fmt.Sprintf("%s %s (is `make run` still compiling?)", waiting, u)) {
				t.Errorf("stderr %q does not name %s", stderr.String(), u)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q, want it to mention %q", stderr.String(), w)
				}
			}
			if (tt.wantCode == 0) != (strings.Count(stdout.String(), ".") == 2) {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
}

// The facade is looked for where make run serves it.
func TestDefaultURL(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "nothing set", want: "http://127.0.0.1:8080"},
		{name: "make token ADDR=…", env: map[string]string{"FACADE_ADDR": "127.0.0.1:9090"}, want: "http://127.0.0.1:9090"},
		{name: "the public base wins over the address", env: map[string]string{"FACADE_ADDR": "0.0.0.0:8080", "FACADE_BASE_URL": "http://localhost:8080/fhir/"}, want: "http://localhost:8080"},
		{name: "behind a proxy", env: map[string]string{"FACADE_BASE_URL": "https://fhir.example.nhs.uk/fhir"}, want: "https://fhir.example.nhs.uk"},
		{name: "FACADE_URL wins", env: map[string]string{"FACADE_URL": "http://127.0.0.1:7000", "FACADE_BASE_URL": "https://gw.example/fhir", "FACADE_ADDR": "127.0.0.1:9090"}, want: "http://127.0.0.1:7000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultURL(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("defaultURL = %q, want %q", got, tt.want)
			}
		})
	}
}
