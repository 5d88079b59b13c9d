package fault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Kind names a way a whole simulator fails, as SANDBOX_FAULTS spells it:
// an HTTP status ("503"), or one of the constants below. Where a Fault
// replaces chosen answers for a test, a Kind stands for a backend that is
// down or broken, so that app developers can see how their app shows a
// source missing from an answer.
type Kind string

// The kinds besides an HTTP status.
const (
	// Timeout never answers: the client gives up (the facade's backend
	// timeout).
	Timeout Kind = "timeout"
	// Drop closes the connection without answering.
	Drop Kind = "drop"
	// Empty answers the simulator's status and headers with no body at all.
	Empty Kind = "empty"
	// Truncated answers a searchset Bundle whose total says more matches
	// than it carries (its last match left out, or total 1 and no entry when
	// it had none), and any other answer cut short in the middle: what a
	// backend losing part of its answer sends.
	Truncated Kind = "truncated"
	// Malformed answers the first half of the simulator's body: not JSON.
	Malformed Kind = "malformed"
)

// named are the kinds that are not an HTTP status, in the order errors list them.
var named = []Kind{Timeout, Drop, Empty, Truncated, Malformed}

// ParseKind reads a kind: an HTTP error status (400–599) or one of
// timeout, drop, empty, truncated, malformed, in any case.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	for _, n := range named {
		if k == n {
			return k, nil
		}
	}
	if n, err := strconv.Atoi(string(k)); err == nil && len(k) == 3 && n >= 400 && n <= 599 {
		return k, nil
	}
	names := make([]string, len(named))
	for i, n := range named {
		names[i] = string(n)
	}
	return "", fmt.Errorf("unknown fault %q: want an HTTP status from 400 to 599 (e.g. 503) or one of %s", s, strings.Join(names, ", "))
}

// status is the HTTP status of a status kind, 0 for the others.
func (k Kind) status() int {
	n, err := strconv.Atoi(string(k))
	if err != nil {
		return 0
	}
	return n
}

// Outage wraps a simulator's handler and, while a Kind is set, fails every
// request that way; with none it only passes requests on. It is safe for
// concurrent use.
type Outage struct {
	next http.Handler
	kind atomic.Pointer[Kind]
	// stop releases the requests a Timeout holds, on Close.
	stop     chan struct{}
	stopOnce sync.Once
}

// NewOutage returns next wrapped, with no outage set.
func NewOutage(next http.Handler) *Outage {
	return &Outage{next: next, stop: make(chan struct{})}
}

// Set makes every subsequent request fail the way k says; "" ends the
// outage.
func (o *Outage) Set(k Kind) {
	if k == "" {
		o.kind.Store(nil)
		return
	}
	o.kind.Store(&k)
}

// Kind is the outage set, "" for none.
func (o *Outage) Kind() Kind {
	if k := o.kind.Load(); k != nil {
		return *k
	}
	return ""
}

// Close releases the requests a Timeout is holding (for a prompt shutdown).
func (o *Outage) Close() { o.stopOnce.Do(func() { close(o.stop) }) }

// ServeHTTP implements http.Handler.
func (o *Outage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := o.Kind()
	switch {
	case k == "":
		o.next.ServeHTTP(w, r)
	case k == Timeout:
		select {
		case <-r.Context().Done():
		case <-o.stop:
		}
		drop(w) // never an answer, not even an empty one
	case k == Drop:
		drop(w)
	case k.status() != 0:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(k.status())
		_, _ = fmt.Fprintf(w, "simulated outage: %s %s\n", k, http.StatusText(k.status()))
	default:
		rec := &recorder{header: http.Header{}}
		o.next.ServeHTTP(rec, r)
		body := mangle(k, rec.body.Bytes())
		h := w.Header()
		for name, vs := range rec.header {
			h[name] = vs
		}
		h.Del("Content-Length")
		h.Del("ETag") // the body is no longer the version it names
		w.WriteHeader(rec.status())
		_, _ = w.Write(body)
	}
}

// mangle is the body a simulator's answer becomes under k.
func mangle(k Kind, body []byte) []byte {
	switch k {
	case Empty:
		return nil
	case Truncated:
		if b, ok := truncateBundle(body); ok {
			return b
		}
	}
	return body[:len(body)/2] // Malformed, and a Truncated non-Bundle
}

// truncateBundle leaves the last match out of a Bundle while its total
// still counts it; a Bundle without a match says it has one. ok is false
// when body is not a JSON Bundle.
func truncateBundle(body []byte) ([]byte, bool) {
	var b map[string]json.RawMessage
	if json.Unmarshal(body, &b) != nil || string(b["resourceType"]) != `"Bundle"` {
		return nil, false
	}
	var entries []json.RawMessage
	_ = json.Unmarshal(b["entry"], &entries)
	var total int
	_ = json.Unmarshal(b["total"], &total)
	matches, last := 0, -1
	for i, e := range entries {
		var x struct {
			Search *struct {
				Mode string `json:"mode"`
			} `json:"search"`
		}
		_ = json.Unmarshal(e, &x)
		if x.Search == nil || x.Search.Mode == "" || x.Search.Mode == "match" {
			matches, last = matches+1, i
		}
	}
	total = max(total, matches)
	if last < 0 {
		total++
	} else {
		entries = append(entries[:last:last], entries[last+1:]...)
	}
	b["total"] = json.RawMessage(strconv.Itoa(total))
	if len(entries) == 0 {
		delete(b, "entry")
	} else if raw, err := json.Marshal(entries); err == nil {
		b["entry"] = raw
	}
	out, err := json.Marshal(b)
	return out, err == nil
}

// recorder keeps a simulator's answer for mangle.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
