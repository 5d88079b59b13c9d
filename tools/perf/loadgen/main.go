// Command loadgen sends HTTP GET requests to loopback URLs, round-robin, at
// a fixed concurrency (closed loop) or a fixed offered rate (open loop,
// -rate), for a bounded number of requests or a bounded time, and reports
// throughput, errors and latency percentiles.
//
//	loadgen -c 16 -d 10s -H 'Accept: application/fhir+json' \
//	    http://127.0.0.1:8080/fhir/Patient/9000000009 \
//	    'http://127.0.0.1:8080/fhir/AllergyIntolerance?patient=9000000009'
//
// -seq makes each request the chain of all the URLs in order (a client's
// dependent calls); -pid samples a local process's memory (VmRSS, VmHWM)
// during the run. -sweep runs once per offered rate or concurrency, each
// for -d, and -csv appends one row per run to a file:
//
//	loadgen -c 1000 -probe-c 64 -d 3s -sweep rate=0.25x,0.5x,1x,2x -label facade -csv patient.csv URL
//
// (a rate ending in x is a multiple of the saturation throughput, measured
// first by a closed-loop probe at -probe-c, by default -c). -plot draws such files as a PNG of
// latency and throughput against load:
//
//	loadgen -plot patient.png -title 'Patient read' patient.csv
//
// It refuses any host that is not this machine (localhost, 127.0.0.0/8,
// ::1), checks again on every connection, never uses a proxy and does not
// follow redirects. It refuses to run without -n or -d.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/tools/perf/loadtarget"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// headerFlags collects repeated -H values.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// run is main without the process: it parses args, runs, prints, and
// returns the exit code (0 done, 1 interrupted, 2 usage or refusal).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: loadgen [flags] URL...\n\n"+
			"Sends GET requests to the URLs in turn, only to loopback hosts.\n"+
			"At least one of -n and -d is required.\n\nflags:\n")
		fs.PrintDefaults()
	}
	var headers headerFlags
	cfg := Config{}
	fs.IntVar(&cfg.Concurrency, "c", 8, fmt.Sprintf("requests in flight at once (1..%d); with -rate, at most", MaxConcurrency))
	fs.Int64Var(&cfg.Requests, "n", 0, fmt.Sprintf("stop after this many requests (at most %d)", MaxRequests))
	fs.DurationVar(&cfg.Duration, "d", 0, fmt.Sprintf("stop issuing requests after this long (at most %v); per point with -sweep", MaxDuration))
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "limit on each request, body included")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: offer this many requests per second (latency counted from each one's scheduled time); 0 = closed loop")
	fs.BoolVar(&cfg.Sequence, "seq", false, "each request is all the URLs in turn, one after the other (latency of the chain)")
	fs.IntVar(&cfg.PID, "pid", 0, "sample this local process's memory (VmRSS, VmHWM) during the run")
	fs.Var(&headers, "H", "header `Name: value` to send; repeatable")
	asJSON := fs.Bool("json", false, "print the result as one JSON object (one per line with -sweep)")
	sweep := fs.String("sweep", "", "run once per value: rate=R,R,… (open loop; Rx = R × the saturation throughput of a closed-loop probe at -c) or c=N,N,…")
	pause := fs.Duration("pause", time.Second, "with -sweep, pause between runs")
	probeC := fs.Int("probe-c", 0, "with -sweep rate=…x, the concurrency of the saturation probe (default -c)")
	csvPath := fs.String("csv", "", "append one CSV row per run to this file (header written when new)")
	label := fs.String("label", "", "the label of this run's CSV rows (default: the first URL's path)")
	plotOut := fs.String("plot", "", "draw the CSV files given as arguments into this PNG file instead of sending requests")
	plotX := fs.String("x", "offered_rps", "with -plot, the horizontal axis: offered_rps, achieved_rps or concurrency")
	title := fs.String("title", "", "with -plot, the title (default: the files' names)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *plotOut != "" {
		return plotFiles(*plotOut, *plotX, *title, fs.Args(), stderr)
	}
	cfg.URLs = fs.Args()
	h, err := loadtarget.Header(headers)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	cfg.Header = h
	if *label == "" && len(cfg.URLs) > 0 {
		*label = cfg.URLs[0]
		if i := strings.Index(*label, "://"); i >= 0 {
			if j := strings.Index((*label)[i+3:], "/"); j >= 0 {
				*label = (*label)[i+3+j:]
			}
		}
	}
	var sink *csvSink
	openSink := func() bool {
		if *csvPath == "" {
			return true
		}
		if sink, err = openCSV(*csvPath); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return false
		}
		return true
	}

	if *sweep != "" {
		spec, err := ParseSweep(*sweep)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 2
		}
		if *probeC < 0 || *probeC > MaxConcurrency {
			fmt.Fprintf(stderr, "loadgen: -probe-c %d out of range 1..%d\n", *probeC, MaxConcurrency)
			return 2
		}
		spec.ProbeConcurrency = *probeC
		if _, err := cfg.check(); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 2
		}
		if !openSink() {
			return 2
		}
		if sink != nil {
			defer sink.Close()
		}
		err = Sweep(ctx, cfg, spec, *pause, func(p Point) error {
			if sink != nil {
				if err := sink.write(csvRow(*label, p)); err != nil {
					return err
				}
			}
			if *asJSON {
				rep := newReport(p.Config, p.Result, false)
				rep.Probe = p.Probe
				return json.NewEncoder(stdout).Encode(rep)
			}
			writeLine(stdout, *label, p)
			return nil
		})
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return 1
			}
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 2
		}
		return 0
	}

	if _, err := cfg.check(); err == nil && !openSink() {
		return 2
	}
	if sink != nil {
		defer sink.Close()
	}
	res, err := Run(ctx, cfg)
	interrupted := err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
	if err != nil && !interrupted {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if sink != nil && !interrupted {
		if err := sink.write(csvRow(*label, Point{Config: cfg, Result: res, Load1: load1()})); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(newReport(cfg, res, interrupted)); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
	} else {
		writeText(stdout, cfg, res, interrupted)
	}
	if interrupted {
		return 1
	}
	return 0
}

// plotFiles draws the CSV files into the PNG out.
func plotFiles(out, x, title string, files []string, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintf(stderr, "loadgen: -plot needs CSV files as arguments\n")
		return 2
	}
	var rows []map[string]string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 2
		}
		rs, err := readCSV(bytes.NewReader(raw))
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %s: %v\n", f, err)
			return 2
		}
		rows = append(rows, rs...)
	}
	if title == "" {
		title = plotTitle(files)
	}
	var buf bytes.Buffer
	if err := Plot(&buf, rows, PlotOptions{Title: title, X: x}); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	return 0
}

// writeLine prints one point of a sweep on one line.
func writeLine(w io.Writer, label string, p Point) {
	r := p.Result
	mode := "closed"
	if p.Probe {
		mode = "probe "
	}
	offered := ""
	if p.Config.Rate > 0 {
		mode, offered = "open  ", fmt.Sprintf(" offered %.0f/s", p.Config.Rate)
	}
	l := r.Latency
	fmt.Fprintf(w, "%s %s c=%d%s: %.0f/s (ok %.0f/s), errors %d (%d with Retry-After) +%d transport, missed %d; p50 %v p99 %v p99.9 %v max %v\n",
		label, mode, p.Config.Concurrency, offered, r.Throughput, r.GoodThroughput,
		r.StatusErrors, r.RetryAfter, r.TransportErrors, r.Missed, round(l.P50), round(l.P99), round(l.P999), round(l.Max))
}

// report is the -json form of a Result: durations in milliseconds or
// seconds, as numbers.
type report struct {
	URLs                []string         `json:"urls"`
	Concurrency         int              `json:"concurrency"`
	Sequence            bool             `json:"sequence,omitempty"`
	OfferedRate         float64          `json:"offered_rps,omitempty"`
	Probe               bool             `json:"probe,omitempty"`
	Interrupted         bool             `json:"interrupted"`
	Requests            int64            `json:"requests"`
	OK                  int64            `json:"ok"`
	Missed              int64            `json:"missed,omitempty"`
	Errors              reportErrors     `json:"errors"`
	Statuses            map[string]int64 `json:"statuses"`
	FirstTransportError string           `json:"first_transport_error,omitempty"`
	Bytes               int64            `json:"bytes"`
	ElapsedSeconds      float64          `json:"elapsed_s"`
	Throughput          float64          `json:"throughput_rps"`
	GoodThroughput      float64          `json:"ok_rps"`
	LatencyMillis       reportLatency    `json:"latency_ms"`
	RSSMiB              float64          `json:"rss_peak_mib,omitempty"`
	HWMMiB              float64          `json:"vm_hwm_mib,omitempty"`
	CPUSeconds          float64          `json:"pid_cpu_s,omitempty"`
}

type reportErrors struct {
	Status    int64 `json:"status"`
	Transport int64 `json:"transport"`
	// WithRetryAfter counts status errors that carried Retry-After.
	WithRetryAfter int64 `json:"with_retry_after"`
}

type reportLatency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func newReport(cfg Config, res Result, interrupted bool) report {
	statuses := make(map[string]int64, len(res.Statuses))
	for code, n := range res.Statuses {
		statuses[strconv.Itoa(code)] = n
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	mib := func(b int64) float64 { return float64(b*10>>20) / 10 }
	return report{
		URLs:                cfg.URLs,
		Concurrency:         cfg.Concurrency,
		Sequence:            cfg.Sequence,
		OfferedRate:         cfg.Rate,
		Interrupted:         interrupted,
		Requests:            res.Requests,
		OK:                  res.OK,
		Missed:              res.Missed,
		Errors:              reportErrors{Status: res.StatusErrors, Transport: res.TransportErrors, WithRetryAfter: res.RetryAfter},
		Statuses:            statuses,
		FirstTransportError: res.FirstTransportError,
		Bytes:               res.Bytes,
		ElapsedSeconds:      res.Elapsed.Seconds(),
		Throughput:          res.Throughput,
		GoodThroughput:      res.GoodThroughput,
		LatencyMillis: reportLatency{
			Min:  ms(res.Latency.Min),
			Mean: ms(res.Latency.Mean),
			P50:  ms(res.Latency.P50),
			P90:  ms(res.Latency.P90),
			P99:  ms(res.Latency.P99),
			P999: ms(res.Latency.P999),
			Max:  ms(res.Latency.Max),
		},
		RSSMiB:     mib(res.RSS),
		HWMMiB:     mib(res.HWM),
		CPUSeconds: res.CPU.Seconds(),
	}
}

func writeText(w io.Writer, cfg Config, res Result, interrupted bool) {
	fmt.Fprintf(w, "urls         %s\n", strings.Join(cfg.URLs, "\n             "))
	if cfg.Sequence {
		fmt.Fprintf(w, "             (each request: all of them, in turn)\n")
	}
	fmt.Fprintf(w, "concurrency  %d\n", cfg.Concurrency)
	if cfg.Rate > 0 {
		fmt.Fprintf(w, "offered      %.1f req/s (open loop; latency from each request's scheduled time); missed %d\n", cfg.Rate, res.Missed)
	}
	if interrupted {
		fmt.Fprintf(w, "interrupted  (results so far)\n")
	}
	fmt.Fprintf(w, "requests     %d in %v (%.1f req/s)\n", res.Requests, res.Elapsed.Round(time.Millisecond), res.Throughput)
	fmt.Fprintf(w, "errors       %d status (not 2xx/3xx), %d transport\n", res.StatusErrors, res.TransportErrors)
	if res.RetryAfter > 0 {
		fmt.Fprintf(w, "             %d of the status errors with Retry-After\n", res.RetryAfter)
	}
	if res.FirstTransportError != "" {
		fmt.Fprintf(w, "             first transport error: %s\n", res.FirstTransportError)
	}
	codes := make([]int, 0, len(res.Statuses))
	for code := range res.Statuses {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	var parts []string
	for _, code := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", code, res.Statuses[code]))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "statuses     %s\n", strings.Join(parts, "  "))
	}
	fmt.Fprintf(w, "bytes        %d\n", res.Bytes)
	l := res.Latency
	fmt.Fprintf(w, "latency      min %v  mean %v  p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n",
		round(l.Min), round(l.Mean), round(l.P50), round(l.P90), round(l.P99), round(l.P999), round(l.Max))
	if res.HWM > 0 {
		fmt.Fprintf(w, "process %-5d VmRSS peak %.1f MiB (sampled), VmHWM %.1f MiB; CPU %v", cfg.PID, float64(res.RSS)/(1<<20), float64(res.HWM)/(1<<20), res.CPU)
		if res.Requests > 0 {
			fmt.Fprintf(w, " (%v a request)", round(res.CPU/time.Duration(res.Requests)))
		}
		fmt.Fprintln(w)
	}
}

// round keeps three significant figures or so, enough for a latency.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	default:
		return d.Round(100 * time.Nanosecond)
	}
}
