package cdshooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// Defaults of Config.
const (
	DefaultPath      = "/cds-services"
	DefaultServiceID = "ncrs-alerts"
	// DefaultBudget is how long a patient-view call may spend reading the
	// national services: CDS Hooks asks services to answer "on the order of
	// 500 ms"; what did not answer by then is named on a warning card.
	DefaultBudget = 450 * time.Millisecond
	// Hook is the one hook served.
	Hook = "patient-view"
	// maxBody bounds a hook request (a prefetched allergy list included).
	maxBody = 2 << 20
	// maxAnswer bounds an in-process FHIR answer read.
	maxAnswer = 8 << 20
)

// AuditResourceType labels the audit records of hook calls and feedback.
const AuditResourceType = "CDSHooks"

// Config configures a Service.
type Config struct {
	// Root is the facade's public root (its FHIR base less /fhir), e.g.
	// https://fhir.example.nhs.uk: the endpoints' URLs, which a client
	// JWT's aud must name exactly, are Root+Path…
	Root string
	// Path is where discovery is served (DefaultPath).
	Path string
	// ServiceID is the patient-view service's id (DefaultServiceID).
	ServiceID string
	// FHIRBase is the facade's FHIR base; API its handler, called
	// in-process.
	FHIRBase string
	API      http.Handler
	// Verifier authenticates CDS clients. Required.
	Verifier *Verifier
	// Identity mints the token the in-process calls carry; nil when the
	// facade runs without authentication (development).
	Identity *Identity
	// Allergies adds the allergies card (off when the EHR already shows
	// the Summary Care Record's allergies).
	Allergies bool
	// Budget bounds the reading of the national services (DefaultBudget).
	Budget time.Duration
	// ViewerLaunchURL is the summary viewer's SMART launch URL, every
	// card's smart link; "" gives no link.
	ViewerLaunchURL string
	// CORSOrigins are the EHR origins whose browsers may call the service.
	CORSOrigins []string
	// EHRClient calls the CDS clients' own FHIR servers (a local patient
	// id's Patient; only servers registered for the client, ehr.go); nil is
	// NewEHRClient().
	EHRClient *http.Client
	// Audit takes a record of every hook call, refusal and feedback.
	Audit  audit.Writer
	Logger *logrus.Logger
	// Registerer takes the service's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Service is the CDS Hooks service: discovery, patient-view, feedback.
type Service struct {
	cfg     Config
	metrics *metrics
	cards   *cardMemory
	ehr     *http.Client
}

// New checks cfg and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.ServiceID == "" {
		cfg.ServiceID = DefaultServiceID
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if !strings.HasPrefix(cfg.Path, "/") || strings.HasSuffix(cfg.Path, "/") || cfg.Path == "/fhir" || strings.HasPrefix(cfg.Path, "/fhir/") {
		return nil, fmt.Errorf("cdshooks: path %q must start with /, not end with /, and lie outside /fhir", cfg.Path)
	}
	if cfg.Root == "" || cfg.FHIRBase == "" || cfg.API == nil || cfg.Verifier == nil {
		return nil, errors.New("cdshooks: Root, FHIRBase, API and Verifier are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.New()
	}
	cfg.Root = strings.TrimRight(cfg.Root, "/")
	ehr := cfg.EHRClient
	if ehr == nil {
		ehr = NewEHRClient()
	}
	return &Service{cfg: cfg, metrics: newMetrics(cfg.Registerer), cards: newCardMemory(50_000, 24*time.Hour), ehr: ehr}, nil
}

// Routes are the service's mux templates (discovery and everything under
// it), each served by s.
func (s *Service) Routes() []string {
	return []string{s.cfg.Path, s.cfg.Path + "/{rest:.*}"}
}

// ServiceURL is the patient-view service's URL, a JWT's aud when calling it.
func (s *Service) ServiceURL() string { return s.cfg.Root + s.cfg.Path + "/" + s.cfg.ServiceID }

// ServeHTTP routes discovery, the service and its feedback endpoint.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if s.cors(w, r) {
		return
	}
	service := s.cfg.Path + "/" + s.cfg.ServiceID
	var run func(http.ResponseWriter, *http.Request, *Verified)
	allow := http.MethodPost
	switch r.URL.Path {
	case s.cfg.Path, s.cfg.Path + "/":
		run, allow = s.discovery, http.MethodGet
	case service:
		run = s.patientView
	case service + "/feedback":
		run = s.feedback
	default:
		s.fail(w, r, http.StatusNotFound, "not-found", "no such CDS service: discovery is at "+s.cfg.Path)
		return
	}
	if r.Method != allow {
		h.Set("Allow", allow)
		s.fail(w, r, http.StatusMethodNotAllowed, "not-supported", r.Method+" is not served here; use "+allow)
		return
	}
	aud := s.cfg.Root + strings.TrimSuffix(r.URL.Path, "/")
	v, err := s.cfg.Verifier.VerifyRequest(r, aud)
	if err != nil {
		s.refused(w, r, err)
		return
	}
	run(w, r, v)
}

// refused answers a refused JWT: 401 with a WWW-Authenticate challenge
// and a body saying why, audited as an unauthenticated call.
func (s *Service) refused(w http.ResponseWriter, r *http.Request, err error) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		ae = &AuthError{Status: http.StatusUnauthorized, Reason: ReasonMalformed, Message: "the CDS client JWT is not acceptable"}
	}
	s.metrics.refused.WithLabelValues(ae.Reason).Inc()
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cds-hooks", error="invalid_token", error_description=`+quote(ae.Message))
	}
	if ae.Err != nil {
		s.cfg.Logger.WithFields(logrus.Fields{"request_id": request.From(r.Context()).ID, "reason": ae.Reason, "error": ae.Err.Error()}).Warn("CDS client JWT not checked")
	}
	if r.URL.Path != s.cfg.Path {
		// A refused call to the service is an access attempt: recorded.
		_ = s.record(r.Context(), audit.Record{Interaction: "cds-" + Hook, Status: ae.Status})
	}
	code := "login"
	if ae.Status != http.StatusUnauthorized {
		code = "transient"
	}
	s.fail(w, r, ae.Status, code, ae.Message)
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// discovery answers GET {path}: the one patient-view service.
func (s *Service) discovery(w http.ResponseWriter, r *http.Request, _ *Verified) {
	doc := map[string]any{"services": []any{map[string]any{
		"hook":  Hook,
		"id":    s.cfg.ServiceID,
		"title": "National care record alerts",
		"description": "Alerts from England's national care record services when a patient's record is opened: a child protection plan (CP-IS, critical), " +
			"an FGM risk indicator (FGM-IS, warning), reasonable adjustments (RA), overseas visitor chargeable status (OVM)" +
			map[bool]string{true: " and allergies from the Summary Care Record", false: ""}[s.cfg.Allergies] +
			"; a service that could not be checked is named on a warning card.",
		"usageRequirements": "context.patientId is the patient's NHS number, or prefetch.patient is their Patient with an NHS number identifier " +
			"(or fhirServer, registered for the client, answers Patient/{{context.patientId}} with one). " +
			"Every call carries a CDS client JWT from an issuer registered with this service.",
		"prefetch": s.prefetch(),
	}}}
	s.writeJSON(w, http.StatusOK, doc)
}

// prefetch is what the service asks the client to send: the Patient (its
// NHS number, when the EHR's patient id is a local one) and, with the
// allergies card, the allergies the EHR already shows (left off the card).
// Flags are not asked: the national services are the alerts' source, and
// a local copy cannot stand in for them.
func (s *Service) prefetch() map[string]string {
	p := map[string]string{"patient": "Patient/{{context.patientId}}"}
	if s.cfg.Allergies {
		p["allergies"] = "AllergyIntolerance?patient={{context.patientId}}"
	}
	return p
}

// hookRequest is a CDS Hooks service request.
type hookRequest struct {
	Hook              string          `json:"hook"`
	HookInstance      string          `json:"hookInstance"`
	FHIRServer        string          `json:"fhirServer"`
	FHIRAuthorization json.RawMessage `json:"fhirAuthorization"`
	Context           struct {
		UserID      string `json:"userId"`
		PatientID   string `json:"patientId"`
		EncounterID string `json:"encounterId"`
	} `json:"context"`
	Prefetch map[string]json.RawMessage `json:"prefetch"`
}

// Response is the service's answer.
type Response struct {
	Cards []Card `json:"cards"`
}

// errNoPatient: context.patientId is not an NHS number and no Patient was
// prefetched; the EHR's FHIR server is asked next (ehr.go). A call whose
// patient cannot be named is a 412: CDS Hooks 2.0 §CDS Service Response,
// HTTP Status Codes: "412 Precondition Failed: The CDS Service is unable
// to retrieve the necessary FHIR data to execute its decision support,
// either through a prefetch request or directly calling the FHIR server."
var errNoPatient = errors.New("context.patientId is not an NHS number and no prefetch.patient (Patient/{{context.patientId}}) was sent to find one in")

func (s *Service) patientView(w http.ResponseWriter, r *http.Request, v *Verified) {
	start := time.Now()
	var req hookRequest
	if msg := readJSON(r, &req); msg != "" {
		s.metrics.calls.WithLabelValues("invalid").Inc()
		s.fail(w, r, http.StatusBadRequest, "invalid", msg)
		return
	}
	switch {
	case req.Hook != Hook:
		s.fail(w, r, http.StatusBadRequest, "invalid", "this service answers the patient-view hook, not "+quote(req.Hook))
		return
	case req.HookInstance == "":
		s.fail(w, r, http.StatusBadRequest, "required", "hookInstance is required")
		return
	case req.Context.UserID == "" || !printable(req.Context.UserID):
		s.fail(w, r, http.StatusBadRequest, "required", "context.userId is required (patient-view 1.0): the user the cards are shown to, e.g. Practitioner/123")
		return
	case req.Context.PatientID == "":
		s.fail(w, r, http.StatusBadRequest, "required", "context.patientId is required (patient-view 1.0)")
		return
	}
	// One budget for the whole call: the EHR's Patient, when it must be
	// read, and the national services.
	deadline := start.Add(s.cfg.Budget)
	nhs, err := patientNHSNumber(req.Context.PatientID, req.Prefetch["patient"])
	if errors.Is(err, errNoPatient) {
		nhs, err = s.fromEHR(r.Context(), v.Client, &req)
	}
	if err == nil && nhs == "" {
		err = errNoNHSNumber
	}
	if e, ok := asEHRError(err); ok {
		// No NHS number: the national services cannot be asked. Not an
		// empty answer, which an EHR shows as "no alerts".
		outcome := "no-patient"
		if e == errNoNHSNumber {
			outcome = "no-nhs-number"
		}
		s.metrics.calls.WithLabelValues(outcome).Inc()
		s.fail(w, r, http.StatusPreconditionFailed, "required", e.Error())
		return
	}
	if err != nil {
		s.metrics.calls.WithLabelValues("invalid").Inc()
		s.fail(w, r, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	known := knownAllergies(req.Prefetch["allergies"])
	f := s.read(r.Context(), v.Client, req.Context.UserID, nhs, deadline)
	ri := request.From(r.Context())
	var link *Link
	if s.cfg.ViewerLaunchURL != "" {
		ctxJSON, _ := json.Marshal(map[string]string{"patient": nhs})
		link = &Link{Label: "Open the national care record summary", URL: s.cfg.ViewerLaunchURL, Type: "smart", AppContext: string(ctxJSON)}
	}
	cards := Cards(f, CardOptions{Allergies: s.cfg.Allergies, Known: known, SourceURL: s.cfg.FHIRBase + "/metadata", Link: link, NewUUID: uuid.NewString})
	rec := audit.Record{User: req.Context.UserID, Patients: []string{nhs}, Interaction: "cds-" + Hook, Status: http.StatusOK}
	if err := s.record(r.Context(), rec, v.Client); err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "transient", "the access could not be recorded in the audit trail; try again shortly")
		return
	}
	for _, c := range cards {
		s.cards.put(c.UUID, cardFact{patient: nhs, user: req.Context.UserID, client: v.Client.Issuer, topic: c.Source.Topic.Code, requestID: ri.ID})
		s.metrics.cards.WithLabelValues(c.Indicator, c.Source.Topic.Code).Inc()
	}
	outcome := "cards"
	switch {
	case len(f.Unchecked) > 0:
		outcome = "partial"
	case len(cards) == 0:
		outcome = "no-cards"
	}
	s.metrics.calls.WithLabelValues(outcome).Inc()
	s.metrics.duration.Observe(time.Since(start).Seconds())
	s.writeJSON(w, http.StatusOK, Response{Cards: cards})
}

// fromEHR reads the NHS number of the hook's patient from the EHR's own
// FHIR server (ehr.go), within a third of the budget; every attempt is
// counted and logged by outcome and host (never the token or the patient).
func (s *Service) fromEHR(ctx context.Context, c *Client, req *hookRequest) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Budget/3)
	defer cancel()
	start := time.Now()
	nhs, err := s.ehrPatient(ctx, c, req)
	outcome := "resolved"
	if e, ok := asEHRError(err); ok {
		outcome = e.outcome
	}
	s.metrics.ehr.WithLabelValues(outcome).Inc()
	if outcome != "no-fhir-server" {
		host := ""
		if u, err := url.Parse(req.FHIRServer); err == nil {
			host = u.Host
		}
		s.cfg.Logger.WithFields(logrus.Fields{"request_id": request.From(ctx).ID, "client": c.Issuer, "fhir_server_host": host,
			"outcome": outcome, "duration_ms": time.Since(start).Milliseconds()}).Info("CDS patient looked up on the EHR's FHIR server")
	}
	return nhs, err
}

// read asks the facade's own API, in-process and in parallel, for the
// patient's flags and (with the allergies card) allergies, until the
// call's deadline; whatever fails is marked unchecked.
func (s *Service) read(ctx context.Context, c *Client, user, nhs string, deadline time.Time) Findings {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var token string
	if s.cfg.Identity != nil {
		scopes := []string{"patient/Flag.rs"}
		if s.cfg.Allergies {
			scopes = append(scopes, "patient/AllergyIntolerance.rs")
		}
		t, err := s.cfg.Identity.Mint(Grant{User: user, Client: c, Patient: nhs, Scopes: scopes})
		if err != nil {
			var f Findings
			for _, src := range FlagSources {
				f.Fail(src, "could not be asked")
			}
			return f
		}
		token = t
	}
	type answer struct {
		flags     bool
		status    int
		challenge bool // a 403 of the facade's own access policy
		body      []byte
		err       error
	}
	calls := []struct {
		path    string
		flags   bool
		sources []string
	}{{"/Flag?patient=" + nhs, true, FlagSources}}
	if s.cfg.Allergies {
		calls = append(calls, struct {
			path    string
			flags   bool
			sources []string
		}{"/AllergyIntolerance?patient=" + nhs, false, []string{SourceSCR}})
	}
	answers := make([]answer, len(calls))
	// One share for both in-process searches: what each asks PDS about the
	// patient (is the number current, is the record restricted) is one PDS
	// read for the call, not one per search. Both run as the same caller
	// (the identity token above) for the same patient.
	base := resources.WithShare(context.Background())
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() {
			st, hdr, body, err := s.get(ctx, base, call.path, token)
			answers[i] = answer{flags: call.flags, status: st, body: body, err: err, challenge: hdr.Get("WWW-Authenticate") != ""}
		})
	}
	wg.Wait()
	var f Findings
	for i, a := range answers {
		sources := calls[i].sources
		failAll := func(why string) {
			for _, src := range sources {
				f.Fail(src, why)
			}
		}
		switch {
		case a.err != nil && errors.Is(a.err, context.DeadlineExceeded):
			failAll(fmt.Sprintf("did not answer within %v", s.cfg.Budget))
		case a.err != nil:
			failAll("could not be asked")
		case a.status == http.StatusOK:
			var err error
			if a.flags {
				err = f.AddFlags(a.body)
			} else {
				err = f.AddAllergies(a.body)
			}
			if err != nil {
				failAll("answered with something unreadable")
			}
		case a.status == http.StatusNotFound:
			// The patient is unknown to the national services: nothing to alert.
		case a.status == http.StatusForbidden && !a.challenge && !a.flags:
			// The Summary Care Record's own access control withholds it (no
			// consent to share, or none it may show): a state of the record,
			// not a failure; the flag services' refusals always warn.
		case a.status == http.StatusForbidden || a.status == http.StatusUnauthorized:
			failAll("refused this service's access (check the CDS client's registered role)")
		case a.status == http.StatusGatewayTimeout:
			failAll("did not answer in time")
		default:
			failAll(fmt.Sprintf("failed (HTTP %d)", a.status))
		}
	}
	return f
}

// get calls the facade's FHIR API in-process: the request runs the
// facade's whole handler chain (request id, limits, authentication,
// authorisation, patient checks, audit) as if it came over the network,
// without depending on the facade reaching its own public address. The
// call's context derives from base (the call's read share, nothing of the
// hook call's request value: the facade makes its own for it) and ends
// with ctx. An answer not complete by ctx's end is abandoned to its
// goroutine.
func (s *Service) get(ctx, base context.Context, path, token string) (int, http.Header, []byte, error) {
	inner, cancel := context.WithCancel(base)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	u := s.cfg.FHIRBase + path
	req, err := http.NewRequestWithContext(inner, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.RequestURI = req.URL.RequestURI()
	req.RemoteAddr = "127.0.0.1:0"
	req.Header.Set("Accept", "application/fhir+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := &buffer{header: http.Header{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				rec.status = http.StatusInternalServerError
			}
		}()
		s.cfg.API.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return 0, nil, nil, ctx.Err()
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.over {
		return rec.status, nil, nil, errors.New("the answer is too large")
	}
	return rec.status, rec.header, rec.body, nil
}

// buffer is the ResponseWriter of an in-process call: small answers only.
type buffer struct {
	header http.Header
	status int
	body   []byte
	over   bool
}

func (b *buffer) Header() http.Header { return b.header }
func (b *buffer) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *buffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	if len(b.body)+len(p) > maxAnswer {
		b.over = true
		return 0, errors.New("answer too large")
	}
	b.body = append(b.body, p...)
	return len(p), nil
}
func (b *buffer) Flush() {}

// patientNHSNumber names the hook's patient: patientId when it is an NHS
// number, else the NHS number identifier of the prefetched Patient, which
// must be the one patientId names (else the cards could be another
// patient's). "" with no error: the Patient has no NHS number.
func patientNHSNumber(patientID string, prefetched json.RawMessage) (string, error) {
	if nhsnumber.Valid(patientID) {
		return patientID, nil
	}
	if len(prefetched) == 0 || string(prefetched) == "null" {
		return "", errNoPatient
	}
	return nhsOfPatient("prefetch.patient", patientID, prefetched)
}

// nhsOfPatient reads the NHS number identifier of a Patient (what names
// it in errors), which must be Patient patientID; "" when it has none.
func nhsOfPatient(what, patientID string, raw []byte) (string, error) {
	var p struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Identifier   []struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.ResourceType != "Patient" {
		return "", errors.New(what + " is not a Patient resource")
	}
	if p.ID != patientID {
		return "", errors.New(what + " is not the Patient context.patientId names: its id differs")
	}
	found := ""
	for _, id := range p.Identifier {
		if id.System != nhsnumber.System {
			continue
		}
		if !nhsnumber.Valid(id.Value) {
			return "", errors.New(what + "'s NHS number identifier is not a valid NHS number")
		}
		if found != "" && found != id.Value {
			return "", errors.New(what + " has two different NHS numbers")
		}
		found = id.Value
	}
	return found, nil
}

// knownAllergies are the allergies a prefetched AllergyIntolerance
// searchset holds (the EHR's own), by text and code.
func knownAllergies(raw json.RawMessage) map[string]bool {
	if len(raw) == 0 {
		return nil
	}
	var f Findings
	if f.AddAllergies(raw) != nil {
		return nil
	}
	known := map[string]bool{}
	for _, a := range f.Allergies {
		for _, k := range allergyKeys(a.Code) {
			known[k] = true
		}
	}
	return known
}

// feedbackRequest is a CDS Hooks feedback request.
type feedbackRequest struct {
	Feedback []struct {
		Card                string            `json:"card"`
		Outcome             string            `json:"outcome"`
		AcceptedSuggestions []json.RawMessage `json:"acceptedSuggestions"`
		OverrideReason      *struct {
			Reason      *Coding `json:"reason"`
			UserComment string  `json:"userComment"`
		} `json:"overrideReason"`
		OutcomeTimestamp string `json:"outcomeTimestamp"`
	} `json:"feedback"`
}

// feedback takes POST {service}/feedback: each entry is checked, then
// recorded in the audit trail (the card's patient and user, the client,
// the outcome) and counted by topic, outcome and override reason. The
// user's free-text comment is never logged or counted: it may name the
// patient.
func (s *Service) feedback(w http.ResponseWriter, r *http.Request, v *Verified) {
	var req feedbackRequest
	if msg := readJSON(r, &req); msg != "" {
		s.fail(w, r, http.StatusBadRequest, "invalid", msg)
		return
	}
	if len(req.Feedback) == 0 {
		s.fail(w, r, http.StatusBadRequest, "required", "feedback must hold at least one entry")
		return
	}
	for i, fb := range req.Feedback {
		where := fmt.Sprintf("feedback[%d]", i)
		switch {
		case fb.Card == "":
			s.fail(w, r, http.StatusBadRequest, "required", where+".card is required")
			return
		case fb.Outcome != "accepted" && fb.Outcome != "overridden":
			s.fail(w, r, http.StatusBadRequest, "code-invalid", where+".outcome must be accepted or overridden")
			return
		case fb.Outcome == "accepted" && len(fb.AcceptedSuggestions) == 0:
			s.fail(w, r, http.StatusBadRequest, "required", where+".acceptedSuggestions is required for an accepted outcome")
			return
		}
		if _, err := time.Parse(time.RFC3339, fb.OutcomeTimestamp); err != nil {
			s.fail(w, r, http.StatusBadRequest, "invalid", where+".outcomeTimestamp must be an RFC 3339 date-time in UTC")
			return
		}
	}
	ri := request.From(r.Context())
	for _, fb := range req.Feedback {
		fact, known := s.cards.get(fb.Card)
		if known && fact.client != v.Client.Issuer {
			known = false // another client's card: nothing of it is told
		}
		reason := ""
		if fb.OverrideReason != nil && fb.OverrideReason.Reason != nil {
			reason = fb.OverrideReason.Reason.Code
		}
		topic := "unknown"
		rec := audit.Record{Interaction: "cds-feedback-" + fb.Outcome, Status: http.StatusOK, User: v.Client.Issuer}
		if known {
			topic = fact.topic
			rec.User, rec.Patients = fact.user, []string{fact.patient}
			// The hook call that showed the card: its request id links the two.
			rec.RequestID = fact.requestID
		}
		if !slices.Contains([]string{"", "already-aware", "not-relevant", "incorrect"}, reason) {
			reason = "other"
		}
		if err := s.record(r.Context(), rec, v.Client); err != nil {
			s.fail(w, r, http.StatusServiceUnavailable, "transient", "the feedback could not be recorded in the audit trail; try again shortly")
			return
		}
		s.metrics.feedback.WithLabelValues(topic, fb.Outcome, reason).Inc()
		s.cfg.Logger.WithFields(logrus.Fields{"request_id": ri.ID, "card": fb.Card, "topic": topic, "outcome": fb.Outcome,
			"override_reason": reason, "comment_chars": len(commentOf(fb.OverrideReason))}).Info("CDS card feedback")
	}
	s.writeJSON(w, http.StatusOK, map[string]any{})
}

func commentOf(o *struct {
	Reason      *Coding `json:"reason"`
	UserComment string  `json:"userComment"`
}) string {
	if o == nil {
		return ""
	}
	return o.UserComment
}

// record writes an audit record of the request, naming the CDS client
// (its issuer as client and issuer, its registered role and organisation).
func (s *Service) record(ctx context.Context, rec audit.Record, clients ...*Client) error {
	if s.cfg.Audit == nil {
		return nil
	}
	rec.Time = time.Now().UTC()
	if rec.RequestID == "" {
		rec.RequestID = request.From(ctx).ID
	}
	rec.ResourceType = AuditResourceType
	rec.Outcome = audit.OutcomeOf(rec.Status)
	if len(clients) > 0 && clients[0] != nil {
		c := clients[0]
		rec.ClientID, rec.Issuer, rec.Role, rec.Organisation, rec.RoleProfile = c.Issuer, c.Issuer, c.Role, c.OrgODS, c.RoleProfileID
	}
	if err := s.cfg.Audit.Write(context.WithoutCancel(ctx), rec); err != nil {
		s.cfg.Logger.WithFields(logrus.Fields{"request_id": rec.RequestID, "error": err.Error()}).Error("CDS audit record not written")
		return err
	}
	return nil
}

// readJSON decodes a JSON request body into v; a message says what is wrong.
func readJSON(r *http.Request, v any) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" && mt != "application/fhir+json" {
		return "the body must be JSON (Content-Type: application/json)"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return "the body could not be read"
	}
	if len(body) > maxBody {
		return fmt.Sprintf("the body is larger than %d bytes", maxBody)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return "the body is not the JSON this endpoint takes: " + err.Error()
	}
	return ""
}

func printable(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0xfffd || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

func (s *Service) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.fail(w, nil, http.StatusInternalServerError, "exception", "the answer could not be written")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fail answers an error as a FHIR OperationOutcome.
func (s *Service) fail(w http.ResponseWriter, _ *http.Request, status int, code, msg string) {
	b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{
		"severity": "error", "code": code, "diagnostics": msg}}})
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// cors lets the configured EHR origins' browsers call the service (CDS
// Hooks 2.0 §Cross-Origin Resource Sharing) and answers their preflight
// requests; other origins get no CORS headers, so browsers refuse them.
func (s *Service) cors(w http.ResponseWriter, r *http.Request) (handled bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(s.cfg.CORSOrigins, origin) {
		if r.Method == http.MethodOptions && origin != "" {
			s.fail(w, r, http.StatusForbidden, "forbidden", "this origin is not an EHR allowed to call the service from a browser")
			return true
		}
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "X-Request-ID, WWW-Authenticate")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// ParseOrigins reads a comma-separated list of origins (scheme://host[:port]).
func ParseOrigins(spec string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(spec, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || o == "*" {
			return nil, fmt.Errorf("%q is not an origin such as https://ehr.example.nhs.uk", o)
		}
		out = append(out, o)
	}
	return out, nil
}

// cardFact is what the service remembers of a card it sent, for feedback.
type cardFact struct {
	patient, user, client, topic, requestID string
	at                                      time.Time
}

// cardMemory keeps the last max cards sent, each for ttl.
type cardMemory struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	facts map[string]cardFact
	order []string
}

func newCardMemory(max int, ttl time.Duration) *cardMemory {
	return &cardMemory{max: max, ttl: ttl, facts: map[string]cardFact{}}
}

func (m *cardMemory) put(id string, f cardFact) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f.at = time.Now()
	if len(m.order) >= m.max {
		delete(m.facts, m.order[0])
		m.order = m.order[1:]
	}
	m.facts[id] = f
	m.order = append(m.order, id)
}

func (m *cardMemory) get(id string) (cardFact, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.facts[id]
	if !ok || time.Since(f.at) > m.ttl {
		return cardFact{}, false
	}
	return f, true
}

type metrics struct {
	calls    *prometheus.CounterVec
	cards    *prometheus.CounterVec
	refused  *prometheus.CounterVec
	feedback *prometheus.CounterVec
	duration prometheus.Histogram
	ehr      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facade_cds_calls_total",
			Help: "CDS Hooks patient-view calls answered, by outcome (cards, no-cards, partial, no-patient, no-nhs-number, invalid)."}, []string{"outcome"}),
		cards: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facade_cds_cards_total",
			Help: "CDS Hooks cards sent, by indicator and topic."}, []string{"indicator", "topic"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facade_cds_refused_total",
			Help: "CDS client JWTs refused, by reason."}, []string{"reason"}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facade_cds_feedback_total",
			Help: "CDS Hooks card feedback, by topic, outcome and override reason."}, []string{"topic", "outcome", "reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "facade_cds_patient_view_duration_seconds",
			Help:    "Time to answer a patient-view call.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1}}),
		ehr: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "facade_cds_ehr_patient_lookups_total",
			Help: "Local patient ids looked up as Patient/{id} on the calling EHR's FHIR server, by outcome (resolved, no-fhir-server, not-allowed, bad-id, bad-authorization, refused, not-found, timeout, failed, no-nhs-number)."}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.cards, m.refused, m.feedback, m.duration, m.ehr)
	}
	return m
}
