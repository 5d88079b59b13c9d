package resources

import (
	"context"
	"errors"
	"sync"
	"time"

	impb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"
	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/backends/immunisation"
	immsmap "github.com/carerecords/fhir-facade/mappers/immunisation"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/tracing"
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
//
// The API answers one data store (COVID19, FLU, HPV) per call and refuses a
// call without one (see backends/immunisation), so the whole history is one
// call per store, made concurrently. A store that fails, or whose answer
// cannot be read completely (an unreadable entry, a short count), is named
// in an OperationOutcome issue of the search (severity error, code
// incomplete: "the immunisation record's FLU history could not be read
// completely: …"), beside what the other stores and the readable entries
// hold: never a silent gap, never one bad entry hiding the rest. Only when
// every store asked fails does the search fail.
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
		"with patient Patient/<NHS number>; a vaccination not given is status not-done with its reason. " +
		"The Patient the API includes (demographics as recorded at vaccination) is not served: " +
		"_include=Immunization:patient returns the patient from PDS. Search needs the patient; the API is asked one data store at a time " +
		"(every store unless target-disease says which), and a store that failed or could not be read completely is named in an " +
		"OperationOutcome entry (severity error, code incomplete) beside the records of the others. " +
		"Ids are <NHS number>-<the API's id> (a record without one is named by a digest of its content); the API has no read, " +
		"so reading one searches that patient's history again. " +
		"An empty searchset without such an issue means the national history holds no vaccination of the patient, not that they have had none."
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
				"Passed to the API as immunization.target; several, comma-separated, search each store; without it every store is searched " +
				"(the API answers one store per call). The records themselves do not carry protocolApplied.targetDisease.",
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
// called; one call is made per data store asked for (every store without
// target-disease), all at once, and an impossible date range calls nothing.
func (p *Immunization) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	nhs, err := RequirePatient(q.Params, "patient")
	if err != nil {
		return nil, err
	}
	targets := immunisation.Targets
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
	// The API's date filter is by day in a time zone it does not state (the
	// public sandbox compares with midnight UTC): ask a day wider on each
	// side, and apply the exact range here.
	var from, to time.Time
	if !dr.From.IsZero() {
		from = dr.From.AddDate(0, 0, -1)
	}
	if !dr.To.IsZero() {
		to = dr.To.AddDate(0, 0, 1)
	}
	out := &SearchResult{}
	seen := map[string]*Resource{}
	var failures []error
	for _, a := range p.stores(ctx, nhs, targets, from, to) {
		if a.err != nil {
			failures = append(failures, a.err)
			out.Issues = append(out.Issues, incomplete(a.target, fhirerr.UserMessage(a.err)))
			continue
		}
		switch {
		case a.problems != "" && len(a.res) == 0:
			// Nothing of the store was read: it failed as much as one
			// that did not answer.
			failures = append(failures, a.failure())
			out.Issues = append(out.Issues, incomplete(a.target, a.problems))
			continue
		case a.problems != "":
			out.Issues = append(out.Issues, incomplete(a.target, a.problems+" (the records that could be read are shown)"))
		}
		for _, r := range a.res {
			if prev, dup := seen[r.ID]; dup {
				// The same record from two stores is shown once; two
				// records under one id would hide one: say so.
				if !proto.Equal(prev.Message, r.Message) {
					out.Issues = append(out.Issues, incomplete(a.target, "a record has the id of another record of the immunisation record, and is not shown"))
				}
				continue
			}
			if hasDate && !dateMatches(r.Message.(*impb.Immunization).GetOccurrence().GetDateTime(), dr) {
				continue
			}
			seen[r.ID] = r
			out.Entries = append(out.Entries, SearchEntry{Resource: r, Mode: "match"})
		}
	}
	if len(failures) == len(targets) {
		return nil, firstFailure(failures)
	}
	out.Total = len(out.Entries)
	return out, nil
}

// incomplete is the issue naming a data store that failed or could not be
// read completely (the convention of every source: error, incomplete).
func incomplete(target immunisation.Target, why string) Issue {
	return Issue{Severity: "error", Code: "incomplete",
		Diagnostics: "the immunisation record's " + string(target) + " history could not be read completely: " + why}
}

// firstFailure is the error a search or read fails with when every store
// failed: a timeout if there is one (the more useful answer, 504), else the
// first store's.
func firstFailure(errs []error) error {
	for _, err := range errs {
		if fhirerr.CategoryOf(err) == fhirerr.Timeout {
			return err
		}
	}
	return errs[0]
}

// storeAnswer is what one data store gave: its records and, when its answer
// could not be read completely, what is missing (problems); or the error it
// failed with.
type storeAnswer struct {
	target   immunisation.Target
	res      []*Resource
	problems string
	err      error
}

// failure is the error of a store that failed or could not be read
// completely, as a client may be told it.
func (a storeAnswer) failure() error {
	if a.err != nil {
		return a.err
	}
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: immunisation.Name, Message: incomplete(a.target, a.problems).Diagnostics}
}

// stores asks every target for nhs's vaccinations from from to to (zero
// times leave an end open), concurrently, and returns their answers in
// the order of targets.
func (p *Immunization) stores(ctx context.Context, nhs string, targets []immunisation.Target, from, to time.Time) []storeAnswer {
	out := make([]storeAnswer, len(targets))
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, span := tracing.Start(ctx, "imms store "+string(target), attribute.String("fanout.source", string(target)))
			res, problems, err := p.history(sctx, immunisation.Query{NHSNumber: nhs, Target: target, From: from, To: to})
			endSpan(span, err)
			out[i] = storeAnswer{target: target, res: res, problems: problems, err: err}
		}()
	}
	wg.Wait()
	return out
}

// partial carries, out of the memo's mapping function, an answer that
// could not be read completely: the memo keeps resources only, and a hit
// must never lose what was missing, so such an answer is never memoised.
type partial struct {
	res      []*Resource
	problems string
}

func (*partial) Error() string { return "an immunisation history read in part" }

// history asks the API for q and maps the answer, through the memo: the
// records, and what of the answer could not be read ("" when nothing).
func (p *Immunization) history(ctx context.Context, q immunisation.Query) ([]*Resource, string, error) {
	body, err := p.client.Search(ctx, q)
	if err != nil {
		return nil, "", err
	}
	rs, err := p.memo.MapAll("imms/"+q.NHSNumber, body, func() ([]*Resource, error) {
		h, err := immsmap.Map(body, q.NHSNumber)
		if err != nil {
			return nil, err
		}
		out := make([]*Resource, len(h.Immunizations))
		for i, im := range h.Immunizations {
			r := &Resource{Type: "Immunization", ID: im.GetId().GetValue(), Message: im}
			r.LastUpdated = metaLastUpdated(im.GetMeta())
			out[i] = r
		}
		if !h.Complete() {
			return nil, &partial{res: out, problems: h.Problems()}
		}
		return out, nil
	})
	var part *partial
	if errors.As(err, &part) {
		return part.res, part.problems, nil
	}
	return rs, "", err
}

// Read implements Reader: the id names the patient, whose whole history
// (every store) is searched for it. A record that is not found where a
// store failed or could not be read completely may be in what is missing:
// that is an error, never "not found".
func (p *Immunization) Read(ctx context.Context, id string) (*Resource, error) {
	nhs, ok := immsmap.ParseID(id)
	if !ok {
		return nil, fhirerr.New(fhirerr.NotFound, "no Immunization with this id (ids are <NHS number>-<record id>, as search returns them)")
	}
	answers := p.stores(ctx, nhs, immunisation.Targets, time.Time{}, time.Time{})
	var missing []storeAnswer
	refused := 0
	for _, a := range answers {
		for _, r := range a.res {
			if r.ID == id {
				return r, nil
			}
		}
		if a.err != nil || a.problems != "" {
			missing = append(missing, a)
		}
		if fhirerr.CategoryOf(a.err) == fhirerr.Invalid {
			refused++
		}
	}
	switch {
	case len(missing) == 0:
		return nil, fhirerr.New(fhirerr.NotFound, "no Immunization with this id in the patient's immunisation history")
	case refused == len(answers):
		// The API does not accept the NHS number: it holds no such record.
		return nil, &fhirerr.Error{Category: fhirerr.NotFound, Message: "no Immunization with this id: the Immunisation History API does not know the patient", Err: missing[0].err}
	}
	// Report the timeout if a store timed out, else the first store missing.
	m := missing[0]
	for _, a := range missing {
		if fhirerr.CategoryOf(a.err) == fhirerr.Timeout {
			m = a
			break
		}
	}
	cause := m.failure()
	e := &fhirerr.Error{Category: fhirerr.BadGateway, Backend: immunisation.Name, Err: cause,
		Message: "the Immunization could not be looked up: " + incomplete(m.target, fhirerr.UserMessage(cause)).Diagnostics}
	if m.err == nil {
		e.Message = "the Immunization could not be looked up: " + incomplete(m.target, m.problems).Diagnostics
	}
	if u := fhirerr.As(m.err); u != nil && (u.Category == fhirerr.Timeout || u.Category == fhirerr.Throttled) {
		e.Category, e.RetryAfter = u.Category, u.RetryAfter
	}
	return nil, e
}
