// Package fhirwire holds the FHIR datatypes the simulators put on the wire
// and the searchset Bundle they answer with. They are the simulators' own
// structs, written from what the national services send (each simulator's
// testdata: RA's public sandbox files, NRL's seed data and examples, the
// CP-IS and FGM-IS contract payloads), never the facade's model/fhirjson:
// shared structs would make a field both sides miss invisible to every
// end-to-end test (issue #18).
//
// Only the elements some simulator fills, or keeps from a client's write,
// are modelled; an element a client sends that is not here is not kept.
// Fields follow FHIR's element order, which is the order the services write
// and encoding/json keeps, except Extension's url, which the services (and
// HAPI) write first. STU3, which RA speaks, spells every element modelled
// here as R4 does.
//
// The resources themselves are each service's own and live with its
// simulator (sandbox/fgm's Flag, sandbox/cpis's CareTeam and AuditEvent,
// sandbox/ra's STU3 Flag, Consent and Provenance, sandbox/nrl's
// DocumentReference); OperationOutcome is sandbox/wire's Outcome.
package fhirwire

import "encoding/json"

// Coding is a code of a code system, as every service writes it.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a concept as codings and an optional text (FGM-IS's
// Flag.code carries both).
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is a business identifier: an NHS number, an ODS code, a Spine
// ASID, NRL's masterIdentifier.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Reference is a literal reference (RA's Patient and SDS URLs, contained
// "#id"s) or a logical one by identifier (the R4 services' patients and
// organisations), with an optional display.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Period is a time range; an open end is left out.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Meta is a resource's version, last update and profiles (RA's
// RARecord-*-1, FGM-IS's versions).
type Meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
}

// Extension is an extension with one value, or nested extensions (RA's
// Provenance and removal reason). The value types are those the services
// send: a code (CP-IS's contact type), a string (FGM-IS's removal reason,
// RA's supporting comment), a CodeableConcept (RA's categories and proxy
// role, NRL's content stability) and a Reference (RA's Provenance).
type Extension struct {
	URL                  string           `json:"url"`
	Extension            []Extension      `json:"extension,omitempty"`
	ValueCode            string           `json:"valueCode,omitempty"`
	ValueString          string           `json:"valueString,omitempty"`
	ValueCodeableConcept *CodeableConcept `json:"valueCodeableConcept,omitempty"`
	ValueReference       *Reference       `json:"valueReference,omitempty"`
}

// ContactPoint is a phone number (CP-IS's local authority numbers, ranked,
// each with its contact type in an extension).
type ContactPoint struct {
	Extension []Extension `json:"extension,omitempty"`
	System    string      `json:"system,omitempty"`
	Value     string      `json:"value,omitempty"`
	Use       string      `json:"use,omitempty"`
	Rank      *int        `json:"rank,omitempty"`
}

// Attachment is where a document is and what it is (NRL's content):
// Size and Hash (base64 SHA-1) are the served bytes'.
type Attachment struct {
	ContentType string `json:"contentType,omitempty"`
	Language    string `json:"language,omitempty"`
	URL         string `json:"url,omitempty"`
	Size        *int64 `json:"size,omitempty"`
	Hash        string `json:"hash,omitempty"`
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

// Bundle is a searchset as the simulators answer searches: entries carry
// their resources as raw JSON, each rendered by its service's own struct.
// MarshalJSON writes "resourceType": "Bundle" first.
type Bundle struct {
	ID    string        `json:"id,omitempty"`
	Meta  *Meta         `json:"meta,omitempty"`
	Type  string        `json:"type,omitempty"`
	Total *int          `json:"total,omitempty"`
	Link  []BundleLink  `json:"link,omitempty"`
	Entry []BundleEntry `json:"entry,omitempty"`
}

// BundleLink is a Bundle's self (or paging) link.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one entry: the resource's full URL, the resource, and why
// it is in the searchset (RA leaves search out).
type BundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *BundleSearch   `json:"search,omitempty"`
}

// BundleSearch is an entry's search mode ("match").
type BundleSearch struct {
	Mode string `json:"mode,omitempty"`
}

// Searchset is a searchset Bundle of entries, all of them (total is their
// number), with its self link.
func Searchset(id, self string, entries []BundleEntry) Bundle {
	total := len(entries)
	return Bundle{ID: id, Type: "searchset", Total: &total, Link: []BundleLink{{Relation: "self", URL: self}}, Entry: entries}
}

// Match is a searchset entry of mode "match" for resource (already
// rendered) at fullURL.
func Match(fullURL string, resource json.RawMessage) BundleEntry {
	return BundleEntry{FullURL: fullURL, Resource: resource, Search: &BundleSearch{Mode: "match"}}
}

// MarshalJSON writes the Bundle with its resourceType first.
func (b Bundle) MarshalJSON() ([]byte, error) {
	type plain Bundle
	return json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Bundle", plain(b)})
}
