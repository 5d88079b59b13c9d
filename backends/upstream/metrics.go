package upstream

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carerecords/fhir-facade/backends/upstream/cache"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Metrics records backend calls (count, latency and outcome by backend),
// retries, calls refused by the resilience policy, each backend's circuit
// state and calls in flight, and the cache's lookups and evictions. All
// methods accept a nil *Metrics and then record nothing.
type Metrics struct {
	calls      *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	rejections *prometheus.CounterVec
	cache      *cache.Metrics
	state      *stateCollector
}

// NewMetrics registers the backend call metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facade_backend_requests_total",
			Help: "Calls made to national backends, by backend, operation, HTTP status and outcome; a call's retries are counted in facade_backend_retries_total.",
		}, []string{"backend", "op", "status", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "facade_backend_request_duration_seconds",
			Help:    "Latency of calls to national backends, retries included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"backend", "op", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facade_backend_retries_total",
			Help: "Attempts of idempotent backend reads beyond the first, by backend, operation and the reason for retrying (timeout, transport_error, or the status).",
		}, []string{"backend", "op", "reason"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facade_backend_rejections_total",
			Help: "Backend calls refused by the facade without calling, by backend and reason (circuit_open, rate_limit, bulkhead).",
		}, []string{"backend", "reason"}),
		cache: cache.NewMetrics(reg),
		state: &stateCollector{
			circuit: prometheus.NewDesc("facade_backend_circuit_state",
				"State of each backend's circuit breaker: 0 closed, 1 half-open, 2 open.", []string{"backend"}, nil),
			inFlight: prometheus.NewDesc("facade_backend_in_flight_calls",
				"Calls in progress to each backend (bounded by its bulkhead).", []string{"backend"}, nil),
			clients: map[string]*Client{},
		},
	}
	reg.MustRegister(m.calls, m.duration, m.retries, m.rejections, m.state)
	return m
}

// observeCall records one call's final answer and its duration.
func (m *Metrics) observeCall(backend, op string, resp *Response, err error, d time.Duration) {
	if m == nil {
		return
	}
	status := 0
	if resp != nil {
		status = resp.Status
	}
	m.observe(backend, op, status, err, d)
}

func (m *Metrics) observe(backend, op string, status int, err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome, label := "ok", "error"
	redirect := redirectStatus(err)
	switch {
	case redirect != 0:
		// A misconfigured base URL or a hostile holder: told apart from a
		// transport error, with the status the backend sent.
		outcome, label = "redirect", fmt.Sprint(redirect)
	case err != nil:
		outcome = "transport_error"
		if fhirerr.CategoryOf(err) == fhirerr.Timeout {
			outcome = "timeout"
		}
	case status >= 500:
		outcome = "server_error"
	case status == 429:
		outcome = "throttled"
	case status >= 400:
		outcome = "client_error"
	}
	if err == nil {
		label = fmt.Sprint(status)
	}
	m.calls.WithLabelValues(backend, op, label, outcome).Inc()
	m.duration.WithLabelValues(backend, op, outcome).Observe(d.Seconds())
}

func (m *Metrics) retried(backend, op, reason string) {
	if m != nil {
		m.retries.WithLabelValues(backend, op, reason).Inc()
	}
}

func (m *Metrics) rejected(backend, reason string) {
	if m != nil {
		m.rejections.WithLabelValues(backend, reason).Inc()
	}
}

func (m *Metrics) cached(backend string, r cache.Result) {
	if m != nil {
		m.cache.Count(backend, r)
	}
}

// track adds c to the backends whose state is exported; a later client of
// the same name replaces it.
func (m *Metrics) track(c *Client) {
	if m == nil {
		return
	}
	m.state.mu.Lock()
	defer m.state.mu.Unlock()
	m.state.clients[c.cfg.Name] = c
}

// stateCollector reads each backend's circuit state and calls in flight when
// scraped, so the gauge is right even when no call has moved the breaker
// from open to half-open.
type stateCollector struct {
	circuit, inFlight *prometheus.Desc

	mu      sync.Mutex
	clients map[string]*Client
}

func (s *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.circuit
	ch <- s.inFlight
}

func (s *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, c := range s.clients {
		h := c.Health()
		ch <- prometheus.MustNewConstMetric(s.circuit, prometheus.GaugeValue, float64(h.State), name)
		ch <- prometheus.MustNewConstMetric(s.inFlight, prometheus.GaugeValue, float64(h.InFlight), name)
	}
}
