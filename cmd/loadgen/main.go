// Command loadgen sends HTTP GET requests to loopback URLs, round-robin, at
// a fixed concurrency for a bounded number of requests or a bounded time,
// and reports throughput, errors and latency percentiles.
//
//	loadgen -c 16 -d 10s -H 'Accept: application/fhir+json' \
//	    http://127.0.0.1:8080/fhir/Patient/9000000009 \
//	    'http://127.0.0.1:8080/fhir/AllergyIntolerance?patient=9000000009'
//
// It refuses any host that is not this machine (localhost, 127.0.0.0/8,
// ::1), checks again on every connection, never uses a proxy and does not
// follow redirects. It refuses to run without -n or -d.
package main

import (
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
	fs.IntVar(&cfg.Concurrency, "c", 8, fmt.Sprintf("requests in flight at once (1..%d)", MaxConcurrency))
	fs.Int64Var(&cfg.Requests, "n", 0, fmt.Sprintf("stop after this many requests (at most %d)", MaxRequests))
	fs.DurationVar(&cfg.Duration, "d", 0, fmt.Sprintf("stop issuing requests after this long (at most %v)", MaxDuration))
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "limit on each request, body included")
	fs.Var(&headers, "H", "header `Name: value` to send; repeatable")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.URLs = fs.Args()
	h, err := ParseHeader(headers)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	cfg.Header = h

	res, err := Run(ctx, cfg)
	interrupted := err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
	if err != nil && !interrupted {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
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

// report is the -json form of a Result: durations in milliseconds or
// seconds, as numbers.
type report struct {
	URLs                []string         `json:"urls"`
	Concurrency         int              `json:"concurrency"`
	Interrupted         bool             `json:"interrupted"`
	Requests            int64            `json:"requests"`
	Errors              reportErrors     `json:"errors"`
	Statuses            map[string]int64 `json:"statuses"`
	FirstTransportError string           `json:"first_transport_error,omitempty"`
	Bytes               int64            `json:"bytes"`
	ElapsedSeconds      float64          `json:"elapsed_s"`
	Throughput          float64          `json:"throughput_rps"`
	LatencyMillis       reportLatency    `json:"latency_ms"`
}

type reportErrors struct {
	Status    int64 `json:"status"`
	Transport int64 `json:"transport"`
}

type reportLatency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

func newReport(cfg Config, res Result, interrupted bool) report {
	statuses := make(map[string]int64, len(res.Statuses))
	for code, n := range res.Statuses {
		statuses[strconv.Itoa(code)] = n
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return report{
		URLs:                cfg.URLs,
		Concurrency:         cfg.Concurrency,
		Interrupted:         interrupted,
		Requests:            res.Requests,
		Errors:              reportErrors{Status: res.StatusErrors, Transport: res.TransportErrors},
		Statuses:            statuses,
		FirstTransportError: res.FirstTransportError,
		Bytes:               res.Bytes,
		ElapsedSeconds:      res.Elapsed.Seconds(),
		Throughput:          res.Throughput,
		LatencyMillis: reportLatency{
			Min:  ms(res.Latency.Min),
			Mean: ms(res.Latency.Mean),
			P50:  ms(res.Latency.P50),
			P90:  ms(res.Latency.P90),
			P99:  ms(res.Latency.P99),
			Max:  ms(res.Latency.Max),
		},
	}
}

func writeText(w io.Writer, cfg Config, res Result, interrupted bool) {
	fmt.Fprintf(w, "urls         %s\n", strings.Join(cfg.URLs, "\n             "))
	fmt.Fprintf(w, "concurrency  %d\n", cfg.Concurrency)
	if interrupted {
		fmt.Fprintf(w, "interrupted  (results so far)\n")
	}
	fmt.Fprintf(w, "requests     %d in %v (%.1f req/s)\n", res.Requests, res.Elapsed.Round(time.Millisecond), res.Throughput)
	fmt.Fprintf(w, "errors       %d status (not 2xx/3xx), %d transport\n", res.StatusErrors, res.TransportErrors)
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
	fmt.Fprintf(w, "latency      min %v  mean %v  p50 %v  p90 %v  p99 %v  max %v\n",
		round(l.Min), round(l.Mean), round(l.P50), round(l.P90), round(l.P99), round(l.Max))
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
