package fhirjson

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Bundle is a generic R4 Bundle as the NHS APIs return them for searches.
// Entry resources are kept raw: decode each with the struct of its type
// (ResourceType tells which).
//
// There is deliberately no BuildBundle: the facade assembles its own Bundles
// from the resources it maps.
//
// See: http://hl7.org/fhir/R4/bundle.html#resource
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Meta         *Meta         `json:"meta,omitempty"`
	Type         string        `json:"type,omitempty"`
	Timestamp    string        `json:"timestamp,omitempty"`
	Total        *int64        `json:"total,omitempty"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// Resources returns the resource of every entry that has one, in order.
func (b *Bundle) Resources() []json.RawMessage {
	out := make([]json.RawMessage, 0, len(b.Entry))
	for _, e := range b.Entry {
		if len(e.Resource) > 0 {
			out = append(out, e.Resource)
		}
	}
	return out
}

// SearchsetError says why a searchset answer cannot be taken as the whole
// of what a service holds for a patient: Kind is how, worded for "the …
// service sent <Kind> response" ("an empty", "an unreadable", "an
// unexpected", "an incomplete", "a truncated"); Err the cause, if any. It
// carries no patient data.
type SearchsetError struct {
	Kind string
	Err  error
}

func (e *SearchsetError) Error() string {
	if e.Err == nil {
		return e.Kind + " searchset"
	}
	return e.Kind + " searchset: " + e.Err.Error()
}

func (e *SearchsetError) Unwrap() error { return e.Err }

// WholeSearchset reads a searchset answer given in one page: the resource
// of every entry, or a *SearchsetError when the answer cannot be the whole
// of what the service holds, lest records vanish without a word: an empty
// body, not JSON, not a searchset Bundle, an entry without its resource,
// fewer matches than its total says, or a next page (which the clients do
// not follow). A searchset with no entry and no total, or total 0, holds
// nothing.
func WholeSearchset(body []byte) ([]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &SearchsetError{Kind: "an empty"}
	}
	var b Bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, &SearchsetError{Kind: "an unreadable", Err: err}
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" {
		return nil, &SearchsetError{Kind: "an unexpected"}
	}
	n := int64(0)
	for _, e := range b.Entry {
		if len(bytes.TrimSpace(e.Resource)) == 0 || string(e.Resource) == "null" {
			return nil, &SearchsetError{Kind: "an incomplete", Err: errors.New("an entry without its resource")}
		}
		if e.Search == nil || e.Search.Mode == "" || e.Search.Mode == "match" {
			n++
		}
	}
	if b.Total != nil && *b.Total > n {
		return nil, &SearchsetError{Kind: "a truncated", Err: errors.New("fewer matches than its total")}
	}
	for _, l := range b.Link {
		if l.Relation == "next" {
			return nil, &SearchsetError{Kind: "a truncated", Err: errors.New("a further page")}
		}
	}
	return b.Resources(), nil
}

// BundleLink is a paging or self link of a Bundle.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one entry: the resource's full URL, the resource itself
// (raw JSON), and for searches its mode and score.
type BundleEntry struct {
	FullURL  string             `json:"fullUrl,omitempty"`
	Resource json.RawMessage    `json:"resource,omitempty"`
	Search   *BundleEntrySearch `json:"search,omitempty"`
}

// BundleEntrySearch says why an entry is in a searchset and how well it
// matched (PDS: 1.0 is an exact match).
type BundleEntrySearch struct {
	Mode  string   `json:"mode,omitempty"`
	Score *float64 `json:"score,omitempty"`
}

// MarshalJSON writes the Bundle with "resourceType": "Bundle".
func (b Bundle) MarshalJSON() ([]byte, error) {
	type plain Bundle
	b.ResourceType = "Bundle"
	return json.Marshal(plain(b))
}

// ResourceType returns the "resourceType" of a JSON resource without
// decoding the rest of it, e.g. to tell a searchset Bundle from the bare
// OperationOutcome PDS answers with HTTP 200 when a search matches too many.
func ResourceType(raw []byte) (string, error) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", err
	}
	if head.ResourceType == "" {
		return "", errors.New("fhirjson: no resourceType")
	}
	return head.ResourceType, nil
}
