// Package fault is the fault injection the sandbox simulators share: a
// simulator holds an Injector, installs a Fault with Set (its SetFault) and
// lets Intercept answer each request the fault applies to, so tests can see
// how a client copes with a misbehaving backend.
package fault

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault replaces a simulator's answer to matching requests.
type Fault struct {
	// Status is the HTTP status to answer with. Zero means "answer normally"
	// after Delay: a slow but correct backend.
	Status int
	// Body is written as is (it need not be JSON: a gateway can answer 5xx
	// with an HTML page).
	Body string
	// ContentType defaults to the simulator's (application/fhir+json) when
	// Body is non-empty.
	ContentType string
	// Header is added to the response (e.g. Retry-After).
	Header http.Header
	// Delay is waited before answering; a request whose context ends first
	// gets no answer.
	Delay time.Duration
	// Drop closes the connection (after Delay) without answering, as a
	// crashed service or a cut network would; Status and Body are ignored.
	Drop bool
	// Count is how many matching requests get the fault; 0 means every one
	// until SetFault(nil).
	Count int
	// PathPrefix restricts the fault to requests whose path, with or without
	// the simulator's BasePath, starts with it. "" matches every request.
	PathPrefix string
}

// Injector holds the fault a simulator currently shows, if any. It is safe
// for concurrent use; its zero value holds no fault and must not be copied
// once used.
type Injector struct {
	// BasePath is the simulator's base path: Fault.PathPrefix matches a
	// request path with or without it.
	BasePath string
	// ContentType is the Content-Type of a fault with a Body and no
	// ContentType of its own.
	ContentType string
	// ContentTypeOverHeader makes that default replace a Content-Type given
	// in Fault.Header too; otherwise Fault.Header's wins. (The SCR and
	// Immunisation History simulators have always answered this way.)
	ContentTypeOverHeader bool

	mu       sync.Mutex
	f        *Fault
	left     int          // uses left of f when f.Count > 0
	requests atomic.Int64 // every request the simulator was asked
}

// Requests is how many requests have reached the simulator (Intercept
// counts each, fault or not): tests use it to prove what was, or was not,
// sent.
func (in *Injector) Requests() int64 { return in.requests.Load() }

// Set installs f (a copy of it) for subsequent requests; nil clears any
// fault.
func (in *Injector) Set(f *Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if f == nil {
		in.f = nil
		return
	}
	c := *f
	c.Header = f.Header.Clone()
	in.f = &c
	in.left = c.Count
}

// Intercept answers r with the fault that applies to it, if any, and
// reports whether it did; false means the request is to be served normally
// (no fault, or a delay-only one whose Delay has passed).
func (in *Injector) Intercept(w http.ResponseWriter, r *http.Request) bool {
	in.requests.Add(1)
	f := in.take(r)
	return f != nil && in.serve(w, r, f)
}

// take returns the fault that applies to r, consuming one use of it.
func (in *Injector) take(r *http.Request) *Fault {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.f
	if f == nil {
		return nil
	}
	if p := f.PathPrefix; p != "" {
		full := r.URL.Path
		rel := strings.TrimPrefix(full, in.BasePath)
		if !strings.HasPrefix(full, p) && !strings.HasPrefix(rel, p) {
			return nil
		}
	}
	if f.Count > 0 {
		in.left--
		if in.left <= 0 {
			in.f = nil
		}
	}
	return f
}

// serve answers r with f and reports whether it did; false means the
// request should be served normally (a delay-only fault).
func (in *Injector) serve(w http.ResponseWriter, r *http.Request, f *Fault) (handled bool) {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if f.Drop {
		drop(w)
		return true
	}
	if f.Status == 0 {
		return false
	}
	h := w.Header()
	for k, vs := range f.Header {
		h[k] = append([]string(nil), vs...)
	}
	if f.ContentType != "" {
		h.Set("Content-Type", f.ContentType)
	} else if f.Body != "" && (in.ContentTypeOverHeader || h.Get("Content-Type") == "") {
		h.Set("Content-Type", in.ContentType)
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
	return true
}

// drop closes the client's connection without writing a byte.
func drop(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream
}
