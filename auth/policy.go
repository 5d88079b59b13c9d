package auth

import (
	"fmt"
)

// Grant lets the holder of a role perform Interactions on Types.
type Grant struct {
	Types        []string
	Interactions []Interaction
}

// Role is one row of the role table: an NHS national RBAC role code (or a
// facade-specific role name) and what it may do.
type Role struct {
	Code   string
	Name   string
	Grants []Grant
}

// Role codes the default table knows.
const (
	RoleClinicalPractitioner = "R8000" // Clinical Practitioner Access Role
	RoleNurse                = "R8001" // Nurse Access Role
	RoleNurseManager         = "R8002" // Nurse Manager Access Role
	RoleHealthProfessional   = "R8003" // Health Professional Access Role
	RoleAdminClinicalSupport = "R8008" // Admin/Clinical Support Access Role
	// RoleAuditor is facade-specific: there is no national RBAC role for
	// reading the facade's own audit trail.
	RoleAuditor = "facade-auditor"
)

// ClinicalTypes are the resource types that carry a patient's care record.
var ClinicalTypes = []string{
	"Patient", "AllergyIntolerance", "MedicationStatement", "Flag",
	"DocumentReference", "Binary", "Immunization", "RelatedPerson",
}

var readOnly = []Interaction{Read, VRead, Search}

// clinicalGrants is what every clinical role may do.
var clinicalGrants = []Grant{
	{Types: ClinicalTypes, Interactions: readOnly},
	{Types: []string{"Patient"}, Interactions: []Interaction{Operation}}, // Patient/$summary
	{Types: []string{"Flag"}, Interactions: []Interaction{Create, Update}},
}

// birthNotifiers may notify births (Patient/$notify-birth, a creating
// operation): the clinicians present at a birth — clinical practitioners
// (obstetricians), nurses and midwives (nurse and health professional
// roles). Not nurse managers, not admin staff, never system/ access.
var birthNotifiers = []Grant{{Types: []string{"Patient"}, Interactions: []Interaction{CreateOperation}}}

// DefaultRoles is the role table of the default Policy:
//
//	role                        codes                        may
//	clinical                    R8000 R8001 R8002 R8003      read, vread, search every clinical type
//	                                                         (Patient AllergyIntolerance MedicationStatement
//	                                                         Flag DocumentReference Binary Immunization
//	                                                         RelatedPerson);
//	                                                         Patient/$summary (operation); create, update Flag
//	                                                         (reasonable adjustments)
//	birth notifiers             R8000 R8001 R8003            also Patient/$notify-birth (create-operation)
//	admin/clinical support      R8008                        read, vread, search, patch Patient (demographics);
//	                                                         create Patient (PDS NHS number allocation, only
//	                                                         after a search found none); no clinical data
//	auditor                     facade-auditor               search AuditEvent, nothing else
//	application-restricted      (system/ scopes, no role)    see DefaultSystemGrants: read only
//
// Nobody may delete, PUT a Patient, or write anything but Flag and
// Patient's demographics (patch, and create after a search). A role not in the table grants nothing.
func DefaultRoles() []Role {
	return []Role{
		{Code: RoleClinicalPractitioner, Name: "Clinical Practitioner", Grants: append(birthNotifiers, clinicalGrants...)},
		{Code: RoleNurse, Name: "Nurse", Grants: append(birthNotifiers, clinicalGrants...)},
		{Code: RoleNurseManager, Name: "Nurse Manager", Grants: clinicalGrants},
		{Code: RoleHealthProfessional, Name: "Health Professional", Grants: append(birthNotifiers, clinicalGrants...)},
		{Code: RoleAdminClinicalSupport, Name: "Admin/Clinical Support", Grants: []Grant{
			// Create: PDS's POST /Patient, allocating an NHS number to a
			// patient a search did not find (registration staff's task).
			{Types: []string{"Patient"}, Interactions: []Interaction{Read, VRead, Search, Patch, Create}},
		}},
		{Code: RoleAuditor, Name: "Facade auditor", Grants: []Grant{
			{Types: []string{"AuditEvent"}, Interactions: []Interaction{Search}},
		}},
	}
}

// DefaultSystemGrants is what application-restricted access (system/ scopes)
// may do, whatever the token's role claim says: read the clinical types and
// Patient/$summary. No writes, no AuditEvent.
func DefaultSystemGrants() []Grant {
	return []Grant{
		{Types: ClinicalTypes, Interactions: readOnly},
		{Types: []string{"Patient"}, Interactions: []Interaction{Operation}},
	}
}

type permKey struct {
	typ string
	i   Interaction
}

// Policy decides whether a Principal may perform an interaction on a
// resource type, from its SMART scopes and its NHS role. Build one with
// NewPolicy; the zero value refuses everything.
//
// A request is allowed when some scope of the token grants it (Scope.Allows)
// and that scope's context is backed:
//
//   - a patient/ scope counts only when the token has a patient context, and
//     then only patient/ scopes count (user/ and system/ are ignored); the
//     role table must also allow it (a patient-context token still needs a
//     role, and the server must keep it to that patient: PatientScoped);
//   - a user/ scope counts only without a patient context, and the role table
//     must allow it for one of the Principal's roles;
//   - a system/ scope counts only without a patient context, and the system
//     grants must allow it (read only by default); roles do not matter.
type Policy struct {
	roles  map[string]map[permKey]bool
	system map[permKey]bool
}

// NewPolicy returns a Policy over the role table roles and the grants of
// application-restricted (system/) access. It refuses duplicate or empty role
// codes, invalid interactions and ill-formed resource type names.
func NewPolicy(roles []Role, system []Grant) (*Policy, error) {
	p := &Policy{roles: map[string]map[permKey]bool{}, system: map[permKey]bool{}}
	for _, r := range roles {
		if r.Code == "" {
			return nil, fmt.Errorf("auth: policy: a role has no code")
		}
		if _, dup := p.roles[r.Code]; dup {
			return nil, fmt.Errorf("auth: policy: role %q twice", r.Code)
		}
		m := map[permKey]bool{}
		if err := addGrants(m, r.Grants); err != nil {
			return nil, fmt.Errorf("auth: policy: role %q: %w", r.Code, err)
		}
		p.roles[r.Code] = m
	}
	if err := addGrants(p.system, system); err != nil {
		return nil, fmt.Errorf("auth: policy: system: %w", err)
	}
	return p, nil
}

func addGrants(m map[permKey]bool, grants []Grant) error {
	for _, g := range grants {
		for _, t := range g.Types {
			if !isResourceType(t) {
				return fmt.Errorf("%q is not a resource type", t)
			}
			for _, i := range g.Interactions {
				if i.Permission() == 0 {
					return fmt.Errorf("invalid interaction %d", int(i))
				}
				m[permKey{t, i}] = true
			}
		}
	}
	return nil
}

var defaultPolicy = func() *Policy {
	p, err := NewPolicy(DefaultRoles(), DefaultSystemGrants())
	if err != nil {
		panic(err)
	}
	return p
}()

// DefaultPolicy returns the Policy over DefaultRoles and DefaultSystemGrants.
func DefaultPolicy() *Policy { return defaultPolicy }

// Decide is DefaultPolicy().Decide.
func Decide(p Principal, resourceType string, i Interaction) error {
	return defaultPolicy.Decide(p, resourceType, i)
}

// RoleAllows reports whether the role table lets role perform i on
// resourceType, regardless of scopes.
func (pol *Policy) RoleAllows(role, resourceType string, i Interaction) bool {
	return pol != nil && pol.roles[role][permKey{resourceType, i}]
}

// Decide returns nil when p may perform interaction i on resourceType, and
// otherwise an *AuthError with Status 403: Code insufficient_scope when no
// usable scope grants it, access_denied when a scope does but the role table
// (or the system grants) does not. See Policy for the rules.
func (pol *Policy) Decide(p Principal, resourceType string, i Interaction) error {
	if pol == nil || i.Permission() == 0 || !isResourceType(resourceType) {
		return forbidden(CodeAccessDenied, ReasonRole, "this interaction is not permitted")
	}
	if resourceType == UserType && i == Read {
		return decideUser(p)
	}
	key := permKey{resourceType, i}
	_, patientCtx := PatientScoped(p)
	userDenied, systemDenied, ignored := false, false, false
	for _, s := range p.Scopes.Resource {
		if !s.Allows(resourceType, i) {
			continue
		}
		if patientCtx != (s.Context == PatientContext) {
			ignored = true
			continue
		}
		if s.Context == SystemContext {
			if pol.system[key] {
				return nil
			}
			systemDenied = true
			continue
		}
		for _, r := range p.Roles {
			if pol.roles[r][key] {
				return nil
			}
		}
		userDenied = true
	}
	what := describe(resourceType, i) // only a refusal needs it
	switch {
	case userDenied && len(p.Roles) == 0:
		return forbidden(CodeAccessDenied, ReasonRole, "the token carries no NHS role, which "+what+" needs")
	case userDenied:
		return forbidden(CodeAccessDenied, ReasonRole, "the caller's role does not permit "+what)
	case systemDenied:
		return forbidden(CodeAccessDenied, ReasonRole, "application-restricted access does not permit "+what)
	case ignored && patientCtx:
		return forbidden(CodeInsufficientScope, ReasonPatientContext, "a token with a patient context is limited to patient/ scopes, and none permits "+what)
	case ignored:
		return forbidden(CodeInsufficientScope, ReasonPatientContext, "patient/ scopes need a patient context, which the token does not carry")
	}
	return forbidden(CodeInsufficientScope, ReasonInsufficientScope, "the token's scopes do not permit "+what)
}

// UserType is the resource type of the caller's own record, the one a
// SMART fhirUser claim names (the local issuer's: <base>/Practitioner/<sub>).
// Its provider serves the caller's own record and no one else's, so the
// role table has no row for it: reading it is decided by decideUser.
const UserType = "Practitioner"

// decideUser decides a read of the caller's own record. SMART's "openid
// fhirUser" is the permission to retrieve the current user, whatever the
// token's resource scopes or patient context (a clinician's standalone or
// EHR launch into one patient still resolves its fhirUser); a user/ scope
// that reads Practitioner does too, outside a patient context. The token
// must name a user: one with no NHS role (application-restricted access,
// whose subject is a client) has no user record.
func decideUser(p Principal) error {
	_, patientCtx := PatientScoped(p)
	switch {
	case len(p.Roles) == 0:
		return forbidden(CodeAccessDenied, ReasonRole, "the token names no user in an NHS role, so there is no user record to read")
	case p.Scopes.Has("fhirUser"):
		return nil
	case !patientCtx && p.Scopes.AllowsIn(UserContext, UserType, Read):
		return nil
	}
	return forbidden(CodeInsufficientScope, ReasonInsufficientScope, "reading the user's own "+UserType+" record needs the fhirUser scope")
}

func describe(resourceType string, i Interaction) string {
	if !isResourceType(resourceType) {
		resourceType = "this resource type"
	}
	return i.String() + " on " + resourceType
}
