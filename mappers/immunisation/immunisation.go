// Package immunisation maps what the Immunisation History API returns (a
// searchset Bundle of FHIR R4 Immunizations plus the Patient they refer to,
// BACKENDS.md §7; one answer per data store, see backends/immunisation)
// onto the facade's Immunization. The API speaks R4, so the mapping is a
// near pass-through; it is pure: bytes in, protos out.
//
// Kept as the API sent them: every element of each Immunization (the
// VaccinationProcedure extension, identifier, status, statusReason,
// vaccineCode, occurrenceDateTime, recorded, primarySource, reportOrigin,
// location, manufacturer, lotNumber, expirationDate, site, route,
// doseQuantity, performer, reasonCode, protocolApplied …), validated by
// model/fhirjson's builder. A not-done record stays status not-done with its
// reason: a vaccination that was not given must never read as one that was.
// Changed:
//
//   - id becomes <NHS number>-<the API's id> (see ID), so that the facade can
//     serve a read, which the API does not have. A record without an id (the
//     public sandbox sends none) is named by a digest of its content (see
//     contentKey);
//   - statusReason, which the API sends as an array (the public sandbox's
//     not-done records), becomes its first element: R4 Immunization.
//     statusReason is 0..1 (one CodeableConcept), and the API's records carry
//     one reason; any further one is dropped;
//   - empty objects the API sends for optional CodeableConcepts (the public
//     sandbox's "reportOrigin": {}) are left out: a FHIR element must have a
//     value or children (ele-1);
//   - patient becomes Patient/<NHS number> (with the NHS number identifier and
//     type Patient): the API's urn:uuid reference points into its own Bundle;
//   - performer[].actor.type "Organisation" (the British spelling of the
//     API's specification) becomes the resource type "Organization";
//   - meta keeps lastUpdated and security only (profile claims describe the
//     API's record, not this resource; versionId names no version the facade
//     can read).
//
// Dropped: the included Patient (search.mode include). It holds the
// demographics recorded at vaccination, which may differ from PDS (the public
// sandbox's birth date for 9000000009 does): the facade never merges it into,
// nor serves it as, the PDS Patient. Its NHS number is only checked. Entries
// of other types are ignored.
//
// One entry the facade cannot read does not hide the others: it is left out
// and named in History.Unreadable (by position and element, never a value),
// and so is a short answer (Bundle.total counting more Immunizations than it
// holds, History.Missing); the caller must tell its client (an
// OperationOutcome issue), never show the rest as the whole history.
//
// The whole answer is refused (an error) when it cannot be read as a
// searchset at all (empty, not JSON, not a Bundle, not a searchset), when an
// included Patient cannot be read or is another patient, and when an
// Immunization is another patient's (by patient.identifier, or through the
// included Patient its reference points to): an answer that mixes patients
// cannot be trusted for any of its records. (The public sandbox's HPV answer
// for 9000000009 is such an answer: its records name 9912003993.) Errors name
// the entry and element at fault, never a value.
package immunisation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	impb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Systems and URLs of the API's records.
const (
	// ODSSystem identifies the vaccinating organisation (performer.actor).
	ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
	// VaccinationProcedureURL is the UK Core extension holding the SNOMED CT
	// vaccination procedure.
	VaccinationProcedureURL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure"
)

// History is what Map read of one answer of the API.
type History struct {
	// Immunizations are the records mapped, in the API's order.
	Immunizations []*impb.Immunization
	// Unreadable names every Immunization entry left out because it could
	// not be read, in the Bundle's order.
	Unreadable []*EntryError
	// Missing is how many Immunizations Bundle.total counts beyond the
	// entries the answer holds (0 when total is absent or not more).
	Missing int
}

// Complete reports whether every record the answer holds or counts was
// mapped.
func (h *History) Complete() bool { return len(h.Unreadable) == 0 && h.Missing == 0 }

// Problems says, for a client, what of the answer is not in Immunizations
// ("" when Complete): each unreadable entry by position and element, and a
// short count. It quotes nothing of the payload.
func (h *History) Problems() string {
	var out []string
	for _, e := range h.Unreadable {
		out = append(out, e.Describe())
	}
	if h.Missing > 0 {
		out = append(out, "the answer counts "+strconv.Itoa(h.Missing)+" more record(s) than it holds")
	}
	return strings.Join(out, "; ")
}

// Map decodes a GET /Immunization payload for the patient nhs (a valid NHS
// number) and maps its Immunizations, in the API's order. An empty Bundle
// maps to none. An entry that cannot be read is left out and named in
// History.Unreadable; an answer that cannot be read, or holds another
// patient's records, is an error: a *fhirerr.Error of category BadGateway
// wrapping an *EntryError (or the decoding error) that names the entry and
// element.
func Map(raw []byte, nhs string) (*History, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, badPayload(errors.New("the NHS number asked for is not valid"))
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, badPayload(errors.New("the answer is empty"))
	}
	var b fhirjson.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, badPayload(fmt.Errorf("cannot read the Bundle: %w", jsonError(err)))
	}
	if b.ResourceType != "Bundle" {
		return nil, badPayload(errors.New("cannot read the answer: it is not a Bundle"))
	}
	if b.Type != "" && b.Type != "searchset" {
		return nil, badPayload(errors.New("cannot read the answer: the Bundle is not a searchset"))
	}
	if b.Total != nil && *b.Total < 0 {
		return nil, badPayload(errors.New("cannot read the answer: Bundle.total is negative"))
	}
	// The included Patients, by the URLs an Immunization may reference them with.
	patients := map[string]string{} // fullUrl or Patient/<id> → NHS number ("" when none)
	for i, e := range b.Entry {
		if rt, _ := fhirjson.ResourceType(e.Resource); rt != "Patient" {
			continue
		}
		p, err := includedPatient(e.Resource)
		if err != nil {
			return nil, badPayload(&EntryError{Entry: i, Reason: "cannot read the included Patient", Err: jsonError(err)})
		}
		if p.nhs != "" && p.nhs != nhs {
			return nil, badPayload(&EntryError{Entry: i, Reason: "the included Patient is another patient"})
		}
		if e.FullURL != "" {
			patients[e.FullURL] = p.nhs
		}
		if p.id != "" {
			patients["Patient/"+p.id] = p.nhs
		}
	}
	h := &History{}
	held := 0 // Immunization entries, read or not
	seen := map[string]int{}
	for i, e := range b.Entry {
		rt, err := fhirjson.ResourceType(e.Resource)
		switch {
		case err != nil:
			// No resource, or one without a type: it may have been a
			// vaccination.
			held++
			h.Unreadable = append(h.Unreadable, &EntryError{Entry: i, Reason: "the entry holds no resource the facade can read"})
			continue
		case rt != "Immunization":
			continue
		}
		held++
		im, err := entry(e.Resource, nhs, patients, i)
		var other *anotherPatient
		switch {
		case errors.As(err, &other):
			return nil, badPayload(&EntryError{Entry: i, Reason: other.reason})
		case err != nil:
			h.Unreadable = append(h.Unreadable, err.(*EntryError))
			continue
		}
		id := im.GetId().GetValue()
		if j, dup := seen[id]; dup {
			// The same record sent twice loses nothing; two records under
			// one id would hide one.
			if !proto.Equal(h.Immunizations[j], im) {
				h.Unreadable = append(h.Unreadable, &EntryError{Entry: i, Reason: "the record has the id of another record in this answer"})
			}
			continue
		}
		seen[id] = len(h.Immunizations)
		h.Immunizations = append(h.Immunizations, im)
	}
	if b.Total != nil && int(*b.Total) > held {
		h.Missing = int(*b.Total) - held
	}
	return h, nil
}

// anotherPatient is why entry refuses a record of another patient: the
// whole answer is refused (see the package documentation).
type anotherPatient struct{ reason string }

func (e *anotherPatient) Error() string { return e.reason }

// record is an Immunization as the API sends it: StatusReason shadows the
// embedded field (encoding/json fills the shallower one) so that the
// API's array can be read.
type record struct {
	fhirjson.Immunization
	StatusReason json.RawMessage `json:"statusReason,omitempty"`
}

// entry maps the Immunization of entry i. Its errors are an
// *anotherPatient, or an *EntryError naming the entry.
func entry(raw []byte, nhs string, patients map[string]string, i int) (*impb.Immunization, error) {
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, &EntryError{Entry: i, Reason: "cannot read the Immunization", Err: jsonError(err)}
	}
	m := &r.Immunization
	var err error
	if m.StatusReason, err = statusReason(r.StatusReason); err != nil {
		return nil, &EntryError{Entry: i, Reason: "cannot read the Immunization", Err: err}
	}
	for _, c := range []**fhirjson.CodeableConcept{&m.StatusReason, &m.ReportOrigin, &m.Site, &m.Route, &m.FundingSource} {
		if cc := *c; cc != nil && cc.ID == "" && cc.Text == "" && len(cc.Extension) == 0 && len(cc.Coding) == 0 {
			*c = nil
		}
	}
	if err := checkPatient(m, nhs, patients); err != nil {
		if ee, ok := err.(*EntryError); ok {
			ee.Entry = i
		}
		return nil, err
	}
	q := rewrite(m, nhs)
	key := m.ID
	if key == "" {
		if key, err = contentKey(q); err != nil {
			return nil, &EntryError{Entry: i, Reason: "cannot read the Immunization", Err: err}
		}
	}
	// After the key: an id names the record as the API sent it, so a
	// repair here never changes an id a client already holds.
	dropNullDisplays(q.Extension)
	q.ID = ID(nhs, key)
	q.Meta = ukprofile.Declare(q.Meta, ukprofile.Immunization)
	im, err := fhirjson.BuildImmunization(q)
	if err != nil {
		return nil, &EntryError{Entry: i, Err: err}
	}
	return im, nil
}

// dropNullDisplays removes a coding display that is the string "null": the
// public sandbox sends its vaccination procedure so (a serialised JavaScript
// null), and a clinician must not read "null" as the procedure's name. The
// code stays; a reader looks its display up.
func dropNullDisplays(exts []fhirjson.Extension) {
	for i := range exts {
		if cc := exts[i].ValueCodeableConcept; cc != nil {
			for j := range cc.Coding {
				if cc.Coding[j].Display == "null" {
					cc.Coding[j].Display = ""
				}
			}
		}
		dropNullDisplays(exts[i].Extension)
	}
}

// statusReason reads the API's statusReason: an array of CodeableConcepts
// (as the public sandbox sends it) or, as R4 has it, one.
func statusReason(raw json.RawMessage) (*fhirjson.CodeableConcept, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '[':
		var cs []fhirjson.CodeableConcept
		if err := json.Unmarshal(raw, &cs); err != nil {
			return nil, errors.New("statusReason: " + jsonError(err).Error())
		}
		if len(cs) == 0 {
			return nil, nil
		}
		// R4 allows one reason (0..1): the first is kept.
		return &cs[0], nil
	}
	if raw[0] != '{' {
		return nil, errors.New("statusReason has the wrong JSON type (want an array or an object)")
	}
	var c fhirjson.CodeableConcept
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errors.New("statusReason: " + jsonError(err).Error())
	}
	return &c, nil
}

// contentKey names a record that has no id by a digest of its content as
// the facade serves it (patient rewritten, so not the API's urn:uuid, which
// may change from one answer to the next), less meta (which may change when
// nothing of the vaccination does). Not its identifier: the public sandbox
// gives one identifier to four different records (COVID-19, flu and two
// HPV). The same record always gets the same key; a record the API changes
// gets a new one.
func contentKey(q *fhirjson.Immunization) (string, error) {
	c := *q
	c.ID, c.Meta = "", nil
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return "\x00content\x00" + string(b), nil
}

type patientFacts struct{ id, nhs string }

// includedPatient reads the id and NHS number of an included Patient, and
// nothing else of it.
func includedPatient(raw []byte) (patientFacts, error) {
	var p struct {
		ID         string                `json:"id"`
		Identifier []fhirjson.Identifier `json:"identifier"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return patientFacts{}, err
	}
	f := patientFacts{id: p.ID}
	for _, id := range p.Identifier {
		if id.System == nhsnumber.System && id.Value != "" {
			f.nhs = id.Value
			break
		}
	}
	return f, nil
}

// checkPatient makes sure the record is the patient's: its patient
// identifier, or the included Patient its reference points to, must be nhs.
// A record of another patient is an *anotherPatient; one that does not say
// whose it is, an *EntryError (it is left out, named). The reasons it gives
// quote no values.
func checkPatient(m *fhirjson.Immunization, nhs string, patients map[string]string) error {
	if m.Patient == nil {
		return &EntryError{Reason: "the Immunization has no patient"}
	}
	if id := m.Patient.Identifier; id != nil && id.System == nhsnumber.System && id.Value != "" {
		if id.Value != nhs {
			return &anotherPatient{"the Immunization is another patient's (patient.identifier)"}
		}
		return nil
	}
	if ref := m.Patient.Reference; ref != "" {
		got, ok := patients[ref]
		switch {
		case ok && got == nhs:
			return nil
		case ok && got != "":
			return &anotherPatient{"the Immunization is another patient's (patient.reference)"}
		}
	}
	return &EntryError{Reason: "the Immunization does not say whose it is (no NHS number in patient, nor in the Patient it references)"}
}

// rewrite is the facade's Immunization of the API's record, with the
// changes the package documents (the id aside).
func rewrite(m *fhirjson.Immunization, nhs string) *fhirjson.Immunization {
	q := *m
	q.Meta = nil
	if m.Meta != nil && (m.Meta.LastUpdated != "" || len(m.Meta.Security) > 0) {
		q.Meta = &fhirjson.Meta{LastUpdated: m.Meta.LastUpdated, Security: m.Meta.Security}
	}
	q.Patient = &fhirjson.Reference{Reference: "Patient/" + nhs, Type: "Patient",
		Identifier: &fhirjson.Identifier{System: nhsnumber.System, Value: nhs}}
	if len(m.Performer) > 0 {
		q.Performer = make([]fhirjson.ImmunizationPerformer, len(m.Performer))
		for i, p := range m.Performer {
			if p.Actor != nil && p.Actor.Type == "Organisation" {
				a := *p.Actor
				a.Type = "Organization"
				p.Actor = &a
			}
			q.Performer[i] = p
		}
	}
	return &q
}

// maxIDLength is the longest FHIR id.
const maxIDLength = 64

// ID is the facade's id of the record key (the API's id, or for a record
// without one its content, see contentKey) of patient nhs:
// "<NHS number>-<key>", e.g. 9000000009-90640007.747583-127, when that is a
// valid FHIR id (at most 64 of A-Z a-z 0-9 - .); otherwise
// "<NHS number>-x<32 hex digits of the key's SHA-256>". The same record always
// gets the same id, and the id names the patient, so a read knows whose
// history to search.
func ID(nhs, key string) string {
	id := nhs + "-" + key
	// Within maxIDLength, key is at most 53 long: ValidID's bound is moot.
	if len(id) <= maxIDLength && fhirjson.ValidID(key) {
		return id
	}
	sum := sha256.Sum256([]byte(key))
	return nhs + "-x" + hex.EncodeToString(sum[:16])
}

// ParseID returns the NHS number an id made by ID names; ok is false for
// anything ID cannot have made.
func ParseID(id string) (nhs string, ok bool) {
	if len(id) < 12 || len(id) > maxIDLength || id[10] != '-' || !fhirjson.ValidID(id[11:]) {
		return "", false
	}
	if !nhsnumber.Valid(id[:10]) {
		return "", false
	}
	return id[:10], true
}

// EntryError says which entry of the API's Bundle the facade could not map,
// and why. It quotes no value from the payload, except where Err is a
// *fhirjson.Error, whose own Redacted form withholds the value from logs.
type EntryError struct {
	// Entry is the index in Bundle.entry.
	Entry int
	// Reason is a fixed description (no patient data), or "".
	Reason string
	// Err is the underlying cause, if any.
	Err error
}

// Describe says, for a client, what was left out and why: the entry, the
// element when known, and the reason, quoting nothing of the payload (the
// builder's own detail, which may, is withheld).
func (e *EntryError) Describe() string {
	s := e.Where() + " could not be read"
	var fe *fhirjson.Error
	built := errors.As(e.Err, &fe)
	switch {
	case e.Reason != "" && e.Err != nil && !built:
		// A JSON decoding error, as jsonError words it: place and type only.
		s += ": " + e.Reason + ": " + e.Err.Error()
	case e.Reason != "":
		s += ": " + e.Reason
	case built:
		s += " (invalid value)"
	}
	return s
}

// Where is the place of the error, safe to show: the entry, and the
// element's path when the builder named one.
func (e *EntryError) Where() string {
	s := "entry[" + strconv.Itoa(e.Entry) + "]"
	var fe *fhirjson.Error
	if errors.As(e.Err, &fe) && fe.Path != "" {
		s += " " + fe.Path
	}
	return s
}

func (e *EntryError) Error() string {
	s := "entry[" + strconv.Itoa(e.Entry) + "]"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Redacted implements fhirerr.Redactor.
func (e *EntryError) Redacted() string {
	s := "entry[" + strconv.Itoa(e.Entry) + "]"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + fhirerr.LogString(e.Err)
	}
	return s
}

func (e *EntryError) Unwrap() error { return e.Err }

// jsonError keeps what a JSON decoding error says about the place and type,
// never the offending value (encoding/json quotes it in syntax errors of
// strings and, for numbers, in UnmarshalTypeError.Value).
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("%s has the wrong JSON type (want %s)", te.Field, te.Type)
	}
	return errors.New("invalid JSON")
}

// badPayload is the error refusing a whole answer. Its message, which a
// client may see, says why: err is one of Map's fixed texts, or an
// *EntryError whose place and reason quote nothing of the payload.
func badPayload(err error) error {
	msg := "the Immunisation History API returned an immunisation history the facade cannot read: "
	var ee *EntryError
	if errors.As(err, &ee) {
		msg += ee.Where() + ": " + ee.Reason
	} else {
		msg += err.Error()
	}
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: "immunisation", Message: msg, Err: err}
}
