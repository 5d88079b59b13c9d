package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// endpoint is one method of one route: the interaction it performs and the
// handler that performs it once the preamble has let the request through.
type endpoint struct {
	// name is the interaction in logs, metrics and the audit trail.
	name string
	// kind is what the access policy decides on the route's resource type
	// ({type}, whose provider the preamble resolves); 0 for endpoints that
	// are about no one type (metadata; a batch, whose entries are each
	// decided on their own).
	kind auth.Interaction
	// byID says the route names one record ({id}): the patient the id
	// belongs to is held to the caller's context before the handler runs.
	byID bool
	// compartment says the route is a Patient compartment search
	// (Patient/{id}/{type}): {id} is the search's patient (compartmentQuery).
	compartment bool
	// supports, when set, tells whether a provider can do the interaction
	// (405 otherwise).
	supports func(resources.Provider) bool
	run      handlerFunc
}

type handlerFunc func(a *access, r *http.Request, f format, q url.Values) (*reply, error)

// access is what the preamble decided about one request, handed to its
// handler: the provider, the caller's patient context, and the only means
// handlers have to hold the patients an interaction touches to it.
type access struct {
	ri       *request.Info
	provider resources.Provider // nil for untyped endpoints
	// caller is the verified caller, nil on public routes and without
	// authentication.
	caller *caller
	// scope is the NHS number a patient-bound token is limited to, or "".
	scope string
}

// errOtherPatient is every refusal of a patient-bound token's reach beyond
// its patient: one message, whatever exists or not on the other side.
var errOtherPatient = &fhirerr.Error{Category: fhirerr.Forbidden, Message: "this token is limited to one patient's records"}

// outside reports whether patients are not all the patient scope: with no
// scope nothing is outside; with one, a resource about no patient, or about
// any other, is.
func outside(scope string, patients []string) bool {
	if scope == "" {
		return false
	}
	if len(patients) == 0 {
		return true
	}
	for _, p := range patients {
		if p != scope {
			return true
		}
	}
	return false
}

// touch notes patients for the audit trail and refuses when any is outside
// the caller's patient context.
func (a *access) touch(patients ...string) error {
	a.ri.Subjects.Note(patients...)
	if outside(a.scope, a.ri.Subjects.Unalias(patients)) {
		return errOtherPatient
	}
	return nil
}

// alias records that PDS answered old with current: the same person, so a
// token bound to old may see current's records.
func (a *access) alias(old, current string) {
	a.ri.Subjects.Alias(old, current)
}

// touchSearch holds a search to the caller's patient context: the patients
// the search names (the provider's own patient parameters only) are noted,
// and a patient-bound token's search must name its patient and no other.
// It returns them.
func (a *access) touchSearch(q url.Values) ([]string, error) {
	named := searchPatients(a.provider, q)
	return named, a.touch(named...)
}

// touchBody holds a resource a client sent to be written (created when id
// is "", else updated) to the caller's context: the patients its own
// references name, and those the provider reads from it (a Flag's subject
// given as an NHS number identifier, say), all of them.
func (a *access) touchBody(msg proto.Message, id string) error {
	t := a.provider.ResourceType()
	patients := compartmentOf(&resources.Resource{Type: t, ID: id, Message: msg}, nil)
	if c, ok := a.provider.(resources.Compartmented); ok {
		patients = append(patients, c.PatientsOf(msg)...)
	}
	if a.scope != "" && t == "Patient" && id == "" {
		// A new record is nobody's yet; and a conditional create's match
		// is not the handler's to reveal to a patient-bound token.
		return &fhirerr.Error{Category: fhirerr.Forbidden, Message: "a token limited to one patient cannot create Patient records"}
	}
	return a.touch(patients...)
}

// storedPatients returns the patients the stored record id belongs to. The
// id says so for most types (Compartmented); otherwise, for a patient-bound
// token only, the record is read first: a write is never sent for a record
// that has not been shown to be in the caller's context.
func (a *access) storedPatients(ctx context.Context, id string) ([]string, error) {
	if nhs, ok := idPatient(a.provider, id); ok {
		return []string{nhs}, nil
	}
	if a.scope == "" {
		return nil, nil
	}
	rd, ok := a.provider.(resources.Reader)
	if !ok {
		return nil, errOtherPatient
	}
	res, err := rd.Read(ctx, id)
	if err != nil {
		return nil, err
	}
	return compartmentOf(res, nil), nil
}

// touchStored holds the record stored under id to the caller's context.
func (a *access) touchStored(r *http.Request, id string) error {
	ps, err := a.storedPatients(r.Context(), id)
	if err != nil {
		return err
	}
	return a.touch(ps...)
}

// idPatient is the patient a record id names, when its provider says.
func idPatient(p resources.Provider, id string) (string, bool) {
	if c, ok := p.(resources.Compartmented); ok {
		return c.PatientOfID(id)
	}
	return "", false
}

// searchPatients are the patients a search names through the provider's
// own patient parameters: patient and subject where it declares them, and
// a Patient search's _id and identifier. Other parameters name nobody
// (an extra ?patient= on a read, say, is not an access to that patient).
func searchPatients(p resources.Provider, q url.Values) []string {
	sr, ok := p.(resources.Searcher)
	if !ok {
		return nil
	}
	var out []string
	for _, sp := range sr.SearchParams() {
		switch {
		case p.ResourceType() == "Patient" && (sp.Name == "_id" || sp.Name == "identifier"):
			for _, v := range q[sp.Name] {
				if i := strings.LastIndex(v, "|"); i >= 0 {
					v = v[i+1:]
				}
				// Anything else (a malformed or foreign identifier) names
				// no patient, and a patient-bound token may not search by it.
				if nhsnumber.Valid(v) {
					out = append(out, v)
				}
			}
		case sp.Type == resources.TypeReference && (sp.Name == "patient" || sp.Name == "subject"):
			if nhs, ok, err := resources.PatientNHSNumber(q, sp.Name); ok && err == nil {
				out = append(out, nhs)
			}
		}
	}
	return out
}

// fhir adapts endpoints to http through the one preamble every FHIR
// interaction passes: the format is negotiated; the provider resolved; the
// patients the request names noted for the audit trail; the caller
// authenticated, admitted within its own share and the server's bound, and
// authorised by role and scope; the patients named held to its patient
// context; and only then is the body read and the handler run. A reply
// that would still carry another patient's data is refused at the end.
func (s *Server) fhir(route string, byMethod map[string]endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri, ok := request.Lookup(r.Context())
		if !ok {
			// Every request passes instrument, which makes the value; a
			// handler reached some other way still gets one, and only one.
			ri = &request.Info{}
			r = r.WithContext(request.With(r.Context(), ri))
		}
		ri.Route = route
		plain := format{contentType: mediaFHIRJSON}
		// A request with a body that is refused ends its connection: if
		// the body was not read, the server would otherwise wait for it
		// (however slowly it comes) before it could send the refusal.
		refuse := func(f format, err error) {
			if r.ContentLength != 0 {
				w.Header().Set("Connection", "close")
			}
			s.writeError(w, r, f, err)
		}
		if err := s.guard.check(r); err != nil {
			refuse(plain, err)
			return
		}
		q, qerr := url.ParseQuery(r.URL.RawQuery)
		// A format the client cannot take is refused after the preamble:
		// raw content (Binary) is served in its own type whatever Accept says.
		f, ferr := negotiate(r, q)
		if qerr != nil {
			refuse(f, fhirerr.New(fhirerr.Invalid, "the query string is malformed"))
			return
		}
		if !validUTF8(q) {
			refuse(f, fhirerr.New(fhirerr.Invalid, "the query string is not valid UTF-8 (FHIR strings are Unicode)"))
			return
		}
		if byMethod == nil {
			refuse(f, unserved(route))
			return
		}
		ep, ok := byMethod[r.Method]
		if !ok && r.Method == http.MethodHead {
			ep, ok = byMethod[http.MethodGet]
		}
		if !ok {
			refuse(f, s.notAllowed(w, r, byMethod, nil))
			return
		}
		ri.Interaction = ep.name
		a := &access{ri: ri}
		var named []string
		if ep.kind != 0 {
			p, err := s.provider(r)
			if err != nil {
				refuse(f, err)
				return
			}
			a.provider = p
			if ep.supports != nil && !ep.supports(p) {
				refuse(f, s.notAllowed(w, r, byMethod, p))
				return
			}
			if ep.compartment {
				if q, err = compartmentQuery(p, r.PathValue("id"), q); err != nil {
					refuse(f, err)
					return
				}
			}
			// The patients the request itself names are the audit record's
			// subject even when it is refused below, or finds nothing.
			switch {
			case ep.byID:
				if nhs, ok := idPatient(p, r.PathValue("id")); ok {
					named = []string{nhs}
				}
			case ep.kind == auth.Search && r.Method != http.MethodPost:
				named = searchPatients(p, q)
			}
			ri.Subjects.Note(named...)
		}
		public := publicRoute(r, route)
		if !public {
			c, err := s.authenticate(r, ri)
			if err != nil {
				refuse(f, err)
				return
			}
			a.caller = c
		}
		// A verified caller's key is made once per token (authenticate
		// set ri.Caller to its info); a public route makes it here.
		var key string
		if a.caller != nil {
			key = a.caller.admission
		} else {
			key = callerKey(ri.Caller)
		}
		release, err := s.guard.admit(r, key)
		if err != nil {
			refuse(f, err)
			return
		}
		defer release()
		if !public && a.provider != nil {
			if err := s.allow(a, a.provider.ResourceType(), ep.kind); err != nil {
				refuse(f, err)
				return
			}
		}
		a.scope = patientScope(r)
		// Held now, before any backend is asked; what the request does not
		// name here (a record whose id does not say whose it is, a search's
		// body) the handler holds through a before it is used.
		if len(named) > 0 && outside(a.scope, named) {
			refuse(f, errOtherPatient)
			return
		}
		// A body is read only now, from an authorised caller, and must
		// arrive well within the request's time.
		s.bodyDeadline(w, r)
		if st, ok := a.provider.(resources.Streamer); ok && ep.kind == auth.Read && ep.byID {
			// Raw content is served in its own media type, whatever Accept
			// says (unless it asks for the Binary resource), and bounded by
			// its own timeouts, not the request's.
			s.readStream(w, r, a, f, ferr, q, st)
			return
		}
		if ferr != nil {
			refuse(f, ferr)
			return
		}
		// One deadline for the whole request, passed down to every
		// backend call through the context: no request outlives it.
		ctx, cancel := withLazyDeadline(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		// One share per request: what it asks PDS about a patient (current
		// number, restriction, the Patient itself) is read once.
		ctx = resources.WithShare(ctx)
		r = r.WithContext(ctx)
		rep, err := ep.run(a, r, f, q)
		if err == nil && outside(a.scope, ri.Subjects.Unalias(ri.Subjects.List())) && ri.Subjects.Len() > 0 {
			// A handler let another patient's data reach the answer: it is
			// held back, and the defect logged (without the patients).
			s.log.WithFields(logrus.Fields{"request_id": ri.ID, "route": route}).Error("an answer outside the token's patient context was held back")
			err = errOtherPatient
		}
		if err != nil {
			refuse(f, err)
			return
		}
		s.writeReply(w, r, f, rep)
	})
}

// methodOrder is the order Allow lists methods in.
var methodOrder = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowed lists the methods a route serves for the type p (nil for an
// untyped route): those whose endpoint the provider can do, HEAD wherever
// GET is (the preamble serves HEAD as GET without the body).
func allowed(byMethod map[string]endpoint, p resources.Provider) []string {
	out := []string{}
	for _, m := range methodOrder {
		ep, ok := byMethod[m]
		if m == http.MethodHead && !ok {
			ep, ok = byMethod[http.MethodGet]
		}
		if ok && (ep.supports == nil || p == nil || ep.supports(p)) {
			out = append(out, m)
		}
	}
	return out
}

// notAllowed is the answer to a method a route does not serve, or that
// the type named (p, resolved here when nil and the route is typed) cannot
// do: 405, with an Allow header listing exactly what the URL takes for
// that type, also named in the OperationOutcome. An unknown type is its
// own 404.
// See: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6
func (s *Server) notAllowed(w http.ResponseWriter, r *http.Request, byMethod map[string]endpoint, p resources.Provider) error {
	typed := false
	for _, ep := range byMethod {
		typed = typed || ep.kind != 0
	}
	if typed && p == nil {
		var err error
		if p, err = s.provider(r); err != nil {
			return err
		}
	}
	allow := allowed(byMethod, p)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	what := "this URL"
	if p != nil {
		what = "this URL for " + p.ResourceType()
	}
	method := r.Method
	if len(method) > 16 || !typePattern.MatchString(method) {
		method = "this method"
	}
	msg := method + " is not supported on " + what
	if r.Method == http.MethodDelete {
		msg += " (this server never deletes records)"
	}
	if len(allow) == 0 {
		return fhirerr.New(fhirerr.MethodNotAllowed, "%s, which allows no method", msg)
	}
	return fhirerr.New(fhirerr.MethodNotAllowed, "%s; allowed: %s", msg, strings.Join(allow, ", "))
}

// bodyDeadline bounds how long a request's body may take to arrive: a
// caller trickling bodies holds its slots for this long at most, not for
// the whole request timeout.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	// Not every ResponseWriter has a connection (batch entries are
	// recorded): those have no body to wait for either.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
}

// callerKey names the caller whose share of the in-flight slots a request
// takes: the token's issuer, subject and client. Without authentication
// (development) everyone is one caller, as before.
func callerKey(c *request.Caller) string {
	if c == nil {
		return ""
	}
	return c.Issuer + "\x00" + c.Subject + "\x00" + c.ClientID
}
