package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carerecords/fhir-facade/tools/perf/loadtarget"
)

// Limits on one run. A load generator that can be told to run forever, or
// with unbounded concurrency, is one typo away from a denial of service.
const (
	MaxConcurrency = 1000
	MaxDuration    = time.Hour
	MaxRequests    = 100_000_000
	MaxRate        = 1_000_000 // requests per second, open loop
)

// Config says what to send and for how long.
type Config struct {
	// URLs are requested with GET in turn (round-robin). Each must be http or
	// https on a loopback host: localhost, 127.0.0.0/8 or ::1.
	URLs []string
	// Header is sent with every request. A Host entry sets the Host header.
	Header http.Header
	// Concurrency is the number of requests in flight at once, 1 to
	// MaxConcurrency.
	Concurrency int
	// Duration stops issuing requests after this long; Requests stops after
	// this many. At least one must be set; with both, whichever comes first.
	// Requests in flight at the deadline are completed and counted.
	Duration time.Duration
	Requests int64
	// Timeout bounds each request, response body included; zero means 10s.
	Timeout time.Duration
	// Rate, when positive, makes the run open-loop: requests are scheduled
	// Rate times a second, evenly spaced, however fast the answers come, and
	// Concurrency bounds how many are in flight. Each request's latency is
	// measured from its scheduled time, so time spent waiting for a free
	// slot counts (no coordinated omission): past the server's saturation,
	// latency grows with the backlog instead of the load silently falling
	// to what the server can take. Requests bounds the scheduled requests,
	// Duration the time they are scheduled over; those scheduled before the
	// end but not sent by then are Missed.
	Rate float64
	// Sequence makes one request of all the URLs in turn (each sent once
	// the previous has answered): its latency is the whole chain's, and it
	// fails at the first status error or transport error. Without it, each
	// request is one URL, round-robin.
	Sequence bool
	// PID, when positive, is a process on this machine whose memory is
	// sampled during the run (VmRSS every 50 ms, VmHWM at the end, from
	// /proc/PID/status) and whose CPU time is counted (/proc/PID/stat).
	PID int
}

// Result is what a run measured.
type Result struct {
	// Requests is how many requests completed: with a response (of any
	// status) or with a transport error. Requests cut short by cancelling the
	// run's context are not counted.
	Requests int64
	// StatusErrors counts responses whose status was not 2xx or 3xx;
	// TransportErrors counts requests that got no complete response
	// (refused, reset, timed out).
	StatusErrors    int64
	TransportErrors int64
	// Statuses counts responses by status code.
	Statuses map[int]int64
	// FirstTransportError describes one transport error, if there was any.
	FirstTransportError string
	// Bytes is the total size of the response bodies read.
	Bytes int64
	// Elapsed is from the first request issued to the last one completed.
	Elapsed time.Duration
	// Throughput is Requests per second of Elapsed.
	Throughput float64
	// Latency is over requests that got a response, from sending the
	// request (open loop: from its scheduled time) to reading the last byte
	// of the body.
	Latency Latency
	// OK counts responses with a 2xx or 3xx status; GoodThroughput is OK
	// per second of Elapsed.
	OK             int64
	GoodThroughput float64
	// RetryAfter counts the status errors whose response carried a
	// Retry-After header: a server shedding load says when to come back.
	RetryAfter int64
	// Rate is the offered rate of an open-loop run (Config.Rate); Missed
	// the requests it scheduled before its end but could not send by then,
	// every slot being busy.
	Rate   float64
	Missed int64
	// RSS is the largest VmRSS sampled and HWM the VmHWM (peak resident
	// set) at the end, in bytes, of the process Config.PID, and CPU the
	// CPU time it used during the run; zero without.
	RSS, HWM int64
	CPU      time.Duration
}

// Latency summarises response times. Percentiles come from log-linear
// buckets and are within 1% above the true value; Min, Max and Mean are exact.
type Latency struct {
	Min, Mean, P50, P90, P99, P999, Max time.Duration
}

// Run sends requests as cfg says until a bound is reached or ctx ends. If
// ctx ends first it returns what was measured so far together with
// ctx.Err().
func Run(ctx context.Context, cfg Config) (Result, error) {
	targets, err := cfg.check()
	if err != nil {
		return Result{}, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	transport := &http.Transport{
		// Never a proxy: it would be a non-loopback host.
		Proxy:               nil,
		DialContext:         loadtarget.Dialer(timeout).DialContext, // loopback only, checked on connect
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: timeout,
		ForceAttemptHTTP2:   true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		Timeout:   timeout,
		// A 3xx is an answer worth counting, not a hop to take: following
		// it would also mean requesting a URL nobody checked.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}

	header := cfg.Header
	if header == nil {
		header = http.Header{}
	}
	var mem *memSampler
	if cfg.PID > 0 {
		if mem, err = sampleMemory(cfg.PID, 50*time.Millisecond); err != nil {
			return Result{}, err
		}
	}
	var deadline time.Time
	start := time.Now()
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	// pick returns the URLs of request n (1-based).
	pick := func(n int64) []*url.URL {
		if cfg.Sequence {
			return targets
		}
		i := (n - 1) % int64(len(targets))
		return targets[i : i+1]
	}
	// slots is how many requests an open-loop run schedules.
	var slots int64
	if cfg.Rate > 0 {
		slots = cfg.Requests
		if cfg.Duration > 0 {
			n := int64(math.Ceil(cfg.Duration.Seconds() * cfg.Rate))
			if slots == 0 || n < slots {
				slots = n
			}
		}
	}
	var issued atomic.Int64
	workers := make([]worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.statuses = map[int]int64{}
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				if !deadline.IsZero() && !now.Before(deadline) {
					return
				}
				n := issued.Add(1)
				if cfg.Rate <= 0 {
					if cfg.Requests > 0 && n > cfg.Requests {
						return
					}
					w.do(ctx, client, pick(n), header, now)
					continue
				}
				if n > slots {
					return
				}
				at := start.Add(time.Duration(float64(n-1) / cfg.Rate * float64(time.Second)))
				if d := at.Sub(now); d > 0 && sleep(ctx, d) != nil {
					return
				}
				w.do(ctx, client, pick(n), header, at)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := Result{Statuses: map[int]int64{}, Elapsed: elapsed, Rate: cfg.Rate}
	var hist histogram
	var sum time.Duration
	for i := range workers {
		w := &workers[i]
		res.Requests += w.requests
		res.StatusErrors += w.statusErrors
		res.TransportErrors += w.transportErrors
		res.RetryAfter += w.retryAfter
		res.Bytes += w.bytes
		if res.FirstTransportError == "" {
			res.FirstTransportError = w.firstErr
		}
		for code, n := range w.statuses {
			res.Statuses[code] += n
		}
		hist.merge(&w.hist)
		sum += w.latencySum
	}
	res.OK = res.Requests - res.StatusErrors - res.TransportErrors
	if cfg.Rate > 0 && ctx.Err() == nil {
		res.Missed = max(0, slots-res.Requests)
	}
	if elapsed > 0 {
		res.Throughput = float64(res.Requests) / elapsed.Seconds()
		res.GoodThroughput = float64(res.OK) / elapsed.Seconds()
	}
	if n := hist.count(); n > 0 {
		res.Latency = Latency{
			Min:  hist.min,
			Mean: sum / time.Duration(n),
			P50:  hist.percentile(50),
			P90:  hist.percentile(90),
			P99:  hist.percentile(99),
			P999: hist.percentile(99.9),
			Max:  hist.max,
		}
	}
	if mem != nil {
		res.RSS, res.HWM, res.CPU = mem.stop()
	}
	return res, ctx.Err()
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// worker is one request loop's tally; merged once the run ends, so nothing
// is shared while it runs.
type worker struct {
	requests, statusErrors, transportErrors, retryAfter, bytes int64
	statuses                                                   map[int]int64
	firstErr                                                   string
	hist                                                       histogram
	latencySum                                                 time.Duration
}

// do sends one request: the targets in turn, stopping at the first that
// fails. Its latency is counted from start (the scheduled time in an open
// loop).
func (w *worker) do(ctx context.Context, client *http.Client, targets []*url.URL, header http.Header, start time.Time) {
	var (
		n, total int64
		status   int
		err      error
		retry    bool
	)
	for _, target := range targets {
		req := &http.Request{
			Method: http.MethodGet,
			URL:    target,
			Host:   header.Get("Host"),
			Header: header,
		}
		req = req.WithContext(ctx)
		var resp *http.Response
		resp, err = client.Do(req)
		if err == nil {
			n, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status, retry = resp.StatusCode, resp.Header.Get("Retry-After") != ""
		}
		total += n
		if err != nil || status < 200 || status > 399 {
			break
		}
	}
	took := time.Since(start)
	if ctx.Err() != nil {
		return // cut short by the caller, not a failure of the server
	}
	w.requests++
	if err != nil {
		w.transportErrors++
		if w.firstErr == "" {
			w.firstErr = err.Error()
		}
		return
	}
	w.bytes += total
	w.statuses[status]++
	if status < 200 || status > 399 {
		w.statusErrors++
		if retry {
			w.retryAfter++
		}
	}
	w.hist.record(took)
	w.latencySum += took
}

// check validates the bounds and parses the URLs, refusing any host that is
// not loopback.
func (cfg Config) check() ([]*url.URL, error) {
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("no bound: set a request count or a duration (or both)")
	}
	if cfg.Requests < 0 || cfg.Requests > MaxRequests {
		return nil, fmt.Errorf("request count %d out of range 1..%d", cfg.Requests, MaxRequests)
	}
	if cfg.Duration < 0 || cfg.Duration > MaxDuration {
		return nil, fmt.Errorf("duration %v out of range (0, %v]", cfg.Duration, MaxDuration)
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > MaxConcurrency {
		return nil, fmt.Errorf("concurrency %d out of range 1..%d", cfg.Concurrency, MaxConcurrency)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("negative timeout %v", cfg.Timeout)
	}
	if cfg.Rate < 0 || cfg.Rate > MaxRate || math.IsNaN(cfg.Rate) {
		return nil, fmt.Errorf("rate %v out of range [0, %d] requests per second", cfg.Rate, MaxRate)
	}
	if cfg.PID < 0 {
		return nil, fmt.Errorf("negative process id %d", cfg.PID)
	}
	if len(cfg.URLs) == 0 {
		return nil, errors.New("no URL to request")
	}
	targets := make([]*url.URL, 0, len(cfg.URLs))
	for _, raw := range cfg.URLs {
		u, err := loadtarget.URL(raw)
		if err != nil {
			return nil, err
		}
		targets = append(targets, u)
	}
	return targets, nil
}
