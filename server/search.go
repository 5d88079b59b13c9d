package server

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// maxSearchBody bounds a POST _search form.
const maxSearchBody = 64 << 10

// resultParams are the FHIR result/control parameters the server itself
// handles; they never reach a provider.
var resultParams = map[string]bool{"_count": true, "_offset": true, "_format": true, "_pretty": true}

// searchType serves GET [base]/[type]?params and POST [base]/[type]/_search.
// See: http://hl7.org/fhir/R4/http.html#search and http://hl7.org/fhir/R4/search.html
func (s *Server) searchType(r *http.Request, f format, q url.Values) (*reply, error) {
	ri := infoFrom(r.Context())
	ri.interaction = "search-type"
	p, err := s.provider(r)
	if err != nil {
		return nil, err
	}
	sr, ok := p.(resources.Searcher)
	if !ok {
		return nil, fhirerr.New(fhirerr.MethodNotAllowed, "search is not supported for %s", p.ResourceType())
	}
	if r.Method == http.MethodPost {
		if q, err = mergeForm(r, q); err != nil {
			return nil, err
		}
	}
	strict := preferStrict(r)
	query, warnings, err := s.parseSearch(sr, q, strict)
	if err != nil {
		return nil, err
	}
	res, err := sr.Search(r.Context(), query)
	if err != nil {
		return nil, err
	}
	return s.searchset(r, p.ResourceType(), query, res, warnings)
}

// mergeForm adds the parameters of a POST _search body to those of the URL.
func mergeForm(r *http.Request, q url.Values) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, fhirerr.New(fhirerr.UnsupportedMediaType, "POST _search takes an application/x-www-form-urlencoded body")
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxSearchBody+1))
	if err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "could not read the request body")
	}
	if len(b) > maxSearchBody {
		return nil, fhirerr.New(fhirerr.TooLarge, "the _search body is larger than %d bytes", maxSearchBody)
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, fhirerr.New(fhirerr.Invalid, "the _search body is not a valid form")
	}
	out := url.Values{}
	for k, v := range q {
		out[k] = append(out[k], v...)
	}
	for k, v := range form {
		out[k] = append(out[k], v...)
	}
	return out, nil
}

// preferStrict reports Prefer: handling=strict.
// See: http://hl7.org/fhir/R4/search.html#errors
func preferStrict(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ";") {
			for _, kv := range strings.Split(part, ",") {
				if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(kv), " ", ""), "handling=strict") {
					return true
				}
			}
		}
	}
	return false
}

// parseSearch separates result parameters from search parameters, checks
// them against what the provider declares, and returns the query and the
// warnings to report (ignored parameters, clamped _count). Under strict
// handling an unknown parameter is an error instead.
func (s *Server) parseSearch(sr resources.Searcher, q url.Values, strict bool) (*resources.Query, []resources.Issue, error) {
	known := map[string]resources.SearchParam{}
	for _, sp := range sr.SearchParams() {
		known[sp.Name] = sp
	}
	query := &resources.Query{Params: url.Values{}, Count: s.cfg.DefaultPageSize}
	var warnings []resources.Issue
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := q[k]
		if k == "" {
			continue // "&=" in a query string: nothing was asked
		}
		if resultParams[k] {
			switch k {
			case "_count":
				n, err := nonNegative(k, vals)
				if err != nil {
					return nil, nil, err
				}
				if n > s.cfg.MaxPageSize {
					warnings = append(warnings, resources.Issue{Severity: "warning", Code: "informational", Expression: "_count",
						Diagnostics: "_count=" + strconv.Itoa(n) + " is above the maximum page size; " + strconv.Itoa(s.cfg.MaxPageSize) + " used"})
					n = s.cfg.MaxPageSize
				}
				query.Count = n
			case "_offset":
				n, err := nonNegative(k, vals)
				if err != nil {
					return nil, nil, err
				}
				query.Offset = n
			}
			continue
		}
		name, modifier, _ := strings.Cut(k, ":")
		sp, ok := known[name]
		if !ok {
			if strict {
				return nil, nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: k, Message: "unknown search parameter '" + safeName(k) + "'"}
			}
			warnings = append(warnings, resources.Issue{Severity: "warning", Code: "not-supported", Expression: safeName(k),
				Diagnostics: "search parameter '" + safeName(k) + "' is not supported and was ignored"})
			continue
		}
		if modifier != "" && !contains(sp.Modifiers, modifier) {
			// FHIR: servers SHALL reject an unsupported modifier.
			return nil, nil, &fhirerr.Error{Category: fhirerr.NotSupported, Expression: safeName(k), Message: "modifier ':" + safeName(modifier) + "' is not supported on '" + name + "'"}
		}
		var nonEmpty []string
		for _, v := range vals {
			if strings.TrimSpace(v) != "" {
				nonEmpty = append(nonEmpty, v)
			}
		}
		if len(nonEmpty) == 0 {
			warnings = append(warnings, resources.Issue{Severity: "warning", Code: "informational", Expression: safeName(k),
				Diagnostics: "search parameter '" + safeName(k) + "' has no value and was ignored"})
			continue
		}
		if len(nonEmpty) > 1 && !sp.Repeatable {
			return nil, nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: k, Message: "search parameter '" + k + "' may be given only once"}
		}
		query.Params[k] = nonEmpty
	}
	return query, warnings, nil
}

func nonNegative(k string, vals []string) (int, error) {
	if len(vals) != 1 {
		return 0, &fhirerr.Error{Category: fhirerr.Invalid, Expression: k, Message: k + " may be given only once"}
	}
	n, err := strconv.Atoi(strings.TrimSpace(vals[0]))
	if err != nil || n < 0 {
		return 0, &fhirerr.Error{Category: fhirerr.Invalid, Expression: k, Message: k + " must be a non-negative integer"}
	}
	return n, nil
}

// safeName echoes a client-supplied parameter name only when it is short and
// plain, so an OperationOutcome never reflects arbitrary input.
func safeName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == ':' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "(unprintable name)"
		}
	}
	return s
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

type bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         bundleMeta    `json:"meta"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleMeta struct {
	LastUpdated string `json:"lastUpdated"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource"`
	Search   *entrySearch    `json:"search,omitempty"`
}

type entrySearch struct {
	Mode  string   `json:"mode"`
	Score *float64 `json:"score,omitempty"`
}

// searchset pages res and renders the Bundle, with self/first/previous/next/
// last links that keep every search parameter and an OperationOutcome entry
// (search.mode "outcome") for warnings.
// See: http://hl7.org/fhir/R4/bundle.html#searchset and http://hl7.org/fhir/R4/http.html#paging
func (s *Server) searchset(r *http.Request, resourceType string, q *resources.Query, res *resources.SearchResult, warnings []resources.Issue) (*reply, error) {
	base := s.baseURL(r)
	matches := res.Entries
	total := res.Total
	if total < len(matches) {
		total = len(matches)
	}
	b := bundle{
		ResourceType: "Bundle",
		ID:           uuid.NewString(),
		Meta:         bundleMeta{LastUpdated: time.Now().UTC().Format(time.RFC3339)},
		Type:         "searchset",
		Total:        total,
	}
	start := min(q.Offset, len(matches))
	end := min(start+q.Count, len(matches))
	for _, e := range matches[start:end] {
		body, _, err := s.render.render(e.Resource)
		if err != nil {
			return nil, err
		}
		mode := e.Mode
		if mode == "" {
			mode = "match"
		}
		b.Entry = append(b.Entry, bundleEntry{
			FullURL:  base + "/" + e.Resource.Type + "/" + e.Resource.ID,
			Resource: body,
			Search:   &entrySearch{Mode: mode, Score: e.Score},
		})
	}
	issues := append(warnings, res.Issues...)
	if len(issues) > 0 {
		oo := outcome{ResourceType: "OperationOutcome", ID: uuid.NewString()}
		for _, is := range issues {
			i := issue{Severity: is.Severity, Code: is.Code, Diagnostics: is.Diagnostics}
			if is.Expression != "" {
				i.Expression = []string{is.Expression}
			}
			if is.DetailsCode != "" {
				i.Details = &codeableConcept{Coding: []coding{{System: is.DetailsSystem, Code: is.DetailsCode, Display: is.DetailsDisplay}}}
			}
			oo.Issue = append(oo.Issue, i)
		}
		body, err := marshal(oo)
		if err != nil {
			return nil, err
		}
		b.Entry = append(b.Entry, bundleEntry{FullURL: "urn:uuid:" + oo.ID, Resource: body, Search: &entrySearch{Mode: "outcome"}})
	}
	link := func(rel string, offset int) {
		b.Link = append(b.Link, bundleLink{Relation: rel, URL: pageURL(base, resourceType, q, offset)})
	}
	link("self", q.Offset)
	if q.Count > 0 {
		link("first", 0)
		if q.Offset > 0 {
			link("previous", max(0, q.Offset-q.Count))
		}
		if end < len(matches) {
			link("next", end)
		}
		if len(matches) > 0 {
			link("last", ((len(matches)-1)/q.Count)*q.Count)
		}
	}
	body, err := marshal(b)
	if err != nil {
		return nil, err
	}
	return &reply{body: body}, nil
}

// pageURL is the search URL for the page starting at offset: every
// recognised search parameter, _count, and _offset when not zero.
func pageURL(base, resourceType string, q *resources.Query, offset int) string {
	v := url.Values{}
	for k, vs := range q.Params {
		v[k] = vs
	}
	v.Set("_count", strconv.Itoa(q.Count))
	if offset > 0 {
		v.Set("_offset", strconv.Itoa(offset))
	}
	return base + "/" + resourceType + "?" + v.Encode()
}
