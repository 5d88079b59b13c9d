package resources

import (
	"context"
	"net/url"

	"google.golang.org/protobuf/proto"
)

// Writable is the Patient provider to register: p itself when its PDS
// connection only reads, otherwise p with exactly the writes that
// connection can make (create: PDSCreator; patch: PDSPatcher). The
// CapabilityStatement, the routes and 405's Allow all come from the
// interfaces the registered provider implements, so what Patient advertises
// follows from what is wired, never from a check at run time.
func (p *Patient) Writable() Provider {
	creator, creates := p.pds.(PDSCreator)
	patcher, patches := p.pds.(PDSPatcher)
	switch {
	case creates && patches:
		return &patientCreatePatch{patientCreate{p, creator}, patcher}
	case creates:
		return &patientCreate{p, creator}
	case patches:
		return &patientPatch{p, patcher}
	}
	return p
}

// patientCreate is a Patient whose PDS connection creates records.
type patientCreate struct {
	*Patient
	creator PDSCreator
}

var (
	_ Creator            = (*patientCreate)(nil)
	_ ConditionalCreator = (*patientCreate)(nil)
	_ Patcher            = (*patientPatch)(nil)
	_ Patcher            = (*patientCreatePatch)(nil)
	_ Creator            = (*patientCreatePatch)(nil)
)

// Create implements Creator.
func (w *patientCreate) Create(context.Context, proto.Message) (*Resource, error) {
	return w.create()
}

// CreateConditional implements ConditionalCreator.
func (w *patientCreate) CreateConditional(ctx context.Context, msg proto.Message, ifNoneExist url.Values) (*Resource, bool, error) {
	return w.createConditional(ctx, w.creator, msg, ifNoneExist)
}

// patientPatch is a Patient whose PDS connection patches records.
type patientPatch struct {
	*Patient
	patcher PDSPatcher
}

// Patch implements Patcher.
func (w *patientPatch) Patch(ctx context.Context, id string, patch []byte, contentType, ifMatch string) (*Resource, error) {
	return w.patch(ctx, w.patcher, id, patch, contentType, ifMatch)
}

// patientCreatePatch is a Patient whose PDS connection does both.
type patientCreatePatch struct {
	patientCreate
	patcher PDSPatcher
}

// Patch implements Patcher.
func (w *patientCreatePatch) Patch(ctx context.Context, id string, patch []byte, contentType, ifMatch string) (*Resource, error) {
	return w.patch(ctx, w.patcher, id, patch, contentType, ifMatch)
}
