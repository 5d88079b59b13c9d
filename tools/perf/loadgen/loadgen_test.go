package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/tools/perf/loadtarget"
)

// newServer answers /ok with 200 and a small body, /fail with 503, /slow
// after a pause, and /redirect with a 302 to a host loadgen must never reach.
func newServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"resourceType":"Patient"}`))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(20 * time.Millisecond)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Accept") != "application/fhir+json" || r.Header.Get("X-Request-Id") != "load" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestRunCounts(t *testing.T) {
	srv, hits := newServer(t)
	res, err := Run(context.Background(), Config{
		URLs:        []string{srv.URL + "/ok", srv.URL + "/fail"},
		Concurrency: 4,
		Requests:    100,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || hits.Load() != 100 {
		t.Errorf("Requests = %d, server saw %d, want 100 each", res.Requests, hits.Load())
	}
	if res.Statuses[200] != 50 || res.Statuses[503] != 50 {
		t.Errorf("Statuses = %v, want 50 of 200 and 50 of 503 (round-robin)", res.Statuses)
	}
	if res.StatusErrors != 50 || res.TransportErrors != 0 {
		t.Errorf("errors = %d status, %d transport; want 50, 0", res.StatusErrors, res.TransportErrors)
	}
	if want := int64(50 * len(`{"resourceType":"Patient"}`)); res.Bytes < want {
		t.Errorf("Bytes = %d, want at least %d", res.Bytes, want)
	}
	if res.Throughput <= 0 || res.Elapsed <= 0 {
		t.Errorf("Throughput = %v over %v, want positive", res.Throughput, res.Elapsed)
	}
}

func TestRunLatencyOrdering(t *testing.T) {
	srv, _ := newServer(t)
	res, err := Run(context.Background(), Config{
		URLs:        []string{srv.URL + "/ok", srv.URL + "/ok", srv.URL + "/ok", srv.URL + "/slow"},
		Concurrency: 4,
		Requests:    80,
	})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Latency
	if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency not ordered: %+v", l)
	}
	if l.Mean < l.Min || l.Mean > l.Max {
		t.Errorf("mean %v outside [%v, %v]", l.Mean, l.Min, l.Max)
	}
	// A quarter of the requests sleep 20ms: p99 and max see them, p50 not.
	if l.P99 < 20*time.Millisecond || l.Max < 20*time.Millisecond {
		t.Errorf("p99 %v, max %v; want both at least 20ms", l.P99, l.Max)
	}
	if l.P50 >= 20*time.Millisecond {
		t.Errorf("p50 %v, want under 20ms", l.P50)
	}
}

func TestRunHeaders(t *testing.T) {
	srv, _ := newServer(t)
	h, err := loadtarget.Header([]string{"Accept: application/fhir+json", "X-Request-Id:load"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/headers"}, Header: h, Concurrency: 2, Requests: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Statuses[200] != 10 {
		t.Errorf("Statuses = %v, want every request to carry the headers", res.Statuses)
	}
}

func TestRunDoesNotFollowRedirects(t *testing.T) {
	srv, hits := newServer(t)
	res, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/redirect"}, Concurrency: 1, Requests: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Statuses[302] != 3 || res.StatusErrors != 0 || res.TransportErrors != 0 || hits.Load() != 3 {
		t.Errorf("got %+v (server hits %d), want three 302s counted as successes", res, hits.Load())
	}
}

func TestRunTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	res, err := Run(context.Background(), Config{
		URLs: []string{"http://" + addr + "/"}, Concurrency: 2, Requests: 6, Timeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 6 || res.TransportErrors != 6 || res.StatusErrors != 0 {
		t.Errorf("got %d requests, %d transport and %d status errors; want 6, 6, 0",
			res.Requests, res.TransportErrors, res.StatusErrors)
	}
	if res.FirstTransportError == "" || res.Latency != (Latency{}) {
		t.Errorf("want the first error described and no latency recorded, got %q, %+v",
			res.FirstTransportError, res.Latency)
	}
}

func TestRunDurationBound(t *testing.T) {
	srv, _ := newServer(t)
	start := time.Now()
	res, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/ok"}, Concurrency: 2, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("run took %v, want about 200ms", took)
	}
	if res.Requests == 0 || res.StatusErrors+res.TransportErrors != 0 {
		t.Errorf("got %+v, want some successful requests", res)
	}
}

func TestRunBothBoundsStopsAtFirst(t *testing.T) {
	srv, _ := newServer(t)
	res, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/ok"}, Concurrency: 3, Requests: 7, Duration: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 7 {
		t.Errorf("Requests = %d, want 7", res.Requests)
	}
}

func TestRunCancelled(t *testing.T) {
	srv, _ := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Config{
		URLs: []string{srv.URL + "/slow"}, Concurrency: 2, Duration: time.Minute,
	})
	if err != context.DeadlineExceeded {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if res.TransportErrors != 0 {
		t.Errorf("TransportErrors = %d, want requests cut short by cancelling not counted", res.TransportErrors)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	srv, hits := newServer(t)
	for _, u := range []string{
		"http://example.com/",
		"http://10.0.0.1:8080/fhir/metadata",
		"http://192.0.2.1/",
		"http://[::ffff:10.0.0.1]/",
		"http://localhost.example.com/",
		"http://127.0.0.1.nip.io/",
		"http://0.0.0.0:8080/",
		"https://[2001:db8::1]/",
		"ftp://127.0.0.1/",
		"127.0.0.1:8080/no-scheme",
	} {
		t.Run(u, func(t *testing.T) {
			// A good URL alongside must not let the bad one through, nor
			// may anything be sent before refusing.
			_, err := Run(context.Background(), Config{
				URLs: []string{srv.URL + "/ok", u}, Concurrency: 1, Requests: 1,
			})
			if err == nil {
				t.Fatalf("Run accepted %s", u)
			}
			if hits.Load() != 0 {
				t.Errorf("sent %d requests before refusing", hits.Load())
			}
		})
	}
}

func TestRunRequiresBounds(t *testing.T) {
	srv, hits := newServer(t)
	url := []string{srv.URL + "/ok"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no bound", Config{URLs: url, Concurrency: 1}, "no bound"},
		{"negative count", Config{URLs: url, Concurrency: 1, Requests: -1, Duration: time.Second}, "request count"},
		{"count too large", Config{URLs: url, Concurrency: 1, Requests: MaxRequests + 1}, "request count"},
		{"duration too long", Config{URLs: url, Concurrency: 1, Duration: MaxDuration + time.Second}, "duration"},
		{"no concurrency", Config{URLs: url, Requests: 1}, "concurrency"},
		{"too much concurrency", Config{URLs: url, Concurrency: MaxConcurrency + 1, Requests: 1}, "concurrency"},
		{"no URL", Config{Concurrency: 1, Requests: 1}, "no URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error about %q", err, tc.want)
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("sent %d requests despite bad configs", hits.Load())
	}
}

func TestMainJSON(t *testing.T) {
	srv, _ := newServer(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{
		"-json", "-c", "2", "-n", "10", "-H", "Accept: application/fhir+json", srv.URL + "/ok", srv.URL + "/fail",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", stdout.String(), err)
	}
	if rep.Requests != 10 || rep.Errors.Status != 5 || rep.Errors.Transport != 0 || rep.Statuses["503"] != 5 {
		t.Errorf("report = %+v", rep)
	}
	if rep.LatencyMillis.P50 <= 0 || rep.LatencyMillis.Max < rep.LatencyMillis.P99 || rep.Throughput <= 0 {
		t.Errorf("latency %+v, throughput %v", rep.LatencyMillis, rep.Throughput)
	}
}

func TestMainText(t *testing.T) {
	srv, _ := newServer(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-n", "4", srv.URL + "/ok"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	for _, want := range []string{"requests     4 in", "req/s", "errors       0 status (not 2xx/3xx), 0 transport", "200×4", "p50", "p99"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestMainRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"http://127.0.0.1:1/"},            // no bound
		{"-n", "1", "http://example.com/"}, // not loopback
		{"-n", "1", "-H", "nonsense", "http://127.0.0.1:1/"},
		{"-n", "1"}, // no URL
		{"-bogus"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) exit %d, want 2", args, code)
		}
		if stdout.Len() != 0 || stderr.Len() == 0 {
			t.Errorf("run(%q): stdout %q, stderr %q; want only an error", args, stdout.String(), stderr.String())
		}
	}
}
