// Package viewer is a clinician's summary viewer served by the facade: one
// fast, accessible HTML page per patient (banner, alerts first, allergies,
// medications, vaccinations, documents), launched in context from a local
// clinical system as a SMART on FHIR EHR-launch app.
//
// It is a client of the facade's own FHIR API and nothing else: it reads
// GET [base]/Patient/[nhs]/$summary and GET [base]/Binary/[id] with the
// clinician's access token, so the API is shown to be enough for a real
// client. The token is obtained by the SMART App Launch authorization-code
// flow with PKCE, kept server-side in a bounded in-memory session store, and
// never put in a URL, a log line or the HTML.
//
// Routes (all GET, under /view):
//
//	/view/launch?iss=…&launch=…            EHR launch: discover, PKCE, redirect to authorize
//	/view/callback?code=…&state=…          exchange the code, start the session
//	/view/Patient/{nhs}                    the summary page of the session's patient
//	/view/Patient/{nhs}/document/{id}      a document, through the facade's Binary
//	/view/static/viewer.css                the one stylesheet
//
// See: https://hl7.org/fhir/smart-app-launch/app-launch.html
package viewer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

//go:embed templates/*.html static/viewer.css
var files embed.FS

// Defaults of Config.
const (
	DefaultClientID = "facade-viewer"
	// CallbackPath is the viewer's redirect URI under the facade's root,
	// the one its OAuth client is registered with.
	CallbackPath          = "/view/callback"
	DefaultScope          = "launch openid fhirUser patient/*.read"
	DefaultFrameAncestors = "'self'"
	DefaultMaxSessions    = 10000
	DefaultLaunchTTL      = 10 * time.Minute
	DefaultSessionTTL     = 12 * time.Hour
	// maxSummaryBytes bounds the $summary answer read into memory.
	maxSummaryBytes = 16 << 20
)

// Config configures a Viewer.
type Config struct {
	// FHIRBase is the facade's public FHIR base URL, e.g.
	// "https://facade.example.nhs.uk/fhir". It is the only iss a launch may
	// name and the aud of the authorization request; the viewer lives at its
	// root ("https://facade.example.nhs.uk/view"). Required.
	FHIRBase string
	// API is the facade's own HTTP handler (the whole facade: /fhir,
	// /.well-known, /oauth …). Requests to FHIRBase's origin are served by
	// it in-process; see inProcess. Required.
	API http.Handler
	// HTTPClient's transport reaches issuers that are not the facade (a
	// configured national issuer's token endpoint); nil means
	// http.DefaultTransport. Calls to an issuer are bounded by
	// issuerTimeout; calls to the facade by its own request timeout.
	HTTPClient *http.Client
	// ClientID is the viewer's OAuth client id (DefaultClientID); Scope what
	// it asks for (DefaultScope).
	ClientID, Scope string
	// FrameAncestors is the CSP frame-ancestors source list: who may embed
	// the viewer in a frame (DefaultFrameAncestors, i.e. the facade's own
	// origin; an EHR that embeds it adds its origin, e.g.
	// "'self' https://ehr.example.nhs.uk").
	FrameAncestors string
	// MaxSessions bounds each in-memory store: sessions and pending launches
	// (DefaultMaxSessions). LaunchTTL bounds a launch from redirect to
	// callback (DefaultLaunchTTL); SessionTTL a session, whatever the token
	// says (DefaultSessionTTL).
	MaxSessions           int
	LaunchTTL, SessionTTL time.Duration
	// Sessions and Launches, when set, keep the sessions and pending
	// launches where every replica of the facade finds them (Redis, when
	// FACADE_REDIS_URL is set), with the same TTLs; MaxSessions then does
	// not apply. nil: in memory.
	Sessions, Launches SharedStore
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives failures, never a token, NHS number or name (nil:
	// logrus' standard logger).
	Logger *logrus.Logger
}

// Viewer serves the summary viewer. It is an http.Handler for /view/….
type Viewer struct {
	cfg      Config
	base     *url.URL // FHIRBase, parsed
	baseURL  string   // FHIRBase without a trailing slash
	root     string   // FHIRBase without /fhir: the facade's root
	client   *http.Client
	issuer   *http.Client // client's transport and redirect rule, bounded by issuerTimeout
	sessions *store[session]
	launches *store[pendingLaunch]
	pages    map[string]*template.Template
	css      []byte
	csp      string
	secure   bool // cookies are Secure (the root is https)
	// crossSite: another origin may frame the viewer (FrameAncestors), and
	// the root is https. Its cookies are then SameSite=None, or a browser
	// would not send them inside an EHR's frame on another site, and
	// Partitioned (CHIPS), so that browsers which block third-party cookies
	// keep them, one jar per embedding site.
	crossSite bool
	mux       *http.ServeMux
}

// New returns a Viewer, or an error when cfg is incomplete.
func New(cfg Config) (*Viewer, error) {
	if cfg.API == nil {
		return nil, errors.New("viewer: no API handler")
	}
	base, err := url.Parse(strings.TrimRight(cfg.FHIRBase, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("viewer: FHIRBase must be an absolute http(s) URL")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	if cfg.FrameAncestors == "" {
		cfg.FrameAncestors = DefaultFrameAncestors
	}
	if err := ValidFrameAncestors(cfg.FrameAncestors); err != nil {
		return nil, err
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.LaunchTTL <= 0 {
		cfg.LaunchTTL = DefaultLaunchTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	next := http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		next = cfg.HTTPClient.Transport
	}
	transport := &inProcess{origin: base.Scheme + "://" + base.Host, handler: cfg.API, next: next}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	v := &Viewer{
		cfg:       cfg,
		base:      base,
		baseURL:   base.String(),
		root:      strings.TrimSuffix(base.String(), "/fhir"),
		sessions:  newStore[session](cfg.MaxSessions, cfg.Now),
		launches:  newStore[pendingLaunch](cfg.MaxSessions, cfg.Now),
		secure:    base.Scheme == "https",
		crossSite: base.Scheme == "https" && framedByOthers(cfg.FrameAncestors),
		client: &http.Client{
			// The client neither follows redirects nor keeps cookies: every
			// call is one exchange with the API or the token endpoint.
			// No overall timeout: a document streams for as long as it
			// takes (the facade bounds its own calls).
			Transport:     transport,
			CheckRedirect: noRedirect,
		},
		// The discovery document and the token endpoint (the code exchange
		// runs in x/oauth2, handed this client): the same in-process
		// transport, so the facade's own issuer is reached whatever its
		// public base; no redirect followed (a 30x is a failed answer);
		// and a whole call, body included, within issuerTimeout.
		issuer: &http.Client{Transport: transport, CheckRedirect: noRedirect, Timeout: issuerTimeout},
	}
	failed := func(op string, err error) {
		cfg.Logger.WithFields(logrus.Fields{"op": op, "error": err.Error()}).Warn("viewer: the shared session store failed")
	}
	v.sessions.shared, v.sessions.failed = cfg.Sessions, failed
	v.launches.shared, v.launches.failed = cfg.Launches, failed
	if base.Scheme != "https" && framedByOthers(cfg.FrameAncestors) {
		cfg.Logger.Warn("viewer: frame-ancestors lets other origins embed the viewer, but its cookies can be sent inside another site's frame only over https (SameSite=None needs Secure): serve the facade on https, or embed it from the same site")
	}
	v.csp = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors " + cfg.FrameAncestors
	if v.css, err = files.ReadFile("static/viewer.css"); err != nil {
		return nil, err
	}
	v.pages = map[string]*template.Template{}
	for _, page := range []string{"summary", "error"} {
		t, err := template.New(page).ParseFS(files, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("viewer: template %s: %w", page, err)
		}
		v.pages[page] = t
	}
	v.mux = http.NewServeMux()
	v.mux.HandleFunc("GET /view/static/viewer.css", v.serveCSS)
	v.mux.HandleFunc("GET /view/launch", v.serveLaunch)
	v.mux.HandleFunc("GET "+CallbackPath, v.serveCallback)
	v.mux.HandleFunc("GET /view/Patient/{nhs}", v.serveSummary)
	v.mux.HandleFunc("GET /view/Patient/{nhs}/document/{id}", v.serveDocument)
	v.mux.HandleFunc("POST /view/signout", v.serveSignOut)
	v.mux.HandleFunc("/view/", func(w http.ResponseWriter, r *http.Request) {
		v.renderError(w, r, http.StatusNotFound, pageNotFound)
	})
	return v, nil
}

// frameSource is one CSP source expression a frame-ancestors list may hold.
var frameSource = regexp.MustCompile(`^('self'|'none'|https?://[A-Za-z0-9.\-*]+(:[0-9]{1,5})?|https?:|\*)$`)

// framedByOthers reports whether a frame-ancestors list names any source
// other than the facade's own origin.
func framedByOthers(list string) bool {
	for _, f := range strings.Fields(list) {
		if f != "'self'" && f != "'none'" {
			return true
		}
	}
	return false
}

// ValidFrameAncestors checks a frame-ancestors source list: space-separated
// 'self', 'none', schemes or origins, nothing that could end the header
// directive or inject another.
func ValidFrameAncestors(s string) error {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return errors.New("viewer: frame-ancestors is empty")
	}
	for _, f := range fields {
		if !frameSource.MatchString(f) {
			return fmt.Errorf("viewer: frame-ancestors: %q is not a source such as 'self' or https://ehr.example.nhs.uk", f)
		}
		if f == "'none'" && len(fields) > 1 {
			return errors.New("viewer: frame-ancestors: 'none' stands alone")
		}
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (v *Viewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Every page may hold patient data: never stored, never referred.
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", v.csp)
	// X-Frame-Options for browsers without frame-ancestors: it can say only
	// "same origin", so it is sent only when that is the whole policy.
	switch v.cfg.FrameAncestors {
	case "'self'":
		h.Set("X-Frame-Options", "SAMEORIGIN")
	case "'none'":
		h.Set("X-Frame-Options", "DENY")
	default:
		h.Del("X-Frame-Options")
	}
	v.mux.ServeHTTP(w, r)
}

func (v *Viewer) serveCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300") // no patient data
	h.Del("Pragma")
	http.ServeContent(w, r, "viewer.css", time.Time{}, bytes.NewReader(v.css))
}

// summaryPath is the page of patient nhs.
func summaryPath(nhs string) string { return "/view/Patient/" + nhs }

// documentPath opens Binary id of patient nhs through the viewer.
func documentPath(nhs, id string) string {
	return "/view/Patient/" + nhs + "/document/" + url.PathEscape(id)
}

// patientSession is the session of a page under /view/Patient/{nhs} and
// that NHS number: none (a page said so) without a session, for an invalid
// number (400), or for a patient other than the session's launch patient
// (403).
func (v *Viewer) patientSession(w http.ResponseWriter, r *http.Request) (*session, string, bool) {
	sess, ok := v.session(w, r)
	if !ok {
		return nil, "", false
	}
	nhs := r.PathValue("nhs")
	if !nhsnumber.Valid(nhs) {
		v.renderError(w, r, http.StatusBadRequest, pageInvalidNHS)
		return nil, "", false
	}
	if nhs != sess.Patient {
		v.renderError(w, r, http.StatusForbidden, pageOtherPatient)
		return nil, "", false
	}
	return sess, nhs, true
}

// serveSummary renders the summary page of the session's patient from the
// facade's Patient/$summary.
func (v *Viewer) serveSummary(w http.ResponseWriter, r *http.Request) {
	sess, nhs, ok := v.patientSession(w, r)
	if !ok {
		return
	}
	res, err := v.get(w, r, sess, v.baseURL+"/Patient/"+nhs+"/$summary", "application/fhir+json")
	if err != nil {
		v.cfg.Logger.WithFields(logrus.Fields{"request_id": requestID(w), "error": err.Error()}).Warn("viewer: the summary could not be asked for")
		v.renderError(w, r, http.StatusBadGateway, pageUnavailable)
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		v.apiError(w, r, res)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxSummaryBytes))
	if err != nil {
		v.renderError(w, r, http.StatusBadGateway, pageUnavailable)
		return
	}
	sum, err := ParseSummary(raw, nhs, v.cfg.Now(), func(id string) string { return documentPath(nhs, id) })
	if err != nil {
		v.cfg.Logger.WithFields(logrus.Fields{"request_id": requestID(w)}).Warn("viewer: the summary Bundle is unreadable")
		v.renderError(w, r, http.StatusBadGateway, pageUnavailable)
		return
	}
	v.render(w, http.StatusOK, "summary", pageData{Summary: sum, SignOut: true})
}

// serveDocument streams one document of the session's patient from the
// facade's Binary, as the browser cannot send the bearer token itself.
func (v *Viewer) serveDocument(w http.ResponseWriter, r *http.Request) {
	sess, _, ok := v.patientSession(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !binaryIDPattern.MatchString(id) {
		v.renderError(w, r, http.StatusNotFound, pageDocumentGone)
		return
	}
	// The facade checks the document is this patient's (the token's
	// patient context) before a byte of it is sent.
	res, err := v.get(w, r, sess, v.baseURL+"/Binary/"+id, "*/*")
	if err != nil {
		v.renderError(w, r, http.StatusBadGateway, pageDocumentUnreachable)
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		v.apiError(w, r, res)
		return
	}
	ct := res.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	kind := mediaKind(ct) // unchanged by the FHIR JSON rewrite below
	if kind == "FHIR JSON" {
		// Browsers save application/fhir+json rather than show it; as
		// application/json they show it as text (and never run it).
		ct = "application/json; charset=utf-8"
	}
	h.Set("Content-Type", ct)
	if n := res.Header.Get("Content-Length"); n != "" {
		h.Set("Content-Length", n)
	}
	h.Set("Content-Disposition", disposition(kind, id))
	// A document is the holder's content, not the viewer's: it may run
	// nothing. PDF is the exception, as browsers' PDF viewers do not run
	// in a sandboxed document.
	if kind == "PDF" {
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors "+v.cfg.FrameAncestors)
	} else {
		h.Set("Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors "+v.cfg.FrameAncestors)
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, res.Body); err != nil {
		v.cfg.Logger.WithFields(logrus.Fields{"request_id": requestID(w)}).Warn("viewer: a document stream was cut short")
	}
}

// binaryIDPattern is the Binary ids the facade writes (FHIR ids).
var binaryIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// disposition opens what a browser shows safely (by the mediaKind of the
// document), and saves anything else.
func disposition(kind, id string) string {
	name := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' {
			return r
		}
		return '_'
	}, id)
	switch kind {
	case "PDF", "FHIR JSON", "text", "image":
		return `inline; filename="` + name + `"`
	}
	return `attachment; filename="` + name + `"`
}

// get asks the facade's API for url with the session's token.
func (v *Viewer) get(w http.ResponseWriter, r *http.Request, sess *session, u, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+sess.Token)
	req.Header.Set("Accept", accept)
	// The API call carries the page request's id: one id in the logs.
	if id := requestID(w); id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	return v.client.Do(req)
}

// apiError renders the page for an API answer other than 200: the status
// the API gave, in words a clinician can act on.
func (v *Viewer) apiError(w http.ResponseWriter, r *http.Request, res *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	switch res.StatusCode {
	case http.StatusUnauthorized:
		// The token is no longer accepted: the session is over.
		v.endSession(w, r)
		v.renderError(w, r, http.StatusUnauthorized, pageSessionEnded)
	case http.StatusForbidden:
		v.renderError(w, r, http.StatusForbidden, pageForbidden)
	case http.StatusNotFound:
		if strings.Contains(r.URL.Path, "/document/") {
			v.renderError(w, r, http.StatusNotFound, pageDocumentGone)
		} else {
			v.renderError(w, r, http.StatusNotFound, pagePatientNotFound)
		}
	case http.StatusGone:
		v.renderError(w, r, http.StatusGone, pageInvalidated)
	case http.StatusBadRequest:
		v.renderError(w, r, http.StatusBadRequest, pageInvalidNHS)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if ra := res.Header.Get("Retry-After"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		v.renderError(w, r, http.StatusServiceUnavailable, pageBusy)
	case http.StatusGatewayTimeout:
		v.renderError(w, r, http.StatusGatewayTimeout, pageUnavailable)
	default:
		if strings.Contains(r.URL.Path, "/document/") {
			v.renderError(w, r, http.StatusBadGateway, pageDocumentUnreachable)
		} else {
			v.renderError(w, r, http.StatusBadGateway, pageUnavailable)
		}
	}
}

// pageData is what the templates are given.
type pageData struct {
	Summary   *Summary
	Error     *errorPage
	Static    string
	Generated string
	// SignOut shows the sign-out button (pages of a session).
	SignOut bool
}

func (v *Viewer) render(w http.ResponseWriter, status int, page string, d pageData) {
	d.Static = "/view/static"
	d.Generated = v.cfg.Now().In(london).Format("15:04 on 02-Jan-2006") // England's time, whatever the host's zone
	var buf bytes.Buffer
	if err := v.pages[page].ExecuteTemplate(&buf, "layout", d); err != nil {
		v.cfg.Logger.WithFields(logrus.Fields{"request_id": requestID(w), "page": page}).Error("viewer: a page could not be rendered")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is a page that says what went wrong and what to do.
type errorPage struct {
	Title      string
	Paragraphs []string
	// Relaunch: the way on is to open the record again from the local system.
	Relaunch  bool
	Retry     string
	RequestID string
}

// The error pages.
var (
	pageNotFound  = errorPage{Title: "Page not found", Paragraphs: []string{"There is no such page in the care record summary viewer."}}
	pageSignedOut = errorPage{Title: "You have signed out",
		Paragraphs: []string{"The care record summary is closed and its session ended; nothing is kept on this device. To see a patient's record again, open it from your clinical system."}}
	pageSessionEnded = errorPage{Title: "Your session has ended", Relaunch: true,
		Paragraphs: []string{"You are not signed in to the care record summary, or your session has expired."}}
	pageLaunchExpired = errorPage{Title: "This sign-in has expired", Relaunch: true,
		Paragraphs: []string{"The link from your clinical system has expired or has already been used."}}
	pageBadLaunch = errorPage{Title: "The record could not be opened", Relaunch: true,
		Paragraphs: []string{"Your clinical system's request to open the care record summary was incomplete or not for this service."}}
	pageForeignIssuer = errorPage{Title: "The record could not be opened",
		Paragraphs: []string{"The request named a FHIR server other than this one. The care record summary opens records from its own service only, and has not sent you anywhere else."}}
	pageSignInRefused = errorPage{Title: "Access was not granted", Relaunch: true,
		Paragraphs: []string{"The sign-in service did not grant access to this patient's care record summary."}}
	pageSignInFailed = errorPage{Title: "Sign-in failed", Relaunch: true,
		Paragraphs: []string{"The sign-in service could not be reached or did not answer as expected."}}
	pageOtherPatient = errorPage{Title: "You cannot view this patient here",
		Paragraphs: []string{"This session was opened for a different patient. To view this patient, open their record from your clinical system."}}
	pageForbidden = errorPage{Title: "You do not have access",
		Paragraphs: []string{"Your role does not allow you to view this patient's care record summary."}}
	pagePatientNotFound = errorPage{Title: "Patient not found",
		Paragraphs: []string{"The national Personal Demographics Service has no patient with this NHS number. Check the NHS number in your clinical system."}}
	pageInvalidated = errorPage{Title: "This NHS number is no longer in use",
		Paragraphs: []string{"The NHS number was invalidated by the national Personal Demographics Service. Trace the patient again in your clinical system to find their current NHS number."}}
	pageInvalidNHS = errorPage{Title: "Not a valid NHS number",
		Paragraphs: []string{"An NHS number has 10 digits and a correct check digit."}}
	pageBusy = errorPage{Title: "The national services are busy",
		Paragraphs: []string{"Too many requests are being made just now. Wait a few seconds and try again."}}
	pageUnavailable = errorPage{Title: "The care record could not be retrieved",
		Paragraphs: []string{"The national services did not answer in time or could not be reached. Try again in a moment; if it keeps happening, use your local record and contact your IT service desk."}}
	pageDocumentGone = errorPage{Title: "Document not available",
		Paragraphs: []string{"The organisation that holds this document no longer has it, or the link is not valid."}}
	pageDocumentUnreachable = errorPage{Title: "The document could not be retrieved",
		Paragraphs: []string{"The organisation that holds this document could not be reached, or did not answer in time. Try again later."}}
)

func (v *Viewer) renderError(w http.ResponseWriter, r *http.Request, status int, p errorPage) {
	p.RequestID = requestID(w)
	if status == http.StatusBadGateway || status == http.StatusGatewayTimeout || status == http.StatusServiceUnavailable {
		p.Retry = r.URL.Path
	}
	v.render(w, status, "error", pageData{Error: &p})
}

// requestID is the id the facade's middleware gave the request (echoed in
// X-Request-ID), for the user to quote.
func requestID(w http.ResponseWriter) string {
	id := w.Header().Get("X-Request-ID")
	if len(id) > 128 || strings.ContainsFunc(id, func(c rune) bool { return c <= ' ' || c > '~' }) {
		return ""
	}
	return id
}

// flagRank orders alerts: child protection and other safety alerts first,
// then clinical (FGM), any other category, reasonable adjustments last.
var flagRank = map[string]int{"safety": 0, "clinical": 1, "other": 2, "adjustment": 3}

func sortFlags(fs []Flag) {
	sort.SliceStable(fs, func(i, j int) bool { return flagRank[fs[i].Kind] < flagRank[fs[j].Kind] })
}

// serveSignOut ends the session at the user's request (POST /view/signout,
// the button on every page of a session). A form posted from another origin
// is refused: only the viewer's own page may end its session.
func (v *Viewer) serveSignOut(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !strings.EqualFold(o, v.base.Scheme+"://"+v.base.Host) {
		v.renderError(w, r, http.StatusForbidden, pageForbidden)
		return
	}
	v.endSession(w, r)
	v.renderError(w, r, http.StatusOK, pageSignedOut)
}
