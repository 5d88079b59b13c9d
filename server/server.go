// Package server is the FHIR REST layer: routing, middleware (request id,
// recovery, logs, metrics), content negotiation, and the one place where
// answers and errors are written. Handlers return (*reply, error); writeReply
// does negotiation, _pretty, ETag, Last-Modified and conditional reads, and
// writeError turns every error into an OperationOutcome.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/capability"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// Config configures the FHIR server.
type Config struct {
	// BaseURL is the public FHIR base used in links, fullUrls, Location
	// headers and the CapabilityStatement (behind a proxy, the proxy's
	// address), e.g. http://127.0.0.1:8080/fhir. Required: it is never
	// derived from a request's Host, which would give a client links naming
	// the host it typed while its token names another.
	BaseURL string
	// Version is the software version in the CapabilityStatement.
	Version string
	// DefaultPageSize and MaxPageSize bound _count (defaults 20 and 50).
	DefaultPageSize, MaxPageSize int
	// RenderCacheBytes bounds the cache of rendered resources (default 64 MiB).
	RenderCacheBytes int64
	// Logger receives one JSON line per request; nil means logrus' standard logger.
	Logger *logrus.Logger
	// QuietLogs logs only 5xx requests (benchmarks).
	QuietLogs bool
	// MaxInFlight bounds requests served at once (DefaultMaxInFlight() when 0);
	// beyond it a request gets 503 with Retry-After after a short wait.
	MaxInFlight int
	// MaxInFlightPerCaller bounds the requests one caller (token issuer,
	// subject and client) has in flight at once: 429 beyond it.
	// MaxInFlight / DefaultCallerShare when 0.
	MaxInFlightPerCaller int
	// BodyTimeout bounds how long a request body may take to arrive
	// (DefaultBodyTimeout when 0): 408 after it.
	BodyTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (DefaultMaxHeaderBytes when 0): 431.
	MaxHeaderBytes int
	// RequestTimeout bounds the whole of one FHIR request, every backend call
	// and retry included (DefaultRequestTimeout when 0); document streams
	// are bounded by their own timeouts instead.
	RequestTimeout time.Duration
	// Auth authenticates callers and decides their interactions; nil lets
	// every request through (development only: the facade warns loudly).
	Auth *Auth
	// SMART is published at /.well-known/smart-configuration (and under
	// /fhir); nil publishes nothing.
	SMART *SMARTConfiguration
	// Handlers are mounted as they are, outside the FHIR base (e.g. the
	// embedded token issuer's /oauth/token and JWKS), by ServeMux pattern;
	// a last segment written {name:.*} takes everything below it.
	Handlers map[string]http.Handler
	// Audit receives one record per request that touched patient data; nil
	// disables auditing.
	Audit audit.Writer
	// CurrentNHSNumber resolves an NHS number through PDS: the number of the
	// record PDS answers it with (another one when it was superseded). Nil:
	// clinical searches use numbers as given.
	CurrentNHSNumber func(ctx context.Context, nhs string) (string, error)
	// Restricted reports whether PDS restricts a patient's record (their
	// location must never leave the facade); nil or an error: taken as yes.
	Restricted func(ctx context.Context, nhs string) (bool, error)
	// CORSOrigins are the browser origins allowed to call the API ("*" for
	// any); empty means no cross-origin access.
	CORSOrigins []string
	// Ready reports whether the backends can take traffic, with a word per
	// backend (e.g. "pds": "closed"); nil means always ready. /readyz uses it.
	Ready func() (bool, map[string]string)
	// Registry receives the metrics; nil means a fresh one. Gatherer serves
	// /metrics; nil means the Registry (if it is a Gatherer).
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	// TracerProvider, when set, traces every request (package tracing);
	// nil: no tracing, not even a no-op wrapper.
	TracerProvider trace.TracerProvider
}

// Server serves the FHIR API for the providers in a registry.
type Server struct {
	cfg        Config
	reg        *resources.Registry
	log        *logrus.Logger
	metrics    *httpMetrics
	render     *renderer
	capability []byte
	handler    http.Handler
	guard      *guard
	// tokens caches verified bearer tokens (nil without Auth).
	tokens *ristretto.Cache[string, *caller]
}

var errPanic = errors.New("panic")

// New builds the server. It panics on nothing: configuration errors are returned.
func New(cfg Config, reg *resources.Registry) (*Server, error) {
	if cfg.DefaultPageSize <= 0 {
		cfg.DefaultPageSize = 20
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 50
	}
	if cfg.DefaultPageSize > cfg.MaxPageSize {
		cfg.DefaultPageSize = cfg.MaxPageSize
	}
	if cfg.RenderCacheBytes <= 0 {
		cfg.RenderCacheBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Gatherer == nil {
		if g, ok := cfg.Registry.(prometheus.Gatherer); ok {
			cfg.Gatherer = g
		}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight()
	}
	if cfg.MaxInFlightPerCaller <= 0 {
		cfg.MaxInFlightPerCaller = max(cfg.MaxInFlight/DefaultCallerShare, 1)
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server: BaseURL %q must be the absolute http(s) FHIR base clients reach", cfg.BaseURL)
	}
	rd, err := newRenderer(cfg.RenderCacheBytes)
	if err != nil {
		return nil, err
	}
	rd.base = cfg.BaseURL
	s := &Server{cfg: cfg, reg: reg, log: cfg.Logger, metrics: newHTTPMetrics(cfg.Registry), render: rd, guard: newGuard(cfg.MaxInFlight, cfg.MaxInFlightPerCaller, cfg.MaxHeaderBytes)}
	capOpts := capability.Options{BaseURL: cfg.BaseURL, Version: cfg.Version, Date: time.Now(), CORS: len(cfg.CORSOrigins) > 0}
	if cfg.SMART != nil && cfg.Auth != nil {
		capOpts.TokenURL, capOpts.AuthorizeURL = cfg.SMART.TokenEndpoint, cfg.SMART.AuthorizationEndpoint
	}
	capJSON, err := capability.Build(reg, capOpts).JSON()
	if err != nil {
		return nil, err
	}
	s.capability = capJSON
	if cfg.Auth != nil {
		if s.tokens, err = ristretto.NewCache(&ristretto.Config[string, *caller]{NumCounters: 100_000, MaxCost: 8 << 20, BufferItems: 64}); err != nil {
			return nil, err
		}
	}
	s.handler = s.instrument(s.routes())
	if cfg.TracerProvider != nil {
		s.handler = traced(s.handler, cfg.TracerProvider)
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Drain makes the server refuse new FHIR requests (503) and report not
// ready, so a load balancer stops sending traffic while in-flight requests
// finish (call before http.Server.Shutdown).
func (s *Server) Drain() { s.guard.draining.Store(true) }

// Close releases the caches.
func (s *Server) Close() {
	s.render.close()
	if s.tokens != nil {
		s.tokens.Close()
	}
}

func (s *Server) routes() http.Handler {
	// Go's own ServeMux: literal segments beat wildcards, so each URL has
	// one pattern and no regular expression is tried per request (the
	// read route was gorilla/mux's ninth, ≈6% of a cached read's CPU).
	m := http.NewServeMux()
	m.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	// Liveness: the process serves, whatever its backends or draining say
	// (/readyz says those), so a national service down never restarts it.
	alive := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}
	m.HandleFunc("GET /healthz", alive)
	m.HandleFunc("GET /livez", alive)
	m.HandleFunc("GET /readyz", s.readyz)
	for path, h := range s.cfg.Handlers {
		m.Handle(muxPattern(path), h)
	}
	if s.cfg.SMART != nil {
		smart, _ := marshal(s.cfg.SMART)
		serve := func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(smart)
		}
		m.HandleFunc("GET /.well-known/smart-configuration", serve)
		m.HandleFunc("GET /fhir/.well-known/smart-configuration", serve)
	}

	handlers := map[string]http.Handler{}
	for _, rt := range s.endpoints() {
		handlers[rt.template] = s.fhir(rt.template, rt.methods)
	}
	batch := s.fhir("/fhir", map[string]endpoint{http.MethodPost: {name: "batch", run: s.batch}})
	notFound := s.fhir("/fhir/*", nil)
	m.Handle("/fhir", batch)
	// Everything under /fhir/ no pattern below takes. A trailing slash is
	// answered as without it, as HAPI does (its path tokenizer skips empty
	// segments): Patient/ is Patient. Not redirected: clients would resend
	// a POST as a GET, or drop its body.
	m.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fhir/" {
			batch.ServeHTTP(w, r)
			return
		}
		if p := strings.TrimRight(r.URL.Path, "/"); p != r.URL.Path && p != "/fhir" {
			r = r.Clone(r.Context())
			r.URL.Path, r.URL.RawPath = p, strings.TrimRight(r.URL.RawPath, "/")
			m.ServeHTTP(w, r)
			return
		}
		notFound.ServeHTTP(w, r)
	})
	// Every route ServeMux can tell apart is its own pattern; the four
	// below share two shapes and are told apart by their dispatchers.
	for tpl, h := range handlers {
		switch tpl {
		case "/fhir/{type}/{id}", "/fhir/{type}/$op", "/fhir/{type}/{id}/$op", "/fhir/Patient/{id}/{type}":
		default:
			m.Handle(tpl, h)
		}
	}
	// {type}/{id}: a read, update or patch, or a type-level operation
	// ($name in the id's place).
	read, typeOp := handlers["/fhir/{type}/{id}"], handlers["/fhir/{type}/$op"]
	m.HandleFunc("/fhir/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		if op := r.PathValue("id"); opPattern(op) {
			r.SetPathValue("op", op)
			typeOp.ServeHTTP(w, r)
			return
		}
		read.ServeHTTP(w, r)
	})
	// {type}/{id}/$name is an instance operation; Patient/{id}/{Type} a
	// search in the patient's compartment.
	instOp, compartment := handlers["/fhir/{type}/{id}/$op"], handlers["/fhir/Patient/{id}/{type}"]
	m.HandleFunc("/fhir/{type}/{id}/{sub}", func(w http.ResponseWriter, r *http.Request) {
		sub := r.PathValue("sub")
		switch {
		case opPattern(sub):
			r.SetPathValue("op", sub)
			instOp.ServeHTTP(w, r)
		case r.PathValue("type") == "Patient" && compartmentType(sub):
			r.SetPathValue("type", sub)
			compartment.ServeHTTP(w, r)
		default:
			notFound.ServeHTTP(w, r)
		}
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, format{contentType: mediaFHIRJSON}, fhirerr.New(fhirerr.NotFound, "no such endpoint; the FHIR base is /fhir"))
	})
	return m
}

// opPattern reports whether a path segment names an operation: $ and a
// lower-case name (FHIR operation names are lower-case, with hyphens). The
// prefix test first: it is asked of every read's id.
func opPattern(seg string) bool {
	return strings.HasPrefix(seg, "$") && operationSegment.MatchString(seg)
}

var operationSegment = regexp.MustCompile(`^\$[a-z][a-z-]*$`)

// compartmentType reports whether a path segment after Patient/{id} can
// name a resource type: a capital, then letters.
var compartmentType = regexp.MustCompile(`^[A-Z][A-Za-z]*$`).MatchString

// muxPattern turns a Handlers path into a ServeMux pattern: a last
// segment {name:.*} (the form the mounts were written in) is {name...}.
func muxPattern(path string) string {
	if i := strings.LastIndex(path, "/{"); i >= 0 && strings.HasSuffix(path, ":.*}") {
		return path[:i] + "/{" + strings.TrimSuffix(path[i+2:], ":.*}") + "...}"
	}
	return path
}

// route is one FHIR route: the template logs and metrics name it by (and
// routes() serves), and its endpoints by method.
type route struct {
	template string
	methods  map[string]endpoint
}

// endpoints is every FHIR interaction the server serves, each with what
// the preamble must decide before its handler runs. The route walk in the
// tests proves a patient-bound token reaches no other patient through any.
func (s *Server) endpoints() []route {
	return []route{
		// FHIR URLs served by no interaction (nil): each says why, whatever
		// the method. First, so that _history is not read as a type or id.
		{"/fhir/_history", nil},
		{"/fhir/{type}/_history", nil},
		{"/fhir/{type}/{id}/_history", nil},
		{"/fhir/metadata", map[string]endpoint{
			http.MethodGet: {name: "capabilities", run: s.metadata}}},
		{"/fhir/{type}/_search", map[string]endpoint{
			http.MethodPost: {name: "search-type", kind: auth.Search, supports: is[resources.Searcher], run: s.searchType}}},
		{"/fhir/{type}/{id}/$op", map[string]endpoint{
			http.MethodGet:  {name: "operation", kind: auth.Operation, byID: true, run: s.operation},
			http.MethodPost: {name: "operation", kind: auth.Operation, byID: true, run: s.operation}}},
		{"/fhir/{type}/$op", map[string]endpoint{
			http.MethodPost: {name: "operation", kind: auth.CreateOperation, run: s.typeOperation}}},
		{"/fhir/{type}/{id}/_history/{vid}", map[string]endpoint{
			http.MethodGet: {name: "vread", kind: auth.VRead, byID: true, supports: versioned, run: s.vread}}},
		{"/fhir/Patient/{id}/{type}", map[string]endpoint{
			http.MethodGet: {name: "search-type", kind: auth.Search, compartment: true, supports: is[resources.Searcher], run: s.searchType}}},
		{"/fhir/{type}/{id}", map[string]endpoint{
			http.MethodGet:   {name: "read", kind: auth.Read, byID: true, supports: readable, run: s.read},
			http.MethodPut:   {name: "update", kind: auth.Update, byID: true, supports: is[resources.Updater], run: s.update},
			http.MethodPatch: {name: "patch", kind: auth.Patch, byID: true, supports: is[resources.Patcher], run: s.patch}}},
		{"/fhir/{type}", map[string]endpoint{
			http.MethodGet:  {name: "search-type", kind: auth.Search, supports: is[resources.Searcher], run: s.searchType},
			http.MethodPost: {name: "create", kind: auth.Create, supports: is[resources.Creator], run: s.create}}},
	}
}

// unserved is the answer at a route without endpoints. History (system,
// type or instance) is a FHIR interaction this server does not offer: 404
// not-supported, as for a type or an operation it does not offer (FHIR:
// "404 Not Found - resource type not supported, or not a FHIR end-point").
// Not 405: GET is history's only method, so no other could be allowed;
// HAPI answers an interaction it lacks with 400, saying only that it does
// not know how to handle the URL.
func unserved(route string) error {
	switch route {
	case "/fhir/_history", "/fhir/{type}/_history", "/fhir/{type}/{id}/_history":
		return &fhirerr.Error{Category: fhirerr.NotFound, IssueCode: "not-supported", Message: "history is not supported by this server: " +
			"the national services keep only each record's current version; read it ([type]/[id]), or vread that version ([type]/[id]/_history/[vid], vid its meta.versionId)"}
	}
	return fhirerr.New(fhirerr.NotFound, "no such FHIR endpoint")
}

// Endpoint names one FHIR interaction the server serves: for the tests
// that walk every route, and for documentation.
type Endpoint struct {
	Method, Route, Interaction string
}

// Endpoints lists every FHIR route and method the server serves, batch
// included, sorted by route and method.
func (s *Server) Endpoints() []Endpoint {
	out := []Endpoint{{Method: http.MethodPost, Route: "/fhir", Interaction: "batch"}}
	for _, rt := range s.endpoints() {
		for m, ep := range rt.methods {
			out = append(out, Endpoint{Method: m, Route: rt.template, Interaction: ep.name})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Route != out[j].Route {
			return out[i].Route < out[j].Route
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// is reports whether a provider implements T.
func is[T any](p resources.Provider) bool { _, ok := p.(T); return ok }

func readable(p resources.Provider) bool { return is[resources.Reader](p) || is[resources.Streamer](p) }

func versioned(p resources.Provider) bool {
	v, ok := p.(resources.Versioned)
	return ok && v.Versioned() && is[resources.Reader](p)
}

// reply is a successful answer, rendered by writeReply.
type reply struct {
	status       int
	body         []byte // compact JSON
	etag         string // weak ETag value without W/ and quotes: the versionId
	lastModified time.Time
	header       http.Header
}

// writeReply writes a successful answer: content type, ETag, Last-Modified,
// conditional-read 304s, and _pretty.
func (s *Server) writeReply(w http.ResponseWriter, r *http.Request, f format, rep *reply) {
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	status := rep.status
	if status == 0 {
		status = http.StatusOK
	}
	h["Content-Type"] = contentTypeHeader(f)
	if rep.etag != "" {
		h["Etag"] = []string{`W/"` + rep.etag + `"`}
	}
	if !rep.lastModified.IsZero() {
		h["Last-Modified"] = []string{rep.lastModified.UTC().Format(http.TimeFormat)}
	}
	if status == http.StatusOK && (r.Method == http.MethodGet || r.Method == http.MethodHead) && notModified(r, rep) {
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, r, f, status, rep.body)
}

// writeBody ends an answer: the status, then the body (indented for
// _pretty), none for HEAD.
func writeBody(w http.ResponseWriter, r *http.Request, f format, status int, body []byte) {
	if f.pretty {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	// The length is known: said, the answer goes out in one write instead
	// of net/http's chunked encoding (a second write for the last chunk),
	// which was a third of a cached read's cost. HEAD says the length GET
	// would send.
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// notModified evaluates If-None-Match (which wins) and If-Modified-Since.
// See: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
func notModified(r *http.Request, rep *reply) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if rep.etag == "" {
			return false
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" {
				return true
			}
			t = strings.Trim(strings.TrimPrefix(t, "W/"), `"`)
			if t == rep.etag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !rep.lastModified.IsZero() {
		if t, err := http.ParseTime(ims); err == nil {
			return !rep.lastModified.Truncate(time.Second).After(t)
		}
	}
	return false
}

// writeError writes err as an OperationOutcome; internal errors and backend
// failures are logged with their detail, which the client never sees.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, f format, err error) {
	ri := request.From(r.Context())
	status, hdr, body := errorReply(err, ri.ID)
	if status >= 500 || fhirerr.CategoryOf(err) == fhirerr.Internal {
		fields := logrus.Fields{"request_id": ri.ID, "status": status}
		if e := fhirerr.As(err); e != nil && e.Backend != "" {
			fields["backend"] = e.Backend
		}
		fields["error"] = fhirerr.LogString(err)
		// The trace, when there is one, joins this line to the backend
		// calls that failed.
		s.log.WithFields(traceFields(trace.SpanFromContext(r.Context()), fields)).Warn("request failed")
	}
	h := w.Header()
	for k, v := range hdr {
		h[k] = v
	}
	ct := f.contentType
	if ct == "" {
		ct = mediaFHIRJSON
	}
	h.Set("Content-Type", ct+"; charset=utf-8")
	writeBody(w, r, f, status, body)
}

// readyz answers 200 when the server takes traffic and every backend's
// circuit is not open, else 503; the body names each backend's state.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	ready, backends := true, map[string]string{}
	if s.cfg.Ready != nil {
		ready, backends = s.cfg.Ready()
	}
	status := "ready"
	if s.guard.draining.Load() {
		ready, status = false, "draining"
	} else if !ready {
		status = "degraded"
	}
	body, _ := marshal(map[string]any{"status": status, "backends": backends})
	w.Header().Set("Content-Type", "application/json")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write(body)
}

// validUTF8 reports whether every parameter name and value is valid UTF-8
// without NUL characters.
func validUTF8(q url.Values) bool {
	for k, vs := range q {
		if !utf8.ValidString(k) || strings.ContainsRune(k, 0) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return false
			}
		}
	}
	return true
}

// publicRoute reports the routes anyone may read without a token: the
// CapabilityStatement and the OperationDefinitions and StructureDefinitions
// it points to describe the server, not patients.
func publicRoute(r *http.Request, route string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	t := r.PathValue("type")
	return route == "/fhir/metadata" || (route == "/fhir/{type}/{id}" && (t == "OperationDefinition" || t == "StructureDefinition"))
}

// baseURL is the configured public base, whatever Host a request named.
func (s *Server) baseURL() string { return s.cfg.BaseURL }

var typePattern = regexp.MustCompile(`^[A-Za-z]+$`)

// provider looks up the provider for a {type} path segment; unknown types
// are a 404 not-supported.
func (s *Server) provider(r *http.Request) (resources.Provider, error) {
	t := r.PathValue("type")
	ri := request.From(r.Context())
	p, ok := s.reg.Lookup(t)
	if !ok {
		ri.ResourceType = "unsupported"
		return nil, &fhirerr.Error{Category: fhirerr.NotFound, IssueCode: "not-supported", Message: "resource type " + quoteType(t) + " is not supported by this server"}
	}
	ri.ResourceType = t
	return p, nil
}

// quoteType echoes a path segment only if it looks like a resource type name.
func quoteType(t string) string {
	if len(t) <= 64 && typePattern.MatchString(t) {
		return "'" + t + "'"
	}
	return "(invalid name)"
}
