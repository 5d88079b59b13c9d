package resources

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carerecords/fhir-facade/audit"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// AuditEvent serves the facade's own audit trail as FHIR AuditEvent: who
// accessed which patient's data, how, when, and with what outcome. Who may
// search it is decided by the access policy (auditors only).
type AuditEvent struct {
	log audit.Searcher
}

var _ Searcher = (*AuditEvent)(nil)

// NewAuditEvent returns the AuditEvent provider over the audit trail (the
// file log or the PostgreSQL store).
func NewAuditEvent(l audit.Searcher) *AuditEvent { return &AuditEvent{log: l} }

// ResourceType implements Provider.
func (*AuditEvent) ResourceType() string { return "AuditEvent" }

// Profile implements Provider.
func (*AuditEvent) Profile() string { return "" }

// Documentation implements Provider.
func (*AuditEvent) Documentation() string {
	return "The facade's audit trail: one AuditEvent per access to patient data (user, role, organisation, patients, resource type, interaction, outcome, request id). Auditors only."
}

// SearchParams implements Searcher.
func (*AuditEvent) SearchParams() []SearchParam {
	return []SearchParam{
		{Name: "patient", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-patient", Modifiers: PatientParamModifiers,
			Documentation: "The patient whose data was accessed (NHS number). A search names the patient, the user (agent), or both.", Example: "9000000009"},
		{Name: "date", Type: TypeDate, Definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-date", Repeatable: true,
			Documentation: "When the access happened (day precision), with eq, ge, gt, le or lt.", Example: "ge2020-01-01"},
		{Name: "agent", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-agent", Modifiers: []string{"identifier"},
			Documentation: "Who made the request, by identifier only (agent.who is an identifier, never a reference): " +
				"agent:identifier=" + sdsUserIDSystem + "|<user id>, the SDS user id of a CIS2 login (the client id for application-restricted access). " +
				"Without patient, every patient's record of that user's accesses.",
			Example: ":identifier=" + sdsUserIDSystem + "|555021935107"},
		{Name: "outcome", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/AuditEvent-outcome",
			Documentation: "The access's outcome, one or more comma-separated codes of " + auditOutcomeSystem + ": 0 answered, " +
				"4 refused or rejected (4xx), 8 failed (5xx); 12 is never recorded.",
			Example: "4,8"},
	}
}

const (
	sdsUserIDSystem    = "https://fhir.nhs.uk/Id/sds-user-id"
	auditOutcomeSystem = "http://hl7.org/fhir/audit-event-outcome"
)

// auditOutcomes maps AuditEvent.outcome codes onto the trail's outcomes.
var auditOutcomes = map[string][]string{
	"0":  {audit.OutcomeSuccess},
	"4":  {audit.OutcomeRefused, audit.OutcomeRejected},
	"8":  {audit.OutcomeFailed},
	"12": nil, // a major failure: the facade records none
}

// auditOutcomeCode is the AuditEvent.outcome code of a record.
func auditOutcomeCode(rec audit.Record) string {
	switch audit.RecordOutcome(rec) {
	case audit.OutcomeSuccess:
		return "0"
	case audit.OutcomeFailed:
		return "8"
	}
	return "4"
}

// agentQuery reads agent:identifier: the user id.
func agentQuery(q url.Values) (string, bool, error) {
	if _, plain := q["agent"]; plain {
		return "", false, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "agent",
			Message: "agents are recorded by identifier: use agent:identifier=" + sdsUserIDSystem + "|<user id>"}
	}
	v := q.Get("agent:identifier")
	if v == "" {
		return "", false, nil
	}
	system, value, found := strings.Cut(v, "|")
	if !found {
		system, value = "", system
	}
	if system != "" && system != sdsUserIDSystem || value == "" {
		return "", false, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "agent:identifier",
			Message: "agent:identifier takes a user id: " + sdsUserIDSystem + "|<user id>"}
	}
	return value, true, nil
}

// outcomeQuery reads outcome (comma-separated codes, system optional):
// the trail's outcomes selected, and whether any can match.
func outcomeQuery(vs []string) (outcomes []string, any bool, err error) {
	for _, v := range strings.Split(strings.Join(vs, ","), ",") {
		system, code, found := strings.Cut(strings.TrimSpace(v), "|")
		if !found {
			system, code = "", system
		}
		os, known := auditOutcomes[code]
		if !known || system != "" && system != auditOutcomeSystem {
			return nil, false, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "outcome",
				Message: "outcome takes codes of " + auditOutcomeSystem + ": 0, 4, 8 or 12"}
		}
		outcomes = append(outcomes, os...)
	}
	return outcomes, len(outcomes) > 0, nil
}

// Search implements Searcher: newest first.
func (a *AuditEvent) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	// By patient, by user, or both: a Caldicott investigation asks what
	// one user looked at, across patients.
	nhs, byPatient, err := PatientNHSNumber(q.Params, "patient")
	if err != nil {
		return nil, err
	}
	user, byUser, err := agentQuery(q.Params)
	if err != nil {
		return nil, err
	}
	if !byPatient && !byUser {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "patient",
			Message: "this search needs the patient (patient=<NHS number>), the user (agent:identifier=" + sdsUserIDSystem + "|<user id>), or both"}
	}
	aq := audit.Query{Patient: nhs, User: user}
	if ds := q.Params["date"]; len(ds) > 0 {
		r, err := ParseDateParams("date", ds)
		if err != nil {
			return nil, err
		}
		aq.From = r.From
		if !r.To.IsZero() {
			aq.To = r.To.Add(24*time.Hour - time.Nanosecond)
		}
	}
	if vs := q.Params["outcome"]; len(vs) > 0 {
		outcomes, any, err := outcomeQuery(vs)
		if err != nil {
			return nil, err
		}
		if !any {
			return &SearchResult{}, nil // 12 alone: nothing is recorded so
		}
		aq.Outcomes = outcomes
	}
	// The server slices the page it answers from the first entries, so
	// the store is asked for the matches up to the end of that page, not
	// all of them (a PostgreSQL trail holds millions).
	aq.Limit = max(q.Offset+q.Count, 1)
	recs, total, err := a.log.Search(ctx, aq)
	if err != nil {
		return nil, &fhirerr.Error{Category: fhirerr.Unavailable, Message: "the audit trail cannot be searched now", Err: err}
	}
	out := &SearchResult{Total: total}
	for _, rec := range recs {
		res, err := auditEventResource(rec)
		if err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, SearchEntry{Resource: res, Mode: "match"})
	}
	return out, nil
}

var (
	auditUnmarshalOnce sync.Once
	auditUnmarshaller  *jsonformat.Unmarshaller
	auditUnmarshalErr  error
)

// auditEventResource maps one record onto an AuditEvent.
// See: http://hl7.org/fhir/R4/auditevent.html
func auditEventResource(rec audit.Record) (*Resource, error) {
	id := rec.RequestID + "-" + strconv.FormatInt(rec.Time.UnixNano(), 36)
	id = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, id)
	if len(id) > 64 {
		id = id[len(id)-64:]
	}
	action := "R"
	switch rec.Interaction {
	case "create":
		action = "C"
	case "update", "patch":
		action = "U"
	case "search-type", "operation-summary", "operation-everything", "batch":
		action = "E"
	}
	outcome := auditOutcomeCode(rec)
	agents := auditAgents(rec)
	var entities []any
	for _, p := range rec.Patients {
		entities = append(entities, map[string]any{
			"what": map[string]any{"reference": "Patient/" + p},
			"type": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
			"role": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
		})
	}
	entities = append(entities, map[string]any{
		"what":   map[string]any{"identifier": map[string]any{"system": "urn:carerecords-facade:request-id", "value": rec.RequestID}},
		"type":   map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
		"detail": []any{map[string]any{"type": "resource-type", "valueString": rec.ResourceType}},
	})
	doc := map[string]any{
		"resourceType": "AuditEvent",
		"id":           id,
		"type":         map[string]any{"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
		"subtype":      []any{map[string]any{"system": "http://hl7.org/fhir/restful-interaction", "code": subtypeCode(rec.Interaction)}},
		"action":       action,
		"recorded":     rec.Time.UTC().Format(time.RFC3339Nano),
		"outcome":      outcome,
		"outcomeDesc":  outcomeDesc(rec),
		"agent":        agents,
		"source":       map[string]any{"observer": map[string]any{"display": "carerecords-facade"}},
		"entity":       entities,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	auditUnmarshalOnce.Do(func() {
		auditUnmarshaller, auditUnmarshalErr = jsonformat.NewUnmarshallerWithoutValidation("UTC", fhirversion.R4)
	})
	if auditUnmarshalErr != nil {
		return nil, auditUnmarshalErr
	}
	cr, err := auditUnmarshaller.Unmarshal(b)
	if err != nil {
		return nil, &fhirerr.Error{Category: fhirerr.Internal, Message: "could not build an AuditEvent", Err: err}
	}
	msg := cr.ProtoReflect().Get(cr.ProtoReflect().Descriptor().Fields().ByName("audit_event")).Message().Interface()
	return &Resource{Type: "AuditEvent", ID: id, Message: msg}, nil
}

// auditAgents are who made the request: the user (agent.who: their user
// id; their role profile as altId; their role), the organisation they
// acted for, and the client application they used. A request refused
// before its token was verified has one agent, "unauthenticated".
func auditAgents(rec audit.Record) []any {
	if rec.User == "" {
		return []any{map[string]any{"who": map[string]any{"display": "unauthenticated"}, "requestor": true}}
	}
	user := map[string]any{
		"type":      coding("http://terminology.hl7.org/CodeSystem/extra-security-role-type", "humanuser", "human user"),
		"who":       map[string]any{"identifier": map[string]any{"system": sdsUserIDSystem, "value": rec.User}},
		"requestor": true,
	}
	if rec.RoleProfile != "" {
		user["altId"] = rec.RoleProfile
	}
	if rec.Role != "" {
		var codings []any
		for _, r := range strings.Fields(rec.Role) {
			codings = append(codings, map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode", "code": r})
		}
		user["role"] = []any{map[string]any{"coding": codings}}
	}
	agents := []any{user}
	if rec.Organisation != "" {
		agents = append(agents, map[string]any{
			"type":      coding("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV", "healthcare provider"),
			"who":       map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": rec.Organisation}},
			"requestor": false,
		})
	}
	if rec.ClientID != "" {
		agents = append(agents, map[string]any{
			"type":      coding("http://dicom.nema.org/resources/ontology/DCM", "110150", "Application"),
			"who":       map[string]any{"identifier": map[string]any{"system": "urn:ietf:params:oauth:client-id", "value": rec.ClientID}},
			"requestor": false,
		})
	}
	return agents
}

func coding(system, code, display string) map[string]any {
	return map[string]any{"coding": []any{map[string]any{"system": system, "code": code, "display": display}}}
}

// outcomeDesc says what happened in words: the outcome and the HTTP status.
func outcomeDesc(rec audit.Record) string {
	o := rec.Outcome
	if o == "" {
		o = audit.OutcomeOf(rec.Status)
	}
	return o + " (HTTP " + strconv.Itoa(rec.Status) + ")"
}

// subtypeCode is the restful-interaction code for one of the facade's
// interaction names.
func subtypeCode(interaction string) string {
	switch {
	case strings.HasPrefix(interaction, "operation"):
		return "operation"
	case interaction == "":
		return "read"
	}
	return interaction
}
