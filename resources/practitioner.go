package resources

import (
	"context"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	practpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"

	"github.com/carerecords/fhir-facade/mappers/declared"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/model/request"
)

// SDSUserIDSystem is the identifier system of an NHS user's SDS user id
// (the CIS2 subject).
const SDSUserIDSystem = "https://fhir.nhs.uk/Id/sds-user-id"

// Practitioner serves the calling user's own record, so the fhirUser claim
// of a SMART token (<base>/Practitioner/<sub>) resolves. The facade keeps
// no directory of practitioners: the record is made from what the verified
// token says of its user, and nobody else's can be read. Another id is 404,
// not 403: there is no such resource here for anyone, and a refusal would
// tell a caller which ids are users.
type Practitioner struct{}

// practitionerType is the type of the caller's own record: the access
// policy's auth.UserType (server's tests hold the two equal; providers do
// not import auth).
const practitionerType = "Practitioner"

var _ Reader = Practitioner{}

// NewPractitioner returns the provider of the caller's own Practitioner.
func NewPractitioner() Practitioner { return Practitioner{} }

// ResourceType implements Provider.
func (Practitioner) ResourceType() string { return practitionerType }

// Profile implements Provider: UK Core Practitioner, which every record
// served declares.
func (Practitioner) Profile() string {
	p, _ := declared.Profile(practitionerType)
	return p
}

// Documentation implements Provider.
func (Practitioner) Documentation() string {
	return "The calling user only: the record a SMART token's fhirUser names ([base]/Practitioner/[the token's sub]), " +
		"made from what the token says (a numeric sub is the SDS user id; name). Read it with the fhirUser scope " +
		"(or, without a patient context, a user/ scope that reads Practitioner). Any other id is 404: no directory of practitioners is kept."
}

// Read implements Reader: the caller's own record, when id is the token's
// subject.
func (Practitioner) Read(ctx context.Context, id string) (*Resource, error) {
	p := request.From(ctx).Caller
	if p == nil || p.Subject != id || len(p.Roles) == 0 {
		return nil, fhirerr.New(fhirerr.NotFound, "no such Practitioner: this server serves the calling user's own record only")
	}
	pr := &practpb.Practitioner{Id: &dtpb.Id{Value: p.Subject}}
	if prof, ok := declared.Profile(practitionerType); ok {
		// UK Core Practitioner: an identifier has a system and a value,
		// which the SDS user id has; nothing else it states applies here.
		pr.Meta = &dtpb.Meta{Profile: []*dtpb.Canonical{{Value: prof}}}
	}
	if sdsUserID(p.Subject) {
		pr.Identifier = []*dtpb.Identifier{{System: &dtpb.Uri{Value: SDSUserIDSystem}, Value: &dtpb.String{Value: p.Subject}}}
	}
	if p.Name != "" {
		pr.Name = []*dtpb.HumanName{{Text: &dtpb.String{Value: p.Name}}}
	}
	return &Resource{Type: practitionerType, ID: p.Subject, Message: pr}, nil
}

// sdsUserID reports whether a subject has the form of an SDS user id: the
// digits NHS CIS2 names its users by (a subject of another form is some
// other issuer's, and is not claimed to be one).
func sdsUserID(s string) bool {
	if len(s) < 6 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
