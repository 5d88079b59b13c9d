package resources

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/carerecords/fhir-facade/backends/scr"
	scrmap "github.com/carerecords/fhir-facade/mappers/scr"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
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
	// issues are what an AllergyIntolerance search reports in its
	// OperationOutcome entry (allergy.go reads them as they are): why the
	// SCR was not read (no SCR, consent withheld), or that its allergy
	// category holds no relevant information.
	issues []Issue
	// medicationIssues are the same for a MedicationStatement search: why
	// the SCR was not read, or which medication categories hold no
	// relevant information.
	medicationIssues []Issue
}

// Issues the facade reports in a searchset instead of resources. Consent
// withheld is a warning, not information: the patient's allergies and
// medications exist but were not read, and an app must not show that as none.
var (
	issueNoSCR = Issue{Severity: "information", Code: "not-found",
		Diagnostics: "This patient has no Summary Care Record: the SCR holds no allergies or medications for them (which does not mean they have none)."}
	issueConsentWithheld = Issue{Severity: "warning", Code: "suppressed",
		Diagnostics:   "The patient has withheld consent to share their Summary Care Record, so it was not read: this answer says nothing about their allergies or medications.",
		DetailsSystem: scr.PermissionSystem, DetailsCode: string(scr.ConsentNo), DetailsDisplay: "No"}
	issueConsentUnknown = Issue{Severity: "warning", Code: "suppressed",
		Diagnostics: "The Summary Care Record did not state the patient's consent to share it, so it was not read: this answer says nothing about their allergies or medications."}
)

// noInformationType marks, among the resources a summary maps to in the
// memo, a category stating "No relevant information available for this
// category." (ID: the section code), so the summary is parsed once for both;
// summary takes the marks out.
const noInformationType = "scr-no-information"

// The SCR's medication categories, as the information issue names them.
var medicationCategories = []struct{ section, name string }{
	{scrmap.SectionAcute, "acute medications"},
	{scrmap.SectionRepeat, "repeat medications"},
	{scrmap.SectionDiscontinued, "discontinued repeat medications"},
}

// noInformation is the information issue saying the summary's categories
// (named) hold no relevant information: what the SCR says, so an empty
// answer is not mistaken for one where the summary was not read.
func noInformation(categories string) Issue {
	return Issue{Severity: "information", Code: "informational",
		Diagnostics: "The patient's Summary Care Record holds no relevant information on " + categories +
			": it states \"" + scrmap.NoInformation + "\" for them."}
}

// newSummary is a summary read, with the issues saying which of its
// categories (empty, section codes) hold no relevant information.
func newSummary(rs []*Resource, empty []string) *scrSummary {
	sum := &scrSummary{resources: rs}
	is := func(code string) bool {
		for _, e := range empty {
			if e == code {
				return true
			}
		}
		return false
	}
	if is(scrmap.SectionAllergies) {
		sum.issues = []Issue{noInformation("allergies and adverse reactions")}
	}
	var meds []string
	for _, c := range medicationCategories {
		if is(c.section) {
			meds = append(meds, c.name)
		}
	}
	if len(meds) > 0 {
		sum.medicationIssues = []Issue{noInformation(strings.Join(meds, ", "))}
	}
	return sum
}

// emptySections returns the codes of the allergy and medication sections
// of a GET /Bundle payload that state "No relevant information available
// for this category." (scrmap.ParseTable's Empty). Called after scrmap.Map
// has accepted the payload, so an unreadable part is only skipped here.
func emptySections(body []byte) []string {
	var b fhirjson.Bundle
	if json.Unmarshal(body, &b) != nil {
		return nil
	}
	var out []string
	for _, e := range b.Entry {
		if rt, err := fhirjson.ResourceType(e.Resource); err != nil || rt != "Composition" {
			continue
		}
		var c fhirjson.Composition
		if json.Unmarshal(e.Resource, &c) != nil {
			return nil
		}
		for _, s := range c.Section {
			if s.Code == nil || len(s.Code.Coding) == 0 || s.Text == nil {
				continue
			}
			code := s.Code.Coding[0].Code
			if code != scrmap.SectionAllergies && code != scrmap.SectionAcute && code != scrmap.SectionRepeat && code != scrmap.SectionDiscontinued {
				continue
			}
			if t, err := scrmap.ParseTable(code, "", s.Text.Div); err == nil && t.Empty {
				out = append(out, code)
			}
		}
	}
	return out
}

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
		rs, empty, err := s.summary(ctx, nhs, l.UUID)
		if errors.Is(err, errStaleSummary) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return newSummary(rs, empty), nil
	}
	return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: scr.Name, Message: "the Summary Care Record changed while it was being read; retry", Err: errStaleSummary}
}

// withoutSummary answers when step 2 must not run: no SCR, or no consent
// to read it (BACKENDS.md §2: with consent No the facade does not call GET
// /Bundle).
func (s *scrRecords) withoutSummary(l *scr.Latest) (*scrSummary, bool) {
	var is Issue
	switch {
	case l == nil:
		is = issueNoSCR
	case l.Consent == scr.ConsentNo:
		is = issueConsentWithheld
	case !l.Consent.Permits():
		is = issueConsentUnknown
	default:
		return nil, false
	}
	return &scrSummary{issues: []Issue{is}, medicationIssues: []Issue{is}}, true
}

// summary runs step 2 and maps the payload, through the memo: the
// resources, and the codes of the sections stating no relevant information.
func (s *scrRecords) summary(ctx context.Context, nhs, uuid string) ([]*Resource, []string, error) {
	key, err := scrmap.UUIDKey(uuid)
	if err != nil {
		return nil, nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: scr.Name, Message: "the scr service sent an SCR identifier that is not a UUID", Err: err}
	}
	body, err := s.client.Summary(ctx, nhs, uuid)
	if err != nil {
		return nil, nil, err
	}
	// Acute medications' status is judged on the day of the request in
	// England (scrmap.AcuteStatus): a mapping holds for that day only.
	now := time.Now().In(england)
	all, err := s.memo.MapAll("scr/"+nhs+"/"+key+"/"+now.Format(time.DateOnly), body, func() ([]*Resource, error) {
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
		for _, code := range emptySections(body) {
			out = append(out, &Resource{Type: noInformationType, ID: code})
		}
		return out, nil
	})
	if err != nil {
		return nil, nil, err
	}
	// The marks come last: the resources are a prefix of the shared slice.
	n := len(all)
	for n > 0 && all[n-1].Type == noInformationType {
		n--
	}
	var empty []string
	for _, r := range all[n:] {
		empty = append(empty, r.ID)
	}
	return all[:n:n], empty, nil
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
	rs, _, err := s.summary(ctx, parsed.NHSNumber, l.UUID)
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
