package resources

import (
	"context"
	"encoding/json"
	"strings"

	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/backends/ra"
	"github.com/carerecords/fhir-facade/backends/upstream"
	cpismap "github.com/carerecords/fhir-facade/mappers/cpis"
	fgmmap "github.com/carerecords/fhir-facade/mappers/fgm"
	ovmmap "github.com/carerecords/fhir-facade/mappers/ovm"
	ramap "github.com/carerecords/fhir-facade/mappers/ra"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/fhirjson"
	"github.com/carerecords/fhir-facade/model/request"
)

// change is the provenance of one write: a fresh Provenance id, now, and the
// configured author.
func (p *Flag) change() ramap.Change {
	return ramap.Change{ProvenanceID: p.opts.NewID(), Recorded: p.opts.Now().UTC(), Author: p.opts.Author}
}

// Create implements Creator: it records a new reasonable adjustment in RA.
// Everything is checked before RA is called (ramap.ToSTU3, ramap.NewConsent:
// a 422 names the offending element), so a rejected flag writes nothing.
// When the patient has no RA record yet, the record is created first from
// the Consent the client's Flag contains (422 without one). The answer is
// the flag as RA stored it, mapped as a read would map it.
func (p *Flag) Create(ctx context.Context, msg proto.Message) (*Resource, error) {
	in, ok := msg.(*flagpb.Flag)
	if !ok {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Message: "the body must be a Flag"}
	}
	nhs, err := ramap.Subject(in)
	if err != nil {
		return nil, err
	}
	flag, err := ramap.ToSTU3(in, nil, p.change())
	if err != nil {
		return nil, err
	}
	given, err := ramap.ContainedConsent(in)
	if err != nil {
		return nil, err
	}
	var newConsent *fhirjson.STU3Consent
	if given != nil {
		if newConsent, err = ramap.NewConsent(given, nhs, p.change()); err != nil {
			return nil, err
		}
	}
	flagBody, err := json.Marshal(flag)
	if err != nil {
		return nil, err
	}

	// A write decides on RA's current state, never on a cached read.
	consent, err := p.ra.Consent(request.WithNoCache(ctx), nhs)
	if err != nil {
		return nil, err
	}
	if consent == nil {
		if newConsent == nil {
			_, err := ramap.NewConsent(nil, nhs, p.change()) // the 422 that says what to send
			return nil, err
		}
		body, err := json.Marshal(newConsent)
		if err != nil {
			return nil, err
		}
		w, err := p.ra.CreateConsent(ctx, body)
		if err != nil {
			return nil, err
		}
		consent = w.Body
	}
	w, err := p.ra.CreateFlag(ctx, flagBody)
	if err != nil {
		return nil, err
	}
	return writtenFlag(w, consent, nhs)
}

// Update implements Updater for RA flags: it replaces the adjustment if
// ifMatch is its current version (412 otherwise, 428 without one), after
// the same checks as Create. Status inactive with the RA removal reason
// extension removes the adjustment; a removed one cannot change again. The
// client's author, period and contained Consent are ignored: RA records who
// changed what in a new Provenance.
//
// CP-IS, FGM-IS and OVM flags are maintained by local authorities, clinical
// systems and overseas visitor teams through their own services: an update
// of one is a 422
// (business-rule). An id that is no Flag's is a 405: the facade does not
// create flags by PUT.
func (p *Flag) Update(ctx context.Context, id string, msg proto.Message, ifMatch string) (*Resource, error) {
	switch {
	case strings.HasPrefix(id, cpismap.IDPrefix):
		return nil, &fhirerr.Error{Category: fhirerr.Unprocessable, IssueCode: "business-rule",
			Message: "CP-IS flags are read-only: child protection plans are maintained by the responsible local authority"}
	case strings.HasPrefix(id, fgmmap.IDPrefix):
		return nil, &fhirerr.Error{Category: fhirerr.Unprocessable, IssueCode: "business-rule",
			Message: "FGM-IS flags are read-only through this service"}
	case strings.HasPrefix(id, ovmmap.IDPrefix):
		return nil, &fhirerr.Error{Category: fhirerr.Unprocessable, IssueCode: "business-rule",
			Message: "overseas visitor chargeable statuses are read-only: they are recorded by the hospital's overseas visitor team"}
	}
	nhs, ok := ramap.ParseFlagID(id)
	if !ok {
		return nil, errNoFlagToUpdate()
	}
	in, ok := msg.(*flagpb.Flag)
	if !ok {
		return nil, &fhirerr.Error{Category: fhirerr.Invalid, Message: "the body must be a Flag"}
	}
	version := upstream.ETagVersion(ifMatch)
	if version == "" {
		return nil, &fhirerr.Error{Category: fhirerr.PreconditionRequired,
			Message: "updating a reasonable adjustment needs its current version: send If-Match with the ETag of the flag read"}
	}
	rec, err := p.fetchRA(request.WithNoCache(ctx), nhs, []string{"active", "inactive"})
	if err != nil {
		return nil, err
	}
	var prev *fhirjson.STU3Flag
	for _, raw := range rec.flags {
		f, err := ramap.DecodeFlag(raw)
		if err != nil {
			return nil, err
		}
		if ramap.FlagID(nhs, f.ID) == id {
			prev = f
			break
		}
	}
	if prev == nil {
		return nil, errNoFlagToUpdate()
	}
	if prev.Meta == nil || prev.Meta.VersionID != version {
		return nil, &fhirerr.Error{Category: fhirerr.PreconditionFailed,
			Message: "the reasonable adjustment has changed since that version (If-Match): read it again"}
	}
	flag, err := ramap.ToSTU3(in, prev, p.change())
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(flag)
	if err != nil {
		return nil, err
	}
	w, err := p.ra.UpdateFlag(ctx, prev.ID, body, version)
	if err != nil {
		return nil, err
	}
	return writtenFlag(w, rec.consent, nhs)
}

func errNoFlagToUpdate() error {
	return &fhirerr.Error{Category: fhirerr.MethodNotAllowed,
		Message: "there is no reasonable adjustment with this id, and the facade does not create flags by PUT: create one with POST /Flag"}
}

// writtenFlag maps what RA answered to a create or update.
func writtenFlag(w *ra.Written, consent json.RawMessage, nhs string) (*Resource, error) {
	f, err := ramap.DecodeFlag(w.Body)
	if err != nil {
		return nil, err
	}
	if w.Version != "" && (f.Meta == nil || f.Meta.VersionID == "") {
		if f.Meta == nil {
			f.Meta = &fhirjson.Meta{}
		}
		f.Meta.VersionID = w.Version
	}
	var c *fhirjson.STU3Consent
	if consent != nil {
		if c, err = ramap.DecodeConsent(consent); err != nil {
			return nil, err
		}
	}
	m, err := ramap.Flag(f, c, nhs)
	if err != nil {
		return nil, err
	}
	return flagResource(m), nil
}
