package nrl

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/sandbox/wire"
)

// InteractionID is the Ssp-InteractionID of NRL document retrieval through
// the Spine Secure Proxy.
const InteractionID = "urn:nhs:names:services:nrl:DocumentReference.content.read"

// pdfDocument returns a small but well-formed PDF 1.4 of one A4 page
// showing title and lines. When pad is larger than that, an unreferenced
// stream object of pseudo-random bytes (seeded, so the same every time)
// makes the file about pad bytes long, like a scanned record.
func pdfDocument(title string, lines []string, pad int, seed uint64) []byte {
	var text strings.Builder
	text.WriteString("BT /F1 16 Tf 56 780 Td 20 TL (" + pdfString(title) + ") Tj /F1 11 Tf T*")
	for _, l := range lines {
		text.WriteString(" (" + pdfString(l) + ") '")
	}
	text.WriteString(" ET")
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		streamObject([]byte(text.String())),
	}
	var b bytes.Buffer
	b.Grow(max(pad, 2048) + 1024)
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, 0, len(objects)+1)
	write := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	for _, o := range objects {
		write(o)
	}
	if fill := pad - b.Len() - 400; fill > 0 {
		filler := make([]byte, fill)
		rng := rand.New(rand.NewPCG(seed, 0x6e726c))
		for i := 0; i+8 <= len(filler); i += 8 {
			binary.LittleEndian.PutUint64(filler[i:], rng.Uint64())
		}
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n<< /Length %d >>\nstream\n", len(offsets), len(filler))
		b.Write(filler)
		b.WriteString("\nendstream\nendobj\n")
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

func streamObject(content []byte) string {
	return "<< /Length " + strconv.Itoa(len(content)) + " >>\nstream\n" + string(content) + "\nendstream"
}

// pdfString escapes s for a PDF literal string; non-ASCII becomes '?'.
func pdfString(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 32 || r > 126:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fhirDocument returns a structured document: a FHIR R4 document Bundle
// whose Composition has one narrative section.
func fhirDocument(p *pointer, title, summary string) []byte {
	ref := func(system, value string) map[string]any {
		return map[string]any{"identifier": map[string]any{"system": system, "value": value}}
	}
	doc := map[string]any{
		"resourceType": "Bundle",
		"id":           "doc-" + p.id,
		"identifier":   map[string]any{"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.48." + strings.ReplaceAll(p.id, "-", ".")},
		"type":         "document",
		"timestamp":    p.date,
		"entry": []any{map[string]any{
			"fullUrl": "urn:uuid:5c7c1a1e-9a0f-4e55-8d1c-" + fmt.Sprintf("%012x", seedOf(p.id)&0xffffffffffff),
			"resource": map[string]any{
				"resourceType": "Composition",
				"status":       "final",
				"type":         p.typ.codeable(),
				"subject":      ref(nhsNumberSystem, p.nhs),
				"date":         p.date,
				"author":       []any{ref(odsSystem, p.custodian)},
				"title":        title,
				"custodian":    ref(odsSystem, p.custodian),
				"section": []any{map[string]any{
					"title": "Summary",
					"text": map[string]any{"status": "generated",
						"div": `<div xmlns="http://www.w3.org/1999/xhtml"><p>SYNTHETIC TEST DOCUMENT - not a real patient record.</p><p>` + summary + `</p></div>`},
				}},
			},
		}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // plain values: cannot fail
	}
	return b
}

// serveDocument is the simulated Spine Secure Proxy and, behind it, the
// holders: GET /ssp/<URL-encoded holder URL> (or, as older pointers have
// it, the raw URL appended) answers with the document, its Content-Type
// the pointer's attachment.contentType (project contract, docs/backends.md).
//
// The proxy wants Ssp-TraceID, Ssp-From and Ssp-InteractionID (InteractionID),
// and a bearer token unless the sandbox is open; Ssp-To, when sent, must be
// the holder's ASID. A holder that cannot be reached is a 502, one that no
// longer has the document a 404 (its own HTML page, passed through).
func (s *Simulator) serveDocument(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, errMethodNotAllowed(r.Method))
		return
	}
	if e := s.checkSSPHeaders(r); e != nil {
		writeError(w, e)
		return
	}
	raw := strings.TrimPrefix(r.URL.EscapedPath(), SSPPath+"/")
	target, err := url.PathUnescape(raw)
	if err != nil || !(strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://")) {
		writeError(w, &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "BAD_REQUEST", system: sspErrorSystem,
			diagnostics: "The proxied URL is missing or malformed"})
		return
	}
	d := s.store.docs[target]
	if d != nil && d.holderASID != "" {
		if to := r.Header.Get("Ssp-To"); to != "" && to != d.holderASID {
			writeError(w, &apiError{status: http.StatusForbidden, issueCode: "forbidden", code: "ACCESS_DENIED", system: sspErrorSystem,
				diagnostics: "Ssp-To does not match the endpoint of the requested URL"})
			return
		}
	}
	switch {
	case d != nil && d.behaviour == holderDown:
		writeError(w, &apiError{status: http.StatusBadGateway, issueCode: "transient", code: "BAD_GATEWAY", system: sspErrorSystem,
			diagnostics: "The proxy could not connect to the endpoint"})
		return
	case d == nil || d.behaviour == missing:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"))
		return
	}
	body := d.content()
	h := w.Header()
	h.Set("Content-Type", d.contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func (s *Simulator) checkSSPHeaders(r *http.Request) *apiError {
	bad := func(name string) *apiError {
		return &apiError{status: http.StatusBadRequest, issueCode: "invalid", code: "BAD_REQUEST", system: sspErrorSystem,
			diagnostics: "The " + name + " header is missing or invalid"}
	}
	if !s.opts.Open && !wire.Bearer(r) {
		return &apiError{status: http.StatusUnauthorized, issueCode: "forbidden", code: "ACCESS_DENIED", system: sspErrorSystem,
			diagnostics: "Missing or invalid access token"}
	}
	for _, h := range []string{"Ssp-TraceID", "Ssp-From"} {
		if strings.TrimSpace(r.Header.Get(h)) == "" {
			return bad(h)
		}
	}
	if r.Header.Get("Ssp-InteractionID") != InteractionID {
		return bad("Ssp-InteractionID")
	}
	return nil
}
