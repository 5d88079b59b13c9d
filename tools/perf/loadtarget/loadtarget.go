// Package loadtarget holds the rules every load tool of this repository
// follows (tools/perf/loadgen, tools/perf/nullfanout): load goes to loopback hosts
// only — checked on the URL and again on every address dialled — and
// headers are given as "Name: value" lines (-H).
package loadtarget

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// URL parses raw and accepts it only if it is http(s) to a loopback host:
// this workplace's rule is that load goes nowhere but this machine.
func URL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("URL %q: refusing host %q: only loopback hosts (localhost, 127.0.0.0/8, ::1) may be load-tested", raw, u.Hostname())
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckAddr refuses a connection to any address, as host:port with the
// host already resolved, that is not loopback.
func CheckAddr(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
	}
	return nil
}

// Dialer connects within timeout, and only to loopback addresses: checked
// at connect time, on the address actually dialled, in case a name
// resolved off the machine.
func Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error { return CheckAddr(address) },
	}
}

// Header turns "Name: value" lines, as given to -H, into a header.
func Header(lines []string) (http.Header, error) {
	h := http.Header{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("header %q: want \"Name: value\"", line)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}
