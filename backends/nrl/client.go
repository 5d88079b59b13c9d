// Package nrl is the client of the National Record Locator consumer API
// (docs/backends.md, "NRL"): search a patient's document pointers (following NRL's
// next-page-token), read one pointer, and — in fetch.go — retrieve the
// document a pointer points at through the Spine Secure Proxy. It returns
// NRL's payloads as bytes for mappers/nrl to decode, and turns NRL's error
// codes into categorised fhirerr errors.
//
// Paging (project contract, as the simulator in sandbox/nrl
// implements it): while more pointers remain, NRL's searchset Bundle carries
// meta.tag {"code": "next-page-token", "display": <token>}; the next page is
// the same search with next-page-token=<token>. A tag whose system ends in
// "next-page-token" with the token as its code is accepted too.
package nrl

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Name is the backend's name in metrics and errors.
const Name = "nrl"

// ErrorSystem is the code system of NRL's error codes.
const ErrorSystem = "https://fhir.nhs.uk/ValueSet/Spine-ErrorOrWarningCode-1"

// ODSSystem identifies organisations by ODS code.
const ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

// DefaultODSCode is the consuming organisation sent when none is configured:
// the NRL sandbox's.
const DefaultODSCode = "Y05868"

// DefaultMaxPages bounds the pages SearchAll fetches: 25 pages of 20 is 500
// pointers, far beyond any one patient's care plans.
const DefaultMaxPages = 25

// Options configure a Client.
type Options struct {
	// ODSCode is sent as NHSD-End-User-Organisation-ODS: the consuming
	// organisation, whose onboarding decides which pointer types NRL
	// returns. DefaultODSCode when empty.
	ODSCode string
	// MaxPages bounds how many pages SearchAll follows; DefaultMaxPages when zero.
	MaxPages int
}

// Client calls NRL.
type Client struct {
	up   *upstream.Client
	opts Options
}

// New returns an NRL client over up.
func New(up *upstream.Client, opts Options) *Client {
	if opts.ODSCode == "" {
		opts.ODSCode = DefaultODSCode
	}
	if opts.MaxPages <= 0 {
		opts.MaxPages = DefaultMaxPages
	}
	return &Client{up: up, opts: opts}
}

// Query is a pointer search: the patient, and optionally one type and one
// custodian.
type Query struct {
	// NHSNumber is the patient's; it must be valid.
	NHSNumber string
	// Type is a pointer type as system|code, e.g. http://snomed.info/sct|736253002.
	Type string
	// Custodian is the ODS code of the organisation holding the documents.
	Custodian string
}

// Page is one page of a search.
type Page struct {
	// Body is the page as NRL sent it.
	Body []byte
	// Entries are the DocumentReference payloads of the page.
	Entries []json.RawMessage
	// Total is NRL's total: every match, not just this page's.
	Total int
	// NextPageToken fetches the next page; "" on the last.
	NextPageToken string
}

// SearchResult is every page SearchAll fetched.
type SearchResult struct {
	Pages []*Page
	// Total is NRL's total (of the first page).
	Total int
	// Truncated says NRL had more pages than MaxPages allowed.
	Truncated bool
}

var odsPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,12}$`)

// Search fetches one page: the first when pageToken is "".
func (c *Client) Search(ctx context.Context, q Query, pageToken string) (*Page, error) {
	if !nhsnumber.Valid(q.NHSNumber) {
		return nil, fhirerr.New(fhirerr.Invalid, "the patient must be given by a valid NHS number")
	}
	if q.Custodian != "" && !odsPattern.MatchString(q.Custodian) {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "custodian", Message: "custodian must be an ODS code (letters and digits)"}
	}
	params := url.Values{"subject:identifier": {nhsnumber.System + "|" + q.NHSNumber}}
	if q.Type != "" {
		params.Set("type", q.Type)
	}
	if q.Custodian != "" {
		params.Set("custodian:identifier", ODSSystem+"|"+q.Custodian)
	}
	if pageToken != "" {
		params.Set("next-page-token", pageToken)
	}
	res, err := c.up.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/DocumentReference", Query: params, Header: c.header(), Op: "search"})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, badPayload("search", nil)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Total        *int   `json:"total"`
		Meta         *struct {
			Tag []struct {
				System  string `json:"system"`
				Code    string `json:"code"`
				Display string `json:"display"`
			} `json:"tag"`
		} `json:"meta"`
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res.Body, &b); err != nil {
		return nil, badPayload("search", err)
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" {
		return nil, badPayload("search", nil)
	}
	p := &Page{Body: res.Body, Entries: make([]json.RawMessage, 0, len(b.Entry))}
	for _, e := range b.Entry {
		if len(e.Resource) == 0 {
			return nil, badPayload("search", nil)
		}
		p.Entries = append(p.Entries, e.Resource)
	}
	p.Total = len(p.Entries)
	if b.Total != nil && *b.Total >= 0 {
		p.Total = *b.Total
	}
	if b.Meta != nil {
		for _, t := range b.Meta.Tag {
			switch {
			case t.Code == "next-page-token" && t.Display != "":
				p.NextPageToken = t.Display
			case strings.HasSuffix(t.System, "next-page-token") && t.Code != "":
				p.NextPageToken = t.Code
			}
		}
	}
	return p, nil
}

// SearchAll fetches every page of a search, following next-page-token, up to
// MaxPages pages (Truncated then says there was more).
func (c *Client) SearchAll(ctx context.Context, q Query) (*SearchResult, error) {
	out := &SearchResult{}
	token := ""
	seen := map[string]bool{}
	for {
		p, err := c.Search(ctx, q, token)
		if err != nil {
			return nil, err
		}
		if len(out.Pages) == 0 {
			out.Total = p.Total
		}
		out.Pages = append(out.Pages, p)
		if p.NextPageToken == "" || seen[p.NextPageToken] {
			return out, nil
		}
		if len(out.Pages) >= c.opts.MaxPages {
			out.Truncated = true
			return out, nil
		}
		seen[p.NextPageToken] = true
		token = p.NextPageToken
	}
}

// Read fetches one pointer by id (<custodian ODS>-<local id>).
func (c *Client) Read(ctx context.Context, id string) ([]byte, error) {
	if id == "" || strings.ContainsAny(id, "/?#%") {
		return nil, fhirerr.New(fhirerr.NotFound, "no DocumentReference with this id")
	}
	res, err := c.up.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/DocumentReference/" + id, Header: c.header(), Op: "read"})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, errorFrom(res)
	}
	if !res.IsJSON() {
		return nil, badPayload("read", nil)
	}
	return res.Body, nil
}

func (c *Client) header() http.Header {
	return http.Header{"NHSD-End-User-Organisation-ODS": {c.opts.ODSCode}}
}

func badPayload(op string, err error) error {
	return &fhirerr.Error{Category: fhirerr.BadGateway, Backend: Name, Message: "the nrl service sent an unexpected " + op + " response", Err: err}
}

// facadeParam names, for each NRL query parameter, the facade's.
var facadeParam = map[string]string{"subject:identifier": "subject", "custodian:identifier": "custodian", "type": "type"}

// errorFrom maps a non-200 NRL answer to a categorised error. NRL's
// diagnostics are not passed on (they may echo what was asked); its code and
// display are kept in Details.
func errorFrom(res *upstream.Response) error {
	o, ok := upstream.ParseOutcome(res.Body)
	e := &fhirerr.Error{Backend: Name}
	if ok && o.Code != "" {
		system := o.System
		if system == "" {
			system = ErrorSystem
		}
		e.Details = &fhirerr.Coding{System: system, Code: o.Code, Display: o.Display}
	}
	msg := func(def string) string {
		if ok && o.Display != "" {
			return "NRL: " + o.Display
		}
		return def
	}
	switch {
	case res.Status == http.StatusBadRequest && ok && (o.Code == "MISSING_OR_INVALID_HEADER" || o.Code == "BAD_REQUEST"):
		// The facade's own request was malformed: not the client's fault.
		e.Category, e.Message = fhirerr.BadGateway, "the nrl service refused the facade's request"
	case res.Status == http.StatusBadRequest:
		e.Category, e.Message = fhirerr.Invalid, msg("NRL rejected the request as invalid")
		e.Expression = facadeParam[expression(res.Body)]
	case res.Status == http.StatusForbidden:
		e.Category, e.Message = fhirerr.Forbidden, "NRL refused access: this organisation may not see these records"
	case res.Status == http.StatusNotFound:
		e.Category, e.Message = fhirerr.NotFound, "no DocumentReference with this id"
	default:
		upstream.ServiceFailure(e, res, Name)
	}
	return e
}

// expression returns issue[0].expression[0] of an OperationOutcome, or "".
func expression(body []byte) string {
	var oo struct {
		Issue []struct {
			Expression []string `json:"expression"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || len(oo.Issue) == 0 || len(oo.Issue[0].Expression) == 0 {
		return ""
	}
	return oo.Issue[0].Expression[0]
}
