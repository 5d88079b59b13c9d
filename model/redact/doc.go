// Package redact removes from FHIR R4 resources everything that could
// locate a restricted (sensitive) patient, for every service the facade
// serves: the Patient itself and every resource about the patient
// (MedicationStatement, Immunization, Flag, DocumentReference, Composition…).
//
// Locating(msg) walks any google/fhir R4 resource proto with protoreflect,
// so it needs no list of resource types or paths, and returns a redacted
// copy (the input, which may be cached and shared, is never modified).
//
// # The rule
//
// Removed, wherever they are (in the resource, its backbone elements, its
// extensions' values and its contained resources):
//
//   - every Address and ContactPoint;
//   - every Narrative: Resource.text and Composition.section.text, which
//     can repeat addresses and name the practice;
//   - every Identifier of an ODS organisation or site code, or an SDS user
//     or role profile id (see LocatingSystem);
//   - every Reference that may point at a locating resource type:
//     Organization, Location, Practitioner, PractitionerRole,
//     HealthcareService, RelatedPerson and also OrganizationAffiliation,
//     Endpoint and Person (see LocatingType), with its display
//     (which often names the practice and town) and identifier;
//   - every contained resource, and every Bundle entry or Parameters
//     parameter resource, of a locating type;
//   - the geolocation extension, wherever it is.
//
// A Reference is kept only when nothing in it names a locating type and its
// target is known to be of another type. Its target type is read from the
// typed id ("Patient/9000000009"), the types named in its URL (absolute or
// conditional), "#id" of a contained resource, and Reference.type; an
// identifier of an ODS or SDS system makes it locating whatever it says. A
// reference whose target is unknown (display or identifier only, urn:uuid)
// is kept only when its element admits no locating type (e.g.
// MedicationStatement.subject, Reference(Patient|Group)): the element's
// valid_reference_type annotation in the google/fhir protos decides, and
// Reference(Any) and extension values admit every type. So the patient's
// own reference (subject, patient) stays, as do references to other
// clinical resources (Composition.section.entry, reasonReference).
//
// Removed or masked: an element that the R4 base requires (minimum
// cardinality 1, the REQUIRED_BY_FHIR annotation the google/fhir protos
// carry from the StructureDefinitions, e.g. Immunization.performer.actor,
// Composition.author, Flag.subject) is replaced by one carrying only the
// data-absent-reason extension with valueCode "masked"; an optional one is
// removed. A required list left empty gets one masked element. Inside a
// choice type (value[x]) the choice's requiredness applies.
//
// Knock-on removals keep the result valid: an element left empty is removed
// (ele-1); an extension left with neither value nor sub-extensions is
// removed (ext-1); a Bundle entry or parameter whose resource was dropped
// is removed with it; a Patient.contact left without a name is removed
// (pat-1); a Composition.section left without text, entries and
// sub-sections gets emptyReason "withheld" (cmp-2).
//
// Every resource from which anything was removed, the top-level one and
// each contained or Bundle one, gets the meta.security label
// v3-ObservationValue REDACTED. The result still validates against the R4
// JSON schema.
//
// # Limits
//
//   - Free text other than Narrative and Reference.display is not read:
//     a note, a description, a coding's display or an attachment that names
//     a town or a practice is passed on. Only the element kinds above are
//     recognised.
//   - Identifiers are recognised by the ODS and SDS systems only; a local
//     system that codes a site is not.
//   - Resource ids and URLs are not rewritten, since reads and links
//     depend on them: an NRL pointer's id ("Y05868-…") and its Binary URL
//     begin with the custodian's ODS code, and an attachment URL can name
//     the provider's host. A caller that serves such ids to a restricted
//     patient's client must map them itself.
//   - Vaccine and medicine manufacturers are Organizations and are removed
//     too (Immunization.manufacturer): the product code and lot number,
//     which stay, identify the product.
//   - References to CareTeam, Encounter, EpisodeOfCare, Device and other
//     types that are not locating are kept, display included, though a
//     display may name a team or a hospital: these carry clinical meaning
//     that removing them would lose. (A CareTeam or Encounter walked itself
//     loses its telecoms and its references to organisations and places.)
//   - A resource of a locating type passed to Locating itself (an
//     Organization, say) loses its addresses and telecoms but keeps its
//     name: a caller serving a restricted patient should not serve such
//     resources at all (LocatingType tells which).
//   - A Bundle passed whole is redacted entry by entry but its total is
//     not adjusted; redact the entries before building the Bundle.
package redact
