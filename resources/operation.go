package resources

import (
	"context"
	"net/url"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/mappers/declared"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/model/request"
)

// Operation is a FHIR operation invoked on one resource instance:
// GET [base]/[type]/[id]/$[name]. Its answer is a set of resources, returned
// to the client as a searchset Bundle (with an OperationOutcome entry for
// any issue), or as a document when Document is set.
// See: http://hl7.org/fhir/R4/operations.html
type Operation struct {
	// Name without the '$', e.g. "summary".
	Name string
	// Document: the answer is a FHIR document Bundle (a Composition first,
	// one section per source, SearchResult.Parts saying how each answered)
	// rather than a searchset.
	// See: http://hl7.org/fhir/R4/documents.html
	Document bool
	// Definition describes the operation; it is served as
	// [base]/OperationDefinition/[Definition.ID] and named in the
	// CapabilityStatement.
	Definition OperationDefinition
	// Run performs the operation on the instance id.
	Run func(ctx context.Context, id string, params url.Values) (*SearchResult, error)
}

// OperationDefinition is the part of a FHIR OperationDefinition the facade
// publishes for its operations.
// See: http://hl7.org/fhir/R4/operationdefinition.html
type OperationDefinition struct {
	ID          string
	Name        string // computer-friendly, e.g. "PatientSummary"
	Title       string
	Description string
	// Resource is the type the operation is invoked on.
	Resource string
	// Code is the operation name without '$'.
	Code string
	// Type says the operation is invoked on the resource type (POST
	// [base]/[type]/$[code]) rather than on an instance; AffectsState that
	// it changes data. Parameters lists a type operation's in and out
	// parameters, and an instance operation's in-parameters (its one out
	// parameter, the Bundle, is always there).
	Type         bool
	AffectsState bool
	Parameters   []OperationParameter
	// ReturnDoc documents the one out parameter of an instance operation
	// (the Bundle it returns); empty says a searchset.
	ReturnDoc string
}

// OperationParameter is one parameter of an OperationDefinition.
type OperationParameter struct {
	Name          string
	Use           string // "in" or "out"
	Min           int
	Max           string // "1", "*"
	Type          string // FHIR type, e.g. "Identifier", "dateTime"
	Documentation string
}

// Operator is implemented by providers with instance operations.
type Operator interface {
	Operations() []Operation
}

// SummarySource is a searcher that can be asked for one patient's resources
// through a reference parameter (patient=Patient/<id>).
type SummarySource struct {
	Type     string
	Param    string
	Searcher Searcher
}

// SummarySources returns, from the providers, every searcher that accepts a
// "patient" reference parameter (other than Patient itself), in type order:
// what a one-call patient summary must fan out to.
func SummarySources(ps []Provider) []SummarySource {
	var out []SummarySource
	for _, p := range ps {
		sr, ok := p.(Searcher)
		if !ok || p.ResourceType() == "Patient" {
			continue
		}
		for _, sp := range sr.SearchParams() {
			if sp.Name == "patient" && sp.Type == TypeReference {
				out = append(out, SummarySource{Type: p.ResourceType(), Param: sp.Name, Searcher: sr})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// summaryDefinition is the OperationDefinition of Patient/[id]/$summary
// (an International Patient Summary-shaped document) and $everything (the
// same records as a searchset).
func summaryDefinition(code string) OperationDefinition {
	d := OperationDefinition{
		ID:    "Patient-" + code,
		Name:  "Patient" + strings.ToUpper(code[:1]) + code[1:],
		Title: "The national picture of one patient in one call",
		Description: "Returns the Patient (PDS) with every resource of the patient that the facade serves " +
			"(allergies, medications, flags, document pointers, immunisations …), each national backend called in parallel. " +
			"A backend that fails, times out or sends an empty, truncated or unreadable answer does not fail the operation: " +
			"an OperationOutcome entry (search.mode outcome) names the missing source with severity error and code incomplete. " +
			"Records withheld (the patient's consent, or the caller's role or scopes) are a warning with code suppressed. " +
			"Unknown patient: 404; invalidated: 410.",
		Resource: "Patient",
		Code:     code,
	}
	if code == "everything" {
		d.Parameters = []OperationParameter{{
			Name: "_count", Use: "in", Min: 0, Max: "1", Type: "integer",
			Documentation: "Page size: with it, the answer is paged like a search (self, first, previous, next and last links; " +
				"total counts every record), each page asking the sources again; without it, every record in one Bundle (up to 1,000).",
		}, {
			Name: "_offset", Use: "in", Min: 0, Max: "1", Type: "integer",
			Documentation: "Where a page starts, with _count: as the next and previous links give it.",
		}, {
			Name: "_type", Use: "in", Min: 0, Max: "*", Type: "string",
			Documentation: "One or more comma-separated resource types: only the patient's resources of those types are returned, " +
				"and only their sources are asked. The Patient is always returned. A type this operation does not return (the Patient " +
				"and each type searchable by patient in this CapabilityStatement) is refused (400). Without _type, every type.",
		}}
	}
	if code == "summary" {
		d.Title = "Patient summary document (International Patient Summary shape)"
		d.Description = "Returns a FHIR document: a Bundle of type document whose first entry is a Composition " +
			"(LOINC 60591-5 Patient summary Document; subject the Patient from PDS; author the facade, a Device), then the Patient, " +
			"then every resource a section references. The national backends are called in parallel; each feeds one section: " +
			"allergies (48765-2) and medications (10160-0) from the Summary Care Record, immunizations (11369-6), " +
			"alerts (104605-1: reasonable adjustments, CP-IS, FGM-IS, overseas visitor status) and documents held elsewhere " +
			"(55107-7, from the National Record Locator). A section whose source failed, timed out or answered unreadably carries " +
			"emptyReason unavailable; one withheld (the patient's consent, or the caller's role or scopes) withheld; one whose source " +
			"has nothing recorded nilknown; one with no source configured notasked; each says so in its narrative, so a missing " +
			"source never reads as none. A source read in part keeps its entries and says so. An OperationOutcome entry holds every " +
			"issue (error incomplete for a missing source). Unknown patient: 404; invalidated: 410. " +
			"$everything returns the same records as a searchset Bundle."
		d.ReturnDoc = "A document Bundle: the Composition (meta.profile " + declared.Composition + "; Composition is served only " +
			"inside this document, so the CapabilityStatement lists no Composition resource), the Patient, the resources its sections reference, " +
			"the facade's Device (the author) and an OperationOutcome for any source that failed or was read in part."
	}
	return d
}

// summaryOperations are $summary (a document) and $everything (a
// searchset) on Patient.
func (p *Patient) summaryOperations() []Operation {
	return []Operation{
		{Name: "summary", Document: true, Definition: summaryDefinition("summary"), Run: func(ctx context.Context, id string, _ url.Values) (*SearchResult, error) {
			return p.summary(ctx, id, nil)
		}},
		{Name: "everything", Definition: summaryDefinition("everything"), Run: func(ctx context.Context, id string, params url.Values) (*SearchResult, error) {
			only, err := everythingTypesOf(params, p.everythingTypes())
			if err != nil {
				return nil, err
			}
			return p.summary(ctx, id, only)
		}},
	}
}

// everythingTypes are the types $everything returns: the Patient and what
// its sources give (every type searchable by patient).
func (p *Patient) everythingTypes() []string {
	out := []string{"Patient"}
	for _, s := range p.summarySources {
		out = append(out, s.Type)
	}
	return out
}

// everythingTypesOf reads $everything's _type (repeatable, each value a
// comma-separated list): the types asked for, nil for every type.
// See: http://hl7.org/fhir/R4/operation-patient-everything.html
func everythingTypesOf(params url.Values, types []string) (map[string]bool, error) {
	vs, ok := params["_type"]
	if !ok {
		return nil, nil
	}
	only := map[string]bool{}
	for _, v := range vs {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if !slices.Contains(types, t) {
				shown := t
				if !fhirjson.ResourceTypeName(shown) {
					shown = "this value"
				}
				return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "_type",
					Message: "_type: " + shown + " is not a type $everything returns; it returns " + strings.Join(types, ", ")}
			}
			only[t] = true
		}
	}
	return only, nil
}

// SourcePart is what one source of a fan-out operation answered: its
// records are the result's entries of its Type.
type SourcePart struct {
	// Type is the resource type the source gives ("Patient" for PDS).
	Type string
	// Name is how the result's issues name the source.
	Name string
	// Err: the source failed, its records are missing.
	Err error
	// Withheld: not asked, as the caller's role or scopes do not allow the
	// type.
	Withheld bool
	// Issues are the source's own: a part it could not read, consent
	// withheld, information about what it holds.
	Issues []Issue
	// Count is how many records it gave.
	Count int
}

// Operations implements Operator.
func (p *Patient) Operations() []Operation { return p.summaryOperations() }

// UseSummarySources sets what $summary fans out to (done once, when every
// provider exists).
func (p *Patient) UseSummarySources(srcs []SummarySource) { p.summarySources = srcs }

// summary reads the patient and searches every source for the patient's
// resources, all at once. A patient that does not exist is an error; any
// other failing source leaves an error issue (incomplete) naming it.
//
// only, when not nil, names the types wanted: the other sources are not
// asked (the Patient always is).
func (p *Patient) summary(ctx context.Context, id string, only map[string]bool) (*SearchResult, error) {
	if !nhsnumber.Valid(id) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Message: "the id must be a valid NHS number (10 digits with a correct check digit)"}
	}
	// Every source, the patient's own record included, is asked at once;
	// each records what it answered (parts[i] is sources[i]'s), for an
	// answer that reports sources one by one (the $summary document).
	var patientErr error
	sources := []Source{{Name: "Patient (PDS)", Search: func(ctx context.Context) (*SearchResult, error) {
		res, err := p.Read(ctx, id)
		if err != nil {
			patientErr = err
			return nil, err
		}
		return &SearchResult{Total: 1, Entries: []SearchEntry{{Resource: res, Mode: "match"}}}, nil
	}}}
	types := []string{"Patient"}
	var withheld []string
	for _, s := range p.summarySources {
		if only != nil && !only[s.Type] {
			continue
		}
		if !request.From(ctx).AllowedType(s.Type) {
			withheld = append(withheld, s.Type)
			continue
		}
		types = append(types, s.Type)
		sources = append(sources, Source{Name: s.Type, Search: func(ctx context.Context) (*SearchResult, error) {
			return s.Searcher.Search(ctx, &Query{Params: url.Values{s.Param: {"Patient/" + id}}, Count: 1000})
		}})
	}
	parts := make([]SourcePart, len(sources))
	for i, src := range sources {
		parts[i] = SourcePart{Type: types[i], Name: src.Name}
		sources[i].Search = func(ctx context.Context) (*SearchResult, error) {
			r, err := src.Search(ctx)
			parts[i].Err = err
			if r != nil {
				parts[i].Issues, parts[i].Count = r.Issues, len(r.Entries)
			}
			return r, err
		}
	}
	res, err := FanOut(WithShare(ctx), sources)
	switch fhirerr.CategoryOf(patientErr) {
	case fhirerr.NotFound, fhirerr.Gone, fhirerr.Invalid:
		return nil, patientErr // there is no patient to summarise
	}
	if err != nil {
		return nil, err
	}
	for _, t := range withheld {
		parts = append(parts, SourcePart{Type: t, Name: t, Withheld: true})
	}
	res.Parts = parts
	if len(withheld) > 0 {
		// A warning, as consent withheld is: the patient may have such
		// records, and an app must not show their absence as none.
		res.Issues = append(res.Issues, Issue{Severity: "warning", Code: "suppressed",
			Diagnostics: "not included, as your role or scopes do not allow them: " + strings.Join(withheld, ", ")})
	}
	return res, nil
}

// OperationDefinitions serves the definitions of every provider's
// operations as OperationDefinition resources.
type OperationDefinitions struct {
	byID map[string]*Resource
}

var _ Reader = (*OperationDefinitions)(nil)

// NewOperationDefinitions collects the operations of ps. build turns a
// definition into the resource proto (the caller renders it with
// jsonformat's unmarshaller, which resources do not depend on).
func NewOperationDefinitions(build func(OperationDefinition) (proto.Message, error), ps ...Provider) (*OperationDefinitions, error) {
	// Every provider's instance operations, then every provider's type
	// operations: the order the definitions are built (and fail) in.
	var defs []OperationDefinition
	for _, p := range ps {
		if op, ok := p.(Operator); ok {
			for _, x := range op.Operations() {
				defs = append(defs, x.Definition)
			}
		}
	}
	for _, p := range ps {
		if op, ok := p.(TypeOperator); ok {
			for _, x := range op.TypeOperations() {
				defs = append(defs, x.Definition)
			}
		}
	}
	o := &OperationDefinitions{byID: map[string]*Resource{}}
	for _, d := range defs {
		msg, err := build(d)
		if err != nil {
			return nil, err
		}
		o.byID[d.ID] = &Resource{Type: "OperationDefinition", ID: d.ID, Message: msg, RenderKey: "opdef/" + d.ID, Rendering: new(Rendering)}
	}
	return o, nil
}

// ResourceType implements Provider.
func (*OperationDefinitions) ResourceType() string { return "OperationDefinition" }

// Profile implements Provider.
func (*OperationDefinitions) Profile() string { return "" }

// Documentation implements Provider.
func (*OperationDefinitions) Documentation() string {
	return "The definitions of the operations this server supports (see rest.resource.operation)."
}

// Read implements Reader.
func (o *OperationDefinitions) Read(_ context.Context, id string) (*Resource, error) {
	if r, ok := o.byID[id]; ok {
		return r, nil
	}
	return nil, fhirerr.New(fhirerr.NotFound, "no such OperationDefinition")
}
