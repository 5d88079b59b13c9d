// Package nrl maps the National Record Locator's pointers onto the facade's
// FHIR R4 DocumentReference. NRL already speaks R4, so the mapping is a
// near pass-through (docs/backends.md, "NRL"):
// what it adds is validation (via model/fhirjson's builders), a literal
// Patient reference next to the NHS number, and the rewriting of every
// content[].attachment.url to the facade's own Binary, so a client never
// sees (nor needs) the Spine Secure Proxy or the holder's address.
//
// Binary ids: content[0] of pointer P is Binary/P; content[i] for i ≥ 1 is
// Binary/P.i (FHIR ids allow only A-Z a-z 0-9 - . and 64 characters, so no
// unambiguous separator exists; ParseBinaryID returns both readings of an id
// ending in .<digits>, the split one first).
package nrl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"

	"github.com/carerecords/fhir-facade/mappers/internal/ukprofile"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Identifier systems NRL uses.
const (
	// ODSSystem identifies organisations (custodian, author).
	ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
	// ASIDSystem identifies Spine endpoints (context.related): the holder's
	// ASID, sent to the Spine Secure Proxy as Ssp-To.
	ASIDSystem = "https://fhir.nhs.uk/Id/nhsSpineASID"
)

// maxIDLength is the longest FHIR id.
const maxIDLength = 64

// Decode reads an NRL DocumentReference payload with encoding/json. It
// rejects anything that is not JSON or whose resourceType is not
// "DocumentReference". Unknown members are ignored.
func Decode(raw []byte) (*fhirjson.DocumentReference, error) {
	var d fhirjson.DocumentReference
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, badPayload(err)
	}
	if d.ResourceType != "DocumentReference" {
		return nil, badPayload(fmt.Errorf("resourceType is %q, want \"DocumentReference\"", d.ResourceType))
	}
	return &d, nil
}

// DocumentReference maps an NRL pointer onto the facade's DocumentReference.
// Kept as NRL sent them: id, masterIdentifier, identifier, status, docStatus,
// type, category, date, author, authenticator, custodian, relatesTo,
// description, securityLabel, content (format, extensions, every attachment
// element but url) and context. Changed:
//
//   - subject gains reference Patient/<NHS number> next to NRL's identifier
//     (only when the identifier is a valid NHS number);
//   - content[i].attachment.url becomes the facade's relative Binary URL
//     (BinaryID), or is dropped when no valid Binary id can be formed (a
//     pointer id too long to take a suffix);
//   - meta keeps lastUpdated and security only: NRL's profile claims
//     (nrls-documentreference-1-0) describe the pointer, not this resource;
//   - docStatus loses surrounding white space (the public sandbox's seed
//     data has "preliminary ").
//
// p is not modified. A missing id is an error: NRL always sends one.
// Errors are *fhirerr.Error of category BadGateway wrapping a *fhirjson.Error
// with the JSON path.
func DocumentReference(p *fhirjson.DocumentReference) (*drpb.DocumentReference, error) {
	if p == nil {
		return nil, badPayload(errors.New("no DocumentReference"))
	}
	if p.ID == "" {
		return nil, badPayload(&fhirjson.Error{Path: "DocumentReference.id", Err: errors.New("missing (NRL always sends the pointer id)")})
	}
	q := *p
	// The public sandbox's seed data sends docStatus "preliminary " (with a
	// trailing space): a code with surrounding space is taken as the code.
	q.DocStatus = strings.TrimSpace(p.DocStatus)
	if p.Meta != nil {
		q.Meta = nil
		if p.Meta.LastUpdated != "" || len(p.Meta.Security) > 0 {
			q.Meta = &fhirjson.Meta{LastUpdated: p.Meta.LastUpdated, Security: p.Meta.Security}
		}
	}
	if p.Subject != nil {
		s := *p.Subject
		if nhs := NHSNumber(p); nhs != "" && s.Reference == "" {
			s.Reference = "Patient/" + nhs
		}
		q.Subject = &s
	}
	if len(p.Content) > 0 {
		q.Content = make([]fhirjson.DocumentReferenceContent, len(p.Content))
		for i, c := range p.Content {
			if c.Attachment != nil {
				a := *c.Attachment
				a.URL = ""
				if c.Attachment.URL != "" {
					if id := BinaryID(p.ID, i); id != "" {
						a.URL = "Binary/" + id
					}
				}
				c.Attachment = &a
			}
			q.Content[i] = c
		}
	}
	q.Meta = ukprofile.Declare(q.Meta, ukprofile.DocumentReference)
	out, err := fhirjson.BuildDocumentReference(&q)
	if err != nil {
		return nil, badPayload(err)
	}
	return out, nil
}

// NHSNumber returns the pointer's subject NHS number, or "" when its subject
// is not a valid NHS number identifier.
func NHSNumber(p *fhirjson.DocumentReference) string {
	if p == nil || p.Subject == nil || p.Subject.Identifier == nil {
		return ""
	}
	id := p.Subject.Identifier
	if id.System != nhsnumber.System || !nhsnumber.Valid(id.Value) {
		return ""
	}
	return id.Value
}

// HolderASID returns the Spine ASID of the system holding the document
// (context.related with system ASIDSystem), or "".
func HolderASID(p *fhirjson.DocumentReference) string {
	if p == nil || p.Context == nil {
		return ""
	}
	for _, r := range p.Context.Related {
		if r.Identifier != nil && r.Identifier.System == ASIDSystem && r.Identifier.Value != "" {
			return r.Identifier.Value
		}
	}
	return ""
}

// BinaryID is the id of the facade Binary serving content[index] of the
// pointer pointerID: the pointer id itself for index 0, "<id>.<index>"
// otherwise. It is "" when the result would not be a valid FHIR id.
func BinaryID(pointerID string, index int) string {
	id := pointerID
	if index > 0 {
		id += "." + strconv.Itoa(index)
	}
	if index < 0 || len(id) > maxIDLength {
		return ""
	}
	return id
}

// ContentRef names one content entry of one pointer.
type ContentRef struct {
	PointerID string
	Index     int
}

// ParseBinaryID returns the content entries a Binary id may name, most
// likely first: an id ending in ".<n>" (n ≥ 1, no leading zero) names
// content[n] of pointer "<rest>", or else content[0] of a pointer whose own
// id ends so. Any other id names content[0] of the pointer with that id.
func ParseBinaryID(id string) []ContentRef {
	whole := ContentRef{PointerID: id}
	i := strings.LastIndexByte(id, '.')
	if i <= 0 || i == len(id)-1 {
		return []ContentRef{whole}
	}
	digits := id[i+1:]
	if digits[0] == '0' || len(digits) > 4 || strings.Trim(digits, "0123456789") != "" {
		return []ContentRef{whole}
	}
	n, _ := strconv.Atoi(digits) // 1-4 digits, not all zero

	return []ContentRef{{PointerID: id[:i], Index: n}, whole}
}

func badPayload(err error) error {
	return &fhirerr.Error{
		Category: fhirerr.BadGateway,
		Backend:  "nrl",
		Message:  "the National Record Locator returned a DocumentReference the facade cannot read",
		Err:      err,
	}
}
