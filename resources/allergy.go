package resources

import (
	"context"

	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"

	scrmap "github.com/carerecords/fhir-facade/mappers/scr"
)

// AllergyIntolerance serves the allergies and adverse reactions of a
// patient's Summary Care Record: search by patient, and read by the ids
// search returns.
type AllergyIntolerance struct {
	scr scrRecords
}

var (
	_ Reader   = (*AllergyIntolerance)(nil)
	_ Searcher = (*AllergyIntolerance)(nil)
)

// NewAllergyIntolerance returns the provider over an SCR client. memo may be
// nil (every summary is mapped afresh).
func NewAllergyIntolerance(c SCRClient, memo *Memo) *AllergyIntolerance {
	return &AllergyIntolerance{scr: scrRecords{client: c, memo: memo}}
}

// ResourceType implements Provider.
func (*AllergyIntolerance) ResourceType() string { return "AllergyIntolerance" }

// Profile implements Provider: the base resource (the SCR gives text, not
// the coded substances UK Core expects).
func (*AllergyIntolerance) Profile() string { return "" }

// Documentation implements Provider.
func (*AllergyIntolerance) Documentation() string {
	return "Allergies and adverse reactions from the patient's latest Summary Care Record (SCR), read from its narrative table: " +
		"code.text only (the SCR carries no codes, and none is invented), recordedDate/onsetDateTime, verificationStatus from Certainty and " +
		"reaction.severity or criticality from Severity where recognisable, notes for everything else. " +
		"If the patient has withheld consent, the SCR is not read and the searchset holds only an OperationOutcome saying so; " +
		"a patient without an SCR gets an empty searchset with an OperationOutcome saying that. " +
		"Ids are <NHS number>-<SCR UUID>-a<row>; reading one re-reads the latest SCR, and an id of a replaced SCR is not found (search again)."
}

// SearchParams implements Searcher.
func (*AllergyIntolerance) SearchParams() []SearchParam {
	return []SearchParam{
		patientParam("AllergyIntolerance"),
		{Name: "clinical-status", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/AllergyIntolerance-clinical-status",
			Documentation: "active | inactive | resolved (system " + scrmap.AllergyClinicalSystem + "); the SCR lists current allergies, all active except those entered in error.",
			Example:       "active"},
		{Name: "date", Type: TypeDate, Definition: "http://hl7.org/fhir/SearchParameter/clinical-date", Repeatable: true,
			Documentation: "recordedDate, with prefix eq, ge, gt, le or lt, of year, month or day precision; two values make a range.",
			Example:       "ge2000-01-01"},
	}
}

// Search implements Searcher.
func (p *AllergyIntolerance) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	nhs, err := scrPatient(q.Params)
	if err != nil {
		return nil, err
	}
	var statuses []Token
	if v := q.Params.Get("clinical-status"); v != "" {
		statuses = ParseTokens(v)
	}
	dates, hasDate := q.Params["date"]
	var dr DateRange
	if hasDate {
		if dr, err = ParseDateParams("date", dates); err != nil {
			return nil, err
		}
	}
	sum, err := p.scr.fetch(ctx, nhs)
	if err != nil {
		return nil, err
	}
	out := &SearchResult{Issues: sum.issues}
	for _, r := range sum.resources {
		a, ok := r.Message.(*aipb.AllergyIntolerance)
		if !ok {
			continue
		}
		if statuses != nil && !clinicalStatusMatches(a, statuses) {
			continue
		}
		if hasDate && !dateMatches(a.GetRecordedDate(), dr) {
			continue
		}
		out.Entries = append(out.Entries, SearchEntry{Resource: r, Mode: "match"})
	}
	out.Total = len(out.Entries)
	return out, nil
}

func clinicalStatusMatches(a *aipb.AllergyIntolerance, ts []Token) bool {
	return codingsMatch(a.GetClinicalStatus().GetCoding(), ts)
}

// Read implements Reader.
func (p *AllergyIntolerance) Read(ctx context.Context, id string) (*Resource, error) {
	return p.scr.read(ctx, "AllergyIntolerance", id)
}

// Includes implements Includer: AllergyIntolerance:patient.
func (*AllergyIntolerance) Includes() []Include {
	return []Include{{Param: "patient", Element: "patient", Target: "Patient"}}
}
