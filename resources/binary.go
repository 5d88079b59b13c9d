package resources

import (
	"context"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/carerecords/fhir-facade/backends/nrl"
	nrlmap "github.com/carerecords/fhir-facade/mappers/nrl"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// PointerReader reads one NRL pointer (nrl.Client).
type PointerReader interface {
	Read(ctx context.Context, id string) ([]byte, error)
}

// DocumentFetcher retrieves the document a pointer points at (nrl.Fetcher).
type DocumentFetcher interface {
	Fetch(ctx context.Context, t nrl.Target) (*nrl.Document, error)
}

// Binary serves the documents NRL's pointers point at, as raw content
// (Streamer): GET Binary/<DocumentReference id> is content[0] of that
// pointer, Binary/<id>.<n> its content[n] — the very URLs DocumentReference
// puts in content[].attachment.url. Each read reads the pointer from NRL
// (so a pointer withdrawn from NRL can no longer be opened, once any cache
// of NRL reads in the client has expired), then streams the document from
// its holder through the Spine Secure Proxy without holding it whole.
type Binary struct {
	pointers PointerReader
	fetcher  DocumentFetcher
}

var _ Streamer = (*Binary)(nil)

// NewBinary returns the Binary provider over an NRL client and a document fetcher.
func NewBinary(pointers PointerReader, fetcher DocumentFetcher) *Binary {
	return &Binary{pointers: pointers, fetcher: fetcher}
}

// ResourceType implements Provider.
func (*Binary) ResourceType() string { return "Binary" }

// Profile implements Provider.
func (*Binary) Profile() string { return "" }

// Documentation implements Provider.
func (*Binary) Documentation() string {
	return "The documents DocumentReference pointers point at, retrieved from the organisation holding them through the Spine Secure Proxy " +
		"and streamed in their own media type (the pointer's attachment.contentType, which the holder's answer must match): " +
		"Binary/<DocumentReference id> is content[0], Binary/<id>.<n> content[n]. Read only. " +
		"Asked for in a FHIR format (Accept: application/fhir+json, or _format=json), the answer is a Binary resource " +
		"(contentType, data in base64, securityContext naming the DocumentReference), for documents up to 10 MiB; otherwise the raw content. " +
		"A holder that cannot be reached is 502, one that does not answer in time 504, a document no longer held 404."
}

// ReadStream implements Streamer: the pointer is read from NRL, its
// subject admitted, and only then is the document fetched from its holder.
func (b *Binary) ReadStream(ctx context.Context, id string, admit func(patient, version string) error) (*Stream, error) {
	refs := nrlmap.ParseBinaryID(id)
	for i, ref := range refs {
		if !nrlIDPattern.MatchString(ref.PointerID) {
			continue
		}
		body, err := b.pointers.Read(ctx, ref.PointerID)
		if fhirerr.CategoryOf(err) == fhirerr.NotFound && i < len(refs)-1 {
			continue // the other reading of the id
		}
		if err != nil {
			if fhirerr.CategoryOf(err) == fhirerr.NotFound {
				return nil, fhirerr.New(fhirerr.NotFound, "no document with this id: its DocumentReference is not in NRL")
			}
			return nil, err
		}
		p, err := nrlmap.Decode(body)
		if err != nil {
			return nil, err
		}
		if p.ID != ref.PointerID {
			return nil, &fhirerr.Error{Category: fhirerr.BadGateway, Backend: nrl.Name, Message: "the nrl service answered with another DocumentReference than asked for"}
		}
		if ref.Index >= len(p.Content) || p.Content[ref.Index].Attachment == nil || p.Content[ref.Index].Attachment.URL == "" {
			return nil, fhirerr.New(fhirerr.NotFound, "no document with this id: the DocumentReference has no such retrievable content")
		}
		patient, version := nrlmap.NHSNumber(p), contentVersion(body, ref.Index)
		if err := admit(patient, version); err != nil {
			return nil, err
		}
		a := p.Content[ref.Index].Attachment
		doc, err := b.fetcher.Fetch(ctx, nrl.Target{URL: a.URL, ContentType: a.ContentType, HolderASID: nrlmap.HolderASID(p)})
		if err != nil {
			return nil, err
		}
		return &Stream{ContentType: doc.ContentType, Size: doc.Size, Body: doc.Body, Patient: patient,
			Version: version, SecurityContext: "DocumentReference/" + p.ID}, nil
	}
	return nil, fhirerr.New(fhirerr.NotFound, "no document with this id (Binary ids are <DocumentReference id>[.<n>])")
}

// contentVersion names content[index] of a pointer as NRL answered it. A
// document behind a pointer does not change while the pointer does not (a
// new version of a document is a new pointer superseding the old), so a
// pointer read the same way names the same content. Any change to the
// pointer, or to how NRL writes it, makes another version: a client
// downloads again, never keeps stale content.
func contentVersion(pointer []byte, index int) string {
	return "p" + strconv.FormatUint(xxhash.Sum64(pointer), 36) + "." + strconv.Itoa(index)
}
