package server

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// maxSearchBody bounds a POST _search form.
const maxSearchBody = 64 << 10

// mergeForm adds the parameters of a POST _search body to those of the URL.
func mergeForm(r *http.Request, q url.Values) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, fhirerr.New(fhirerr.UnsupportedMediaType, "POST _search takes an application/x-www-form-urlencoded body")
	}
	b, err := readBounded(r, maxSearchBody, "_search body")
	if err != nil {
		return nil, err
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

type bundle struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Meta         bundleMeta        `json:"meta"`
	Identifier   *bundleIdentifier `json:"identifier,omitempty"` // a document's
	Type         string            `json:"type"`
	Timestamp    string            `json:"timestamp,omitempty"` // a document's
	Total        *int              `json:"total,omitempty"`
	Link         []bundleLink      `json:"link"`
	Entry        []bundleEntry     `json:"entry,omitempty"`
}

// encode writes the Bundle with its entries' resources copied as they are:
// they are the renderer's own compact JSON, and encoding/json would parse
// and compact every one of them again (6 % of a $summary's CPU).
func (b *bundle) encode() ([]byte, error) {
	entries := b.Entry
	b.Entry = nil
	head, err := marshal(b)
	b.Entry = entries
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return head, nil
	}
	size := len(head) + 16
	for _, e := range entries {
		size += len(e.FullURL) + len(e.Resource) + 64
	}
	out := make([]byte, 0, size)
	out = append(out, head[:len(head)-1]...) // without the closing brace
	out = append(out, `,"entry":[`...)
	for i, e := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '{')
		if e.FullURL != "" {
			u, err := marshal(e.FullURL)
			if err != nil {
				return nil, err
			}
			out = append(out, `"fullUrl":`...)
			out = append(out, u...)
			out = append(out, ',')
		}
		out = append(out, `"resource":`...)
		out = append(out, e.Resource...)
		if e.Search != nil {
			s, err := marshal(e.Search)
			if err != nil {
				return nil, err
			}
			out = append(out, `,"search":`...)
			out = append(out, s...)
		}
		out = append(out, '}')
	}
	return append(out, "]}"...), nil
}

type bundleIdentifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
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
