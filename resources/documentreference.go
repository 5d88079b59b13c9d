package resources

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"

	"github.com/carerecords/fhir-facade/backends/nrl"
	nrlmap "github.com/carerecords/fhir-facade/mappers/nrl"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// NRLClient is what the DocumentReference and Binary providers need from
// the National Record Locator.
type NRLClient interface {
	SearchAll(ctx context.Context, q nrl.Query) (*nrl.SearchResult, error)
	Read(ctx context.Context, id string) ([]byte, error)
}

// DocumentReference serves DocumentReference from NRL: the pointers to a
// patient's care plans and other documents held by other organisations.
// Each pointer's content[].attachment.url is the facade's own Binary, which
// streams the document (see Binary).
type DocumentReference struct {
	nrl  NRLClient
	memo *Memo
}

var (
	_ Reader   = (*DocumentReference)(nil)
	_ Searcher = (*DocumentReference)(nil)
)

// NewDocumentReference returns the DocumentReference provider over an NRL
// client. memo may be nil.
func NewDocumentReference(c NRLClient, memo *Memo) *DocumentReference {
	return &DocumentReference{nrl: c, memo: memo}
}

// ResourceType implements Provider.
func (*DocumentReference) ResourceType() string { return "DocumentReference" }

// Profile implements Provider: NRL's pointers are passed through, so the
// facade claims the base resource only.
func (*DocumentReference) Profile() string { return "" }

// Documentation implements Provider.
func (*DocumentReference) Documentation() string {
	return "Pointers from the National Record Locator (NRL) to documents held by other organisations: mental health crisis plans, " +
		"ReSPECT forms, end of life care plans and more. The id is NRL's (<custodian ODS code>-<local id>). " +
		"Search needs the patient. content[].attachment.url is the facade's Binary/<id> (Binary/<id>.<n> for content[n], n ≥ 1), " +
		"which retrieves the document through the Spine Secure Proxy; the holder's own URL is never shown. " +
		"Which pointer types are returned depends on the types the facade's organisation was onboarded for."
}

// SearchParams implements Searcher.
func (*DocumentReference) SearchParams() []SearchParam {
	return []SearchParam{
		{Name: "subject", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/DocumentReference-subject",
			Modifiers:     PatientParamModifiers,
			Documentation: "The patient (required, or patient): Patient/<NHS number>, the bare NHS number, or subject:identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>; passed to NRL as subject:identifier.",
			Example:       "Patient/9000000009"},
		{Name: "patient", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/clinical-patient",
			Modifiers:     PatientParamModifiers,
			Documentation: "The patient, as subject.",
			Example:       "9000000009"},
		{Name: "type", Type: TypeToken, Definition: "http://hl7.org/fhir/SearchParameter/clinical-type",
			Documentation: "Pointer type: http://snomed.info/sct|<code> (a bare code is taken as SNOMED CT), e.g. 736253002 mental health crisis plan, 1382601000000107 ReSPECT form. " +
				"One type is passed to NRL (which rejects types the organisation may not see); several, comma-separated, are matched by the facade.",
			Example: "http://snomed.info/sct|736253002"},
		{Name: "custodian", Type: TypeReference, Definition: "http://hl7.org/fhir/SearchParameter/DocumentReference-custodian",
			Modifiers:     []string{"identifier"},
			Documentation: "The organisation holding the documents: its ODS code, Organization/<ODS code>, or custodian:identifier=https://fhir.nhs.uk/Id/ods-organization-code|<ODS code>; passed to NRL as custodian:identifier.",
			Example:       "Y05868"},
	}
}

// nrlIDPattern is NRL's pointer id: <custodian ODS code>-<local id>.
var nrlIDPattern = regexp.MustCompile(`^[A-Za-z0-9]+-[A-Za-z0-9\-.]+$`)

// Read implements Reader.
func (d *DocumentReference) Read(ctx context.Context, id string) (*Resource, error) {
	if !nrlIDPattern.MatchString(id) {
		return nil, fhirerr.New(fhirerr.NotFound, "no DocumentReference with this id (NRL ids are <ODS code>-<local id>)")
	}
	body, err := d.nrl.Read(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := d.memo.Map("nrl-pointer", body, func() (*Resource, error) { return mapPointer(body) })
	if err != nil {
		return nil, err
	}
	if res.ID != id {
		return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: nrl.Name, Message: "the nrl service answered with another DocumentReference than asked for"}
	}
	return res, nil
}

func mapPointer(body []byte) (*Resource, error) {
	p, err := nrlmap.Decode(body)
	if err != nil {
		return nil, err
	}
	dr, err := nrlmap.DocumentReference(p)
	if err != nil {
		return nil, err
	}
	res := &Resource{Type: "DocumentReference", ID: dr.GetId().GetValue(), Message: dr}
	res.LastUpdated = metaLastUpdated(dr.GetMeta())
	return res, nil
}

// typeFilter is how a search narrows the pointer types: one type NRL
// filters by, or tokens the facade matches.
type typeFilter struct {
	nrlType string
	local   []Token
}

func parseTypeParam(v string) (typeFilter, error) {
	toks := ParseTokens(v)
	if len(toks) == 0 {
		return typeFilter{}, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "type", Message: "type needs a value: http://snomed.info/sct|<code>"}
	}
	for i, t := range toks {
		if !t.HasSystem {
			toks[i] = Token{System: "http://snomed.info/sct", Code: t.Code, HasSystem: true}
		}
		if strings.ContainsAny(toks[i].System+toks[i].Code, " \t") {
			return typeFilter{}, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "type", Message: "type must be system|code, e.g. http://snomed.info/sct|736253002"}
		}
	}
	if len(toks) == 1 && toks[0].System != "" && toks[0].Code != "" {
		return typeFilter{nrlType: toks[0].System + "|" + toks[0].Code}, nil
	}
	return typeFilter{local: toks}, nil
}

var odsCodePattern = regexp.MustCompile(`^[A-Za-z0-9]{1,12}$`)

// custodianParam reads the custodian in any of its forms.
func custodianParam(q url.Values) (string, error) {
	var raw, used string
	for _, k := range []string{"custodian", "custodian:identifier"} {
		if v := q.Get(k); v != "" {
			if raw != "" {
				return "", &fhirerr.Error{Category: fhirerr.Invalid, Expression: "custodian", Message: "give the custodian once, as custodian or custodian:identifier"}
			}
			raw, used = v, k
		}
	}
	if raw == "" {
		return "", nil
	}
	code := raw
	if used == "custodian:identifier" {
		system, value, found := strings.Cut(raw, "|")
		if found {
			if system != "" && system != nrlmap.ODSSystem {
				return "", &fhirerr.Error{Category: fhirerr.Invalid, Expression: used, Message: used + " takes an ODS code: " + nrlmap.ODSSystem + "|<ODS code>"}
			}
			code = value
		}
	} else if i := strings.LastIndex(raw, "/"); i >= 0 {
		typ := raw[:i]
		if j := strings.LastIndex(typ, "/"); j >= 0 {
			typ = typ[j+1:]
		}
		if typ != "Organization" {
			return "", &fhirerr.Error{Category: fhirerr.Invalid, Expression: used, Message: used + " must reference an Organization (Organization/<ODS code>)"}
		}
		code = raw[i+1:]
	}
	if !odsCodePattern.MatchString(code) {
		return "", &fhirerr.Error{Category: fhirerr.Invalid, Expression: used, Message: used + " must be an ODS code (letters and digits)"}
	}
	return strings.ToUpper(code), nil
}

// searchPatient is the patient of a search, given as subject or patient (or both, the same).
func searchPatient(q url.Values) (string, error) {
	s, sok, err := PatientNHSNumber(q, "subject")
	if err != nil {
		return "", err
	}
	p, pok, err := PatientNHSNumber(q, "patient")
	if err != nil {
		return "", err
	}
	switch {
	case sok && pok && s != p:
		return "", &fhirerr.Error{Category: fhirerr.Invalid, Expression: "patient", Message: "subject and patient name different patients"}
	case sok:
		return s, nil
	case pok:
		return p, nil
	}
	return RequirePatient(q, "subject")
}

// Search implements Searcher: every parameter is checked before NRL is
// called; NRL's pages are all fetched (up to nrl.DefaultMaxPages) and the
// server pages the result for the client.
func (d *DocumentReference) Search(ctx context.Context, q *Query) (*SearchResult, error) {
	nhs, err := searchPatient(q.Params)
	if err != nil {
		return nil, err
	}
	query := nrl.Query{NHSNumber: nhs}
	var tf typeFilter
	if v := q.Params.Get("type"); v != "" {
		if tf, err = parseTypeParam(v); err != nil {
			return nil, err
		}
		query.Type = tf.nrlType
	}
	if query.Custodian, err = custodianParam(q.Params); err != nil {
		return nil, err
	}
	got, err := d.nrl.SearchAll(ctx, query)
	if err != nil {
		return nil, err
	}
	if err := checkComplete(got); err != nil {
		return nil, err
	}
	out := &SearchResult{}
	dropped := 0
	for _, page := range got.Pages {
		rs, err := d.memo.MapAll("nrl-search", page.Body, func() ([]*Resource, error) {
			rs := make([]*Resource, 0, len(page.Entries))
			for _, e := range page.Entries {
				r, err := mapPointer(e)
				if err != nil {
					return nil, err
				}
				rs = append(rs, r)
			}
			return rs, nil
		})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			dr := r.Message.(*drpb.DocumentReference)
			if dr.GetSubject().GetIdentifier().GetValue().GetValue() != nhs {
				dropped++ // never show another patient's pointer
				continue
			}
			if len(tf.local) > 0 && !matchesType(dr, tf.local) {
				continue
			}
			out.Entries = append(out.Entries, SearchEntry{Resource: r, Mode: "match"})
		}
	}
	out.Total = len(out.Entries)
	if got.Truncated {
		out.Issues = append(out.Issues, Issue{Severity: "warning", Code: "incomplete",
			Diagnostics: fmt.Sprintf("NRL holds %d pointers for this search; the facade retrieved the first %d. Narrow the search with type or custodian.", got.Total, len(out.Entries))})
	}
	if dropped > 0 {
		out.Issues = append(out.Issues, Issue{Severity: "warning", Code: "processing",
			Diagnostics: fmt.Sprintf("%d pointer(s) NRL returned were about another patient and were left out", dropped)})
	}
	return out, nil
}

// checkComplete refuses an answer with fewer pointers than NRL's total says
// although NRL had no further page: a cut answer, whose missing pointers
// must not read as none (the search fails; $summary names NRL as missing).
// An answer the facade stopped paging (Truncated) is reported as such.
func checkComplete(got *nrl.SearchResult) error {
	if got.Truncated {
		return nil
	}
	n := 0
	for _, p := range got.Pages {
		n += len(p.Entries)
	}
	if n < got.Total {
		return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: nrl.Name, Message: "the nrl service sent a truncated response (fewer pointers than its total)"}
	}
	return nil
}

func matchesType(dr *drpb.DocumentReference, toks []Token) bool {
	return codingsMatch(dr.GetType().GetCoding(), toks)
}

// Includes implements Includer: DocumentReference:subject and :patient.
func (*DocumentReference) Includes() []Include {
	return []Include{
		{Param: "subject", Element: "subject", Target: "Patient"},
		{Param: "patient", Element: "subject", Target: "Patient"},
	}
}
