package resources

import (
	"context"
	"net/url"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Operation is a FHIR operation invoked on one resource instance:
// GET [base]/[type]/[id]/$[name]. Its answer is a set of resources, returned
// to the client as a searchset Bundle (with an OperationOutcome entry for
// any issue).
// See: http://hl7.org/fhir/R4/operations.html
type Operation struct {
	// Name without the '$', e.g. "summary".
	Name string
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
	// it changes data. Parameters lists its in and out parameters; empty
	// means the instance operations' one out parameter, a Bundle.
	Type         bool
	AffectsState bool
	Parameters   []OperationParameter
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
// (and $everything, which means the same here).
func summaryDefinition(code string) OperationDefinition {
	return OperationDefinition{
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
}

// summaryOperations are $summary and $everything on Patient.
func (p *Patient) summaryOperations() []Operation {
	var ops []Operation
	for _, code := range []string{"summary", "everything"} {
		ops = append(ops, Operation{Name: code, Definition: summaryDefinition(code), Run: p.summary})
	}
	return ops
}

// Operations implements Operator.
func (p *Patient) Operations() []Operation { return p.summaryOperations() }

// UseSummarySources sets what $summary fans out to (done once, when every
// provider exists).
func (p *Patient) UseSummarySources(srcs []SummarySource) { p.summarySources = srcs }

// summary reads the patient and searches every source for the patient's
// resources, all at once. A patient that does not exist is an error; any
// other failing source leaves an error issue (incomplete) naming it.
func (p *Patient) summary(ctx context.Context, id string, _ url.Values) (*SearchResult, error) {
	if !nhsnumber.Valid(id) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Message: "the id must be a valid NHS number (10 digits with a correct check digit)"}
	}
	// Every source, the patient's own record included, is asked at once.
	var patientErr error
	sources := []Source{{Name: "Patient (PDS)", Search: func(ctx context.Context) (*SearchResult, error) {
		res, err := p.Read(ctx, id)
		if err != nil {
			patientErr = err
			return nil, err
		}
		return &SearchResult{Total: 1, Entries: []SearchEntry{{Resource: res, Mode: "match"}}}, nil
	}}}
	var withheld []string
	for _, s := range p.summarySources {
		if !allowedType(ctx, s.Type) {
			withheld = append(withheld, s.Type)
			continue
		}
		sources = append(sources, Source{Name: s.Type, Search: func(ctx context.Context) (*SearchResult, error) {
			return s.Searcher.Search(ctx, &Query{Params: url.Values{s.Param: {"Patient/" + id}}, Count: 1000})
		}})
	}
	res, err := FanOut(WithShare(ctx), sources)
	switch fhirerr.CategoryOf(patientErr) {
	case fhirerr.NotFound, fhirerr.Gone, fhirerr.Invalid:
		return nil, patientErr // there is no patient to summarise
	}
	if err == nil && len(withheld) > 0 {
		// A warning, as consent withheld is: the patient may have such
		// records, and an app must not show their absence as none.
		res.Issues = append(res.Issues, Issue{Severity: "warning", Code: "suppressed",
			Diagnostics: "not included, as your role or scopes do not allow them: " + strings.Join(withheld, ", ")})
	}
	return res, err
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
		o.byID[d.ID] = &Resource{Type: "OperationDefinition", ID: d.ID, Message: msg, RenderKey: "opdef/" + d.ID}
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

type allowedKey struct{}

// WithAllowedTypes returns ctx in which fan-out operations ask only the
// sources whose resource type allowed accepts (the caller's permissions).
func WithAllowedTypes(ctx context.Context, allowed func(resourceType string) bool) context.Context {
	return context.WithValue(ctx, allowedKey{}, allowed)
}

func allowedType(ctx context.Context, t string) bool {
	f, ok := ctx.Value(allowedKey{}).(func(string) bool)
	return !ok || f(t)
}
