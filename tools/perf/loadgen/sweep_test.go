package main

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunOpenLoopKeepsTheSchedule(t *testing.T) {
	srv, hits := newServer(t)
	start := time.Now()
	res, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/ok"}, Concurrency: 4, Rate: 500, Requests: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || hits.Load() != 50 || res.Missed != 0 || res.OK != 50 {
		t.Errorf("got %d requests (%d ok, %d missed), server saw %d; want 50, 50, 0, 50", res.Requests, res.OK, res.Missed, hits.Load())
	}
	// The 50th request is scheduled 49/500 s after the first: the run
	// cannot be faster than its schedule.
	if took := time.Since(start); took < 98*time.Millisecond {
		t.Errorf("50 requests at 500/s took %v, less than the schedule's 98ms", took)
	}
	if res.Rate != 500 {
		t.Errorf("Rate = %v", res.Rate)
	}
}

// Latency is counted from the scheduled time: a server slower than the
// offered rate shows as growing latency, not as a lower rate.
func TestRunOpenLoopCountsQueueing(t *testing.T) {
	srv, _ := newServer(t)
	res, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/slow"}, Concurrency: 1, Rate: 200, Requests: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	// One at a time, each ≥ 20 ms: the 20th is sent ≥ 380 ms after the
	// first but was scheduled 95 ms after it.
	if res.Latency.Max < 250*time.Millisecond {
		t.Errorf("max latency %v; want the wait for a free slot counted (≥ 285ms)", res.Latency.Max)
	}
	if res.Latency.Min < 20*time.Millisecond {
		t.Errorf("min latency %v below the server's 20ms", res.Latency.Min)
	}
}

func TestRunOpenLoopMissed(t *testing.T) {
	srv, _ := newServer(t)
	res, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/slow"}, Concurrency: 1, Rate: 1000, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 200 scheduled; one at a time, ≥ 20 ms each, at most 11 fit in 200 ms.
	if res.Requests > 11 || res.Requests+res.Missed != 200 {
		t.Errorf("%d sent, %d missed; want at most 11 sent and 200 in all", res.Requests, res.Missed)
	}
}

func TestRunSequence(t *testing.T) {
	srv, hits := newServer(t)
	res, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/ok", srv.URL + "/ok", srv.URL + "/ok"}, Sequence: true, Concurrency: 2, Requests: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 5 || hits.Load() != 15 || res.Statuses[200] != 5 {
		t.Errorf("%d requests, %d hits, statuses %v; want 5 chains of 3", res.Requests, hits.Load(), res.Statuses)
	}
	hits.Store(0)
	res, err = Run(context.Background(), Config{
		URLs: []string{srv.URL + "/fail", srv.URL + "/ok"}, Sequence: true, Concurrency: 1, Requests: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusErrors != 4 || res.Statuses[503] != 4 || hits.Load() != 4 {
		t.Errorf("statuses %v, %d hits; want each chain to stop at its first failure", res.Statuses, hits.Load())
	}
}

func TestRunCountsRetryAfter(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Header().Set("Retry-After", "1") // on a success: not counted
		}
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URLs: []string{srv.URL}, Concurrency: 1, Requests: 9})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusErrors != 6 || res.RetryAfter != 3 || res.OK != 3 {
		t.Errorf("status errors %d, with Retry-After %d, ok %d; want 6, 3, 3", res.StatusErrors, res.RetryAfter, res.OK)
	}
}

func TestRunSamplesMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	srv, _ := newServer(t)
	res, err := Run(context.Background(), Config{URLs: []string{srv.URL + "/ok"}, Concurrency: 1, Requests: 5, PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if res.RSS <= 0 || res.HWM < res.RSS/2 || res.CPU < 0 {
		t.Errorf("RSS %d, HWM %d, CPU %v", res.RSS, res.HWM, res.CPU)
	}
	if _, err := Run(context.Background(), Config{URLs: []string{srv.URL + "/ok"}, Concurrency: 1, Requests: 1, PID: 1 << 30}); err == nil {
		t.Error("a process that does not exist was accepted")
	}
}

func TestParseStatus(t *testing.T) {
	rss, hwm, err := parseStatus([]byte("Name:\tfacade\nVmPeak:\t  900 kB\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\nThreads:\t5\n"))
	if err != nil || rss != 1024<<10 || hwm != 2048<<10 {
		t.Errorf("parseStatus = %d, %d, %v", rss, hwm, err)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\nVmHWM:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n"} {
		if _, _, err := parseStatus([]byte(bad)); err == nil {
			t.Errorf("parseStatus(%q) accepted", bad)
		}
	}
}

func TestParseStat(t *testing.T) {
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 130 0 0 20 0 9 0 100 1000000 2000 18446744073709551615\n"
	d, err := parseStat([]byte(line))
	if err != nil || d != 3800*time.Millisecond {
		t.Errorf("parseStat = %v, %v; want 3.8s (380 ticks)", d, err)
	}
	for _, bad := range []string{"", "4242 noparen S 1", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 12 13"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestParseSweep(t *testing.T) {
	s, err := ParseSweep("rate=100, 0.5x,2x")
	if err != nil || s.Param != "rate" || len(s.Values) != 3 || s.Values[1] != 0.5 || !s.Relative[1] || s.Relative[0] || !s.needsProbe() {
		t.Errorf("ParseSweep = %+v, %v", s, err)
	}
	if s, err := ParseSweep("c=1,8,64"); err != nil || s.needsProbe() || s.Values[2] != 64 {
		t.Errorf("ParseSweep = %+v, %v", s, err)
	}
	for _, bad := range []string{"", "rate", "rate=", "c=2x", "c=1.5", "c=2000", "rate=-1", "rate=abc", "n=1,2", "rate=" + strings.Repeat("1,", MaxSweepPoints) + "1"} {
		if _, err := ParseSweep(bad); err == nil {
			t.Errorf("ParseSweep(%q) accepted", bad)
		}
	}
}

func TestSweepRelativeToSaturation(t *testing.T) {
	srv, _ := newServer(t)
	spec, _ := ParseSweep("rate=0.5x,100")
	spec.ProbeConcurrency = 3
	var points []Point
	err := Sweep(context.Background(), Config{URLs: []string{srv.URL + "/ok"}, Concurrency: 2, Duration: 100 * time.Millisecond}, spec, 0,
		func(p Point) error { points = append(points, p); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 3 || !points[0].Probe || points[1].Probe {
		t.Fatalf("points %+v, want the probe then two runs", points)
	}
	if points[0].Config.Concurrency != 3 || points[1].Config.Concurrency != 2 {
		t.Errorf("probe at c=%d, runs at c=%d; want 3 and 2", points[0].Config.Concurrency, points[1].Config.Concurrency)
	}
	sat := points[0].Result.GoodThroughput
	if got := points[1].Config.Rate; sat <= 0 || got < 0.49*sat || got > 0.51*sat {
		t.Errorf("0.5x ran at %v, saturation %v", got, sat)
	}
	if points[2].Config.Rate != 100 || points[2].Result.Requests == 0 {
		t.Errorf("second point %+v", points[2].Config)
	}
	if err := Sweep(context.Background(), Config{URLs: []string{srv.URL + "/ok"}, Concurrency: 1}, spec, 0, func(Point) error { return nil }); err == nil {
		t.Error("a sweep without bounds was accepted")
	}
}

func TestCSVAppendAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.csv")
	for i := range 2 {
		s, err := openCSV(path)
		if err != nil {
			t.Fatal(err)
		}
		p := Point{Config: Config{Concurrency: 4, Rate: float64(100 * (i + 1))}, Result: Result{
			Requests: 10, OK: 9, StatusErrors: 1, RetryAfter: 1, Statuses: map[int]int64{200: 9, 503: 1},
			Latency: Latency{P50: time.Millisecond, P99: 3 * time.Millisecond, P999: 4 * time.Millisecond}, HWM: 3 << 20,
		}}
		if err := s.write(csvRow("facade", p)); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	raw, _ := os.ReadFile(path)
	if n := strings.Count(string(raw), "label,mode"); n != 1 {
		t.Errorf("header written %d times:\n%s", n, raw)
	}
	rows, err := readCSV(bytes.NewReader(raw))
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	r := rows[1]
	if r["label"] != "facade" || r["mode"] != "open" || r["offered_rps"] != "200.0" || r["p99_ms"] != "3.000" ||
		r["statuses"] != "200:9 503:1" || r["errors_with_retry_after"] != "1" || r["vm_hwm_mib"] != "3.0" {
		t.Errorf("row %v", r)
	}
}

func TestPlot(t *testing.T) {
	var rows []map[string]string
	for _, label := range []string{"facade", "direct"} {
		for i, rate := range []float64{100, 200, 400, 800} {
			rows = append(rows, map[string]string{
				"label": label, "mode": "open", "offered_rps": strconv.FormatFloat(rate, 'f', 1, 64), "concurrency": "100",
				"achieved_rps": strconv.FormatFloat(min(rate, 500), 'f', 1, 64), "ok_rps": strconv.FormatFloat(min(rate, 450), 'f', 1, 64),
				"p50_ms": strconv.Itoa(1 + i), "p99_ms": strconv.Itoa(3 + 10*i*i), "p999_ms": strconv.Itoa(5 + 20*i*i),
				"status_errors": strconv.Itoa(i / 3 * 50), "transport_errors": "0",
			})
		}
	}
	rows = append(rows, map[string]string{"label": "facade", "mode": "probe", "concurrency": "100", "achieved_rps": "500"})
	var buf bytes.Buffer
	if err := Plot(&buf, rows, PlotOptions{Title: "Patient read $summary (p99 ≤ 3 ms)"}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 760 {
		t.Errorf("size %v", b)
	}
	// Both series' colours are drawn.
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	for _, c := range append(palette[:2], red) {
		if !seen[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}] {
			t.Errorf("colour %v not drawn", c)
		}
	}
	if err := Plot(&buf, rows, PlotOptions{X: "concurrency"}); err != nil {
		t.Errorf("concurrency axis: %v", err)
	}
	if err := Plot(&buf, rows, PlotOptions{X: "p99_ms"}); err == nil {
		t.Error("an unknown x column was accepted")
	}
	if err := Plot(&buf, rows[len(rows)-1:], PlotOptions{}); err == nil {
		t.Error("nothing to plot was accepted")
	}
}

func TestMainSweepCSVAndPlot(t *testing.T) {
	srv, _ := newServer(t)
	dir := t.TempDir()
	csvPath, pngPath := filepath.Join(dir, "s.csv"), filepath.Join(dir, "s.png")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-sweep", "c=1,2", "-d", "100ms", "-pause", "0s", "-csv", csvPath, "-label", "ok", srv.URL + "/ok"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("sweep: exit %d, %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 2 || !strings.Contains(stdout.String(), "ok closed c=2") {
		t.Errorf("sweep output:\n%s", stdout.String())
	}
	raw, _ := os.ReadFile(csvPath)
	rows, err := readCSV(bytes.NewReader(raw))
	if err != nil || len(rows) != 2 || rows[1]["concurrency"] != "2" || rows[0]["label"] != "ok" {
		t.Fatalf("csv %v %v", rows, err)
	}
	// A single run appends to the same file.
	stdout.Reset()
	if code := run(context.Background(), []string{"-n", "3", "-c", "4", "-csv", csvPath, srv.URL + "/ok"}, &stdout, &stderr); code != 0 {
		t.Fatalf("single run: exit %d, %s", code, stderr.String())
	}
	raw, _ = os.ReadFile(csvPath)
	if rows, _ = readCSV(bytes.NewReader(raw)); len(rows) != 3 || rows[2]["label"] != "/ok" {
		t.Errorf("rows after a single run: %v", rows)
	}
	if code := run(context.Background(), []string{"-plot", pngPath, "-x", "concurrency", csvPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("plot: exit %d, %s", code, stderr.String())
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("not a PNG: %v", err)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"-json", "-sweep", "rate=50,100", "-c", "2", "-d", "100ms", "-pause", "0s", srv.URL + "/ok"}, &stdout, &stderr); code != 0 {
		t.Fatalf("json sweep: exit %d, %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\"offered_rps\""); n != 2 {
		t.Errorf("json sweep output:\n%s", stdout.String())
	}
}

func TestMainRefusesSweepsAndPlots(t *testing.T) {
	for _, args := range [][]string{
		{"-sweep", "c=1,2", "http://127.0.0.1:1/"},                            // no bound
		{"-sweep", "bogus", "-d", "1s", "http://127.0.0.1:1/"},                // bad sweep
		{"-sweep", "c=1", "-d", "1s", "http://example.com/"},                  // not loopback
		{"-rate", "-5", "-d", "1s", "http://127.0.0.1:1/"},                    // bad rate
		{"-sweep", "c=1", "-d", "40m", "-pause", "0s", "http://127.0.0.1:1/"}, // too long
		{"-plot", "x.png"},                          // no CSV
		{"-plot", "x.png", "/nonexistent/file.csv"}, // unreadable
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}
