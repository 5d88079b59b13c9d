// Package immunisation maps what the Immunisation History API returns (a
// searchset Bundle of FHIR R4 Immunizations plus the Patient they refer to,
// BACKENDS.md §7) onto the facade's Immunization. The API speaks R4, so the
// mapping is a near pass-through; it is pure: bytes in, protos out.
//
// Kept as the API sent them: every element of each Immunization (the
// VaccinationProcedure extension, identifier, status, vaccineCode,
// occurrenceDateTime, recorded, primarySource, reportOrigin, location,
// manufacturer, lotNumber, expirationDate, site, route, doseQuantity,
// performer, reasonCode, protocolApplied …), validated by model/fhirjson's
// builder. Changed:
//
//   - id becomes <NHS number>-<the API's id> (see ID), so that the facade can
//     serve a read, which the API does not have;
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
// Every record must be the patient's: an Immunization whose patient is not
// the NHS number asked for (by identifier, or through the included Patient it
// references) fails the whole answer, as does an included Patient of another
// NHS number. Errors name the entry and element at fault, never a value.
package immunisation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	impb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"

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

// Map decodes a GET /Immunization payload for the patient nhs (a valid NHS
// number) and maps its Immunizations, in the API's order. An empty Bundle
// maps to none. Errors are *fhirerr.Error of category BadGateway wrapping an
// *EntryError (or the decoding error) that names the entry and element.
func Map(raw []byte, nhs string) ([]*impb.Immunization, error) {
	if !nhsnumber.Valid(nhs) {
		return nil, badPayload(errors.New("the NHS number asked for is not valid"))
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
	var out []*impb.Immunization
	seen := map[string]int{}
	for i, e := range b.Entry {
		if rt, _ := fhirjson.ResourceType(e.Resource); rt != "Immunization" {
			continue
		}
		var m fhirjson.Immunization
		if err := json.Unmarshal(e.Resource, &m); err != nil {
			return nil, badPayload(&EntryError{Entry: i, Reason: "cannot read the Immunization", Err: jsonError(err)})
		}
		if err := checkPatient(&m, nhs, patients); err != nil {
			return nil, badPayload(&EntryError{Entry: i, Reason: err.Error()})
		}
		id := ID(nhs, recordKey(&m, e.Resource))
		if j, dup := seen[id]; dup {
			return nil, badPayload(&EntryError{Entry: i, Reason: "the record repeats entry[" + strconv.Itoa(j) + "] (same id)"})
		}
		seen[id] = i
		im, err := immunization(&m, nhs, id)
		if err != nil {
			return nil, badPayload(&EntryError{Entry: i, Err: err})
		}
		out = append(out, im)
	}
	return out, nil
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
// The reasons it gives quote no values.
func checkPatient(m *fhirjson.Immunization, nhs string, patients map[string]string) error {
	if m.Patient == nil {
		return errors.New("the Immunization has no patient")
	}
	if id := m.Patient.Identifier; id != nil && id.System == nhsnumber.System && id.Value != "" {
		if id.Value != nhs {
			return errors.New("the Immunization is another patient's (patient.identifier)")
		}
		return nil
	}
	if ref := m.Patient.Reference; ref != "" {
		got, ok := patients[ref]
		switch {
		case ok && got == nhs:
			return nil
		case ok && got != "":
			return errors.New("the Immunization is another patient's (patient.reference)")
		}
	}
	return errors.New("the Immunization does not say whose it is (no NHS number in patient, nor in the Patient it references)")
}

// recordKey is what identifies a record within the patient's history: the
// API's id, or else its identifier, or else (neither is sent) its content.
func recordKey(m *fhirjson.Immunization, raw []byte) string {
	if m.ID != "" {
		return m.ID
	}
	for _, id := range m.Identifier {
		if id.Value != "" {
			return "\x00identifier\x00" + id.System + "|" + id.Value
		}
	}
	return "\x00content\x00" + string(raw)
}

// immunization builds the facade's Immunization from the API's record, with
// the changes the package documents.
func immunization(m *fhirjson.Immunization, nhs, id string) (*impb.Immunization, error) {
	q := *m
	q.ID = id
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
	return fhirjson.BuildImmunization(&q)
}

// maxIDLength is the longest FHIR id.
const maxIDLength = 64

// ID is the facade's id of the record key (the API's id, see Map) of patient
// nhs: "<NHS number>-<key>", e.g. 9000000009-90640007.747583-127, when that
// is a valid FHIR id (at most 64 of A-Z a-z 0-9 - .); otherwise
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

func badPayload(err error) error {
	msg := "the Immunisation History API returned an immunisation history the facade cannot read"
	var ee *EntryError
	if errors.As(err, &ee) {
		msg += " (" + ee.Where() + ")"
	}
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: "immunisation", Message: msg, Err: err}
}
