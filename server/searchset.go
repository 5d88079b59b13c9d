package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/request"
	"github.com/carerecords/fhir-facade/resources"
)

// resultParams are the FHIR result/control parameters the server itself
// handles; they never reach a provider.
// See: http://hl7.org/fhir/R4/search.html#return
var resultParams = map[string]bool{
	"_count": true, "_offset": true, "_format": true, "_pretty": true,
	"_summary": true, "_elements": true, "_include": true, "_revinclude": true,
	"_sort": true, "_total": true,
}

// echoed are the result parameters every paging link repeats, so each page
// is renderedEntry as the first was.
var echoed = []string{"_summary", "_elements", "_include", "_revinclude", "_sort", "_total", "_format", "_pretty"}

// maxRevincludeTargets bounds how many matches _revinclude searches from.
const maxRevincludeTargets = 10

// searchRequest is a parsed search: the query for the provider and what the
// server itself does with the result.
type searchRequest struct {
	query      *resources.Query
	subset     subset
	include    []resources.Include // _include, resolved against the provider
	revinclude []revinclude
	sort       []sortKey
	total      string // _total: "", none, estimate, accurate
	echo       url.Values
	warnings   []resources.Issue
	// selfURL, when set, is the only link: an operation's answer is not paged.
	selfURL string
	// path, when set, is what page links are made on instead of the type
	// ("Patient/9000000009/$everything": a paged operation).
	path string
	// missing are the :missing filters, applied to the matches here.
	missing []missingFilter
}

// missingFilter keeps matches whose element is absent (missing) or present.
type missingFilter struct {
	element string
	missing bool
}

// missingParam accepts name:missing=true|false when the provider names the
// element behind the parameter (Sorter); the filter is applied to the
// matches, the parameter is repeated in paging links.
// See: http://hl7.org/fhir/R4/search.html#missing
func (s *Server) missingParam(p resources.Provider, req *searchRequest, name string, vals []string) error {
	st, _ := p.(resources.Sorter)
	element := ""
	if st != nil {
		element = st.SortParams()[name]
	}
	if element == "" {
		return &fhirerr.Error{Category: fhirerr.NotSupported, Expression: name + ":missing", Message: "modifier ':missing' is not supported on '" + safeName(name) + "'"}
	}
	if len(vals) != 1 || (vals[0] != "true" && vals[0] != "false") {
		return &fhirerr.Error{Category: fhirerr.Invalid, Expression: name + ":missing", Message: name + ":missing must be true or false"}
	}
	req.missing = append(req.missing, missingFilter{element: element, missing: vals[0] == "true"})
	req.echo[name+":missing"] = vals
	return nil
}

type revinclude struct {
	source resources.Searcher
	typ    string
	param  string
}

type sortKey struct {
	element string
	desc    bool
}

// searchType serves GET [base]/[type]?params and POST [base]/[type]/_search.
// See: http://hl7.org/fhir/R4/http.html#search and http://hl7.org/fhir/R4/search.html
func (s *Server) searchType(a *access, r *http.Request, f format, q url.Values) (*reply, error) {
	p := a.provider
	sr := p.(resources.Searcher)
	if r.Method == http.MethodPost {
		var err error
		if q, err = mergeForm(r, q); err != nil {
			return nil, err
		}
	}
	req, err := s.parseSearch(p, sr, q, preferStrict(r))
	if err != nil {
		return nil, err
	}
	// The patients the search names, with a POST's body: noted, and held
	// to a patient-bound token's patient.
	named, err := a.touchSearch(req.query.Params)
	if err != nil {
		return nil, err
	}
	for _, inc := range req.include {
		if err := s.allow(a, inc.Target, auth.Read); err != nil {
			return nil, err
		}
	}
	for _, rv := range req.revinclude {
		if err := s.allow(a, rv.typ, auth.Search); err != nil {
			return nil, err
		}
	}
	wait := s.resolving(r.Context(), p, named)
	res, err := sr.Search(r.Context(), req.query)
	if wait != nil {
		current, issue := a.afterResolving(named[0], wait())
		if current != "" {
			req.query.Params = withPatient(req.query.Params, named[0], current)
			res, err = sr.Search(r.Context(), req.query)
		}
		if err == nil && issue != nil {
			res.Issues = append(res.Issues, *issue)
		}
	}
	if err != nil {
		return nil, err
	}
	return s.searchset(r, p.ResourceType(), req, res)
}

// parseSearch separates result parameters from search parameters, checks
// them against what the provider declares, and returns the request with the
// warnings to report (ignored parameters, clamped _count). Under strict
// handling an unknown parameter is an error instead.
func (s *Server) parseSearch(p resources.Provider, sr resources.Searcher, q url.Values, strict bool) (*searchRequest, error) {
	known := map[string]resources.SearchParam{}
	for _, sp := range sr.SearchParams() {
		known[sp.Name] = sp
	}
	req := &searchRequest{query: &resources.Query{Params: url.Values{}, Count: s.cfg.DefaultPageSize}, echo: url.Values{}}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var err error
	for _, k := range keys {
		vals := q[k]
		if k == "" {
			continue // "&=" in a query string: nothing was asked
		}
		if resultParams[k] {
			if err := s.resultParam(p, req, k, vals); err != nil {
				return nil, err
			}
			continue
		}
		name, modifier, _ := strings.Cut(k, ":")
		if modifier == "missing" {
			// :missing is answered here, on the element the provider names
			// for the parameter (its sortable elements).
			if err := s.missingParam(p, req, name, vals); err != nil {
				return nil, err
			}
			continue
		}
		sp, ok := known[name]
		if !ok {
			if strict {
				return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: safeName(k), Message: "unknown search parameter '" + safeName(k) + "'"}
			}
			req.warnings = append(req.warnings, resources.Issue{Severity: "warning", Code: "not-supported", Expression: safeName(k),
				Diagnostics: "search parameter '" + safeName(k) + "' is not supported and was ignored"})
			continue
		}
		if modifier != "" && !slices.Contains(sp.Modifiers, modifier) {
			// FHIR: servers SHALL reject an unsupported modifier.
			return nil, &fhirerr.Error{Category: fhirerr.NotSupported, Expression: safeName(k), Message: "modifier ':" + safeName(modifier) + "' is not supported on '" + name + "'"}
		}
		var nonEmpty []string
		for _, v := range vals {
			if strings.TrimSpace(v) != "" {
				nonEmpty = append(nonEmpty, v)
			}
		}
		if len(nonEmpty) == 0 {
			req.warnings = append(req.warnings, resources.Issue{Severity: "warning", Code: "informational", Expression: safeName(k),
				Diagnostics: "search parameter '" + safeName(k) + "' has no value and was ignored"})
			continue
		}
		if len(nonEmpty) > 1 && !sp.Repeatable {
			return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: k, Message: "search parameter '" + k + "' may be given only once"}
		}
		req.query.Params[k] = nonEmpty
	}
	if req.subset, err = parseSubset(q, true); err != nil {
		return nil, err
	}
	return req, nil
}

// resultParam handles one result parameter.
func (s *Server) resultParam(p resources.Provider, req *searchRequest, k string, vals []string) error {
	switch k {
	case "_count":
		n, err := nonNegative(k, vals)
		if err != nil {
			return err
		}
		if n > s.cfg.MaxPageSize {
			req.warnings = append(req.warnings, resources.Issue{Severity: "warning", Code: "informational", Expression: "_count",
				Diagnostics: "_count=" + strconv.Itoa(n) + " is above the maximum page size; " + strconv.Itoa(s.cfg.MaxPageSize) + " used"})
			n = s.cfg.MaxPageSize
		}
		req.query.Count = n
		return nil
	case "_offset":
		n, err := nonNegative(k, vals)
		if err != nil {
			return err
		}
		req.query.Offset = n
		return nil
	case "_include":
		for _, v := range vals {
			incs, err := s.resolveInclude(p, v)
			if err != nil {
				return err
			}
			req.include = append(req.include, incs...)
		}
	case "_revinclude":
		for _, v := range vals {
			ri, err := s.resolveRevinclude(p, v)
			if err != nil {
				return err
			}
			req.revinclude = append(req.revinclude, ri)
		}
	case "_sort":
		keys, err := parseSort(p, vals)
		if err != nil {
			return err
		}
		req.sort = keys
	case "_total":
		if len(vals) != 1 || (vals[0] != "none" && vals[0] != "estimate" && vals[0] != "accurate") {
			return &fhirerr.Error{Category: fhirerr.Invalid, Expression: "_total", Message: "_total must be none, estimate or accurate"}
		}
		req.total = vals[0]
	}
	if slices.Contains(echoed, k) {
		req.echo[k] = vals
	}
	return nil
}

// resolveInclude checks an _include value (Type:param[:Target] or *)
// against what the provider declares.
func (s *Server) resolveInclude(p resources.Provider, v string) ([]resources.Include, error) {
	inc, _ := p.(resources.Includer)
	var declared []resources.Include
	if inc != nil {
		declared = inc.Includes()
	}
	if v == "*" {
		return declared, nil
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != p.ResourceType() {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "_include",
			Message: "_include takes " + p.ResourceType() + ":<parameter>[:<target type>] on this search"}
	}
	for _, d := range declared {
		if d.Param == parts[1] && (len(parts) == 2 || parts[2] == d.Target) {
			return []resources.Include{d}, nil
		}
	}
	return nil, &fhirerr.Error{Category: fhirerr.NotSupported, Expression: "_include", Message: "_include=" + safeName(v) + " is not supported"}
}

// resolveRevinclude checks a _revinclude value (Type:param): Type's provider
// must declare an include of param pointing at p's type, and accept param as
// a search parameter.
func (s *Server) resolveRevinclude(p resources.Provider, v string) (revinclude, error) {
	parts := strings.Split(v, ":")
	fail := &fhirerr.Error{Category: fhirerr.NotSupported, Expression: "_revinclude", Message: "_revinclude=" + safeName(v) + " is not supported"}
	if len(parts) < 2 || len(parts) > 3 {
		return revinclude{}, fail
	}
	src, ok := s.reg.Lookup(parts[0])
	if !ok {
		return revinclude{}, fail
	}
	sr, ok := src.(resources.Searcher)
	if !ok || !resources.RevIncludable(src, parts[1], p.ResourceType()) {
		return revinclude{}, fail
	}
	return revinclude{source: sr, typ: src.ResourceType(), param: parts[1]}, nil
}

func parseSort(p resources.Provider, vals []string) ([]sortKey, error) {
	st, _ := p.(resources.Sorter)
	var keys []sortKey
	for _, v := range vals {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			desc := strings.HasPrefix(name, "-")
			name = strings.TrimPrefix(name, "-")
			var element string
			if st != nil {
				element = st.SortParams()[name]
			}
			if element == "" {
				return nil, &fhirerr.Error{Category: fhirerr.NotSupported, Expression: "_sort", Message: "sorting by '" + safeName(name) + "' is not supported"}
			}
			keys = append(keys, sortKey{element: element, desc: desc})
		}
	}
	return keys, nil
}

// searchset sorts, pages and renders the result as a Bundle: matches with
// their includes, self/first/previous/next/last links that keep every
// search and result parameter, and an OperationOutcome entry (search.mode
// "outcome") for warnings.
// See: http://hl7.org/fhir/R4/bundle.html#searchset and http://hl7.org/fhir/R4/http.html#paging
func (s *Server) searchset(r *http.Request, resourceType string, req *searchRequest, res *resources.SearchResult) (*reply, error) {
	base := s.baseURL()
	q := req.query
	issues := append(append([]resources.Issue(nil), req.warnings...), res.Issues...)
	matches := make([]renderedEntry, 0, len(res.Entries))
	var others []resources.SearchEntry // includes and outcomes a provider returned itself
	ri := request.From(r.Context())
	for _, e := range res.Entries {
		noteRestricted(ri, e.Resource)
	}
	for _, e := range res.Entries {
		if e.Mode != "" && e.Mode != "match" {
			others = append(others, e)
			continue
		}
		e.Resource = s.safe(r.Context(), ri, e.Resource)
		body, err := s.render.render(e.Resource)
		if err != nil {
			return nil, err
		}
		matches = append(matches, renderedEntry{entry: e, body: body})
	}
	if len(req.sort) > 0 {
		sortRendered(matches, req.sort)
	}
	total := res.Total
	if len(req.missing) > 0 {
		matches = filterMissing(matches, req.missing)
		total = len(matches)
	}
	if total < len(matches) {
		total = len(matches)
	}
	b := bundle{
		ResourceType: "Bundle",
		ID:           uuid.NewString(),
		Meta:         bundleMeta{LastUpdated: time.Now().UTC().Format(time.RFC3339)},
		Type:         "searchset",
	}
	if req.total != "none" {
		b.Total = &total
	}
	count := q.Count
	if req.subset.summary == "count" {
		count = 0
	}
	start := min(q.Offset, len(matches))
	end := min(start+count, len(matches))
	page := matches[start:end]
	// Each entry's compartment, read once: the whole page is checked
	// against a patient-scoped token before any of it is noted for audit.
	compartments := make([][]string, len(page))
	scope := patientScope(r)
	for i, m := range page {
		compartments[i] = compartmentOf(m.entry.Resource, m.body)
		if outside(scope, ri.Subjects.Unalias(compartments[i])) {
			return nil, errOtherPatient
		}
	}
	for i, m := range page {
		ri.Subjects.Note(compartments[i]...)
		body, err := req.subset.apply(m.entry.Resource.Type, m.body)
		if err != nil {
			return nil, err
		}
		b.Entry = append(b.Entry, bundleEntry{
			FullURL:  base + "/" + m.entry.Resource.Type + "/" + m.entry.Resource.ID,
			Resource: body,
			Search:   &entrySearch{Mode: "match", Score: m.entry.Score},
		})
	}
	if count > 0 {
		inc, incIssues, err := s.included(r.Context(), req, page, others)
		if err != nil {
			return nil, err
		}
		issues = append(issues, incIssues...)
		for _, e := range inc {
			notePatientsIn(ri, e.entry.Resource, e.body)
			b.Entry = append(b.Entry, bundleEntry{FullURL: base + "/" + e.entry.Resource.Type + "/" + e.entry.Resource.ID, Resource: e.body, Search: &entrySearch{Mode: "include"}})
		}
	}
	if len(issues) > 0 {
		body, id, err := outcomeResource(issues)
		if err != nil {
			return nil, err
		}
		b.Entry = append(b.Entry, bundleEntry{FullURL: "urn:uuid:" + id, Resource: body, Search: &entrySearch{Mode: "outcome"}})
	}
	link := func(rel string, offset int) {
		b.Link = append(b.Link, bundleLink{Relation: rel, URL: pageURL(base, resourceType, req, offset)})
	}
	if req.selfURL != "" {
		b.Link = append(b.Link, bundleLink{Relation: "self", URL: req.selfURL})
	} else {
		link("self", q.Offset)
	}
	if count > 0 && req.selfURL == "" {
		link("first", 0)
		if q.Offset > 0 {
			link("previous", max(0, q.Offset-count))
		}
		if end < len(matches) {
			link("next", end)
		}
		if len(matches) > 0 {
			link("last", ((len(matches)-1)/count)*count)
		}
	}
	body, err := b.encode()
	if err != nil {
		return nil, err
	}
	return &reply{body: body}, nil
}

// filterMissing keeps the matches every :missing filter accepts.
func filterMissing(ms []renderedEntry, fs []missingFilter) []renderedEntry {
	var out []renderedEntry
	for _, m := range ms {
		var obj map[string]json.RawMessage
		if json.Unmarshal(m.body, &obj) != nil {
			continue
		}
		keep := true
		for _, f := range fs {
			_, present := obj[f.element]
			if present == f.missing {
				keep = false
			}
		}
		if keep {
			out = append(out, m)
		}
	}
	return out
}

// renderedEntry is a search entry with its JSON.
type renderedEntry struct {
	entry resources.SearchEntry
	body  []byte
}

// outcomeResource renders issues as one OperationOutcome.
func outcomeResource(issues []resources.Issue) ([]byte, string, error) {
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
	return body, oo.ID, err
}

// included resolves _include and _revinclude for the matches on this page,
// concurrently, each resource once. A reference that cannot be followed is
// a warning, not a failure of the search.
func (s *Server) included(ctx context.Context, req *searchRequest, page []renderedEntry, fromProvider []resources.SearchEntry) ([]renderedEntry, []resources.Issue, error) {
	type job struct {
		run  func(ctx context.Context) ([]*resources.Resource, error)
		what string
	}
	onPage := map[string]bool{}
	for _, m := range page {
		onPage[m.entry.Resource.Type+"/"+m.entry.Resource.ID] = true
	}
	seen := map[string]bool{} // include targets already asked for
	var jobs []job
	for _, inc := range req.include {
		target, ok := s.reg.Lookup(inc.Target)
		rd, isReader := target.(resources.Reader)
		if !ok || !isReader {
			continue
		}
		for _, m := range page {
			for _, ref := range references(m.body, inc.Target, inc.Element) {
				key := inc.Target + "/" + ref
				if seen[key] || onPage[key] {
					continue
				}
				seen[key] = true
				id := ref
				jobs = append(jobs, job{what: inc.Target, run: func(ctx context.Context) ([]*resources.Resource, error) {
					res, err := rd.Read(ctx, id)
					if err != nil {
						return nil, err
					}
					return []*resources.Resource{res}, nil
				}})
			}
		}
	}
	var issues []resources.Issue
	for _, rv := range req.revinclude {
		for i, m := range page {
			if i >= maxRevincludeTargets {
				issues = append(issues, resources.Issue{Severity: "warning", Code: "too-costly",
					Diagnostics: "_revinclude was applied to the first " + strconv.Itoa(maxRevincludeTargets) + " matches of this page only"})
				break
			}
			rv, ref := rv, m.entry.Resource.Type+"/"+m.entry.Resource.ID
			jobs = append(jobs, job{what: rv.typ, run: func(ctx context.Context) ([]*resources.Resource, error) {
				got, err := rv.source.Search(ctx, &resources.Query{Params: url.Values{rv.param: {ref}}, Count: s.cfg.MaxPageSize})
				if err != nil {
					return nil, err
				}
				var out []*resources.Resource
				for _, e := range got.Entries {
					if e.Mode == "" || e.Mode == "match" {
						out = append(out, e.Resource)
					}
				}
				return out, nil
			}})
		}
	}
	results := make([][]*resources.Resource, len(jobs))
	errs := make([]error, len(jobs))
	runs := make([]func(), len(jobs))
	for i, j := range jobs {
		runs[i] = func() { results[i], errs[i] = j.run(ctx) }
	}
	runBounded(4, runs)
	var out []renderedEntry
	ri := request.From(ctx)
	for _, e := range fromProvider {
		if e.Mode == "include" {
			e.Resource = s.safe(ctx, ri, e.Resource)
			body, err := s.render.render(e.Resource)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, renderedEntry{entry: e, body: body})
		}
	}
	for i, j := range jobs {
		if errs[i] != nil {
			issues = append(issues, resources.Issue{Severity: "error", Code: "incomplete",
				Diagnostics: "an included " + j.what + " could not be fetched: " + fhirerr.UserMessage(errs[i])})
			continue
		}
		for _, res := range results[i] {
			if onPage[res.Type+"/"+res.ID] {
				continue // already in the Bundle as a match
			}
			res = s.safe(ctx, ri, res)
			body, err := s.render.render(res)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, renderedEntry{entry: resources.SearchEntry{Resource: res, Mode: "include"}, body: body})
		}
	}
	// Overlapping revincludes can find one resource twice.
	return dedupe(out), issues, nil
}

func dedupe(rs []renderedEntry) []renderedEntry {
	seen := map[string]bool{}
	out := rs[:0]
	for _, r := range rs {
		k := r.entry.Resource.Type + "/" + r.entry.Resource.ID
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	return out
}

// references returns the ids of target resources referenced from the
// elements (each a Reference or a list of them) of a rendered resource,
// parsing it once: relative (Patient/x) or absolute (…/Patient/x)
// references only.
func references(body []byte, target string, elements ...string) []string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil
	}
	var out []string
	for _, el := range elements {
		if raw, ok := obj[el]; ok {
			out = append(out, referenceIDs(raw, target)...)
		}
	}
	return out
}

// referenceIDs reads the target ids from one Reference element or list.
func referenceIDs(raw json.RawMessage, target string) []string {
	var refs []struct {
		Reference string `json:"reference"`
	}
	if json.Unmarshal(raw, &refs) != nil {
		var one struct {
			Reference string `json:"reference"`
		}
		if json.Unmarshal(raw, &one) != nil {
			return nil
		}
		refs = append(refs, one)
	}
	var out []string
	for _, r := range refs {
		if id, ok := referenceTo(r.Reference, target); ok {
			out = append(out, id)
		}
	}
	return out
}

// referenceTo reads the id of a reference string to target: relative
// ("Patient/9000000009") or absolute (".../fhir/Patient/9000000009").
func referenceTo(ref, target string) (string, bool) {
	i := strings.LastIndex(ref, target+"/")
	if i < 0 || (i > 0 && ref[i-1] != '/') {
		return "", false
	}
	id := ref[i+len(target)+1:]
	return id, fhirjson.ValidID(id) // the id grammar admits no "/" and no ""
}

// sortRendered orders matches by the sort keys (stable: the backend's order
// breaks ties); resources without the element come last.
func sortRendered(ms []renderedEntry, keys []sortKey) {
	vals := make([][]string, len(ms))
	for i, m := range ms {
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(m.body, &obj)
		for _, k := range keys {
			vals[i] = append(vals[i], sortValue(obj[k.element]))
		}
	}
	idx := make([]int, len(ms))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		for ki, k := range keys {
			va, vb := vals[idx[a]][ki], vals[idx[b]][ki]
			if va == vb {
				continue
			}
			if va == "" || vb == "" {
				return vb == "" // missing values last, whatever the direction
			}
			if k.desc {
				return va > vb
			}
			return va < vb
		}
		return false
	})
	sorted := make([]renderedEntry, len(ms))
	for i, j := range idx {
		sorted[i] = ms[j]
	}
	copy(ms, sorted)
}

// sortValue is the text an element sorts by: a string as is, a Period by
// its start, a CodeableConcept by its text or first code.
func sortValue(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Start  string `json:"start"`
		Text   string `json:"text"`
		Coding []struct {
			Code string `json:"code"`
		} `json:"coding"`
	}
	if json.Unmarshal(raw, &o) == nil {
		switch {
		case o.Start != "":
			return o.Start
		case o.Text != "":
			return o.Text
		case len(o.Coding) > 0:
			return o.Coding[0].Code
		}
	}
	return string(raw)
}

// pageURL is the search URL for the page starting at offset: every
// recognised search parameter, the echoed result parameters, _count, and
// _offset when not zero.
func pageURL(base, resourceType string, req *searchRequest, offset int) string {
	v := url.Values{}
	for k, vs := range req.query.Params {
		v[k] = vs
	}
	for k, vs := range req.echo {
		v[k] = vs
	}
	v.Set("_count", strconv.Itoa(req.query.Count))
	if offset > 0 {
		v.Set("_offset", strconv.Itoa(offset))
	}
	if req.path != "" {
		resourceType = req.path
	}
	return base + "/" + resourceType + "?" + v.Encode()
}
