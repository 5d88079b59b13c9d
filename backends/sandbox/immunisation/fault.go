package immunisation

import (
	"net/http"
	"strings"
	"time"
)

// Fault replaces the simulator's answer to matching requests, so tests can
// see how a client copes with a misbehaving Immunisation History API.
type Fault struct {
	// Status is the HTTP status to answer with. Zero means "answer
	// normally" after Delay: a slow but correct API.
	Status int
	// Body is written as is (5xx may be an HTML page).
	Body string
	// ContentType defaults to application/fhir+json when Body is non-empty.
	ContentType string
	// Header is added to the response (e.g. Retry-After).
	Header http.Header
	// Delay is waited before answering; a request whose context ends first
	// gets no answer.
	Delay time.Duration
	// Count is how many matching requests get the fault; 0 means every one
	// until SetFault(nil).
	Count int
	// PathPrefix restricts the fault to requests whose path, with or without
	// BasePath, starts with it (e.g. "/Immunization"). "" matches every request.
	PathPrefix string
}

// SetFault installs f (a copy of it) for subsequent requests; nil clears it.
func (s *Simulator) SetFault(f *Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if f == nil {
		s.fault = nil
		return
	}
	c := *f
	c.Header = f.Header.Clone()
	s.fault = &c
	s.faultLeft = c.Count
}

func (s *Simulator) takeFault(r *http.Request) *Fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.fault
	if f == nil {
		return nil
	}
	if p := f.PathPrefix; p != "" {
		full := r.URL.Path
		rel := strings.TrimPrefix(full, BasePath)
		if !strings.HasPrefix(full, p) && !strings.HasPrefix(rel, p) {
			return nil
		}
	}
	if f.Count > 0 {
		s.faultLeft--
		if s.faultLeft <= 0 {
			s.fault = nil
		}
	}
	return f
}

// serveFault answers r with f and reports whether it did; false means the
// request should be served normally (a delay-only fault).
func serveFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
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
	} else if f.Body != "" {
		h.Set("Content-Type", contentTypeFHIR)
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
	return true
}
