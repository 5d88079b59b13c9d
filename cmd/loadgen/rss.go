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

// memSampler samples a local process's resident set size while a run lasts.
type memSampler struct {
	pid  int
	done chan struct{}
	wg   sync.WaitGroup
	peak int64 // largest VmRSS seen, bytes
}

// sampleMemory starts sampling pid's VmRSS every interval; it fails at once
// if /proc/pid/status cannot be read (no such process, not Linux).
func sampleMemory(pid int, interval time.Duration) (*memSampler, error) {
	rss, _, err := readMemory(pid)
	if err != nil {
		return nil, err
	}
	m := &memSampler{pid: pid, done: make(chan struct{}), peak: rss}
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
// process's VmHWM (its own peak, which no sampling can miss), in bytes.
func (m *memSampler) stop() (rss, hwm int64) {
	close(m.done)
	m.wg.Wait()
	last, hwm, err := readMemory(m.pid)
	if err == nil && last > m.peak {
		m.peak = last
	}
	return m.peak, hwm
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
