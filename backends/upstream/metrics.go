package upstream

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics records backend calls: count, latency and errors by backend.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the backend call metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facade_backend_requests_total",
			Help: "Calls made to national backends, by backend, operation, HTTP status and outcome.",
		}, []string{"backend", "op", "status", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "facade_backend_request_duration_seconds",
			Help:    "Latency of calls to national backends.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"backend", "op", "outcome"}),
	}
	reg.MustRegister(m.calls, m.duration)
	return m
}

func (m *Metrics) observe(backend, op, status, outcome string, d time.Duration) {
	m.calls.WithLabelValues(backend, op, status, outcome).Inc()
	m.duration.WithLabelValues(backend, op, outcome).Observe(d.Seconds())
}
