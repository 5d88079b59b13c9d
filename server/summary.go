package server

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// summary_elements.json lists, per resource type, the top-level elements
// that are in the summary, mandatory, or modifiers, derived from the R4
// StructureDefinitions (see summary_gen_test.go).
//
//go:embed summary_elements.json
var summaryTableJSON []byte

type elementSets struct {
	Summary   []string `json:"summary,omitempty"`
	Mandatory []string `json:"mandatory,omitempty"`
	Modifier  []string `json:"modifier,omitempty"`
}

var (
	summaryOnce  sync.Once
	summaryTable map[string]elementSets
)

func loadSummaryTable() map[string]elementSets {
	summaryOnce.Do(func() {
		summaryTable = map[string]elementSets{}
		if err := json.Unmarshal(summaryTableJSON, &summaryTable); err != nil {
			panic("server: summary_elements.json: " + err.Error())
		}
	})
	return summaryTable
}

// subset is how a client asked for part of each resource: _summary or
// _elements. The zero value asks for everything.
// See: http://hl7.org/fhir/R4/search.html#summary and #elements
type subset struct {
	summary  string   // "", "true", "text", "data", "count", "false"
	elements []string // top-level element names
}

func (s subset) full() bool {
	return (s.summary == "" || s.summary == "false") && len(s.elements) == 0
}

// parseSubset reads _summary and _elements; count is only meaningful for
// searches.
func parseSubset(q map[string][]string, search bool) (subset, error) {
	var s subset
	if v := q["_summary"]; len(v) > 0 {
		if len(v) > 1 {
			return s, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "_summary", Message: "_summary may be given only once"}
		}
		switch v[0] {
		case "true", "text", "data", "false":
			s.summary = v[0]
		case "count":
			if !search {
				return s, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "_summary", Message: "_summary=count applies to searches only"}
			}
			s.summary = v[0]
		default:
			return s, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "_summary", Message: "_summary must be true, text, data, count or false"}
		}
	}
	for _, v := range q["_elements"] {
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			if !elementName(e) {
				return s, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "_elements", Message: "_elements takes top-level element names, e.g. _elements=name,birthDate"}
			}
			s.elements = append(s.elements, e)
		}
	}
	if s.summary != "" && s.summary != "false" && len(s.elements) > 0 {
		return s, &fhirerr.Error{Category: fhirerr.Invalid, Expression: "_elements", Message: "use either _summary or _elements, not both"}
	}
	return s, nil
}

func elementName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// subsettedTag marks a resource that is not complete.
// See: http://hl7.org/fhir/R4/v3/ObservationValue/cs.html (SUBSETTED)
var subsettedTag = map[string]any{
	"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
	"code":   "SUBSETTED",
}

// apply returns the part of a rendered resource the client asked for, with
// meta.tag SUBSETTED when anything was left out. Mandatory and modifier
// elements are always kept, so a subset is never misleading.
func (s subset) apply(resourceType string, body []byte) ([]byte, error) {
	if s.full() {
		return body, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, err
	}
	sets := loadSummaryTable()[resourceType]
	keep := map[string]bool{"resourceType": true, "id": true, "meta": true}
	for _, e := range sets.Mandatory {
		keep[e] = true
	}
	for _, e := range sets.Modifier {
		keep[e] = true
	}
	switch {
	case len(s.elements) > 0:
		for _, e := range s.elements {
			keep[e] = true
		}
	case s.summary == "true":
		for _, e := range sets.Summary {
			keep[e] = true
		}
	case s.summary == "text":
		keep["text"] = true
	case s.summary == "data":
		for k := range obj {
			keep[k] = k != "text"
		}
	}
	removed := false
	for k := range obj {
		if !keepElement(keep, k) {
			delete(obj, k)
			removed = true
		}
	}
	if !removed {
		return body, nil
	}
	meta := map[string]any{}
	if raw, ok := obj["meta"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, err
		}
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, subsettedTag)
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	obj["meta"] = mb
	return orderedObject(obj), nil
}

// keepElement matches JSON member names against element names, including
// choice types (deceased[x] → deceasedBoolean) and primitive extensions
// (_birthDate).
func keepElement(keep map[string]bool, member string) bool {
	name := strings.TrimPrefix(member, "_")
	if keep[name] {
		return true
	}
	for k := range keep {
		if base, ok := strings.CutSuffix(k, "[x]"); ok && strings.HasPrefix(name, base) && len(name) > len(base) && name[len(base)] >= 'A' && name[len(base)] <= 'Z' {
			return true
		}
	}
	return false
}

// orderedObject writes obj with resourceType, id and meta first, then the
// rest in name order.
func orderedObject(obj map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	rank := map[string]int{"resourceType": 0, "id": 1, "meta": 2}
	sort.Slice(keys, func(i, j int) bool {
		ri, iok := rank[keys[i]]
		rj, jok := rank[keys[j]]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return keys[i] < keys[j]
	})
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(obj[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
