package server

import (
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// notePatientsIn records the patients a rendered resource is about: a
// Patient itself, or the Patient its subject/patient references.
func notePatientsIn(ri *request.Info, res *resources.Resource, body []byte) {
	ri.Subjects.Note(compartmentOf(res, body)...)
}

// statusWriter records the status and size written.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
	// gate, when set, runs once before the status goes out (the audit
	// record is written then); false means it answered 503 itself, and
	// the handler's own answer is dropped.
	gate    *auditGate
	gated   bool
	dropped bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.dropped {
		return
	}
	if w.status == 0 {
		w.status = code
		if w.gate != nil && !w.gated {
			w.gated = true
			if !w.gate.pass(w.ResponseWriter, code) {
				w.status, w.dropped = http.StatusServiceUnavailable, true
				return
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the body
// read deadline).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.dropped {
		return len(b), nil
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// exchange is what instrument makes for each request, in one piece.
type exchange struct {
	ri   request.Info
	sw   statusWriter
	gate auditGate
}

// validRequestID accepts a client's X-Request-ID only as a UUID in its
// canonical form: the id becomes the audit record's id, a log field and the
// correlation id sent to the national services, so it must never carry
// anything else (an NHS number, say). Any other value is dropped and a
// fresh id made.
func validRequestID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series holds each label set's counter and histogram once looked up:
	// the label sets are few (types × interactions × statuses), and the
	// vectors' own lookup hashes the three labels on every request.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	resourceType, interaction string
	status                    int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// observe counts one request and its duration.
func (m *httpMetrics) observe(resourceType, interaction string, status int, d time.Duration) {
	k := seriesKey{resourceType, interaction, status}
	v, ok := m.series.Load(k)
	if !ok {
		st := strconv.Itoa(status)
		v, _ = m.series.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(resourceType, interaction, st),
			duration: m.duration.WithLabelValues(resourceType, interaction, st),
		})
	}
	se := v.(*series)
	se.requests.Inc()
	se.duration.Observe(d.Seconds())
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facade_http_requests_total",
			Help: "FHIR requests served, by resource type, interaction and HTTP status.",
		}, []string{"resource_type", "interaction", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "facade_http_request_duration_seconds",
			Help:    "Latency of FHIR requests, by resource type, interaction and HTTP status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"resource_type", "interaction", "status"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// instrument wraps every request: request id (accepted or generated, echoed,
// passed to backends as X-Correlation-ID), panic recovery, one structured log
// line and the request metrics.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		w.Header()["X-Request-Id"] = []string{id}
		securityHeaders(w.Header(), r.URL.Path)
		// The request's one value: its facts (the caller's are added by the
		// preamble) and the server's notes for logs, metrics and audit; made
		// in one allocation with its writer and audit gate.
		ex := &exchange{ri: request.Info{ID: id, Route: "other", ResourceType: "none", Interaction: "other",
			// The client wants an answer from the national services themselves.
			NoCache: noCache(r.Header)}}
		ri := &ex.ri
		if outer, ok := request.Lookup(r.Context()); ok {
			// A batch entry, run through the handler again: it keeps what its
			// batch's request established, as a context would, and notes its
			// own patients and labels.
			ri.NoCache = ri.NoCache || outer.NoCache
			ri.Caller, ri.CachePartition, ri.Forward, ri.Allowed, ri.Unscheduled = outer.Caller, outer.CachePartition, outer.Forward, outer.Allowed, outer.Unscheduled
		}
		ctx := request.With(r.Context(), ri)
		ex.gate = auditGate{s: s, ctx: ctx, ri: ri, start: start}
		ex.sw = statusWriter{ResponseWriter: w, gate: &ex.gate}
		sw := &ex.sw
		defer func() {
			if p := recover(); p != nil {
				s.log.WithFields(logrus.Fields{"request_id": id, "panic": p, "stack": string(debug.Stack())}).Error("panic serving request")
				if sw.status == 0 {
					s.writeError(sw, r.WithContext(ctx), format{contentType: mediaFHIRJSON}, errPanic)
				}
			}
			if sw.status == 0 {
				// Nothing written: the implicit 200 waits for its audit too.
				sw.WriteHeader(http.StatusOK)
			}
			d := time.Since(start)
			s.metrics.observe(ri.ResourceType, ri.Interaction, sw.status, d)
			span := trace.SpanFromContext(ctx)
			nameSpan(span, r, ri)
			if s.cfg.QuietLogs && sw.status < 500 {
				return
			}
			s.log.WithFields(traceFields(span, logrus.Fields{
				"request_id":    id,
				"method":        r.Method,
				"route":         ri.Route,
				"resource_type": ri.ResourceType,
				"interaction":   ri.Interaction,
				"status":        sw.status,
				"bytes":         sw.bytes,
				"duration_ms":   float64(d.Microseconds()) / 1000,
			})).Info("request")
		}()
		if s.cors(sw, r) {
			return
		}
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// noCache reports Cache-Control: no-cache (or no-store, or Pragma:
// no-cache) on a request.
// See: https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.4
func noCache(h http.Header) bool {
	// The keys as net/http stores them (canonical): no canonicalising per
	// request.
	for _, v := range h["Cache-Control"] {
		for _, d := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "no-cache", "no-store", "max-age=0":
				return true
			}
		}
	}
	if p := h["Pragma"]; len(p) > 0 {
		return strings.EqualFold(strings.TrimSpace(p[0]), "no-cache")
	}
	return false
}
