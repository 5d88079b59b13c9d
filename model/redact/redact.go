package redact

import (
	"strings"
	"sync"
	"sync/atomic"

	anpb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// The markers a redacted resource carries.
const (
	// SecuritySystem and SecurityCode are the meta.security label of a
	// resource from which something was removed (R4 "All Security Labels"
	// includes v3 SecurityIntegrityObservationValue).
	SecuritySystem  = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	SecurityCode    = "REDACTED"
	SecurityDisplay = "redacted"
	// DataAbsentReasonURL with the code "masked" replaces a required element
	// that was removed.
	//
	// See: http://hl7.org/fhir/R4/extension-data-absent-reason.html
	DataAbsentReasonURL = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
	MaskedCode          = "masked"

	emptyReasonSystem = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
	geolocationURL    = "http://hl7.org/fhir/StructureDefinition/geolocation"
)

// locatingTypes are the resource types that describe a place or somebody
// whose workplace or home is a place: a reference to one, or a contained
// one, can locate the patient.
var locatingTypes = map[string]bool{
	"Organization": true, "Location": true, "Practitioner": true, "PractitionerRole": true,
	"HealthcareService": true, "RelatedPerson": true,
	// Not named in issue #16, but each is a site, an address or a system
	// run at one, and none is clinical.
	"OrganizationAffiliation": true, "Endpoint": true, "Person": true,
}

// locatingSystems are identifier systems whose values name an organisation,
// a site or a member of staff (who works at one).
var locatingSystems = map[string]bool{
	"https://fhir.nhs.uk/Id/ods-organization-code": true,
	"https://fhir.nhs.uk/Id/ods-site-code":         true,
	"https://fhir.nhs.uk/Id/sds-user-id":           true,
	"https://fhir.nhs.uk/Id/sds-role-profile-id":   true,
	"urn:oid:2.16.840.1.113883.2.1.4.3":            true, // ODS organisation code (HL7 v3)
	"urn:oid:1.2.826.0.1285.0.2.0.65":              true, // SDS user id (HL7 v3)
	"urn:oid:1.2.826.0.1285.0.2.0.67":              true, // SDS role profile id (HL7 v3)
}

// LocatingType reports whether resources of type t (e.g. "Organization")
// locate the patient by their very nature. Locating drops such resources
// when contained or inside a Bundle; a caller serving a restricted patient
// should not serve them at all.
func LocatingType(t string) bool { return locatingTypes[t] }

// LocatingSystem reports whether identifiers of system name an
// organisation, site or member of staff (ODS and SDS codes).
func LocatingSystem(system string) bool { return locatingSystems[system] }

// Locating returns a copy of msg, an R4 resource proto, from which
// everything that could locate the patient has been removed, and whether
// anything was. msg itself is never modified: resources may be cached and
// shared. The copy is new even when nothing was removed. See the package
// documentation for the rule.
func Locating(msg proto.Message) (proto.Message, bool) {
	if msg == nil {
		return nil, false
	}
	out := proto.Clone(msg)
	w := walker{}
	m := out.ProtoReflect()
	if w.message(m, infoOf(m.Descriptor()), nil, false) {
		// Only a locating datatype passed in on its own gets here: nothing
		// of it may stay.
		proto.Reset(out)
		w.removed = true
	}
	return out, w.removed
}

// walker holds the state of one Locating call.
type walker struct {
	// contained maps the ids of the current resource's contained resources
	// to their types, for "#id" references; self is that resource's type,
	// for "#".
	contained map[string]string
	self      string
	// unpacked holds the contained resources read for contained, so that
	// each is unmarshalled once.
	unpacked map[*anypb.Any]*bcrpb.ContainedResource
	// inContained is set while walking a contained resource, whose "#id"
	// references resolve against its container (dom-2 forbids nesting).
	inContained bool
	// changed is set when anything was removed from the resource being
	// walked; removed when anything was removed at all.
	changed, removed bool
}

// message redacts m, of type mi, in place. fi is the field m is held in
// (nil at the top) and required whether that field must be present. It
// reports whether m itself must go; its parent then removes it or, when
// required, masks it.
func (w *walker) message(m protoreflect.Message, mi *msgInfo, fi *fieldInfo, required bool) (drop bool) {
	switch mi.kind {
	case kindLocating:
		return true
	case kindReference:
		if w.locatingReference(m, mi, fi) {
			return true
		}
	case kindIdentifier:
		if locatingSystems[stringField(m, mi.system)] {
			return true
		}
	case kindExtension:
		if stringField(m, mi.url) == geolocationURL {
			return true
		}
	case kindAny:
		return w.containedResource(m)
	case kindContainer:
		// A Bundle entry's or a Parameters parameter's resource.
		if which := m.WhichOneof(containerOneof); fi != nil && which != nil && locatingTypes[string(which.Message().Name())] {
			return true
		}
	}
	if mi.resource {
		w.resource(m, mi)
		return false
	}
	changed, dropSelf := w.fields(m, mi, required)
	switch {
	case dropSelf:
		return true
	case !changed:
		return false
	case mi.after != nil && mi.after(m):
		return true
	case mi.kind == kindExtension:
		// ext-1: an extension whose value went and that has no
		// sub-extensions left says nothing any more.
		return !m.Has(mi.value) && !m.Has(mi.extension)
	}
	return isEmpty(m)
}

// resource redacts the resource m, with its own scope for "#id" references
// and its own REDACTED label. Resources are never dropped here: the
// contained and Bundle ones of a locating type are dropped by their
// wrapper.
func (w *walker) resource(m protoreflect.Message, mi *msgInfo) {
	saved := *w
	if !w.inContained {
		w.self = string(m.Descriptor().Name())
		w.contained, w.unpacked = containedTypes(m, mi)
	}
	w.inContained = false
	w.changed = false
	w.fields(m, mi, false)
	changed := w.changed
	if changed {
		label(m, mi)
	}
	removed := w.removed
	*w = saved
	w.removed = removed
	w.changed = saved.changed || changed
}

// fields redacts every populated message field of m and reports whether
// anything was removed, and whether m must go with it (it wrapped a
// resource that was dropped). A removed element that is required is masked
// instead; a required list left empty gets one masked element.
func (w *walker) fields(m protoreflect.Message, mi *msgInfo, required bool) (changed, dropSelf bool) {
	// The fields are listed once per type rather than Range'd: no closure
	// to allocate per element, and only message fields are visited.
	for _, fi := range mi.fields {
		if m.Has(fi.fd) {
			c, d := w.field(m, mi, fi, required)
			changed, dropSelf = changed || c, dropSelf || d
		}
	}
	for _, od := range mi.oneofs {
		if fd := m.WhichOneof(od); fd != nil && fd.Kind() == protoreflect.MessageKind {
			c, d := w.field(m, mi, mi.byIndex[fd.Index()], required)
			changed, dropSelf = changed || c, dropSelf || d
		}
	}
	if changed {
		w.changed, w.removed = true, true
	}
	return changed, dropSelf
}

// field redacts the populated message field fi of m; see fields.
func (w *walker) field(m protoreflect.Message, mi *msgInfo, fi *fieldInfo, required bool) (changed, dropSelf bool) {
	fd, ci := fi.fd, fi.info()
	req := fi.required || (mi.choice && required)
	if fd.IsList() {
		l := m.Mutable(fd).List()
		n := 0
		for i := 0; i < l.Len(); i++ {
			e := l.Get(i)
			if w.message(e.Message(), ci, fi, false) {
				continue
			}
			l.Set(n, e)
			n++
		}
		if n == l.Len() {
			return false, false
		}
		l.Truncate(n)
		if n == 0 {
			if !req || !maskList(l, ci) {
				m.Clear(fd)
			}
		}
		return true, false
	}
	if !w.message(m.Mutable(fd).Message(), ci, fi, req && ci.choice) {
		return false, false
	}
	if req {
		if e := m.NewField(fd); mask(e.Message(), ci) {
			m.Set(fd, e)
			return true, fi.container
		}
	}
	m.Clear(fd)
	return true, fi.container
}

// maskList appends one masked element to the emptied list l, if its type
// can carry one.
func maskList(l protoreflect.List, mi *msgInfo) bool {
	e := l.NewElement()
	if !mask(e.Message(), mi) {
		return false
	}
	l.Append(e)
	return true
}

// containedResource redacts one contained resource (a google.protobuf.Any
// holding a ContainedResource) in place, or reports that it must go: it is
// of a locating type, or it cannot be read (fail closed).
func (w *walker) containedResource(m protoreflect.Message) (drop bool) {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return true
	}
	cr := w.unpacked[a]
	if cr == nil {
		cr = &bcrpb.ContainedResource{}
		if err := a.UnmarshalTo(cr); err != nil {
			return true
		}
	}
	crm := cr.ProtoReflect()
	which := crm.WhichOneof(containerOneof)
	if which == nil || locatingTypes[string(which.Message().Name())] {
		return true
	}
	saved, before := w.inContained, w.removed
	w.inContained = true
	fi := infoOf(crm.Descriptor()).byIndex[which.Index()]
	w.message(crm.Get(which).Message(), fi.info(), fi, false)
	w.inContained = saved
	if w.removed == before {
		return false
	}
	return anypb.MarshalFrom(a, cr, proto.MarshalOptions{Deterministic: true}) != nil
}

// locatingReference reports whether the Reference ref (of type mi), held
// in field fi, points at (or names) something that could locate the
// patient. A reference is kept only when nothing in it points at a locating
// type and either its target type is known or fi admits no locating type.
func (w *walker) locatingReference(ref protoreflect.Message, mi *msgInfo, fi *fieldInfo) bool {
	if ref.Has(refIdentifier) && locatingSystems[stringField(ref.Get(refIdentifier).Message(), identifierSystem)] {
		return true
	}
	known := false
	check := func(t string) bool {
		if !resourceTypes[t] {
			return false
		}
		known = true
		return locatingTypes[t]
	}
	if ref.Has(refType) && check(lastSegment(stringField(ref, refType))) {
		return true
	}
	if which := ref.WhichOneof(refOneof); which != nil {
		switch which {
		case refURI:
			s := stringField(ref, which)
			if frag, ok := strings.CutPrefix(s, "#"); ok {
				if check(w.fragment(frag)) {
					return true
				}
			} else {
				for _, t := range typesInURL(s) {
					if check(t) {
						return true
					}
				}
			}
		case refFragment:
			if check(w.fragment(stringField(ref, which))) {
				return true
			}
		default:
			if check(mi.byIndex[which.Index()].referenced) {
				return true
			}
		}
	}
	if known {
		return false
	}
	if !ref.Has(refIdentifier) && !ref.Has(refDisplay) && !ref.Has(refType) && ref.WhichOneof(refOneof) == nil {
		// Nothing but extensions (a masked reference, say): they are
		// walked like any other.
		return false
	}
	return fi == nil || fi.admitsLocating
}

// fragment returns the type of the contained resource id ("" for the
// container itself), or "" when unknown.
func (w *walker) fragment(id string) string {
	if id == "" {
		return w.self
	}
	return w.contained[id]
}

// containedTypes maps the ids of the resources contained in m to their
// types, and returns the contained resources it read (unreadable ones are
// left out: they are dropped anyway).
func containedTypes(m protoreflect.Message, mi *msgInfo) (map[string]string, map[*anypb.Any]*bcrpb.ContainedResource) {
	if mi.contained == nil || !m.Has(mi.contained) {
		return nil, nil
	}
	out := map[string]string{}
	unpacked := map[*anypb.Any]*bcrpb.ContainedResource{}
	l := m.Get(mi.contained).List()
	for i := 0; i < l.Len(); i++ {
		a, ok := l.Get(i).Message().Interface().(*anypb.Any)
		if !ok {
			continue
		}
		cr := &bcrpb.ContainedResource{}
		if a.UnmarshalTo(cr) != nil {
			continue
		}
		unpacked[a] = cr
		crm := cr.ProtoReflect()
		which := crm.WhichOneof(containerOneof)
		if which == nil {
			continue
		}
		r := crm.Get(which).Message()
		if id := stringField(r, r.Descriptor().Fields().ByName("id")); id != "" {
			out[id] = string(which.Message().Name())
		}
	}
	return out, unpacked
}

// label adds the REDACTED security label to resource m (once).
func label(m protoreflect.Message, mi *msgInfo) {
	if mi.meta == nil {
		return
	}
	meta, ok := m.Mutable(mi.meta).Message().Interface().(*dtpb.Meta)
	if !ok {
		return
	}
	for _, c := range meta.Security {
		if c.GetSystem().GetValue() == SecuritySystem && c.GetCode().GetValue() == SecurityCode {
			return
		}
	}
	meta.Security = append(meta.Security, &dtpb.Coding{
		System:  &dtpb.Uri{Value: SecuritySystem},
		Code:    &dtpb.Code{Value: SecurityCode},
		Display: &dtpb.String{Value: SecurityDisplay},
	})
}

// mask gives the new, empty element m only the data-absent-reason "masked"
// extension, or reports that its type cannot carry one (every FHIR complex
// type can; choice wrappers and resources cannot).
func mask(m protoreflect.Message, mi *msgInfo) bool {
	if mi.extension == nil || mi.resource || mi.extension.Message() == nil || mi.extension.Message().FullName() != extensionName {
		return false
	}
	m.Mutable(mi.extension).List().Append(protoreflect.ValueOfMessage((&dtpb.Extension{
		Url:   &dtpb.Uri{Value: DataAbsentReasonURL},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Code{Code: &dtpb.Code{Value: MaskedCode}}},
	}).ProtoReflect()))
	return true
}

// isEmpty reports whether m holds nothing but (perhaps) an id: an element
// like that breaks ele-1 and is removed.
func isEmpty(m protoreflect.Message) bool {
	empty := true
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.Name() == "id" {
			return true
		}
		empty = false
		return false
	})
	return empty
}

// stringField returns the string held in field fd of m (a FHIR primitive
// message), or "".
func stringField(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	if fd == nil || !m.Has(fd) {
		return ""
	}
	v := m.Get(fd)
	if fd.Kind() == protoreflect.StringKind {
		return v.String()
	}
	if fd.Kind() != protoreflect.MessageKind {
		return ""
	}
	pm := v.Message()
	f := pm.Descriptor().Fields().ByName("value")
	if f == nil || f.Kind() != protoreflect.StringKind {
		return ""
	}
	return pm.Get(f).String()
}

// lastSegment returns the text after the last "/" of a Reference.type
// ("Organization" or "http://hl7.org/fhir/StructureDefinition/Organization").
func lastSegment(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}

// typesInURL returns the resource types named by the path segments of a
// reference URL: relative ("Organization/A1"), absolute
// ("https://…/Organization/A1/_history/2") or conditional
// ("Organization?identifier=…"). Every segment counts, so a URL that names
// a locating type anywhere is treated as locating.
func typesInURL(s string) []string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	var out []string
	for seg := range strings.SplitSeq(s, "/") {
		if resourceTypes[seg] {
			out = append(out, seg)
		}
	}
	return out
}

// Descriptor facts, computed once per message or field type.

type kind int

const (
	kindOther      kind = iota
	kindLocating        // Address, ContactPoint, Narrative: always removed
	kindReference       // Reference: removed when locating
	kindIdentifier      // Identifier: removed when of an ODS/SDS system
	kindExtension       // Extension: removed when emptied
	kindAny             // google.protobuf.Any: a contained resource
	kindContainer       // ContainedResource: a oneof of every resource
)

type msgInfo struct {
	kind     kind
	resource bool // a FHIR resource (structure_definition_kind resource)
	choice   bool // a choice-type wrapper (value[x]): inherits requiredness
	// The message fields outside oneofs, and the oneofs with message
	// members: all that can hold anything to redact.
	fields []*fieldInfo
	oneofs []protoreflect.OneofDescriptor
	// byIndex holds every field's facts by its index in the message.
	byIndex []*fieldInfo
	// Fields looked up once.
	meta, contained, extension, value, url, system protoreflect.FieldDescriptor
	// after, when set, restores an invariant of a type that redaction may
	// break; it reports whether the element must go after all.
	after func(protoreflect.Message) bool
}

type fieldInfo struct {
	fd             protoreflect.FieldDescriptor
	child          atomic.Pointer[msgInfo] // the facts of fd's message type, once looked up
	required       bool                    // REQUIRED_BY_FHIR: minimum cardinality 1
	admitsLocating bool                    // a Reference field whose targets may locate
	referenced     string                  // for Reference's typed ids: the target type
	container      bool                    // holds a ContainedResource (Bundle.entry.resource)
}

const extensionName = "google.fhir.r4.core.Extension"

var (
	msgInfos sync.Map // protoreflect.FullName → *msgInfo

	resourceTypes  = map[string]bool{}
	containerOneof protoreflect.OneofDescriptor

	refOneof                                    protoreflect.OneofDescriptor
	refURI, refFragment, refType, refIdentifier protoreflect.FieldDescriptor
	refDisplay                                  protoreflect.FieldDescriptor
	identifierSystem                            protoreflect.FieldDescriptor
)

// byName names the message types whose kind is fixed.
var byName = map[protoreflect.FullName]kind{
	"google.fhir.r4.core.Address":           kindLocating,
	"google.fhir.r4.core.ContactPoint":      kindLocating,
	"google.fhir.r4.core.Narrative":         kindLocating,
	"google.fhir.r4.core.Reference":         kindReference,
	"google.fhir.r4.core.Identifier":        kindIdentifier,
	extensionName:                           kindExtension,
	"google.protobuf.Any":                   kindAny,
	"google.fhir.r4.core.ContainedResource": kindContainer,
}

// after holds the invariant repairs, by type.
var after = map[protoreflect.FullName]func(protoreflect.Message) bool{
	// cmp-2: a section has text, entries or sections. A section emptied by
	// redaction says its content was withheld (allowed by cmp-1 as it is
	// now empty) rather than vanishing silently.
	"google.fhir.r4.core.Composition.Section": func(m protoreflect.Message) bool {
		f := m.Descriptor().Fields()
		if m.Has(f.ByName("text")) || m.Has(f.ByName("entry")) || m.Has(f.ByName("section")) || m.Has(f.ByName("empty_reason")) {
			return false
		}
		cc := &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{
			System:  &dtpb.Uri{Value: emptyReasonSystem},
			Code:    &dtpb.Code{Value: "withheld"},
			Display: &dtpb.String{Value: "Information Withheld"},
		}}}
		m.Set(f.ByName("empty_reason"), protoreflect.ValueOfMessage(cc.ProtoReflect()))
		return false
	},
	// pat-1: a contact has a name, telecom, address or organisation; only
	// the name can survive redaction, and a contact without one is removed.
	"google.fhir.r4.core.Patient.Contact": func(m protoreflect.Message) bool {
		return !m.Has(m.Descriptor().Fields().ByName("name"))
	},
}

func init() {
	cr := (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor()
	containerOneof = cr.Oneofs().ByName("oneof_resource")
	fs := cr.Fields()
	for i := 0; i < fs.Len(); i++ {
		resourceTypes[string(fs.Get(i).Message().Name())] = true
	}
	rd := (&dtpb.Reference{}).ProtoReflect().Descriptor()
	refOneof = rd.Oneofs().ByName("reference")
	refURI = rd.Fields().ByName("uri")
	refFragment = rd.Fields().ByName("fragment")
	refType = rd.Fields().ByName("type")
	refIdentifier = rd.Fields().ByName("identifier")
	refDisplay = rd.Fields().ByName("display")
	identifierSystem = (&dtpb.Identifier{}).ProtoReflect().Descriptor().Fields().ByName("system")
}

func infoOf(md protoreflect.MessageDescriptor) *msgInfo {
	if v, ok := msgInfos.Load(md.FullName()); ok {
		return v.(*msgInfo)
	}
	f := md.Fields()
	mi := &msgInfo{
		kind:      byName[md.FullName()],
		resource:  proto.GetExtension(md.Options(), anpb.E_StructureDefinitionKind) == anpb.StructureDefinitionKindValue_KIND_RESOURCE,
		choice:    proto.GetExtension(md.Options(), anpb.E_IsChoiceType).(bool),
		extension: f.ByName("extension"),
		value:     f.ByName("value"),
		url:       f.ByName("url"),
		system:    f.ByName("system"),
		after:     after[md.FullName()],
	}
	mi.byIndex = make([]*fieldInfo, f.Len())
	for i := range mi.byIndex {
		fd := f.Get(i)
		mi.byIndex[i] = newFieldInfo(fd)
		if fd.Kind() == protoreflect.MessageKind && fd.ContainingOneof() == nil {
			mi.fields = append(mi.fields, mi.byIndex[i])
		}
	}
	for i := 0; i < md.Oneofs().Len(); i++ {
		od := md.Oneofs().Get(i)
		for j := 0; j < od.Fields().Len(); j++ {
			if od.Fields().Get(j).Kind() == protoreflect.MessageKind {
				mi.oneofs = append(mi.oneofs, od)
				break
			}
		}
	}
	if mi.resource {
		mi.meta = f.ByName("meta")
		mi.contained = f.ByName("contained")
	}
	v, _ := msgInfos.LoadOrStore(md.FullName(), mi)
	return v.(*msgInfo)
}

// newFieldInfo reads fd's annotations. It looks at fd's message type
// through its descriptor only: msgInfos are built lazily, and types refer
// to each other in cycles (Extension.extension).
func newFieldInfo(fd protoreflect.FieldDescriptor) *fieldInfo {
	opts := fd.Options()
	fi := &fieldInfo{
		fd:         fd,
		required:   proto.GetExtension(opts, anpb.E_ValidationRequirement) == anpb.Requirement_REQUIRED_BY_FHIR,
		referenced: proto.GetExtension(opts, anpb.E_ReferencedFhirType).(string),
	}
	targets := proto.GetExtension(opts, anpb.E_ValidReferenceType).([]string)
	fi.admitsLocating = len(targets) == 0
	for _, t := range targets {
		if t == "Resource" || locatingTypes[t] {
			fi.admitsLocating = true
		}
	}
	if md := fd.Message(); md != nil {
		fi.container = byName[md.FullName()] == kindContainer
	}
	return fi
}

// info returns the facts of the message type fi holds.
func (fi *fieldInfo) info() *msgInfo {
	if mi := fi.child.Load(); mi != nil {
		return mi
	}
	mi := infoOf(fi.fd.Message())
	fi.child.Store(mi)
	return mi
}
