package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// memSampler samples a local process's resident set size while a run
// lasts, and counts the CPU time it uses.
type memSampler struct {
	pid      int
	done     chan struct{}
	wg       sync.WaitGroup
	peak     int64 // largest VmRSS seen, bytes
	cpuStart time.Duration
}

// sampleMemory starts sampling pid's VmRSS every interval; it fails at once
// if /proc/pid/status cannot be read (no such process, not Linux).
func sampleMemory(pid int, interval time.Duration) (*memSampler, error) {
	rss, _, err := readMemory(pid)
	if err != nil {
		return nil, err
	}
	cpu, err := readCPU(pid)
	if err != nil {
		return nil, err
	}
	m := &memSampler{pid: pid, done: make(chan struct{}), peak: rss, cpuStart: cpu}
	m.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				if rss, _, err := readMemory(pid); err == nil && rss > m.peak {
					m.peak = rss
				}
			}
		}
	})
	return m, nil
}

// stop ends the sampling and returns the peak VmRSS sampled and the
// process's VmHWM (its own peak, which no sampling can miss), in bytes, and
// the CPU time (user and system) the process used meanwhile.
func (m *memSampler) stop() (rss, hwm int64, cpu time.Duration) {
	close(m.done)
	m.wg.Wait()
	last, hwm, err := readMemory(m.pid)
	if err == nil && last > m.peak {
		m.peak = last
	}
	if end, err := readCPU(m.pid); err == nil {
		cpu = end - m.cpuStart
	}
	return m.peak, hwm, cpu
}

// userHZ is the unit of the CPU times in /proc/pid/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// readCPU returns the user and system CPU time pid has used, from
// /proc/pid/stat.
func readCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("process %d: cannot read its CPU time: %w", pid, err)
	}
	return parseStat(raw)
}

// parseStat reads utime and stime (fields 14 and 15) of a /proc/pid/stat
// line; the command name (field 2, in parentheses) may contain spaces.
func parseStat(raw []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected process stat %q", raw)
	}
	f := bytes.Fields(raw[i+1:]) // from field 3 on
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected process stat %q", raw)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected process stat %q", raw)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// readMemory returns VmRSS and VmHWM of pid in bytes, from
// /proc/pid/status.
func readMemory(pid int) (rss, hwm int64, err error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("process %d: cannot read its memory: %w", pid, err)
	}
	return parseStatus(raw)
}

// parseStatus reads the VmRSS and VmHWM lines ("VmRSS:	  123456 kB") of a
// /proc/pid/status file.
func parseStatus(raw []byte) (rss, hwm int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	found := 0
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &rss
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", name, sc.Text())
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected %s line %q", name, sc.Text())
		}
		*dst = kb << 10
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("no VmRSS and VmHWM in the process status (a kernel thread, or not Linux)")
	}
	return rss, hwm, nil
}
