package fhirjson

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"strconv"

	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// Small constructors for primitives: an empty Go string means "absent" and
// gives a nil message, so optional fields stay unset.

func str(s string) *dtpb.String {
	if s == "" {
		return nil
	}
	return &dtpb.String{Value: s}
}

func uri(s string) *dtpb.Uri {
	if s == "" {
		return nil
	}
	return &dtpb.Uri{Value: s}
}

func code(s string) *dtpb.Code {
	if s == "" {
		return nil
	}
	return &dtpb.Code{Value: s}
}

func strs(ss []string) []*dtpb.String {
	if len(ss) == 0 {
		return nil
	}
	out := make([]*dtpb.String, len(ss))
	for i, s := range ss {
		out[i] = &dtpb.String{Value: s}
	}
	return out
}

// buildEach builds every element of in, reporting errors at field[i].
func buildEach[T, P any](field string, in []T, build func(*T) (P, error)) ([]P, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]P, len(in))
	for i := range in {
		v, err := build(&in[i])
		if err != nil {
			return nil, atIndex(err, field, i)
		}
		out[i] = v
	}
	return out, nil
}

// BuildID checks a resource id (or meta.versionId) against the R4 id grammar.
//
// See: http://hl7.org/fhir/R4/datatypes.html#id
func BuildID(s string) (*dtpb.Id, error) {
	if s == "" {
		return nil, nil
	}
	if !ValidID(s) {
		return nil, invalid("%q is not a valid id (1-64 of A-Z a-z 0-9 - .)", s)
	}
	return &dtpb.Id{Value: s}, nil
}

// ValidID reports whether s meets the R4 id grammar [A-Za-z0-9\-\.]{1,64}
// (without regexp: this runs on every read).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// decimalPattern is the R4 decimal grammar.
var decimalPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// BuildDecimal keeps a decimal exactly as written (FHIR decimals carry their
// precision: 1.50 is not 1.5).
//
// See: http://hl7.org/fhir/R4/datatypes.html#decimal
func BuildDecimal(n json.Number) (*dtpb.Decimal, error) {
	if n == "" {
		return nil, nil
	}
	if !decimalPattern.MatchString(string(n)) {
		return nil, invalid("%q is not a valid decimal", string(n))
	}
	return &dtpb.Decimal{Value: string(n)}, nil
}

// BuildBase64Binary decodes standard base64 (as FHIR JSON writes binary data).
//
// See: http://hl7.org/fhir/R4/datatypes.html#base64Binary
func BuildBase64Binary(s string) (*dtpb.Base64Binary, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, invalid("invalid base64Binary: %v", err)
	}
	return &dtpb.Base64Binary{Value: b}, nil
}

func int32Of(v int64, kind string, min int64) (int32, error) {
	if v < min || v > math.MaxInt32 {
		return 0, invalid("%d is out of range for %s", v, kind)
	}
	return int32(v), nil
}

func buildPositiveInt(v *int64) (*dtpb.PositiveInt, error) {
	if v == nil {
		return nil, nil
	}
	n, err := int32Of(*v, "positiveInt", 1)
	if err != nil {
		return nil, err
	}
	return &dtpb.PositiveInt{Value: uint32(n)}, nil
}

func buildUnsignedInt(v *int64) (*dtpb.UnsignedInt, error) {
	if v == nil {
		return nil, nil
	}
	n, err := int32Of(*v, "unsignedInt", 0)
	if err != nil {
		return nil, err
	}
	return &dtpb.UnsignedInt{Value: uint32(n)}, nil
}

func buildDateTime(s string) (*dtpb.DateTime, error) {
	if s == "" {
		return nil, nil
	}
	return ParseDateTime(s)
}

// buildElement returns a primitive's "_name" id and extensions, for the
// proto fields that hold them.
func buildElement(e *Element) (*dtpb.String, []*dtpb.Extension, error) {
	if e == nil {
		return nil, nil, nil
	}
	ext, err := BuildExtensions(e.Extension)
	if err != nil {
		return nil, nil, at(err, "extension")
	}
	return str(e.ID), ext, nil
}

// BuildExtensions builds a list of extensions; errors name the index
// ("[2].valueDateTime"), the caller adds the field name.
//
// See: http://hl7.org/fhir/R4/extensibility.html#Extension
func BuildExtensions(in []Extension) ([]*dtpb.Extension, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]*dtpb.Extension, len(in))
	for i := range in {
		e, err := BuildExtension(&in[i])
		if err != nil {
			return nil, at(err, "["+strconv.Itoa(i)+"]")
		}
		out[i] = e
	}
	return out, nil
}

// BuildExtension builds an extension and, recursively, its nested extensions.
// It requires a url, at most one value[x], and either a value or nested
// extensions but not both (invariant ext-1).
//
// See: http://hl7.org/fhir/R4/extensibility.html#Extension
func BuildExtension(e *Extension) (*dtpb.Extension, error) {
	if e == nil {
		return nil, nil
	}
	if e.URL == "" {
		return nil, invalid("extension without url")
	}
	out := &dtpb.Extension{Id: str(e.ID), Url: &dtpb.Uri{Value: e.URL}}
	var err error
	if out.Extension, err = BuildExtensions(e.Extension); err != nil {
		return nil, at(err, "extension")
	}
	v, field, err := extensionValue(e)
	if err != nil {
		if field == "" {
			return nil, err
		}
		return nil, at(err, field)
	}
	switch {
	case v == nil && len(out.Extension) == 0:
		return nil, invalid("extension %s has neither a (supported) value[x] nor nested extensions", e.URL)
	case v != nil && len(out.Extension) > 0:
		return nil, invalid("extension %s has both a value[x] and nested extensions (ext-1)", e.URL)
	}
	out.Value = v
	return out, nil
}

// extensionValue returns the one value[x] of e as a proto oneof case, with
// the JSON name of the field for error paths.
func extensionValue(e *Extension) (v *dtpb.Extension_ValueX, field string, err error) {
	n := 0
	set := func(f string, x *dtpb.Extension_ValueX) {
		n++
		v, field = x, f
	}
	// Cheap primitive cases first; they cannot fail.
	if e.ValueString != "" {
		set("valueString", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: e.ValueString}}})
	}
	if e.ValueBoolean != nil {
		set("valueBoolean", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: *e.ValueBoolean}}})
	}
	if e.ValueCode != "" {
		set("valueCode", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Code{Code: &dtpb.Code{Value: e.ValueCode}}})
	}
	if e.ValueURI != "" {
		set("valueUri", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Uri{Uri: &dtpb.Uri{Value: e.ValueURI}}})
	}
	if e.ValueURL != "" {
		set("valueUrl", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Url{Url: &dtpb.Url{Value: e.ValueURL}}})
	}
	if e.ValueCanonical != "" {
		set("valueCanonical", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Canonical{Canonical: &dtpb.Canonical{Value: e.ValueCanonical}}})
	}
	if e.ValueMarkdown != "" {
		set("valueMarkdown", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Markdown{Markdown: &dtpb.Markdown{Value: e.ValueMarkdown}}})
	}
	if e.ValueOid != "" {
		set("valueOid", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Oid{Oid: &dtpb.Oid{Value: e.ValueOid}}})
	}
	if e.ValueUUID != "" {
		set("valueUuid", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Uuid{Uuid: &dtpb.Uuid{Value: e.ValueUUID}}})
	}

	// Cases that validate. fail records the field of the first error.
	fail := func(f string, ferr error) {
		if err == nil {
			field, err = f, ferr
		}
	}
	if e.ValueID != "" {
		if id, ferr := BuildID(e.ValueID); ferr != nil {
			fail("valueId", ferr)
		} else {
			set("valueId", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Id{Id: id}})
		}
	}
	if e.ValueInteger != nil {
		if i, ferr := int32Of(*e.ValueInteger, "integer", math.MinInt32); ferr != nil {
			fail("valueInteger", ferr)
		} else {
			set("valueInteger", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Integer{Integer: &dtpb.Integer{Value: i}}})
		}
	}
	if e.ValuePositiveInt != nil {
		if p, ferr := buildPositiveInt(e.ValuePositiveInt); ferr != nil {
			fail("valuePositiveInt", ferr)
		} else {
			set("valuePositiveInt", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_PositiveInt{PositiveInt: p}})
		}
	}
	if e.ValueUnsignedInt != nil {
		if u, ferr := buildUnsignedInt(e.ValueUnsignedInt); ferr != nil {
			fail("valueUnsignedInt", ferr)
		} else {
			set("valueUnsignedInt", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_UnsignedInt{UnsignedInt: u}})
		}
	}
	if e.ValueDecimal != "" {
		if d, ferr := BuildDecimal(e.ValueDecimal); ferr != nil {
			fail("valueDecimal", ferr)
		} else {
			set("valueDecimal", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Decimal{Decimal: d}})
		}
	}
	if e.ValueBase64Binary != "" {
		if b, ferr := BuildBase64Binary(e.ValueBase64Binary); ferr != nil {
			fail("valueBase64Binary", ferr)
		} else {
			set("valueBase64Binary", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Base64Binary{Base64Binary: b}})
		}
	}
	if e.ValueDate != "" {
		if d, ferr := ParseDate(e.ValueDate); ferr != nil {
			fail("valueDate", ferr)
		} else {
			set("valueDate", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Date{Date: d}})
		}
	}
	if e.ValueDateTime != "" {
		if d, ferr := ParseDateTime(e.ValueDateTime); ferr != nil {
			fail("valueDateTime", ferr)
		} else {
			set("valueDateTime", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_DateTime{DateTime: d}})
		}
	}
	if e.ValueInstant != "" {
		if d, ferr := ParseInstant(e.ValueInstant); ferr != nil {
			fail("valueInstant", ferr)
		} else {
			set("valueInstant", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Instant{Instant: d}})
		}
	}
	if e.ValueTime != "" {
		if t, ferr := ParseTime(e.ValueTime); ferr != nil {
			fail("valueTime", ferr)
		} else {
			set("valueTime", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Time{Time: t}})
		}
	}
	if e.ValueAddress != nil {
		if a, ferr := BuildAddress(e.ValueAddress); ferr != nil {
			fail("valueAddress", ferr)
		} else {
			set("valueAddress", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Address{Address: a}})
		}
	}
	if e.ValueAnnotation != nil {
		if a, ferr := BuildAnnotation(e.ValueAnnotation); ferr != nil {
			fail("valueAnnotation", ferr)
		} else {
			set("valueAnnotation", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Annotation{Annotation: a}})
		}
	}
	if e.ValueAttachment != nil {
		if a, ferr := BuildAttachment(e.ValueAttachment); ferr != nil {
			fail("valueAttachment", ferr)
		} else {
			set("valueAttachment", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Attachment{Attachment: a}})
		}
	}
	if e.ValueCodeableConcept != nil {
		if c, ferr := BuildCodeableConcept(e.ValueCodeableConcept); ferr != nil {
			fail("valueCodeableConcept", ferr)
		} else {
			set("valueCodeableConcept", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_CodeableConcept{CodeableConcept: c}})
		}
	}
	if e.ValueCoding != nil {
		if c, ferr := BuildCoding(e.ValueCoding); ferr != nil {
			fail("valueCoding", ferr)
		} else {
			set("valueCoding", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: c}})
		}
	}
	if e.ValueContactPoint != nil {
		if c, ferr := BuildContactPoint(e.ValueContactPoint); ferr != nil {
			fail("valueContactPoint", ferr)
		} else {
			set("valueContactPoint", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_ContactPoint{ContactPoint: c}})
		}
	}
	if e.ValueHumanName != nil {
		if h, ferr := BuildHumanName(e.ValueHumanName); ferr != nil {
			fail("valueHumanName", ferr)
		} else {
			set("valueHumanName", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_HumanName{HumanName: h}})
		}
	}
	if e.ValueIdentifier != nil {
		if id, ferr := BuildIdentifier(e.ValueIdentifier); ferr != nil {
			fail("valueIdentifier", ferr)
		} else {
			set("valueIdentifier", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Identifier{Identifier: id}})
		}
	}
	if e.ValuePeriod != nil {
		if p, ferr := BuildPeriod(e.ValuePeriod); ferr != nil {
			fail("valuePeriod", ferr)
		} else {
			set("valuePeriod", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Period{Period: p}})
		}
	}
	if e.ValueQuantity != nil {
		if q, ferr := BuildQuantity(e.ValueQuantity); ferr != nil {
			fail("valueQuantity", ferr)
		} else {
			set("valueQuantity", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Quantity{Quantity: q}})
		}
	}
	if e.ValueReference != nil {
		if r, ferr := BuildReference(e.ValueReference); ferr != nil {
			fail("valueReference", ferr)
		} else {
			set("valueReference", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Reference{Reference: r}})
		}
	}
	if err != nil {
		return nil, field, err
	}
	if n > 1 {
		return nil, "", invalid("extension %s has more than one value[x]", e.URL)
	}
	return v, field, nil
}

// BuildCoding builds a Coding. Codes from external systems are not checked.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Coding
func BuildCoding(c *Coding) (*dtpb.Coding, error) {
	if c == nil {
		return nil, nil
	}
	out := &dtpb.Coding{
		Id:      str(c.ID),
		System:  uri(c.System),
		Version: str(c.Version),
		Code:    code(c.Code),
		Display: str(c.Display),
	}
	if c.UserSelected != nil {
		out.UserSelected = &dtpb.Boolean{Value: *c.UserSelected}
	}
	var err error
	if out.Extension, err = BuildExtensions(c.Extension); err != nil {
		return nil, at(err, "extension")
	}
	return out, nil
}

// buildCodings builds a list of codings; errors name field[i].
func buildCodings(field string, in []Coding) ([]*dtpb.Coding, error) {
	return buildEach(field, in, BuildCoding)
}

// BuildCodeableConcept builds a CodeableConcept.
//
// See: http://hl7.org/fhir/R4/datatypes.html#CodeableConcept
func BuildCodeableConcept(c *CodeableConcept) (*dtpb.CodeableConcept, error) {
	if c == nil {
		return nil, nil
	}
	out := &dtpb.CodeableConcept{Id: str(c.ID), Text: str(c.Text)}
	var err error
	if out.Extension, err = BuildExtensions(c.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.Coding, err = buildCodings("coding", c.Coding); err != nil {
		return nil, err
	}
	return out, nil
}

// BuildPeriod builds a Period; start and end are dateTimes.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Period
func BuildPeriod(p *Period) (*dtpb.Period, error) {
	if p == nil {
		return nil, nil
	}
	out := &dtpb.Period{Id: str(p.ID)}
	var err error
	if out.Extension, err = BuildExtensions(p.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.Start, err = buildDateTime(p.Start); err != nil {
		return nil, at(err, "start")
	}
	if out.End, err = buildDateTime(p.End); err != nil {
		return nil, at(err, "end")
	}
	return out, nil
}

// BuildIdentifier builds an Identifier; use must be a code of IdentifierUse.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Identifier
func BuildIdentifier(id *Identifier) (*dtpb.Identifier, error) {
	if id == nil {
		return nil, nil
	}
	out := &dtpb.Identifier{Id: str(id.ID), System: uri(id.System), Value: str(id.Value)}
	var err error
	if out.Extension, err = BuildExtensions(id.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if id.Use != "" {
		v, err := identifierUse.lookup(id.Use)
		if err != nil {
			return nil, at(err, "use")
		}
		out.Use = &dtpb.Identifier_UseCode{Value: v}
	}
	if out.Type, err = BuildCodeableConcept(id.Type); err != nil {
		return nil, at(err, "type")
	}
	if out.Period, err = BuildPeriod(id.Period); err != nil {
		return nil, at(err, "period")
	}
	if out.Assigner, err = BuildReference(id.Assigner); err != nil {
		return nil, at(err, "assigner")
	}
	return out, nil
}

// BuildReference builds a Reference. A relative literal reference
// ("Organization/X1", "Patient/9000000009/_history/2") becomes the typed id
// field of the proto, and a fragment ("#p1") the fragment field, exactly as
// jsonformat's parser does; anything else (absolute URLs, unknown types)
// stays a uri.
//
// See: http://hl7.org/fhir/R4/references.html#Reference
func BuildReference(r *Reference) (*dtpb.Reference, error) {
	if r == nil {
		return nil, nil
	}
	out := &dtpb.Reference{Id: str(r.ID), Type: uri(r.Type), Display: str(r.Display)}
	var err error
	if out.Extension, err = BuildExtensions(r.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if r.Reference != "" {
		out.Reference = &dtpb.Reference_Uri{Uri: &dtpb.String{Value: r.Reference}}
		if err := jsonformat.NormalizeReference(out); err != nil {
			return nil, at(invalid("%v", err), "reference")
		}
	}
	if out.Identifier, err = BuildIdentifier(r.Identifier); err != nil {
		return nil, at(err, "identifier")
	}
	return out, nil
}

// BuildHumanName builds a HumanName; use must be a code of NameUse.
//
// See: http://hl7.org/fhir/R4/datatypes.html#HumanName
func BuildHumanName(n *HumanName) (*dtpb.HumanName, error) {
	if n == nil {
		return nil, nil
	}
	out := &dtpb.HumanName{
		Id:     str(n.ID),
		Text:   str(n.Text),
		Family: str(n.Family),
		Given:  strs(n.Given),
		Prefix: strs(n.Prefix),
		Suffix: strs(n.Suffix),
	}
	var err error
	if out.Extension, err = BuildExtensions(n.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if n.Use != "" {
		v, err := nameUse.lookup(n.Use)
		if err != nil {
			return nil, at(err, "use")
		}
		out.Use = &dtpb.HumanName_UseCode{Value: v}
	}
	if n.FamilyElement != nil {
		if out.Family == nil {
			return nil, at(invalid("extensions on a missing family name are not supported"), "_family")
		}
		if out.Family.Id, out.Family.Extension, err = buildElement(n.FamilyElement); err != nil {
			return nil, at(err, "_family")
		}
	}
	if len(n.GivenElement) > 0 {
		if len(n.GivenElement) != len(n.Given) {
			return nil, at(invalid("%d entries for %d given names", len(n.GivenElement), len(n.Given)), "_given")
		}
		for i, e := range n.GivenElement {
			if out.Given[i].Id, out.Given[i].Extension, err = buildElement(e); err != nil {
				return nil, atIndex(err, "_given", i)
			}
		}
	}
	if out.Period, err = BuildPeriod(n.Period); err != nil {
		return nil, at(err, "period")
	}
	return out, nil
}

// BuildAddress builds an Address; use and type must be codes of AddressUse
// and AddressType.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Address
func BuildAddress(a *Address) (*dtpb.Address, error) {
	if a == nil {
		return nil, nil
	}
	out := &dtpb.Address{
		Id:         str(a.ID),
		Text:       str(a.Text),
		Line:       strs(a.Line),
		City:       str(a.City),
		District:   str(a.District),
		State:      str(a.State),
		PostalCode: str(a.PostalCode),
		Country:    str(a.Country),
	}
	var err error
	if out.Extension, err = BuildExtensions(a.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if a.Use != "" {
		v, err := addressUse.lookup(a.Use)
		if err != nil {
			return nil, at(err, "use")
		}
		out.Use = &dtpb.Address_UseCode{Value: v}
	}
	if a.Type != "" {
		v, err := addressType.lookup(a.Type)
		if err != nil {
			return nil, at(err, "type")
		}
		out.Type = &dtpb.Address_TypeCode{Value: v}
	}
	if out.Period, err = BuildPeriod(a.Period); err != nil {
		return nil, at(err, "period")
	}
	return out, nil
}

// BuildContactPoint builds a ContactPoint; system and use must be codes of
// ContactPointSystem and ContactPointUse, rank a positiveInt.
//
// See: http://hl7.org/fhir/R4/datatypes.html#ContactPoint
func BuildContactPoint(c *ContactPoint) (*dtpb.ContactPoint, error) {
	if c == nil {
		return nil, nil
	}
	out := &dtpb.ContactPoint{Id: str(c.ID), Value: str(c.Value)}
	var err error
	if out.Extension, err = BuildExtensions(c.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if c.System != "" {
		v, err := contactPointSystem.lookup(c.System)
		if err != nil {
			return nil, at(err, "system")
		}
		out.System = &dtpb.ContactPoint_SystemCode{Value: v}
	}
	if c.Use != "" {
		v, err := contactPointUse.lookup(c.Use)
		if err != nil {
			return nil, at(err, "use")
		}
		out.Use = &dtpb.ContactPoint_UseCode{Value: v}
	}
	if out.Rank, err = buildPositiveInt(c.Rank); err != nil {
		return nil, at(err, "rank")
	}
	if out.Period, err = BuildPeriod(c.Period); err != nil {
		return nil, at(err, "period")
	}
	return out, nil
}

// BuildMeta builds a resource's Meta: versionId must be an id, lastUpdated an
// instant.
//
// See: http://hl7.org/fhir/R4/resource.html#Meta
func BuildMeta(m *Meta) (*dtpb.Meta, error) {
	if m == nil {
		return nil, nil
	}
	out := &dtpb.Meta{Id: str(m.ID), Source: uri(m.Source)}
	var err error
	if out.Extension, err = BuildExtensions(m.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.VersionId, err = BuildID(m.VersionID); err != nil {
		return nil, at(err, "versionId")
	}
	if m.LastUpdated != "" {
		if out.LastUpdated, err = ParseInstant(m.LastUpdated); err != nil {
			return nil, at(err, "lastUpdated")
		}
	}
	if len(m.Profile) > 0 {
		out.Profile = make([]*dtpb.Canonical, len(m.Profile))
		for i, p := range m.Profile {
			out.Profile[i] = &dtpb.Canonical{Value: p}
		}
	}
	if out.Security, err = buildCodings("security", m.Security); err != nil {
		return nil, err
	}
	if out.Tag, err = buildCodings("tag", m.Tag); err != nil {
		return nil, err
	}
	return out, nil
}

// BuildNarrative builds a Narrative; status must be a code of NarrativeStatus.
// The XHTML is passed through unchecked.
//
// See: http://hl7.org/fhir/R4/narrative.html#Narrative
func BuildNarrative(n *Narrative) (*dtpb.Narrative, error) {
	if n == nil {
		return nil, nil
	}
	out := &dtpb.Narrative{Id: str(n.ID)}
	var err error
	if out.Extension, err = BuildExtensions(n.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if n.Status != "" {
		v, err := narrativeStatus.lookup(n.Status)
		if err != nil {
			return nil, at(err, "status")
		}
		out.Status = &dtpb.Narrative_StatusCode{Value: v}
	}
	if n.Div != "" {
		out.Div = &dtpb.Xhtml{Value: n.Div}
	}
	return out, nil
}

// BuildQuantity builds a Quantity; value must be a decimal, comparator a code
// of QuantityComparator.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Quantity
func BuildQuantity(q *Quantity) (*dtpb.Quantity, error) {
	if q == nil {
		return nil, nil
	}
	out := &dtpb.Quantity{Id: str(q.ID), Unit: str(q.Unit), System: uri(q.System), Code: code(q.Code)}
	var err error
	if out.Extension, err = BuildExtensions(q.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.Value, err = BuildDecimal(q.Value); err != nil {
		return nil, at(err, "value")
	}
	if q.Comparator != "" {
		v, err := quantityComparator.lookup(q.Comparator)
		if err != nil {
			return nil, at(err, "comparator")
		}
		out.Comparator = &dtpb.Quantity_ComparatorCode{Value: v}
	}
	return out, nil
}

// BuildAttachment builds an Attachment; data and hash must be base64, size an
// unsignedInt, creation a dateTime.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Attachment
func BuildAttachment(a *Attachment) (*dtpb.Attachment, error) {
	if a == nil {
		return nil, nil
	}
	out := &dtpb.Attachment{Id: str(a.ID), Language: code(a.Language), Title: str(a.Title)}
	if a.URL != "" {
		out.Url = &dtpb.Url{Value: a.URL}
	}
	if a.ContentType != "" {
		out.ContentType = &dtpb.Attachment_ContentTypeCode{Value: a.ContentType}
	}
	var err error
	if out.Extension, err = BuildExtensions(a.Extension); err != nil {
		return nil, at(err, "extension")
	}
	if out.Data, err = BuildBase64Binary(a.Data); err != nil {
		return nil, at(err, "data")
	}
	if out.Size, err = buildUnsignedInt(a.Size); err != nil {
		return nil, at(err, "size")
	}
	if out.Hash, err = BuildBase64Binary(a.Hash); err != nil {
		return nil, at(err, "hash")
	}
	if out.Creation, err = buildDateTime(a.Creation); err != nil {
		return nil, at(err, "creation")
	}
	return out, nil
}

// BuildAnnotation builds an Annotation; at most one of authorReference and
// authorString may be set.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Annotation
func BuildAnnotation(a *Annotation) (*dtpb.Annotation, error) {
	if a == nil {
		return nil, nil
	}
	out := &dtpb.Annotation{Id: str(a.ID)}
	if a.Text != "" {
		out.Text = &dtpb.Markdown{Value: a.Text}
	}
	var err error
	if out.Extension, err = BuildExtensions(a.Extension); err != nil {
		return nil, at(err, "extension")
	}
	switch {
	case a.AuthorReference != nil && a.AuthorString != "":
		return nil, invalid("both authorReference and authorString are set")
	case a.AuthorReference != nil:
		r, err := BuildReference(a.AuthorReference)
		if err != nil {
			return nil, at(err, "authorReference")
		}
		out.Author = &dtpb.Annotation_AuthorX{Choice: &dtpb.Annotation_AuthorX_Reference{Reference: r}}
	case a.AuthorString != "":
		out.Author = &dtpb.Annotation_AuthorX{Choice: &dtpb.Annotation_AuthorX_StringValue{StringValue: &dtpb.String{Value: a.AuthorString}}}
	}
	if out.Time, err = buildDateTime(a.Time); err != nil {
		return nil, at(err, "time")
	}
	return out, nil
}
