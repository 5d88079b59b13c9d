package tests

import (
	"strings"
	"testing"
)

// documentEntries checks r is a FHIR document as R4 defines it, and
// returns its records (every entry but the Composition, its author and
// the OperationOutcome) and its OperationOutcome entries:
//   - bdl-9/10/11: an identifier with system and value, a timestamp, a
//     Composition first; no total, no search, no paging links;
//   - every entry has an absolute fullUrl, unique; a record's is
//     [base]/[type]/[id];
//   - the Composition's subject, author and section entries resolve to
//     entries of the Bundle, and every entry is referenced from it.
//
// See: http://hl7.org/fhir/R4/documents.html and bundle.html#invs
func documentEntries(t *testing.T, r response) (matches, outcomes []map[string]any) {
	t.Helper()
	b := r.body
	id, _ := b["identifier"].(map[string]any)
	if id["system"] == nil || id["value"] == nil || b["timestamp"] == nil {
		t.Errorf("a document without identifier or timestamp (bdl-9, bdl-10): %.300s", r.raw)
	}
	if b["total"] != nil {
		t.Error("a document has a total (bdl-1)")
	}
	for _, l := range asList(b["link"]) {
		if rel := l.(map[string]any)["relation"]; rel != "self" {
			t.Errorf("a document has a %v link", rel)
		}
	}
	es := asList(b["entry"])
	if len(es) == 0 {
		t.Fatalf("an empty document: %s", r.raw)
	}
	byURL := map[string]map[string]any{}
	base := "" // the server's, read from a record's fullUrl
	for _, e := range es {
		m := e.(map[string]any)
		u, _ := m["fullUrl"].(string)
		rest := strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
		if !strings.HasPrefix(u, "urn:uuid:") && !rest {
			t.Errorf("fullUrl %q is not absolute", u)
		}
		if byURL[u] != nil {
			t.Errorf("fullUrl %q twice (bdl-7)", u)
		}
		if m["search"] != nil || m["request"] != nil || m["response"] != nil {
			t.Errorf("a document entry with search, request or response (bdl-2/3/4): %v", m)
		}
		res := resourceOf(m)
		if rest && !strings.HasSuffix(u, "/fhir/"+res["resourceType"].(string)+"/"+res["id"].(string)) {
			t.Errorf("fullUrl %q of %v/%v", u, res["resourceType"], res["id"])
		}
		byURL[u] = m
		if rest {
			base = strings.TrimSuffix(u, "/"+res["resourceType"].(string)+"/"+res["id"].(string))
		}
	}
	comp := resourceOf(es[0].(map[string]any))
	if comp["resourceType"] != "Composition" {
		t.Fatalf("the first entry is a %v, not the Composition (bdl-11)", comp["resourceType"])
	}
	referenced := map[string]bool{es[0].(map[string]any)["fullUrl"].(string): true}
	resolve := func(ref any) map[string]any {
		s, _ := ref.(map[string]any)["reference"].(string)
		if s == "" {
			return nil
		}
		u := s
		if !strings.HasPrefix(s, "urn:") {
			u = base + "/" + s // relative to the server's base
		}
		e := byURL[u]
		if e == nil {
			t.Errorf("reference %q does not resolve in the document", s)
			return nil
		}
		referenced[u] = true
		return e
	}
	resolve(comp["subject"])
	author := map[string]bool{}
	for _, a := range asList(comp["author"]) {
		if e := resolve(a); e != nil {
			author[e["fullUrl"].(string)] = true
		}
	}
	for _, s := range asList(comp["section"]) {
		for _, ref := range asList(s.(map[string]any)["entry"]) {
			resolve(ref)
		}
	}
	for _, e := range es[1:] {
		m := e.(map[string]any)
		u := m["fullUrl"].(string)
		if !referenced[u] {
			t.Errorf("entry %s is referenced from nowhere in the Composition", u)
		}
		switch {
		case resourceOf(m)["resourceType"] == "OperationOutcome":
			outcomes = append(outcomes, m)
		case !author[u]:
			matches = append(matches, m)
		}
	}
	return matches, outcomes
}

// summarySection is the section of a $summary document with LOINC code,
// or nil.
func summarySection(t *testing.T, r response, code string) map[string]any {
	t.Helper()
	es := asList(r.body["entry"])
	if len(es) == 0 {
		t.Fatalf("no entries: %s", r.raw)
	}
	for _, s := range asList(resourceOf(es[0].(map[string]any))["section"]) {
		sec := s.(map[string]any)
		for _, c := range asList(mapOf(sec["code"])["coding"]) {
			if c.(map[string]any)["system"] == "http://loinc.org" && c.(map[string]any)["code"] == code {
				return sec
			}
		}
	}
	return nil
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// emptyReason is a section's emptyReason code, "" when it has entries.
func emptyReason(sec map[string]any) string {
	for _, c := range asList(mapOf(sec["emptyReason"])["coding"]) {
		return c.(map[string]any)["code"].(string)
	}
	return ""
}

// sectionText is a section's narrative div.
func sectionText(sec map[string]any) string {
	d, _ := mapOf(sec["text"])["div"].(string)
	return d
}

// sectionRefs are the references of a section's entries.
func sectionRefs(sec map[string]any) []string {
	var out []string
	for _, e := range asList(sec["entry"]) {
		s, _ := e.(map[string]any)["reference"].(string)
		out = append(out, s)
	}
	return out
}
