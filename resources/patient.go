package resources

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	patientpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/carerecords/fhir-facade/backends/pds"
	"github.com/carerecords/fhir-facade/mappers/declared"
	pdsmap "github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// PDSClient is what the Patient provider needs from PDS.
type PDSClient interface {
	Read(ctx context.Context, nhs string) (*pds.Patient, error)
	Search(ctx context.Context, params url.Values) (*pds.SearchResult, error)
}

// Patient serves Patient from PDS: read by NHS number and search.
type Patient struct {
	pds            PDSClient
	memo           *Memo
	summarySources []SummarySource
	bna            BNAClient // births ($notify-birth); nil: not offered
}

var (
	_ Reader   = (*Patient)(nil)
	_ Searcher = (*Patient)(nil)
)

// NewPatient returns the Patient provider over a PDS client. memo may be nil
// (every payload is mapped afresh).
func NewPatient(c PDSClient, memo *Memo) *Patient { return &Patient{pds: c, memo: memo} }

// ResourceType implements Provider.
func (*Patient) ResourceType() string { return "Patient" }

// Versioned implements Versioned: PDS versions every record.
func (*Patient) Versioned() bool { return true }

// Profile implements Provider: the UK Core profile every Patient the
// mapper makes declares.
func (*Patient) Profile() string {
	p, _ := declared.Profile("Patient")
	return p
}

// Documentation implements Provider.
func (*Patient) Documentation() string {
	return "Demographics from the Personal Demographics Service (PDS). The id is the NHS number. " +
		"Restricted (sensitive) patients are returned without address, telecom, contact or GP. " +
		"A superseded NHS number returns the superseding patient with a Patient.link of type 'replaces'."
}

// pdsMaxResults is the most PDS returns for one search.
const pdsMaxResults = 50

// SearchParams implements Searcher. Names and semantics follow PDS, which
// the facade passes them to.
func (*Patient) SearchParams() []SearchParam {
	return []SearchParam{
		{Name: "_id", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/Resource-id",
			Documentation: "The NHS number as the logical id (the same as identifier); cannot be combined with other parameters.",
			Example:       "9000000009"},
		{Name: "identifier", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/Patient-identifier",
			Documentation: "NHS number, as https://fhir.nhs.uk/Id/nhs-number|9000000009 or the bare number; cannot be combined with other parameters.",
			Example:       "https://fhir.nhs.uk/Id/nhs-number|9000000009"},
		{Name: "family", Type: TypeString, Definition: "http://hl7.org/fhir/SearchParameter/individual-family",
			Modifiers:     []string{"exact"},
			Documentation: "Surname as PDS matches it: whole name, case-insensitive, '*' wildcard allowed after the first two characters (not with fuzzy matching). family:exact matches the name exactly, case included (no wildcard).",
			Example:       "Smith"},
		{Name: "given", Type: TypeString, Definition: "http://hl7.org/fhir/SearchParameter/individual-given", Repeatable: true, Modifiers: []string{"exact"},
			Documentation: "Given name; repeat for each given name in order. given:exact matches exactly, case included (no wildcard).", Example: "Jane"},
		{Name: "gender", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/individual-gender",
			Documentation: "male | female | other | unknown.", Example: "female"},
		{Name: "birthdate", Type: TypeDate, Definition: "http://hl7.org/fhir/SearchParameter/individual-birthdate", Repeatable: true,
			Documentation: "Date of birth with prefix eq, ge, gt, le or lt, of year, month or day precision; two values make a range.",
			Example:       "eq2010-10-22"},
		{Name: "death-date", Type: TypeDate, Definition: "http://hl7.org/fhir/SearchParameter/Patient-death-date", Repeatable: true,
			Documentation: "Date of death, as birthdate.", Example: "eq2010-10-22"},
		{Name: "address-postalcode", Type: TypeString, Definition: "http://hl7.org/fhir/SearchParameter/individual-address-postalcode",
			Documentation: "Any known postcode; spaces ignored; '*' wildcard allowed.", Example: "LS1 6AE"},
		{Name: "general-practitioner", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/Patient-general-practitioner",
			Modifiers:     []string{"identifier"},
			Documentation: "ODS code of the registered GP practice: Y12345, Organization/Y12345, or with :identifier https://fhir.nhs.uk/Id/ods-organization-code|Y12345.",
			Example:       "Y12345"},
		{Name: "email", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/individual-email",
			Documentation: "Email address, exact match; cannot be the only parameter.", Example: "jane.smith@example.com"},
		{Name: "phone", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/individual-phone",
			Documentation: "Phone number, exact match; cannot be the only parameter.", Example: "01632960587"},
		{Name: "_fuzzy-match", Type: TypeToken,
			Documentation: "PDS fuzzy (phonetic) matching: true | false.", Example: "false"},
		{Name: "_exact-match", Type: TypeToken,
			Documentation: "PDS exact matching (only score 1.0 results): true | false.", Example: "false"},
		{Name: "_history", Type: TypeToken,
			Documentation: "Also match previous names and addresses: true | false.", Example: "false"},
		{Name: "_max-results", Type: TypeNumber,
			Documentation: "Most matches PDS may return, 1–50 (default 50); more matches give an empty searchset with a 'multiple-matches' issue.",
			Example:       "50"},
	}
}

// SortParams implements Sorter: PDS orders by score; clients may reorder.
func (*Patient) SortParams() map[string]string {
	return map[string]string{"birthdate": "birthDate", "death-date": "deceasedDateTime", "gender": "gender"}
}

// Read implements Reader.
func (p *Patient) Read(ctx context.Context, id string) (*Resource, error) {
	if !nhsnumber.Valid(id) {
		return nil, errInvalidPatientID()
	}
	got, err := p.pds.Read(ctx, id)
	if err != nil {
		return nil, err
	}
	return p.toResource(got.Body, got.Version, id)
}

// errInvalidPatientID refuses a Patient id that is not a valid NHS number,
// with the Spine code PDS answers it with (INVALID_RESOURCE_ID).
func errInvalidPatientID() error {
	return &fhirerr.Error{Category: fhirerr.Invalid, Spine: fhirerr.Spine("INVALID_RESOURCE_ID"),
		Message: "the id must be a valid NHS number (10 digits with a correct check digit)"}
}

// invalidSearchValue is the refusal of a search parameter's value that PDS
// would refuse too: PDS answers INVALID_VALUE.
func invalidSearchValue(param, msg string) error {
	return &fhirerr.Error{Category: fhirerr.Invalid, Expression: param, Message: msg, Spine: fhirerr.Spine("INVALID_VALUE")}
}

// toResource maps one PDS Patient payload, through the memo. When PDS
// answered with another NHS number than asked for (a superseded record), the
// facade says so with a link of type "replaces" to the requested number.
func (p *Patient) toResource(body []byte, etagVersion, requested string) (*Resource, error) {
	return p.memo.Map("pds-patient/"+requested+"/"+etagVersion, body, func() (*Resource, error) {
		return mapPatient(body, etagVersion, requested)
	})
}

func mapPatient(body []byte, etagVersion, requested string) (*Resource, error) {
	decoded, err := pdsmap.Decode(body)
	if err != nil {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: pds.Name, Message: "the pds service sent a Patient the facade could not read", Err: err}
	}
	pt, err := pdsmap.Patient(decoded)
	if err != nil {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: pds.Name, Message: "the pds service sent a Patient the facade could not map", Err: err}
	}
	id := pt.GetId().GetValue()
	if id == "" {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: pds.Name, Message: "the pds service sent a Patient without an id"}
	}
	version := pt.GetMeta().GetVersionId().GetValue()
	if version == "" {
		version = etagVersion
	}
	if requested != "" && id != requested {
		pt.Link = append(pt.Link, &patientpb.Patient_Link{
			Other: &dtpb.Reference{Identifier: &dtpb.Identifier{
				System: &dtpb.Uri{Value: nhsnumber.System},
				Value:  &dtpb.String{Value: requested},
			}},
			Type: &patientpb.Patient_Link_TypeCode{Value: codes_go_proto.LinkTypeCode_REPLACES},
		})
	}
	return &Resource{Type: "Patient", ID: id, VersionID: version, Message: pt}, nil
}

// Search implements Searcher: it validates and translates the FHIR
// parameters into PDS's, so a bad request never reaches PDS.
func (p *Patient) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	if ids, ok := q.Params["identifier"]; ok {
		return p.searchByIdentifier(ctx, "identifier", ids[0], q)
	}
	if ids, ok := q.Params["_id"]; ok {
		return p.searchByIdentifier(ctx, "_id", nhsnumber.System+"|"+ids[0], q)
	}
	params, empty, err := pdsSearchParams(q.Params)
	if err != nil {
		return nil, err
	}
	if empty {
		return &SearchResult{}, nil
	}
	got, err := p.pds.Search(ctx, params)
	if err != nil {
		return nil, err
	}
	exact := exactNames(q.Params)
	if got.TooManyMatches {
		return &SearchResult{Issues: []Issue{{
			Severity: "information", Code: "multiple-matches",
			Diagnostics:   "PDS found more matches than _max-results allows; refine the search (more parameters) or raise _max-results (at most 50)",
			DetailsSystem: pds.ErrorSystem, DetailsCode: "TOO_MANY_MATCHES", DetailsDisplay: "Too Many Matches",
		}}}, nil
	}
	out := &SearchResult{Total: len(got.Matches), Entries: make([]SearchEntry, 0, len(got.Matches))}
	for _, m := range got.Matches {
		res, err := p.toResource(m.Body, "", "")
		if err != nil {
			return nil, err
		}
		if !exact.match(res) {
			continue
		}
		out.Entries = append(out.Entries, SearchEntry{Resource: res, Mode: "match", Score: m.Score})
	}
	out.Total = len(out.Entries)
	return out, nil
}

func (p *Patient) searchByIdentifier(ctx context.Context, param, token string, q *Query) (*SearchResult, error) {
	for k := range q.Params {
		if k != param {
			return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: param,
				Message: param + " cannot be combined with other search parameters: an NHS number identifies one patient"}
		}
	}
	system, value, hasSystem := strings.Cut(token, "|")
	if !hasSystem {
		value, system = system, ""
	}
	if hasSystem && system != nhsnumber.System {
		// Only NHS numbers identify patients in PDS: no match, not an error.
		return &SearchResult{Issues: []Issue{{Severity: "information", Code: "not-found", Expression: param,
			Diagnostics: "only the identifier system " + nhsnumber.System + " is searchable"}}}, nil
	}
	if !nhsnumber.Valid(value) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: param,
			Message: param + " must be a valid NHS number (10 digits with a correct check digit)"}
	}
	got, err := p.pds.Read(ctx, value)
	switch fhirerr.CategoryOf(err) {
	case fhirerr.NotFound, fhirerr.Gone:
		return &SearchResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	res, err := p.toResource(got.Body, got.Version, value)
	if err != nil {
		return nil, err
	}
	return &SearchResult{Total: 1, Entries: []SearchEntry{{Resource: res, Mode: "match"}}}, nil
}

// pdsSearchParams translates FHIR search parameters into PDS's query. empty
// is set when the parameters cannot match anything (a contradictory date
// range), so no backend call is needed.
func pdsSearchParams(in url.Values) (out url.Values, empty bool, err error) {
	out = url.Values{}
	for k, vs := range in {
		switch k {
		case "family", "address-postalcode", "email", "phone":
			out.Set(k, vs[0])
		case "family:exact", "given:exact":
			for _, v := range vs {
				if strings.Contains(v, "*") {
					return nil, false, &fhirerr.Error{Category: fhirerr.Invalid, Expression: k, Message: k + " takes a whole name, without '*'"}
				}
			}
			out[strings.TrimSuffix(k, ":exact")] = vs
		case "given":
			out[k] = vs
		case "gender":
			switch vs[0] {
			case "male", "female", "other", "unknown":
				out.Set(k, vs[0])
			default:
				return nil, false, invalidSearchValue(k, "gender must be male, female, other or unknown")
			}
		case "birthdate", "death-date":
			r, err := ParseDateParams(k, vs)
			if err != nil {
				// PDS takes (eq|ge|le)YYYY-MM-DD and answers anything
				// else INVALID_VALUE.
				if e := fhirerr.As(err); e != nil && e.Spine == nil {
					e.Spine = fhirerr.Spine("INVALID_VALUE")
				}
				return nil, false, err
			}
			if r.Empty() {
				return nil, true, nil
			}
			switch {
			case !r.From.IsZero() && r.From.Equal(r.To):
				out.Set(k, "eq"+r.From.Format("2006-01-02"))
			default:
				if !r.From.IsZero() {
					out.Add(k, "ge"+r.From.Format("2006-01-02"))
				}
				if !r.To.IsZero() {
					out.Add(k, "le"+r.To.Format("2006-01-02"))
				}
			}
		case "general-practitioner":
			out.Set(k, strings.TrimPrefix(vs[0], "Organization/"))
		case "general-practitioner:identifier":
			system, code, ok := strings.Cut(vs[0], "|")
			if ok && system != "" && system != "https://fhir.nhs.uk/Id/ods-organization-code" {
				return nil, false, &fhirerr.Error{Category: fhirerr.Invalid, Expression: k, Message: "general-practitioner:identifier takes an ODS code (system https://fhir.nhs.uk/Id/ods-organization-code)"}
			}
			if !ok {
				code = system
			}
			out.Set("general-practitioner", code)
		case "_fuzzy-match", "_exact-match", "_history":
			if vs[0] != "true" && vs[0] != "false" {
				return nil, false, invalidSearchValue(k, k+" must be true or false")
			}
			out.Set(k, vs[0])
		case "_max-results":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 || n > pdsMaxResults {
				return nil, false, invalidSearchValue(k, "_max-results must be a whole number from 1 to 50")
			}
			out.Set(k, vs[0])
		}
	}
	if len(out) == 0 {
		// PDS answers a search without parameters UNSUPPORTED_SERVICE.
		return nil, false, &fhirerr.Error{Category: fhirerr.Invalid, Spine: fhirerr.Spine("UNSUPPORTED_SERVICE"),
			Message: "a Patient search needs parameters: at least family and birthdate, or an identifier"}
	}
	if out.Get("_max-results") == "" {
		// Ask for everything PDS will give, so the facade can page through it.
		out.Set("_max-results", strconv.Itoa(pdsMaxResults))
	}
	return out, false, nil
}

// exactFilter is the :exact name filters of a Patient search: PDS matches
// names case-insensitively, so the facade keeps only the exact matches.
// See: http://hl7.org/fhir/R4/search.html#string
type exactFilter struct {
	family string
	given  []string
}

func exactNames(q url.Values) exactFilter {
	return exactFilter{family: q.Get("family:exact"), given: q["given:exact"]}
}

// match reports whether one of the patient's names carries the family
// name and every given name exactly.
func (f exactFilter) match(res *Resource) bool {
	if f.family == "" && len(f.given) == 0 {
		return true
	}
	pt, ok := res.Message.(*patientpb.Patient)
	if !ok {
		return false
	}
	for _, n := range pt.GetName() {
		if f.family != "" && n.GetFamily().GetValue() != f.family {
			continue
		}
		all := true
		for _, g := range f.given {
			found := false
			for _, have := range n.GetGiven() {
				if have.GetValue() == g {
					found = true
				}
			}
			all = all && found
		}
		if all {
			return true
		}
	}
	return false
}
