package fhirjson

import (
	"fmt"
	"sort"
	"strings"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// codeSet maps the FHIR codes of one required-binding value set to the
// proto enum that google/fhir generated for it.
type codeSet[E ~int32] struct {
	name  string // value set name, for error messages
	codes map[string]E
}

// newCodeSet derives the code → enum table from the enum descriptor, using the
// very rule jsonformat prints enums with (the fhir_original_code annotation if
// present, else the lower-cased value name with '_' → '-'), so that every code
// accepted here prints back unchanged.
func newCodeSet[E ~int32](name string, ed protoreflect.EnumDescriptor) codeSet[E] {
	vals := ed.Values()
	m := make(map[string]E, vals.Len())
	for i := 0; i < vals.Len(); i++ {
		ev := vals.Get(i)
		if ev.Number() == 0 { // INVALID_UNINITIALIZED
			continue
		}
		m[valueCode(ev)] = E(ev.Number())
	}
	return codeSet[E]{name: name, codes: m}
}

// valueCode is the FHIR code jsonformat prints an enum value as: its
// fhir_original_code annotation if present, else the lower-cased value name
// with '_' → '-'.
func valueCode(ev protoreflect.EnumValueDescriptor) string {
	if code := proto.GetExtension(ev.Options(), apb.E_FhirOriginalCode).(string); code != "" {
		return code
	}
	return strings.ReplaceAll(strings.ToLower(string(ev.Name())), "_", "-")
}

// EnumCode is the FHIR code of a google/fhir code enum value
// (FlagStatusCode_ENTERED_IN_ERROR → "entered-in-error"), as jsonformat
// prints it.
func EnumCode(e protoreflect.Enum) string {
	ev := e.Descriptor().Values().ByNumber(e.Number())
	if ev == nil {
		return ""
	}
	return valueCode(ev)
}

// lookup returns the enum value for code, or an error naming the value set.
// Codes are case-sensitive, as FHIR requires.
func (s codeSet[E]) lookup(code string) (E, error) {
	if v, ok := s.codes[code]; ok {
		return v, nil
	}
	if len(s.codes) > 12 {
		return 0, invalid("%q is not a code of %s", code, s.name)
	}
	return 0, invalid("%q is not a code of %s (want one of %s)", code, s.name, strings.Join(s.list(), ", "))
}

func (s codeSet[E]) list() []string {
	l := make([]string, 0, len(s.codes))
	for c := range s.codes {
		l = append(l, c)
	}
	sort.Strings(l)
	return l
}

func (s codeSet[E]) String() string { return fmt.Sprintf("%s%v", s.name, s.list()) }

// The value sets with a required binding on the elements this package builds.
var (
	administrativeGender = newCodeSet[cpb.AdministrativeGenderCode_Value]("AdministrativeGender", cpb.AdministrativeGenderCode_MALE.Descriptor())
	nameUse              = newCodeSet[cpb.NameUseCode_Value]("NameUse", cpb.NameUseCode_USUAL.Descriptor())
	addressUse           = newCodeSet[cpb.AddressUseCode_Value]("AddressUse", cpb.AddressUseCode_HOME.Descriptor())
	addressType          = newCodeSet[cpb.AddressTypeCode_Value]("AddressType", cpb.AddressTypeCode_POSTAL.Descriptor())
	contactPointSystem   = newCodeSet[cpb.ContactPointSystemCode_Value]("ContactPointSystem", cpb.ContactPointSystemCode_PHONE.Descriptor())
	contactPointUse      = newCodeSet[cpb.ContactPointUseCode_Value]("ContactPointUse", cpb.ContactPointUseCode_HOME.Descriptor())
	identifierUse        = newCodeSet[cpb.IdentifierUseCode_Value]("IdentifierUse", cpb.IdentifierUseCode_USUAL.Descriptor())
	narrativeStatus      = newCodeSet[cpb.NarrativeStatusCode_Value]("NarrativeStatus", cpb.NarrativeStatusCode_GENERATED.Descriptor())
	quantityComparator   = newCodeSet[cpb.QuantityComparatorCode_Value]("QuantityComparator", cpb.QuantityComparatorCode_LESS_THAN.Descriptor())
	linkType             = newCodeSet[cpb.LinkTypeCode_Value]("LinkType", cpb.LinkTypeCode_REPLACED_BY.Descriptor())
	issueSeverity        = newCodeSet[cpb.IssueSeverityCode_Value]("IssueSeverity", cpb.IssueSeverityCode_ERROR.Descriptor())
	issueType            = newCodeSet[cpb.IssueTypeCode_Value]("IssueType", cpb.IssueTypeCode_INVALID.Descriptor())
)
