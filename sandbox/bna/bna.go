// Package bna simulates the national birth notification service
// (BACKENDS.md §7b, project contract — no public spec found): a maternity
// unit notifies a birth, the service allocates the baby's NHS number and
// creates its PDS record, linked to the mother.
//
//	POST /birth-notifications/v1/notifications
//	  {"motherNhsNumber": "…", "baby": {"sex": "male|female|unknown",
//	   "birthDateTime": "<instant>", "birthOrder": 1, "numberOfBabies": 1,
//	   "birthWeightGrams": 3400}, "placeOfBirthOds": "…",
//	   "notifiedBy": {"sdsUserId": "…", "ods": "…"}}
//	  → 201 {"nhsNumber": "<new>", "pdsVersion": "1"}
//
// X-Request-ID (a UUID, required) is the idempotency key: the same id with
// the same notification again gets the first answer, never a second baby;
// the same id with a different notification (a correction sent as a retry)
// is 422 REQUEST_ID_REUSED, as the IETF Idempotency-Key draft answers a
// reused key, and changes nothing. "The same" is by value: member order,
// white space and the spelling of the birth instant's offset do not count.
// The same mother, birth time and birth order under another id is 409
// DUPLICATE_NOTIFICATION. An unknown (or invalidated) mother is 404
// MOTHER_NOT_FOUND; an invalid mother's NHS number 400 INVALID_NHS_NUMBER
// (a request refused as invalid binds nothing to its id); any other bad
// value 400 INVALID_VALUE with the field (JSON path, e.g.
// "baby.birthOrder"). Errors are {"error": CODE, "field": …}. A missing
// bearer token is 401 ACCESS_DENIED unless Options.Open.
//
// The baby is created in the PDS simulator given in Options
// (pds.Simulator.RegisterBirth), so it is then read and searched through
// PDS like anyone else.
package bna

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// BasePath is the service's path prefix.
const BasePath = "/birth-notifications/v1"

// NotificationsPath is the notification endpoint under BasePath.
const NotificationsPath = "/notifications"

const contentTypeJSON = "application/json"

// Error codes of the contract.
const (
	CodeInvalidNHSNumber = "INVALID_NHS_NUMBER"
	CodeInvalidValue     = "INVALID_VALUE"
	CodeMotherNotFound   = "MOTHER_NOT_FOUND"
	CodeDuplicate        = "DUPLICATE_NOTIFICATION"
	CodeRequestIDReused  = "REQUEST_ID_REUSED"
	CodeAccessDenied     = "ACCESS_DENIED"
	CodeNotFound         = "NOT_FOUND"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// Options configure a Simulator.
type Options struct {
	// Open serves requests without an Authorization header, like the public
	// sandboxes; otherwise any "Bearer <token>" is accepted.
	Open bool
	// PDS is the PDS simulator babies are created in. Required.
	PDS *pds.Simulator
	// Now is the clock (time.Now when nil): a birth in the future is invalid.
	Now func() time.Time
}

// Simulator is the birth notification simulator. It is safe for concurrent use.
type Simulator struct {
	opts   Options
	faults fault.Injector

	mu       sync.Mutex
	byID     map[string]answer // X-Request-ID → first answer
	byBirth  map[string]string // mother|instant|order → NHS number
	notified int
}

type answer struct {
	status int
	body   []byte
	// request is the notification answered, as compared with a replay's.
	request Notification
}

// New builds a simulator over a PDS simulator.
func New(opts Options) *Simulator {
	if opts.PDS == nil {
		panic("bna: Options.PDS is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Simulator{opts: opts, faults: fault.Injector{BasePath: BasePath, ContentType: contentTypeJSON},
		byID: map[string]answer{}, byBirth: map[string]string{}}
}

// Fault replaces the simulator's answer to matching requests (see fault.Fault).
type Fault = fault.Fault

// SetFault installs f (a copy) for subsequent requests; nil clears it.
func (s *Simulator) SetFault(f *Fault) { s.faults.Set(f) }

// Requests returns how many requests the simulator has received.
func (s *Simulator) Requests() int64 { return s.faults.Requests() }

// Notified returns how many babies the simulator has created.
func (s *Simulator) Notified() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notified
}

var odsPattern = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.faults.Intercept(w, r) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	wire.Echo(w, r, "X-Request-ID", "X-Correlation-ID")
	id := r.Header.Get("X-Request-ID")
	if r.URL.Path != BasePath+NotificationsPath {
		write(w, http.StatusNotFound, errorBody(CodeNotFound, ""))
		return
	}
	if r.Method != http.MethodPost {
		h.Set("Allow", http.MethodPost)
		write(w, http.StatusMethodNotAllowed, errorBody(CodeMethodNotAllowed, ""))
		return
	}
	if !s.opts.Open {
		if !wire.Bearer(r) {
			write(w, http.StatusUnauthorized, errorBody(CodeAccessDenied, ""))
			return
		}
	}
	if !wire.UUID.MatchString(id) {
		write(w, http.StatusBadRequest, errorBody(CodeInvalidValue, "X-Request-ID"))
		return
	}
	a := s.notify(r, strings.ToLower(id))
	write(w, a.status, a.body)
}

func write(w http.ResponseWriter, status int, body []byte) {
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorBody(code, field string) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
		Field string `json:"field,omitempty"`
	}{code, field})
	return b
}

// Notification is the request body of the contract.
type Notification struct {
	MotherNHSNumber string     `json:"motherNhsNumber"`
	Baby            Baby       `json:"baby"`
	PlaceOfBirthODS string     `json:"placeOfBirthOds"`
	NotifiedBy      NotifiedBy `json:"notifiedBy"`
}

// Baby describes the baby born.
type Baby struct {
	Sex              string `json:"sex"`
	BirthDateTime    string `json:"birthDateTime"`
	BirthOrder       int    `json:"birthOrder"`
	NumberOfBabies   int    `json:"numberOfBabies"`
	BirthWeightGrams int    `json:"birthWeightGrams"`
}

// NotifiedBy is the notifying professional.
type NotifiedBy struct {
	SDSUserID string `json:"sdsUserId"`
	ODS       string `json:"ods"`
}

// maxBody bounds a notification.
const maxBody = 64 << 10

// notify serves one notification under its request id, serialised: the
// same id, or the same birth, never creates a second baby.
func (s *Simulator) notify(r *http.Request, id string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, maxBody)); err != nil {
		return answer{status: http.StatusBadRequest, body: errorBody(CodeInvalidValue, "body")}
	}
	n, born, field, code := parse(buf.Bytes(), s.opts.Now())
	if code != "" {
		// Nothing happened: a corrected request may reuse the id.
		return answer{status: http.StatusBadRequest, body: errorBody(code, field)}
	}
	// Compared by value: the instant in UTC stands for its spellings.
	n.Baby.BirthDateTime = born.UTC().Format(time.RFC3339Nano)
	if a, ok := s.byID[id]; ok {
		if a.request != *n {
			return answer{status: http.StatusUnprocessableEntity, body: errorBody(CodeRequestIDReused, "X-Request-ID")}
		}
		return a
	}
	a := s.register(n, born)
	a.request = *n
	s.byID[id] = a
	return a
}

func (s *Simulator) register(n *Notification, born time.Time) answer {
	key := n.MotherNHSNumber + "|" + born.UTC().Format(time.RFC3339Nano) + "|" + strconv.Itoa(n.Baby.BirthOrder)
	if _, dup := s.byBirth[key]; dup {
		return answer{status: http.StatusConflict, body: errorBody(CodeDuplicate, "")}
	}
	nhs, version, err := s.opts.PDS.RegisterBirth(pds.Birth{
		MotherNHSNumber: n.MotherNHSNumber, Gender: n.Baby.Sex, BirthDateTime: born, BirthOrder: n.Baby.BirthOrder,
	})
	switch {
	case errors.Is(err, pds.ErrMotherNotFound):
		return answer{status: http.StatusNotFound, body: errorBody(CodeMotherNotFound, "")}
	case err != nil:
		return answer{status: http.StatusBadRequest, body: errorBody(CodeInvalidValue, "baby")}
	}
	s.byBirth[key] = nhs
	s.notified++
	b, _ := json.Marshal(map[string]string{"nhsNumber": nhs, "pdsVersion": version})
	return answer{status: http.StatusCreated, body: b}
}

// parse checks a notification; code and field name the first problem.
func parse(raw []byte, now time.Time) (n *Notification, born time.Time, field, code string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	n = &Notification{}
	if err := dec.Decode(n); err != nil {
		return nil, born, "body", CodeInvalidValue
	}
	if dec.More() {
		return nil, born, "body", CodeInvalidValue
	}
	if !nhsnumber.Valid(n.MotherNHSNumber) {
		return nil, born, "motherNhsNumber", CodeInvalidNHSNumber
	}
	b := n.Baby
	switch b.Sex {
	case "male", "female", "unknown":
	default:
		return nil, born, "baby.sex", CodeInvalidValue
	}
	born, err := time.Parse(time.RFC3339Nano, b.BirthDateTime)
	if err != nil || born.After(now.Add(5*time.Minute)) || born.Before(now.AddDate(-1, 0, 0)) {
		return nil, born, "baby.birthDateTime", CodeInvalidValue
	}
	if b.NumberOfBabies < 1 || b.NumberOfBabies > 9 {
		return nil, born, "baby.numberOfBabies", CodeInvalidValue
	}
	if b.BirthOrder < 1 || b.BirthOrder > b.NumberOfBabies {
		return nil, born, "baby.birthOrder", CodeInvalidValue
	}
	if b.BirthWeightGrams < 100 || b.BirthWeightGrams > 10000 {
		return nil, born, "baby.birthWeightGrams", CodeInvalidValue
	}
	if !odsPattern.MatchString(n.PlaceOfBirthODS) {
		return nil, born, "placeOfBirthOds", CodeInvalidValue
	}
	if strings.TrimSpace(n.NotifiedBy.SDSUserID) == "" {
		return nil, born, "notifiedBy.sdsUserId", CodeInvalidValue
	}
	if !odsPattern.MatchString(n.NotifiedBy.ODS) {
		return nil, born, "notifiedBy.ods", CodeInvalidValue
	}
	return n, born, "", ""
}
