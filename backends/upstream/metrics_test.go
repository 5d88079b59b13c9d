package upstream_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carerecords/fhir-facade/backends/upstream"
)

func TestMetricsCountCalls(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := upstream.NewMetrics(reg)

	// The server answers with the status the path ends in (/404), hangs on
	// /hang, and answers 200 otherwise.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/hang"):
			<-r.Context().Done()
		case strings.HasSuffix(r.URL.Path, "/404"):
			w.WriteHeader(http.StatusNotFound)
		case strings.HasSuffix(r.URL.Path, "/429"):
			w.WriteHeader(http.StatusTooManyRequests)
		case strings.HasSuffix(r.URL.Path, "/503"):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	pds := newClient(t, srv.URL, upstream.Config{Name: "pds", Timeout: 50 * time.Millisecond}, m)
	scr := newClient(t, srv.URL, upstream.Config{Name: "scr"}, m)
	down := newClient(t, refusedURL(t), upstream.Config{Name: "nrl"}, m)

	calls := []struct {
		name string
		c    *upstream.Client
		op   string
		path string
	}{
		{name: "pds read ok", c: pds, op: "read", path: "/ok"},
		{name: "pds read ok again", c: pds, op: "read", path: "/ok"},
		{name: "pds read not found", c: pds, op: "read", path: "/404"},
		{name: "pds search throttled", c: pds, op: "search", path: "/429"},
		{name: "pds search unavailable", c: pds, op: "search", path: "/503"},
		{name: "pds read timeout", c: pds, op: "read", path: "/hang"},
		{name: "scr read ok", c: scr, op: "read", path: "/ok"},
		{name: "nrl search refused", c: down, op: "search", path: "/ok"},
	}
	for _, call := range calls {
		_, _ = call.c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: call.path, Op: call.op})
	}

	// testutil would need a module go.mod does not list, so the registry is
	// gathered and read directly.
	want := map[string]float64{
		`backend="nrl",op="search",outcome="transport_error",status="error"`: 1,
		`backend="pds",op="read",outcome="client_error",status="404"`:        1,
		`backend="pds",op="read",outcome="ok",status="200"`:                  2,
		`backend="pds",op="read",outcome="timeout",status="error"`:           1,
		`backend="pds",op="search",outcome="server_error",status="503"`:      1,
		`backend="pds",op="search",outcome="throttled",status="429"`:         1,
		`backend="scr",op="read",outcome="ok",status="200"`:                  1,
	}
	counts, observed := gather(t, reg)
	if !maps.Equal(counts, want) {
		t.Errorf("facade_backend_requests_total:\n%s\nwant\n%s", show(counts), show(want))
	}
	// Every call is timed once, labelled without the status.
	wantObserved := map[string]uint64{
		`backend="nrl",op="search",outcome="transport_error"`: 1,
		`backend="pds",op="read",outcome="client_error"`:      1,
		`backend="pds",op="read",outcome="ok"`:                2,
		`backend="pds",op="read",outcome="timeout"`:           1,
		`backend="pds",op="search",outcome="server_error"`:    1,
		`backend="pds",op="search",outcome="throttled"`:       1,
		`backend="scr",op="read",outcome="ok"`:                1,
	}
	if !maps.Equal(observed, wantObserved) {
		t.Errorf("facade_backend_request_duration_seconds counts:\n%s\nwant\n%s", show(observed), show(wantObserved))
	}

	// Each idempotent read was tried three times in all, except the timed
	// out one: its second timeout was the fifth consecutive failure (after
	// three 503s), which opened pds's circuit and refused the third.
	wantRetries := map[string]float64{
		`backend="nrl",op="search",reason="transport_error"`: 2,
		`backend="pds",op="read",reason="timeout"`:           2,
		`backend="pds",op="search",reason="429"`:             2,
		`backend="pds",op="search",reason="503"`:             2,
	}
	if got := values(t, reg, "facade_backend_retries_total"); !maps.Equal(got, wantRetries) {
		t.Errorf("facade_backend_retries_total:\n%s\nwant\n%s", show(got), show(wantRetries))
	}
	wantRejections := map[string]float64{`backend="pds",reason="circuit_open"`: 1}
	if got := values(t, reg, "facade_backend_rejections_total"); !maps.Equal(got, wantRejections) {
		t.Errorf("facade_backend_rejections_total:\n%s\nwant\n%s", show(got), show(wantRejections))
	}
	wantState := map[string]float64{`backend="nrl"`: 0, `backend="pds"`: 2, `backend="scr"`: 0}
	if got := values(t, reg, "facade_backend_circuit_state"); !maps.Equal(got, wantState) {
		t.Errorf("facade_backend_circuit_state:\n%s\nwant\n%s", show(got), show(wantState))
	}
}

// values returns the counter or gauge values of the metric called name,
// keyed by their labels in name order.
func values(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetCounter().GetValue()
			if m.GetGauge() != nil {
				v = m.GetGauge().GetValue()
			}
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

// gather returns the call counter and the latency histogram's sample counts,
// each keyed by its labels in name order (`backend="pds",op="read",…`); the
// other metrics are read with values.
func gather(t *testing.T, reg *prometheus.Registry) (calls map[string]float64, observed map[string]uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	calls, observed = map[string]float64{}, map[string]uint64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := strings.Join(labels, ",")
			switch mf.GetName() {
			case "facade_backend_requests_total":
				calls[key] = m.GetCounter().GetValue()
			case "facade_backend_request_duration_seconds":
				observed[key] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return calls, observed
}

func show[V any](m map[string]V) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "  {%s} %v\n", k, m[k])
	}
	return b.String()
}

func TestNilMetrics(t *testing.T) {
	srv := newRecorder(t, http.StatusOK, `{}`)
	c := newClient(t, srv.URL, upstream.Config{}, nil)
	if _, err := c.Do(context.Background(), upstream.Request{Method: http.MethodGet, Path: testPath, Op: "read"}); err != nil {
		t.Fatalf("Do without metrics: %v", err)
	}
}
