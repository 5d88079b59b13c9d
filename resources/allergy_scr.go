package resources

import (
	"context"
	"errors"
	"net/url"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/carerecords/fhir-facade/backends/scr"
	scrmap "github.com/carerecords/fhir-facade/mappers/scr"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// This file is the Summary Care Record retrieval shared by the
// AllergyIntolerance and MedicationStatement providers.

// SCRClient is what the SCR-backed providers need from the SCR API.
type SCRClient interface {
	// Latest finds the patient's latest summary and consent; nil when the
	// patient has no SCR.
	Latest(ctx context.Context, nhs string) (*scr.Latest, error)
	// Summary returns the GET /Bundle payload of the summary uuid.
	Summary(ctx context.Context, nhs, uuid string) ([]byte, error)
}

// scrRecords reads one patient's summary through the two steps of the SCR
// API and maps it, through the memo, to every AllergyIntolerance and
// MedicationStatement it holds.
type scrRecords struct {
	client SCRClient
	memo   *Memo
}

// scrSummary is a patient's summary as the providers serve it.
type scrSummary struct {
	// resources are the allergies, then the acute, repeat and discontinued
	// medications, in the SCR's order. Shared (memo): do not modify.
	resources []*Resource
	// issues say why there are no resources when the SCR was not read (no
	// SCR, consent withheld), for the searchset's OperationOutcome entry.
	issues []Issue
}

// Issues the facade reports in a searchset instead of resources.
var (
	issueNoSCR = Issue{Severity: "information", Code: "not-found",
		Diagnostics: "This patient has no Summary Care Record: the SCR holds no allergies or medications for them (which does not mean they have none)."}
	issueConsentWithheld = Issue{Severity: "information", Code: "suppressed",
		Diagnostics:   "The patient has withheld consent to share their Summary Care Record, so it was not read: this answer says nothing about their allergies or medications.",
		DetailsSystem: scr.PermissionSystem, DetailsCode: string(scr.ConsentNo), DetailsDisplay: "No"}
	issueConsentUnknown = Issue{Severity: "warning", Code: "suppressed",
		Diagnostics: "The Summary Care Record did not state the patient's consent to share it, so it was not read: this answer says nothing about their allergies or medications."}
)

// errStaleSummary: GET /Bundle answered without a Composition, i.e. the
// UUID from GET /DocumentReference is no longer the latest.
var errStaleSummary = errors.New("the summary changed between the two SCR calls")

// fetch runs both steps for nhs. A summary replaced between the two calls
// is retried once from step 1.
func (s *scrRecords) fetch(ctx context.Context, nhs string) (*scrSummary, error) {
	return shared(ctx, "scr/"+nhs, func(ctx context.Context) (*scrSummary, error) {
		return s.fetchOnce(ctx, nhs)
	})
}

func (s *scrRecords) fetchOnce(ctx context.Context, nhs string) (*scrSummary, error) {
	for attempt := 0; attempt < 2; attempt++ {
		l, err := s.client.Latest(ctx, nhs)
		if err != nil {
			return nil, err
		}
		if sum, done := s.withoutSummary(l); done {
			return sum, nil
		}
		rs, err := s.summary(ctx, nhs, l.UUID)
		if errors.Is(err, errStaleSummary) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &scrSummary{resources: rs}, nil
	}
	return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: scr.Name, Message: "the Summary Care Record changed while it was being read; retry", Err: errStaleSummary}
}

// withoutSummary answers when step 2 must not run: no SCR, or no consent
// to read it (BACKENDS.md §2: with consent No the facade does not call GET
// /Bundle).
func (s *scrRecords) withoutSummary(l *scr.Latest) (*scrSummary, bool) {
	switch {
	case l == nil:
		return &scrSummary{issues: []Issue{issueNoSCR}}, true
	case l.Consent == scr.ConsentNo:
		return &scrSummary{issues: []Issue{issueConsentWithheld}}, true
	case !l.Consent.Permits():
		return &scrSummary{issues: []Issue{issueConsentUnknown}}, true
	}
	return nil, false
}

// summary runs step 2 and maps the payload, through the memo.
func (s *scrRecords) summary(ctx context.Context, nhs, uuid string) ([]*Resource, error) {
	key, err := scrmap.UUIDKey(uuid)
	if err != nil {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: scr.Name, Message: "the scr service sent an SCR identifier that is not a UUID", Err: err}
	}
	body, err := s.client.Summary(ctx, nhs, uuid)
	if err != nil {
		return nil, err
	}
	// Acute medications' status is judged on the day of the request in
	// England (scrmap.AcuteStatus): a mapping holds for that day only.
	now := time.Now().In(england)
	return s.memo.MapAll("scr/"+nhs+"/"+key+"/"+now.Format(time.DateOnly), body, func() ([]*Resource, error) {
		rec, err := scrmap.MapAt(body, nhs, uuid, now)
		if err != nil {
			return nil, err
		}
		if !rec.Found {
			return nil, errStaleSummary
		}
		out := make([]*Resource, 0, len(rec.Allergies)+len(rec.Medications))
		for _, a := range rec.Allergies {
			out = append(out, &Resource{Type: "AllergyIntolerance", ID: a.GetId().GetValue(), LastUpdated: rec.LastUpdated, Message: a})
		}
		for _, m := range rec.Medications {
			out = append(out, &Resource{Type: "MedicationStatement", ID: m.GetId().GetValue(), LastUpdated: rec.LastUpdated, Message: m})
		}
		return out, nil
	})
}

// read serves a read of an SCR-derived id of resourceType: the id names the
// patient, the summary and the row, so the summary is fetched again and the
// row picked. An id of a summary that is no longer the latest is not found.
func (s *scrRecords) read(ctx context.Context, resourceType, id string) (*Resource, error) {
	notFound := func(msg string) error {
		return &fhirerr.Error{Category: fhirerr.NotFound, Message: msg}
	}
	parsed, ok := scrmap.ParseID(id)
	if !ok || parsed.Kind.ResourceType() != resourceType {
		return nil, notFound("no " + resourceType + " with this id (ids are <NHS number>-<SCR UUID>-<row>, as search returns them)")
	}
	l, err := s.client.Latest(ctx, parsed.NHSNumber)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, notFound("no " + resourceType + " with this id: the patient has no Summary Care Record")
	}
	if l.Consent == scr.ConsentNo {
		return nil, &fhirerr.Error{Category: fhirerr.Forbidden, Message: "the patient has withheld consent to share their Summary Care Record",
			Details: &fhirerr.Coding{System: scr.PermissionSystem, Code: string(scr.ConsentNo)}}
	}
	if !l.Consent.Permits() {
		return nil, &fhirerr.Error{Category: fhirerr.Forbidden, Message: "the Summary Care Record did not state the patient's consent to share it"}
	}
	if key, err := scrmap.UUIDKey(l.UUID); err != nil || key != parsed.UUID {
		return nil, notFound("no " + resourceType + " with this id: the patient's Summary Care Record has been replaced since; search again")
	}
	rs, err := s.summary(ctx, parsed.NHSNumber, l.UUID)
	if errors.Is(err, errStaleSummary) {
		return nil, notFound("no " + resourceType + " with this id: the patient's Summary Care Record has been replaced since; search again")
	}
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, notFound("no " + resourceType + " with this id in the patient's Summary Care Record")
}

// scrPatient reads the patient of an SCR search: patient=<NHS number>,
// Patient/<NHS number> or patient:identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>.
func scrPatient(q url.Values) (string, error) {
	return RequirePatient(q, "patient")
}

// patientParam is the patient search parameter both SCR providers declare.
func patientParam(resourceType string) SearchParam {
	return SearchParam{Name: "patient", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/clinical-patient",
		Modifiers: PatientParamModifiers,
		Documentation: "Required. The patient, by NHS number: 9000000009, Patient/9000000009, or patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009. " +
			"The " + resourceType + " resources come from that patient's latest Summary Care Record.",
		Example: "9000000009"}
}

// dateMatches reports whether dt falls in r (ParseDateParams). A bounded
// range (eq, or ge with le) must contain dt's whole extent (a month-precision
// date lies in eq2020 but not in eq2020-05-12); a one-sided range (ge/gt
// alone, le/lt alone) needs only overlap, as FHIR defines those prefixes. A
// resource without the date never matches a date search.
// See: http://hl7.org/fhir/R4/search.html#prefix
func dateMatches(dt *dtpb.DateTime, r DateRange) bool {
	if dt == nil {
		return false
	}
	if r.Empty() {
		return false
	}
	lo, hi := dateTimeDays(dt)
	switch {
	case !r.From.IsZero() && !r.To.IsZero():
		return !lo.Before(r.From) && !hi.After(r.To)
	case !r.From.IsZero():
		return !hi.Before(r.From)
	case !r.To.IsZero():
		return !lo.After(r.To)
	}
	return true
}

// dateTimeDays is the first and last day (UTC midnight) a dateTime covers,
// by its precision; times count by their calendar day where they were written.
func dateTimeDays(dt *dtpb.DateTime) (time.Time, time.Time) {
	t := time.UnixMicro(dt.GetValueUs()).UTC()
	if loc, err := fixedZone(dt.GetTimezone()); err == nil {
		t = t.In(loc)
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch dt.GetPrecision() {
	case dtpb.DateTime_YEAR:
		lo := time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return lo, lo.AddDate(1, 0, -1)
	case dtpb.DateTime_MONTH:
		lo := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return lo, lo.AddDate(0, 1, -1)
	}
	return day, day
}

// fixedZone reads the "Z" / "+01:00" zones the mappers write (never a zone
// name: no zone database is loaded on this path).
func fixedZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "Z" || tz == "UTC" {
		return time.UTC, nil
	}
	t, err := time.Parse("-07:00", tz)
	if err != nil {
		return nil, err
	}
	_, off := t.Zone()
	return time.FixedZone(tz, off), nil
}
