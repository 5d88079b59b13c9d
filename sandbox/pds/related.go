package pds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/pds/fixtures"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// GET /Patient/{nhsNumber}/RelatedPerson (OpenAPI
// components/paths/relatedpersons-get.yaml): a searchset of the patient's
// related people.
//
//   - 9000000009 and 9000000017 answer the sandbox's own Bundles
//     (fixtures/relatedPersonResponses), with a fresh timestamp as the
//     sandbox adds and fullUrls under this simulator's base, as search does;
//   - a restricted patient (9000000025) has none: "Related people are not
//     returned for a restricted patient and an empty bundle is returned";
//   - other fixture patients have none, as in the sandbox (a search-only
//     one is unknown, as on read);
//   - a synthetic person mostly has none; some, chosen by their NHS number,
//     have one: an adult of the same family name in the population, as
//     guardian of a child or next of kin of an adult, referenced by NHS
//     number (the specification's Referenced_RelatedPersonBundle form).
//
// Errors as for read: 400 INVALID_RESOURCE_ID, 404 RESOURCE_NOT_FOUND with
// a timestamp (unknown patient; the sandbox answers 9111231130 so, and any
// other number it does not hold with an empty searchset), 404
// INVALIDATED_RESOURCE; a superseded number answers for the superseding
// patient.

// relatedEntry is one RelatedPerson of a searchset.
type relatedEntry struct {
	id       string
	resource []byte
}

func (s *Simulator) relatedPeople(w http.ResponseWriter, r *http.Request, id string) *apiError {
	if id == "" {
		return errUnsupportedService()
	}
	if !nhsnumber.Valid(id) {
		return errInvalidResourceID()
	}
	if s.db.invalidated[id] {
		return errInvalidated()
	}
	id = s.db.current(id)
	rec := s.readable(id)
	if rec == nil {
		e := errNotFound()
		e.timestamp = true // the sandbox stamps this 404 (only this one)
		return e
	}
	var entries []relatedEntry
	if !rec.restricted {
		var err error
		if entries, err = fixtureRelatedPeople(id); err != nil {
			panic(err) // embedded fixtures: a build defect
		}
		if rec.person != nil {
			entries = s.syntheticRelatedPeople(rec.person)
		}
		if entries == nil {
			entries = birthMother(rec.full)
		}
	}

	base := s.baseURL(r)
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"searchset","timestamp":"`)
	b.WriteString(time.Now().UTC().Format("2006-01-02T15:04:05+00:00"))
	b.WriteString(`","total":`)
	b.WriteString(strconv.Itoa(len(entries)))
	if len(entries) > 0 {
		b.WriteString(`,"entry":[`)
		for i, e := range entries {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"fullUrl":`)
			b.WriteString(strconv.Quote(base + "/Patient/" + id + "/RelatedPerson/" + e.id))
			b.WriteString(`,"resource":`)
			b.Write(e.resource)
			b.WriteByte('}')
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}

// fixtureRelatedPeople reads the sandbox's Bundle for id, if it has one.
func fixtureRelatedPeople(id string) ([]relatedEntry, error) {
	raw, ok := fixtures.RelatedPeople(id)
	if !ok {
		return nil, nil
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &bundle); err != nil {
		return nil, fmt.Errorf("pds: related people of %s: %w", id, err)
	}
	out := make([]relatedEntry, 0, len(bundle.Entry))
	for i, e := range bundle.Entry {
		var head struct {
			ID string `json:"id"`
		}
		var buf bytes.Buffer
		if err := json.Unmarshal(e.Resource, &head); err != nil || head.ID == "" {
			return nil, fmt.Errorf("pds: related people of %s: entry %d has no id", id, i)
		}
		if err := json.Compact(&buf, e.Resource); err != nil {
			return nil, err
		}
		out = append(out, relatedEntry{head.ID, buf.Bytes()})
	}
	return out, nil
}

// baseURL is the absolute base of fullUrls: Options.BaseURL, or derived
// from the request.
func (s *Simulator) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + BasePath
}

const (
	relatedRoleSystem = "https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole"
	relatedTypeSystem = "http://hl7.org/fhir/ValueSet/relatedperson-relationshiptype"
)

type rpCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type rpExtension struct {
	URL              string `json:"url"`
	ValueBoolean     *bool  `json:"valueBoolean,omitempty"`
	ValuePositiveInt int    `json:"valuePositiveInt,omitempty"`
}

type rpResource struct {
	ID           string `json:"id"`
	ResourceType string `json:"resourceType"`
	Patient      struct {
		Identifier struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	} `json:"patient"`
	Active       bool    `json:"active"`
	Period       pPeriod `json:"period"`
	Relationship []struct {
		Coding []rpCoding `json:"coding"`
	} `json:"relationship"`
	Extension []rpExtension `json:"extension"`
}

// syntheticRelatedPeople gives a synthetic person, deterministically, no
// related person (most) or one: for half of the children a guardian, for
// one adult in ten a next of kin, in both cases an adult of the same
// family name, alive and unrestricted, from the population.
func (s *Simulator) syntheticRelatedPeople(p *population.Person) []relatedEntry {
	if p.Restricted {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(p.NHSNumber))
	h.Write([]byte("/related"))
	sum := h.Sum32()
	child := p.Title == "" // the population gives children no title
	if (child && sum%2 != 0) || (!child && sum%10 != 0) {
		return nil
	}
	var cands []*population.Person
	for _, r := range s.db.byFamily[normName(p.Family)] {
		o := r.person
		// byFamily also indexes previous family names.
		if o == nil || o == p || o.Family != p.Family || o.Title == "" || o.Deceased() || o.Restricted {
			continue
		}
		cands = append(cands, o)
	}
	if len(cands) == 0 {
		return nil
	}
	other := cands[int(sum/10)%len(cands)]

	start := max(p.BirthDate, other.BirthDate)
	if child {
		yes := true
		return relatedPerson(sum, other.NHSNumber, start, []rpCoding{
			{relatedRoleSystem, "Guardian", "Guardian of patient"},
			{relatedTypeSystem, "PRN", "parent"},
			{relatedTypeSystem, "N", "Next-of-Kin"},
		}, rpExtension{URL: "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-CopyCorrespondenceIndicator", ValueBoolean: &yes})
	}
	return relatedPerson(sum, other.NHSNumber, start, []rpCoding{
		{relatedRoleSystem, "Personal", "Personal relationship with the patient"},
		{relatedTypeSystem, "FAMMEMB", "family member"},
		{relatedTypeSystem, "N", "Next-of-Kin"},
	})
}

// relatedPerson is the one RelatedPerson of a searchset: the related
// person referenced by NHS number (Referenced_RelatedPersonBundle form),
// active since start, with its relationship codings and extensions, then
// the contact rank 1.
func relatedPerson(hash uint32, nhs, start string, codings []rpCoding, ext ...rpExtension) []relatedEntry {
	rp := rpResource{ID: fmt.Sprintf("%08X", hash), ResourceType: "RelatedPerson", Active: true}
	rp.Patient.Identifier.System = nhsnumber.System
	rp.Patient.Identifier.Value = nhs
	rp.Period.Start = start
	rp.Relationship = append(rp.Relationship, struct {
		Coding []rpCoding `json:"coding"`
	}{codings})
	rp.Extension = append(ext, rpExtension{URL: "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-ContactRank", ValuePositiveInt: 1})
	b, err := json.Marshal(rp)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	return []relatedEntry{{rp.ID, b}}
}

// birthMother gives a baby registered by RegisterBirth its mother as a
// RelatedPerson, referenced by NHS number (the Referenced_RelatedPersonBundle
// form), from the contact that carries her number: the project contract links the
// baby to the mother by RelatedPerson/contact. Any other record has none.
func birthMother(full []byte) []relatedEntry {
	var p struct {
		BirthDate string `json:"birthDate"`
		Contact   []struct {
			Extension []struct {
				URL             string `json:"url"`
				ValueIdentifier struct {
					Value string `json:"value"`
				} `json:"valueIdentifier"`
			} `json:"extension"`
		} `json:"contact"`
	}
	if json.Unmarshal(full, &p) != nil {
		return nil
	}
	for _, c := range p.Contact {
		for _, e := range c.Extension {
			if e.URL != MotherNHSNumberURL || !nhsnumber.Valid(e.ValueIdentifier.Value) {
				continue
			}
			mother := e.ValueIdentifier.Value
			h := fnv.New32a()
			h.Write([]byte(mother))
			h.Write([]byte("/mother"))
			return relatedPerson(h.Sum32(), mother, p.BirthDate, []rpCoding{
				{relatedRoleSystem, "Personal", "Personal relationship with the patient"},
				{relatedTypeSystem, "MTH", "mother"},
				{relatedTypeSystem, "N", "Next-of-Kin"},
			})
		}
	}
	return nil
}
