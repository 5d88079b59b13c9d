package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxSweepPoints bounds the points of one sweep.
const MaxSweepPoints = 50

// SweepSpec is a series of runs that differ in one parameter: the offered
// rate ("rate", open loop) or the concurrency ("c").
type SweepSpec struct {
	Param string
	// ProbeConcurrency is the probe's concurrency; the base configuration's
	// when zero. (An open loop's concurrency is only a cap on requests in
	// flight, which may well be set far above what saturates the server.)
	ProbeConcurrency int
	// Values of the parameter. For "rate", a value with Relative set is a
	// multiple of the saturation throughput, measured first by a closed-loop
	// probe at the base configuration's concurrency.
	Values   []float64
	Relative []bool
}

// ParseSweep parses "rate=500,1000,2000", "rate=0.5x,1x,2x" or
// "c=1,8,64,512".
func ParseSweep(s string) (SweepSpec, error) {
	param, list, ok := strings.Cut(s, "=")
	var spec SweepSpec
	if !ok || (param != "rate" && param != "c") || list == "" {
		return spec, fmt.Errorf("sweep %q: want rate=V,V,… or c=N,N,…", s)
	}
	spec.Param = param
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		rel := strings.HasSuffix(v, "x")
		if rel && param != "rate" {
			return spec, fmt.Errorf("sweep %q: only rates can be relative to saturation (x)", s)
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64)
		if err != nil || f <= 0 {
			return spec, fmt.Errorf("sweep %q: %q is not a positive number", s, v)
		}
		if param == "c" && (f != float64(int(f)) || f > MaxConcurrency) {
			return spec, fmt.Errorf("sweep %q: concurrency %v out of range 1..%d", s, f, MaxConcurrency)
		}
		spec.Values = append(spec.Values, f)
		spec.Relative = append(spec.Relative, rel)
	}
	if len(spec.Values) > MaxSweepPoints {
		return spec, fmt.Errorf("sweep %q: %d points, at most %d", s, len(spec.Values), MaxSweepPoints)
	}
	return spec, nil
}

// needsProbe reports whether a value is relative to the saturation rate.
func (s SweepSpec) needsProbe() bool { return slices.Contains(s.Relative, true) }

// Point is one run of a sweep.
type Point struct {
	Config Config
	Result Result
	// Probe marks the closed-loop run that measured saturation.
	Probe bool
	// Load1 is the machine's one-minute load average after the run.
	Load1 float64
}

// Sweep runs base once per value of spec (after a probe when a value is
// relative), pausing between runs, and hands each point to each as soon as
// it is measured. Each run needs base's bounds: a sweep takes at most
// (points + probe) × base.Duration plus the pauses.
func Sweep(ctx context.Context, base Config, spec SweepSpec, pause time.Duration, each func(Point) error) error {
	if base.Duration <= 0 && base.Requests <= 0 {
		return errors.New("no bound: a sweep needs a duration or a request count per point")
	}
	if n := len(spec.Values) + 1; base.Duration > 0 && time.Duration(n)*base.Duration > MaxDuration {
		return fmt.Errorf("sweep of %d points of %v exceeds %v", n-1, base.Duration, MaxDuration)
	}
	if _, err := base.check(); err != nil {
		return err
	}
	wait := func() error {
		if pause <= 0 {
			return ctx.Err()
		}
		return sleep(ctx, pause)
	}
	saturation := 0.0
	if spec.needsProbe() {
		cfg := base
		cfg.Rate = 0
		if spec.ProbeConcurrency > 0 {
			cfg.Concurrency = spec.ProbeConcurrency
		}
		res, err := Run(ctx, cfg)
		if err != nil {
			return err
		}
		if err := each(Point{Config: cfg, Result: res, Probe: true, Load1: load1()}); err != nil {
			return err
		}
		saturation = res.GoodThroughput
		if saturation <= 0 {
			return errors.New("the saturation probe had no successful request: nothing to be relative to")
		}
		if err := wait(); err != nil {
			return err
		}
	}
	for i, v := range spec.Values {
		cfg := base
		switch spec.Param {
		case "rate":
			cfg.Rate = v
			if spec.Relative[i] {
				cfg.Rate = v * saturation
			}
		case "c":
			cfg.Concurrency = int(v)
		}
		res, err := Run(ctx, cfg)
		if err != nil {
			return err
		}
		if err := each(Point{Config: cfg, Result: res, Load1: load1()}); err != nil {
			return err
		}
		if i < len(spec.Values)-1 {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return nil
}

// load1 is the one-minute load average, or -1 where it cannot be read.
func load1() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// csvHeader names the columns of a point's row. Latencies are in
// milliseconds, memory in MiB; offered_rps is empty for closed-loop runs;
// the memory columns and pid_cpu_s (CPU seconds the process used during the
// run) are those of the process given with -pid, empty without.
var csvHeader = []string{
	"label", "mode", "concurrency", "offered_rps", "achieved_rps", "ok_rps",
	"requests", "ok", "status_errors", "transport_errors", "errors_with_retry_after", "missed",
	"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms",
	"rss_peak_mib", "vm_hwm_mib", "load1", "statuses", "pid_cpu_s",
}

// csvRow is p as a row under csvHeader.
func csvRow(label string, p Point) []string {
	r, c := p.Result, p.Config
	mode, offered := "closed", ""
	if c.Rate > 0 {
		mode, offered = "open", fmt.Sprintf("%.1f", c.Rate)
	}
	if p.Probe {
		mode = "probe"
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d.Microseconds())/1000) }
	mib := func(b int64) string {
		if b == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f", float64(b)/(1<<20))
	}
	codes := make([]int, 0, len(r.Statuses))
	for code := range r.Statuses {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	var st []string
	for _, code := range codes {
		st = append(st, fmt.Sprintf("%d:%d", code, r.Statuses[code]))
	}
	i := strconv.FormatInt
	cpu := ""
	if c.PID > 0 {
		cpu = fmt.Sprintf("%.2f", r.CPU.Seconds())
	}
	return []string{
		label, mode, strconv.Itoa(c.Concurrency), offered,
		fmt.Sprintf("%.1f", r.Throughput), fmt.Sprintf("%.1f", r.GoodThroughput),
		i(r.Requests, 10), i(r.OK, 10), i(r.StatusErrors, 10), i(r.TransportErrors, 10), i(r.RetryAfter, 10), i(r.Missed, 10),
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.P999), ms(r.Latency.Max), ms(r.Latency.Mean),
		mib(r.RSS), mib(r.HWM), fmt.Sprintf("%.2f", p.Load1), strings.Join(st, " "), cpu,
	}
}

// csvSink appends rows to a CSV file, writing the header first when the
// file is new or empty.
type csvSink struct {
	f *os.File
	w *csv.Writer
}

func openCSV(path string) (*csvSink, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	s := &csvSink{f: f, w: csv.NewWriter(f)}
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		if err := s.write(csvHeader); err != nil {
			f.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *csvSink) write(row []string) error {
	if err := s.w.Write(row); err != nil {
		return err
	}
	s.w.Flush()
	return s.w.Error()
}

func (s *csvSink) Close() error { return s.f.Close() }

// readCSV reads rows written under csvHeader (any column order) as maps.
func readCSV(r io.Reader) ([]map[string]string, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	head := recs[0]
	out := make([]map[string]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		if len(rec) != len(head) {
			return nil, fmt.Errorf("a row has %d fields, the header %d", len(rec), len(head))
		}
		if slices.Equal(rec, head) {
			continue // a header repeated by appending runs
		}
		m := make(map[string]string, len(head))
		for i, h := range head {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
	return out, nil
}
