package viewer

import (
	"io"
	"net/http"
	"strings"
	"sync"
)

// inProcess is the viewer's transport. A request to the facade's own origin
// (its FHIR API, its SMART discovery document, its local issuer) is served
// by the facade's handler in this process; anything else (a configured
// national issuer's token endpoint) goes over the network.
//
// Why in-process rather than HTTP to the facade's own base URL: the request
// still runs the facade's whole handler chain (request id, limits,
// authentication of the bearer token, SMART scopes and patient context,
// audit, content negotiation, the same providers), so the viewer is an
// ordinary API client; but it does not depend on the facade being able to
// reach its own public address. Behind a proxy or TLS terminator the public
// base URL (FACADE_BASE_URL) is often unreachable from inside, or needs
// certificates the process does not trust; in tests the listen address is
// only known once serving. It also saves a socket, a TLS handshake and a
// copy per call.
type inProcess struct {
	origin  string // scheme://host of the facade's public base
	handler http.Handler
	next    http.RoundTripper
}

func (t *inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Scheme+"://"+req.URL.Host, t.origin) {
		return t.next.RoundTrip(req)
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.RemoteAddr = "127.0.0.1:0" // the viewer, in this process
	if in.Body == nil {
		in.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	rw := &pipeResponse{header: http.Header{}, body: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				rw.WriteHeader(http.StatusInternalServerError)
				_ = pw.CloseWithError(io.ErrUnexpectedEOF)
				return
			}
			rw.WriteHeader(http.StatusOK) // a handler that wrote nothing
			_ = pw.Close()
		}()
		t.handler.ServeHTTP(rw, in)
	}()
	select {
	case <-rw.ready:
	case <-req.Context().Done():
		_ = pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	res := &http.Response{
		Status:        http.StatusText(rw.status),
		StatusCode:    rw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rw.sent,
		Body:          pr,
		ContentLength: -1,
		Request:       req,
	}
	return res, nil
}

// pipeResponse is the ResponseWriter the facade's handler writes to: the
// status and headers are handed over at the first write, the body streams
// through a pipe (a document is never held whole).
type pipeResponse struct {
	header http.Header
	sent   http.Header
	status int
	body   *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
}

func (p *pipeResponse) Header() http.Header { return p.header }

func (p *pipeResponse) WriteHeader(code int) {
	p.once.Do(func() {
		p.status = code
		p.sent = p.header.Clone()
		close(p.ready)
	})
}

func (p *pipeResponse) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.body.Write(b)
}

// Flush implements http.Flusher: the pipe has no buffer to flush.
func (p *pipeResponse) Flush() {}
