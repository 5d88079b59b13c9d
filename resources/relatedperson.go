package resources

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/backends/pds"
	"github.com/carerecords/fhir-facade/mappers/declared"
	pdsmap "github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// PDSRelatedClient is what the RelatedPerson provider needs from PDS.
type PDSRelatedClient interface {
	RelatedPeople(ctx context.Context, nhs string) ([]byte, error)
}

// RestrictedFunc reports whether PDS restricts the record of nhs
// (Patient.Restricted).
type RestrictedFunc func(ctx context.Context, nhs string) (bool, error)

// RelatedPerson serves a patient's related people (next of kin, guardians,
// carers…) from PDS: search by patient, and read by the ids search returns.
type RelatedPerson struct {
	pds        PDSRelatedClient
	memo       *Memo
	restricted RestrictedFunc
}

var (
	_ Reader        = (*RelatedPerson)(nil)
	_ Searcher      = (*RelatedPerson)(nil)
	_ Compartmented = (*RelatedPerson)(nil)
	_ Includer      = (*RelatedPerson)(nil)
)

// NewRelatedPerson returns the provider over a PDS client. memo may be nil
// (every answer is mapped afresh). restricted tells whether a patient is
// restricted (the Patient provider's Restricted); nil: never asked.
func NewRelatedPerson(c PDSRelatedClient, memo *Memo, restricted RestrictedFunc) *RelatedPerson {
	return &RelatedPerson{pds: c, memo: memo, restricted: restricted}
}

// ResourceType implements Provider.
func (*RelatedPerson) ResourceType() string { return "RelatedPerson" }

// Profile implements Provider: UK Core RelatedPerson, which every related
// person the mapper makes declares (PDS's own extensions are passed on
// under NHS England's URLs, which UK Core's open slicing allows).
func (*RelatedPerson) Profile() string {
	p, _ := declared.Profile("RelatedPerson")
	return p
}

// Documentation implements Provider.
func (*RelatedPerson) Documentation() string {
	return "The patient's related people (next of kin, guardians, carers, proxies) from the Personal Demographics Service (PDS), " +
		"GET /Patient/{NHS number}/RelatedPerson. Also served as Patient/{NHS number}/RelatedPerson. " +
		"Ids are <NHS number>-<PDS id>; reading one searches PDS again. " +
		"A related person who is a PDS patient themself carries their NHS number as identifier (the name and address are then in their own Patient). " +
		"Each relationship coding (role, type, next of kin) is a relationship concept of its own. " +
		"PDS returns no related people for a restricted patient; any it did return would be withheld (an issue with code suppressed says so). " +
		"An entry PDS sends that cannot be read is left out, and an OperationOutcome issue (error, incomplete) says so."
}

// SearchParams implements Searcher.
func (*RelatedPerson) SearchParams() []SearchParam {
	return []SearchParam{
		{Name: "patient", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/RelatedPerson-patient",
			Modifiers: PatientParamModifiers,
			Documentation: "Required. The patient, by NHS number: 9000000009, Patient/9000000009, or patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009. " +
				"A superseded NHS number answers with the current patient's related people, and a warning naming both.",
			Example: "9000000009"},
		{Name: "_id", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/Resource-id",
			Documentation: "With patient: only the related people with these ids (comma-separated), as search returns them (<NHS number>-<PDS id>).",
			Example:       "9000000009-507B7621"},
	}
}

// Search implements Searcher.
func (p *RelatedPerson) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	nhs, err := RequirePatient(q.Params, "patient")
	if err != nil {
		return nil, err
	}
	var ids map[string]bool
	if v := q.Params.Get("_id"); v != "" {
		ids = map[string]bool{}
		for _, id := range strings.Split(v, ",") {
			ids[strings.TrimSpace(id)] = true
		}
	}
	people, err := p.people(ctx, nhs)
	if err != nil {
		return nil, err
	}
	out := &SearchResult{Issues: people.issues}
	for _, r := range people.res {
		if ids != nil && !ids[r.ID] {
			continue
		}
		out.Entries = append(out.Entries, SearchEntry{Resource: r, Mode: "match"})
	}
	out.Total = len(out.Entries)
	return out, nil
}

// Read implements Reader: the id names the patient, whose related people
// are searched for it.
func (p *RelatedPerson) Read(ctx context.Context, id string) (*Resource, error) {
	nhs, _, ok := pdsmap.ParseRelatedPersonID(id)
	if !ok {
		return nil, fhirerr.New(fhirerr.NotFound, "no RelatedPerson with this id (ids are <NHS number>-<PDS id>, as search returns them)")
	}
	people, err := p.people(ctx, nhs)
	if err != nil {
		return nil, err
	}
	for _, r := range people.res {
		if r.ID == id {
			return r, nil
		}
	}
	if people.partial != "" {
		// It may be the entry PDS sent that could not be read.
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: pds.Name,
			Message: "the patient's related people could not all be read from PDS, so this one may exist: " + people.partial}
	}
	return nil, fhirerr.New(fhirerr.NotFound, "no RelatedPerson with this id among the patient's related people")
}

// PatientOfID implements Compartmented: the id starts with the patient's
// NHS number.
func (*RelatedPerson) PatientOfID(id string) (string, bool) {
	nhs, _, ok := pdsmap.ParseRelatedPersonID(id)
	return nhs, ok
}

// PatientsOf implements Compartmented: related people are not written.
func (*RelatedPerson) PatientsOf(proto.Message) []string { return nil }

// Includes implements Includer: RelatedPerson:patient.
func (*RelatedPerson) Includes() []Include {
	return []Include{{Param: "patient", Element: "patient", Target: "Patient"}}
}

// relatedAnswer is a patient's related people as the facade serves them:
// the resources, the issues to tell the client, and (partial) what of
// PDS's answer could not be read.
type relatedAnswer struct {
	res     []*Resource
	issues  []Issue
	partial string
}

// partialRelated carries, out of the memo's mapping function, an answer
// that could not be read completely: the memo keeps resources only, and a
// hit must never lose what was missing, so such an answer is never
// memoised.
type partialRelated struct {
	res      []*Resource
	problems string
}

func (*partialRelated) Error() string { return "related people read in part" }

// people asks PDS for nhs's related people and maps them, through the memo;
// a restricted patient's are withheld.
func (p *RelatedPerson) people(ctx context.Context, nhs string) (*relatedAnswer, error) {
	body, err := p.pds.RelatedPeople(ctx, nhs)
	if err != nil {
		return nil, err
	}
	rs, err := p.memo.MapAll("pds-related/"+nhs, body, func() ([]*Resource, error) {
		got, err := pdsmap.RelatedPeopleOf(body, nhs)
		if err != nil {
			return nil, err
		}
		out := make([]*Resource, len(got.People))
		for i, rp := range got.People {
			out[i] = &Resource{Type: "RelatedPerson", ID: rp.GetId().GetValue(), Message: rp}
		}
		if !got.Complete() {
			return nil, &partialRelated{res: out, problems: strings.Join(got.Problems, "; ")}
		}
		return out, nil
	})
	ans := &relatedAnswer{res: rs}
	var part *partialRelated
	if errors.As(err, &part) {
		ans.res, ans.partial = part.res, part.problems
		ans.issues = append(ans.issues, Issue{Severity: "error", Code: "incomplete",
			Diagnostics: "RelatedPerson could not be read completely from PDS (the related people that could be read are shown): " + part.problems})
	} else if err != nil {
		return nil, err
	}
	if len(ans.res) > 0 && p.restricted != nil {
		// PDS returns no related people for a restricted patient: any it
		// did return are withheld, since they could locate the patient. A
		// status that cannot be learned is left to the server, which
		// redacts every resource of such a patient.
		if r, err := p.restricted(ctx, nhs); err == nil && r {
			ans.res, ans.partial = nil, ""
			ans.issues = []Issue{{Severity: "information", Code: "suppressed",
				Diagnostics: "the patient's record is restricted: their related people are not shown"}}
		}
	}
	return ans, nil
}
