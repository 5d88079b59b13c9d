package server

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Defaults for the request guards.
const (
	DefaultMaxHeaderBytes = 32 << 10
	// DefaultRequestTimeout bounds one FHIR request end to end.
	DefaultRequestTimeout = 30 * time.Second
	// admissionWait is how long a request may wait for a slot when the
	// server is at its limit, before it is answered 503.
	admissionWait = 100 * time.Millisecond
	// DefaultBodyTimeout bounds how long a request body may take to
	// arrive: well within DefaultRequestTimeout.
	DefaultBodyTimeout = 10 * time.Second
)

// DefaultMaxInFlight is the default bound on requests served at once: 128
// per CPU the process may use, at least 128 and at most 1,024. The bound is
// what keeps memory flat under overload (each admitted $summary holds its
// backend answers, ~0.3 MB); at 512 on two cores the facade reached 258 MiB
// with 1,000 clients, and two cores are busy with far fewer requests than
// that (docs/performance.md).
func DefaultMaxInFlight() int {
	return min(max(128*runtime.GOMAXPROCS(0), 128), 1024)
}

// DefaultCallerShare is the fraction of the in-flight bound one caller may
// hold by default: a quarter, so that a caller holding its whole share
// (slow bodies, a runaway client) leaves three quarters to everyone else.
const DefaultCallerShare = 4

// guard bounds the work the server takes on: requests in flight (beyond the
// limit a request waits briefly, then gets 503 with Retry-After rather than
// queueing without bound), each caller's share of them (429 beyond it),
// header size (431), and refuses new work while the server drains for
// shutdown.
type guard struct {
	slots          chan struct{}
	maxHeaderBytes int
	draining       atomic.Bool
	perCaller      int
	mu             sync.Mutex
	callers        map[string]int // requests in flight per caller
}

func newGuard(maxInFlight, perCaller, maxHeaderBytes int) *guard {
	return &guard{slots: make(chan struct{}, maxInFlight), maxHeaderBytes: maxHeaderBytes, perCaller: perCaller, callers: map[string]int{}}
}

// check refuses what needs no caller to be known: a server shutting down
// and oversized headers.
func (g *guard) check(r *http.Request) error {
	if g.draining.Load() {
		return &fhirerr.Error{Category: fhirerr.Unavailable, RetryAfter: 5 * time.Second, Message: "the server is shutting down; retry on another instance"}
	}
	if headerBytes(r) > g.maxHeaderBytes {
		return fhirerr.New(fhirerr.HeadersTooLarge, "the request headers are larger than %d bytes", g.maxHeaderBytes)
	}
	return nil
}

// admit takes one of caller's share of the slots, then a slot of the
// server's; release gives both back. A caller at its share is refused at
// once (429): waiting would only let it hold more. Without authentication
// (caller "") there is no caller to share among: only the server's bound
// applies.
func (g *guard) admit(r *http.Request, caller string) (release func(), err error) {
	if caller == "" {
		if err := g.slot(r); err != nil {
			return nil, err
		}
		return func() { <-g.slots }, nil
	}
	g.mu.Lock()
	if g.callers[caller] >= g.perCaller {
		g.mu.Unlock()
		return nil, &fhirerr.Error{Category: fhirerr.Throttled, RetryAfter: time.Second,
			Message: "this caller already has as many requests in flight as one caller may; retry when one has finished"}
	}
	g.callers[caller]++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if g.callers[caller]--; g.callers[caller] <= 0 {
			delete(g.callers, caller)
		}
		g.mu.Unlock()
	}
	if err := g.slot(r); err != nil {
		leave()
		return nil, err
	}
	return func() { <-g.slots; leave() }, nil
}

// slot waits briefly for one of the server's slots.
func (g *guard) slot(r *http.Request) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(admissionWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
	case <-r.Context().Done():
	}
	return &fhirerr.Error{Category: fhirerr.Unavailable, RetryAfter: time.Second, Message: "the server is at capacity; retry shortly"}
}

func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.URL.RequestURI()) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
