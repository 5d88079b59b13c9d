package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
	"github.com/carerecords/fhir-facade/resources"
	"github.com/carerecords/fhir-facade/sandbox"
	sandboxpds "github.com/carerecords/fhir-facade/sandbox/pds"
)

// seen is one request a simulator received, as its recording proxy saw it.
type seen struct{ traceparent, correlationID string }

// recorder is a reverse proxy in front of one simulator, recording the
// trace headers each backend call arrives with.
type recorder struct {
	mu   sync.Mutex
	seen []seen
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.seen...)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// line is the log line with message msg and request id id, nil until written.
func (b *syncBuffer) line(msg, id string) map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg && m["request_id"] == id {
			return m
		}
	}
	return nil
}

// requestLine is the request log line with request id id, nil until written.
func (b *syncBuffer) requestLine(id string) map[string]any { return b.line("request", id) }

type tracedFacade struct {
	sb         *sandbox.Sandbox
	url, token string
	flags      map[string]*recorder // by backend name
	log        *syncBuffer
}

// startTracedFacade runs a facade (tp nil: tracing as the default
// configuration leaves it, off) over one sandbox, the four Flag services
// behind recording proxies.
func startTracedFacade(t *testing.T, tp trace.TracerProvider) *tracedFacade {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	f := &tracedFacade{sb: sb, flags: map[string]*recorder{}, log: &syncBuffer{}}
	proxy := func(name, base string) app.Backend {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		f.flags[name] = rec
		rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec.mu.Lock()
			rec.seen = append(rec.seen, seen{r.Header.Get("traceparent"), r.Header.Get("X-Correlation-ID")})
			rec.mu.Unlock()
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return app.Backend{BaseURL: srv.URL + u.Path, Token: "sandbox"}
	}
	direct := func(base string) app.Backend { return app.Backend{BaseURL: base, Token: "sandbox"} }
	log := logrus.New()
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetOutput(f.log)
	cfg := app.Config{
		Logger: log, TracerProvider: tp,
		PDS: direct(sb.PDSBaseURL), BNA: direct(sb.BNABaseURL), SCR: direct(sb.SCRBaseURL),
		NRL: direct(sb.NRLBaseURL), NRLSSPURL: sb.NRLSSPURL, Imms: direct(sb.ImmsBaseURL),
		RA: proxy("ra", sb.RABaseURL), CPIS: proxy("cpis", sb.CPISBaseURL), FGM: proxy("fgm", sb.FGMBaseURL), OVM: proxy("ovm", sb.OVMBaseURL),
	}
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	if f.token, err = a.DevToken("clinician", ""); err != nil {
		t.Fatal(err)
	}
	return f
}

// get sends a Flag search with request id id (and header h) and wants 200.
func (f *tracedFacade) get(t *testing.T, path, id string, h http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.url+path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("X-Request-ID", id)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d: %s", path, res.StatusCode, body)
	}
}

// nhsNumberLike is ten digits standing alone, as an NHS number appears.
var nhsNumberLike = regexp.MustCompile(`(^|[^0-9])[0-9]{10}($|[^0-9])`)

// A Flag search through a real server and sandbox, traced: one server
// span named by its route; one fan-out span per Flag service under it;
// every backend call a client span under its service's fan-out span
// (RA's two included), whose traceparent is what the simulator
// received beside the request's X-Correlation-ID; the request log line
// carries the trace and span ids; and no span names an NHS number anywhere.
func TestTracingFlagSearch(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	f := startTracedFacade(t, tp)
	id := uuid.NewString()
	f.get(t, "/fhir/Flag?patient=9000000009", id, nil)

	// The server span ends (and the log line is written) just after the
	// answer has gone.
	var server *tracetest.SpanStub
	var line map[string]any
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, s := range exp.GetSpans() {
			if s.SpanKind == trace.SpanKindServer {
				server = &s
			}
		}
		if line = f.log.requestLine(id); server != nil && line != nil {
			break
		}
	}
	if server == nil || line == nil {
		t.Fatalf("no server span (%v) or request log line (%v)", server, line)
	}
	spans := exp.GetSpans()
	if server.Name != "GET /fhir/{type}" {
		t.Errorf("server span %q, want the route template", server.Name)
	}
	attrs := func(s tracetest.SpanStub) map[string]string {
		m := map[string]string{}
		for _, kv := range s.Attributes {
			m[string(kv.Key)] = kv.Value.Emit()
		}
		return m
	}
	if a := attrs(*server); a["url.path"] != "/fhir/{type}" || a["http.route"] != "/fhir/{type}" || a["fhir.resource_type"] != "Flag" || a["http.response.status_code"] != "200" {
		t.Errorf("server span attributes %v", a)
	}
	if line["trace_id"] != server.SpanContext.TraceID().String() || line["span_id"] != server.SpanContext.SpanID().String() {
		t.Errorf("log line trace_id %v span_id %v, want the server span's %v %v", line["trace_id"], line["span_id"], server.SpanContext.TraceID(), server.SpanContext.SpanID())
	}

	fanout := map[string]tracetest.SpanStub{} // by source
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
		if s.SpanContext.TraceID() != server.SpanContext.TraceID() {
			t.Errorf("span %q in another trace", s.Name)
		}
		if strings.HasPrefix(s.Name, "fanout ") {
			fanout[attrs(s)["fanout.source"]] = s
			if s.Parent.SpanID() != server.SpanContext.SpanID() {
				t.Errorf("%q: parent is not the server span", s.Name)
			}
		}
	}
	sources := map[string]string{"ra": resources.SourceRA, "cpis": resources.SourceCPIS, "fgm": resources.SourceFGM, "ovm": resources.SourceOVM}
	calls := map[string]map[trace.SpanID]bool{} // client spans by backend
	for _, s := range spans {
		if s.SpanKind != trace.SpanKindClient {
			continue
		}
		backend := attrs(s)["backend.name"]
		if calls[backend] == nil {
			calls[backend] = map[trace.SpanID]bool{}
		}
		calls[backend][s.SpanContext.SpanID()] = true
		if !strings.HasPrefix(s.Name, backend+" ") {
			t.Errorf("client span %q not named by its backend %q and operation", s.Name, backend)
		}
		if src, ok := sources[backend]; ok {
			if fo, ok := fanout[src]; !ok || s.Parent.SpanID() != fo.SpanContext.SpanID() {
				t.Errorf("%q: parent %v, want the %s fan-out span", s.Name, byID[s.Parent.SpanID()].Name, src)
			}
		}
	}
	for backend, rec := range f.flags {
		got := rec.all()
		if len(got) == 0 || len(got) != len(calls[backend]) {
			t.Errorf("%s: %d calls received, %d client spans", backend, len(got), len(calls[backend]))
		}
		for _, r := range got {
			parts := strings.Split(r.traceparent, "-")
			if len(parts) != 4 || parts[1] != server.SpanContext.TraceID().String() {
				t.Errorf("%s received traceparent %q, not of the request's trace", backend, r.traceparent)
				continue
			}
			if sid, err := trace.SpanIDFromHex(parts[2]); err != nil || !calls[backend][sid] {
				t.Errorf("%s received traceparent %q, whose parent is none of its client spans", backend, r.traceparent)
			}
			if r.correlationID != id {
				t.Errorf("%s received X-Correlation-ID %q beside the traceparent, want %q", backend, r.correlationID, id)
			}
		}
	}
	if len(calls["ra"]) != 2 {
		t.Errorf("%d RA client spans, want 2 (the consent and the active flags, asked in parallel)", len(calls["ra"]))
	}
	// A Patient read: the NHS number is in the path, the server's and PDS's.
	f.get(t, "/fhir/Patient/9000000009", uuid.NewString(), nil)
	var read *tracetest.SpanStub
	for deadline := time.Now().Add(5 * time.Second); read == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, s := range exp.GetSpans() {
			if s.SpanKind == trace.SpanKindServer && attrs(s)["fhir.resource_type"] == "Patient" {
				read = &s
			}
		}
	}
	if read == nil || read.Name != "GET /fhir/{type}/{id}" || attrs(*read)["url.path"] != "/fhir/{type}/{id}" {
		t.Errorf("Patient read's server span %v", read)
	}
	spans = exp.GetSpans()
	pdsRead := false
	for _, s := range spans {
		pdsRead = pdsRead || s.Name == "pds read"
		texts := []string{s.Name, s.Status.Description}
		kvs := append([]attribute.KeyValue(nil), s.Attributes...)
		for _, e := range s.Events {
			texts = append(texts, e.Name)
			kvs = append(kvs, e.Attributes...)
		}
		for _, kv := range kvs {
			texts = append(texts, string(kv.Key)+"="+kv.Value.Emit())
		}
		for _, txt := range texts {
			if nhsNumberLike.MatchString(txt) {
				t.Errorf("span %q records %q", s.Name, txt)
			}
		}
	}
	if !pdsRead {
		t.Error("no pds read span for the Patient read")
	}
}

// Off, as the default configuration leaves it: no backend call carries a
// traceparent, not even the one the client sent, and no log line a trace id.
func TestTracingOffByDefault(t *testing.T) {
	cfg, err := app.FromEnv(func(string) string { return "" })
	if err != nil || cfg.Tracing.Enabled() || cfg.TracerProvider != nil {
		t.Fatalf("default configuration traces: %+v, %v", cfg.Tracing, err)
	}
	f := startTracedFacade(t, nil)
	id := uuid.NewString()
	f.get(t, "/fhir/Flag?patient=9000000009", id, http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	for backend, rec := range f.flags {
		got := rec.all()
		if len(got) == 0 {
			t.Errorf("%s: no call", backend)
		}
		for _, r := range got {
			if r.traceparent != "" || r.correlationID != id {
				t.Errorf("%s received traceparent %q, X-Correlation-ID %q", backend, r.traceparent, r.correlationID)
			}
		}
	}
	var line map[string]any
	for deadline := time.Now().Add(5 * time.Second); line == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		line = f.log.requestLine(id)
	}
	if line == nil {
		t.Fatal("no request log line")
	}
	if _, ok := line["trace_id"]; ok {
		t.Errorf("log line with a trace id while tracing is off: %v", line)
	}
}

// A failed request's "request failed" line (the error's detail, which the
// client never sees) carries the request's trace, as its request line does:
// the two, and the backend spans, are found together.
func TestTracingFailedRequestLog(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	f := startTracedFacade(t, tp)
	f.sb.PDS.SetFault(&sandboxpds.Fault{Status: http.StatusInternalServerError, Body: "down", ContentType: "text/plain"})
	id := uuid.NewString()
	req, _ := http.NewRequest(http.MethodGet, f.url+"/fhir/Patient/9000000009", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("X-Request-ID", id)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 500 {
		t.Fatalf("status %d with PDS down", res.StatusCode)
	}
	var failed, request map[string]any
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if failed, request = f.log.line("request failed", id), f.log.requestLine(id); failed != nil && request != nil {
			break
		}
	}
	if failed == nil || request == nil {
		t.Fatalf("log lines: failed %v, request %v", failed, request)
	}
	if failed["trace_id"] == nil || failed["trace_id"] != request["trace_id"] {
		t.Errorf("request failed trace_id %v, request line's %v", failed["trace_id"], request["trace_id"])
	}
}
