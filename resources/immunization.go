package resources

import (
	"context"

	impb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"

	"github.com/carerecords/fhir-facade/backends/immunisation"
	immsmap "github.com/carerecords/fhir-facade/mappers/immunisation"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// ImmunisationClient is what the Immunization provider needs from the
// Immunisation History API.
type ImmunisationClient interface {
	// Search returns the API's searchset Bundle for q.
	Search(ctx context.Context, q immunisation.Query) ([]byte, error)
}

// Immunization serves a patient's vaccinations from the national
// Immunisation History API: search by patient, and read by the ids search
// returns (the API has no read; the id names the patient, so a read searches
// that patient's history).
type Immunization struct {
	client ImmunisationClient
	memo   *Memo
}

var (
	_ Reader   = (*Immunization)(nil)
	_ Searcher = (*Immunization)(nil)
	_ Includer = (*Immunization)(nil)
	_ Sorter   = (*Immunization)(nil)
)

// NewImmunization returns the provider over an Immunisation History client.
// memo may be nil (every answer is mapped afresh).
func NewImmunization(c ImmunisationClient, memo *Memo) *Immunization {
	return &Immunization{client: c, memo: memo}
}

// ResourceType implements Provider.
func (*Immunization) ResourceType() string { return "Immunization" }

// Profile implements Provider: the API's records are passed through, so the
// facade claims the base resource only.
func (*Immunization) Profile() string { return "" }

// Documentation implements Provider.
func (*Immunization) Documentation() string {
	return "Vaccinations from the national Immunisation History API: COVID-19 (England, Wales and the Isle of Man, the last four years); " +
		"FLU and HPV as those data stores are populated. Each record is passed through as the API sends it (vaccination procedure extension, " +
		"vaccine product coded in SNOMED CT/dm+d, dose number, date, site, route, dose, lot number, manufacturer, performing organisation), " +
		"with patient Patient/<NHS number>. The Patient the API includes (demographics as recorded at vaccination) is not served: " +
		"_include=Immunization:patient returns the patient from PDS. Search needs the patient. " +
		"Ids are <NHS number>-<the API's id>; the API has no read, so reading one searches that patient's history again. " +
		"An empty searchset means the national history holds no vaccination of the patient, not that they have had none."
}

// SearchParams implements Searcher.
func (*Immunization) SearchParams() []SearchParam {
	return []SearchParam{
		{Name: "patient", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/clinical-patient",
			Modifiers: PatientParamModifiers,
			Documentation: "Required. The patient, by NHS number: 9000000009, Patient/9000000009, or patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009; " +
				"passed to the API as patient.identifier.",
			Example: "9000000009"},
		{Name: "date", Type: TypeDate, Definition: "http://hl7.org/fhir/SearchParameter/clinical-date", Repeatable: true,
			Documentation: "occurrenceDateTime, with prefix eq, ge, gt, le or lt, of year, month or day precision; two values make a range. " +
				"Passed to the API as date.from/date.to (widened by a day, for the API's time zone) and applied by the facade to the day each vaccination was written with.",
			Example: "ge2020-12-01"},
		{Name: "target-disease", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/Immunization-target-disease",
			Documentation: "The API's data store: COVID19, FLU or HPV, or the SNOMED CT disease (http://snomed.info/sct|840539006 COVID-19, " +
				"|6142004 influenza, |240532009 human papillomavirus infection; a bare code is taken as either). " +
				"Passed to the API as immunization.target; several, comma-separated, search each store. The records themselves do not carry protocolApplied.targetDisease.",
			Example: "COVID19"},
	}
}

// Includes implements Includer: _include=Immunization:patient adds the
// patient from PDS (never the API's included Patient).
func (*Immunization) Includes() []Include {
	return []Include{{Param: "patient", Element: "patient", Target: "Patient"}}
}

// SortParams implements Sorter: the API's order is oldest first.
func (*Immunization) SortParams() map[string]string {
	return map[string]string{"date": "occurrenceDateTime"}
}

// SNOMED CT codes of the diseases the API's data stores target.
const (
	snomedSystem = "http://snomed.info/sct"
	// SNOMEDCOVID19 is "Disease caused by severe acute respiratory syndrome coronavirus 2 (disorder)".
	SNOMEDCOVID19 = "840539006"
	// SNOMEDInfluenza is "Influenza (disorder)".
	SNOMEDInfluenza = "6142004"
	// SNOMEDHPV is "Human papillomavirus infection (disorder)".
	SNOMEDHPV = "240532009"
)

// diseaseTargets maps the SNOMED CT diseases to the API's data stores. Only
// these exact concepts are mapped: a subtype (influenza A, say) would need a
// terminology server to be faithful, and is refused rather than guessed.
var diseaseTargets = map[string]immunisation.Target{
	SNOMEDCOVID19:   immunisation.COVID19,
	SNOMEDInfluenza: immunisation.FLU,
	SNOMEDHPV:       immunisation.HPV,
}

// parseTargets reads target-disease: OR-ed tokens, each an API data store
// or a SNOMED CT disease. The result has no duplicates, in the API's order.
func parseTargets(v string) ([]immunisation.Target, error) {
	bad := &fhirerr.Error{Category: fhirerr.Invalid, Expression: "target-disease",
		Message: "target-disease must be COVID19, FLU or HPV, or one of the SNOMED CT diseases " + snomedSystem + "|" + SNOMEDCOVID19 + " (COVID-19), |" +
			SNOMEDInfluenza + " (influenza) or |" + SNOMEDHPV + " (human papillomavirus infection)"}
	toks := ParseTokens(v)
	if len(toks) == 0 {
		return nil, bad
	}
	want := map[immunisation.Target]bool{}
	for _, t := range toks {
		var target immunisation.Target
		switch {
		case (!t.HasSystem || t.System == "") && immunisation.Target(t.Code).Valid():
			target = immunisation.Target(t.Code)
		case !t.HasSystem || t.System == snomedSystem:
			target = diseaseTargets[t.Code]
		}
		if target == "" {
			return nil, bad
		}
		want[target] = true
	}
	var out []immunisation.Target
	for _, t := range immunisation.Targets {
		if want[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// Search implements Searcher. Every parameter is checked before the API is
// called; one call is made per data store asked for (one in all without
// target-disease), and an impossible date range calls nothing.
func (p *Immunization) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	nhs, err := RequirePatient(q.Params, "patient")
	if err != nil {
		return nil, err
	}
	targets := []immunisation.Target{""}
	if v, ok := q.Params["target-disease"]; ok {
		if len(v) != 1 {
			return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "target-disease", Message: "give target-disease once (comma-separate several diseases)"}
		}
		if targets, err = parseTargets(v[0]); err != nil {
			return nil, err
		}
	}
	dates, hasDate := q.Params["date"]
	var dr DateRange
	if hasDate {
		if dr, err = ParseDateParams("date", dates); err != nil {
			return nil, err
		}
		if dr.Empty() {
			return &SearchResult{}, nil
		}
	}
	out := &SearchResult{}
	seen := map[string]bool{}
	for _, target := range targets {
		// The API's date filter is by day in a time zone it does not state:
		// ask a day wider on each side, and apply the exact range here.
		aq := immunisation.Query{NHSNumber: nhs, Target: target}
		if !dr.From.IsZero() {
			aq.From = dr.From.AddDate(0, 0, -1)
		}
		if !dr.To.IsZero() {
			aq.To = dr.To.AddDate(0, 0, 1)
		}
		rs, err := p.history(ctx, aq)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if seen[r.ID] {
				continue
			}
			if hasDate && !dateMatches(r.Message.(*impb.Immunization).GetOccurrence().GetDateTime(), dr) {
				continue
			}
			seen[r.ID] = true
			out.Entries = append(out.Entries, SearchEntry{Resource: r, Mode: "match"})
		}
	}
	out.Total = len(out.Entries)
	return out, nil
}

// history asks the API for q and maps the answer, through the memo.
func (p *Immunization) history(ctx context.Context, q immunisation.Query) ([]*Resource, error) {
	body, err := p.client.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	return p.memo.MapAll("imms/"+q.NHSNumber, body, func() ([]*Resource, error) {
		ims, err := immsmap.Map(body, q.NHSNumber)
		if err != nil {
			return nil, err
		}
		out := make([]*Resource, len(ims))
		for i, im := range ims {
			r := &Resource{Type: "Immunization", ID: im.GetId().GetValue(), Message: im}
			r.LastUpdated = metaLastUpdated(im.GetMeta())
			out[i] = r
		}
		return out, nil
	})
}

// Read implements Reader: the id names the patient, whose whole history is
// searched for it.
func (p *Immunization) Read(ctx context.Context, id string) (*Resource, error) {
	nhs, ok := immsmap.ParseID(id)
	if !ok {
		return nil, fhirerr.New(fhirerr.NotFound, "no Immunization with this id (ids are <NHS number>-<record id>, as search returns them)")
	}
	rs, err := p.history(ctx, immunisation.Query{NHSNumber: nhs})
	if fhirerr.CategoryOf(err) == fhirerr.Invalid {
		// The API does not accept the NHS number: it holds no such record.
		return nil, &fhirerr.Error{Category: fhirerr.NotFound, Message: "no Immunization with this id: the Immunisation History API does not know the patient", Err: err}
	}
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, fhirerr.New(fhirerr.NotFound, "no Immunization with this id in the patient's immunisation history")
}
