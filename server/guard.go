package server

import (
	"net/http"
	"runtime"
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

// guard bounds the work the server takes on: requests in flight (beyond the
// limit a request waits briefly, then gets 503 with Retry-After rather than
// queueing without bound), header size (431), and refuses new work while
// the server drains for shutdown.
type guard struct {
	slots          chan struct{}
	maxHeaderBytes int
	draining       atomic.Bool
}

func newGuard(maxInFlight, maxHeaderBytes int) *guard {
	return &guard{slots: make(chan struct{}, maxInFlight), maxHeaderBytes: maxHeaderBytes}
}

// admit runs next if the request may be served; the error says why not.
func (g *guard) admit(r *http.Request) (release func(), err error) {
	if g.draining.Load() {
		return nil, &fhirerr.Error{Category: fhirerr.Unavailable, RetryAfter: 5 * time.Second, Message: "the server is shutting down; retry on another instance"}
	}
	if headerBytes(r) > g.maxHeaderBytes {
		return nil, fhirerr.New(fhirerr.HeadersTooLarge, "the request headers are larger than %d bytes", g.maxHeaderBytes)
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	default:
	}
	t := time.NewTimer(admissionWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	case <-t.C:
	case <-r.Context().Done():
	}
	return nil, &fhirerr.Error{Category: fhirerr.Unavailable, RetryAfter: time.Second, Message: "the server is at capacity; retry shortly"}
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
