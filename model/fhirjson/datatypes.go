package fhirjson

import "encoding/json"

// Element holds the id and extensions FHIR JSON carries for a primitive value
// in its "_name" sibling, e.g. "_birthDate": {"extension": [...]}.
//
// See: http://hl7.org/fhir/R4/json.html#primitive
type Element struct {
	ID        string      `json:"id,omitempty"`
	Extension []Extension `json:"extension,omitempty"`
}

// Extension is an extension (or a nested part of a complex extension). At
// most one value[x] may be set; an extension has either a value or nested
// extensions. Primitive values are kept as strings, decimals as json.Number
// (to keep their written precision), integers as int64 (range-checked by
// BuildExtension).
//
// See: http://hl7.org/fhir/R4/extensibility.html#Extension
type Extension struct {
	ID        string      `json:"id,omitempty"`
	URL       string      `json:"url"`
	Extension []Extension `json:"extension,omitempty"`

	ValueBase64Binary    string           `json:"valueBase64Binary,omitempty"`
	ValueBoolean         *bool            `json:"valueBoolean,omitempty"`
	ValueCanonical       string           `json:"valueCanonical,omitempty"`
	ValueCode            string           `json:"valueCode,omitempty"`
	ValueDate            string           `json:"valueDate,omitempty"`
	ValueDateTime        string           `json:"valueDateTime,omitempty"`
	ValueDecimal         json.Number      `json:"valueDecimal,omitempty"`
	ValueID              string           `json:"valueId,omitempty"`
	ValueInstant         string           `json:"valueInstant,omitempty"`
	ValueInteger         *int64           `json:"valueInteger,omitempty"`
	ValueMarkdown        string           `json:"valueMarkdown,omitempty"`
	ValueOid             string           `json:"valueOid,omitempty"`
	ValuePositiveInt     *int64           `json:"valuePositiveInt,omitempty"`
	ValueString          string           `json:"valueString,omitempty"`
	ValueTime            string           `json:"valueTime,omitempty"`
	ValueUnsignedInt     *int64           `json:"valueUnsignedInt,omitempty"`
	ValueURI             string           `json:"valueUri,omitempty"`
	ValueURL             string           `json:"valueUrl,omitempty"`
	ValueUUID            string           `json:"valueUuid,omitempty"`
	ValueAddress         *Address         `json:"valueAddress,omitempty"`
	ValueAnnotation      *Annotation      `json:"valueAnnotation,omitempty"`
	ValueAttachment      *Attachment      `json:"valueAttachment,omitempty"`
	ValueCodeableConcept *CodeableConcept `json:"valueCodeableConcept,omitempty"`
	ValueCoding          *Coding          `json:"valueCoding,omitempty"`
	ValueContactPoint    *ContactPoint    `json:"valueContactPoint,omitempty"`
	ValueHumanName       *HumanName       `json:"valueHumanName,omitempty"`
	ValueIdentifier      *Identifier      `json:"valueIdentifier,omitempty"`
	ValuePeriod          *Period          `json:"valuePeriod,omitempty"`
	ValueQuantity        *Quantity        `json:"valueQuantity,omitempty"`
	ValueReference       *Reference       `json:"valueReference,omitempty"`
}

// Coding is a code defined by a terminology system.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Coding
type Coding struct {
	ID           string      `json:"id,omitempty"`
	Extension    []Extension `json:"extension,omitempty"`
	System       string      `json:"system,omitempty"`
	Version      string      `json:"version,omitempty"`
	Code         string      `json:"code,omitempty"`
	Display      string      `json:"display,omitempty"`
	UserSelected *bool       `json:"userSelected,omitempty"`
}

// CodeableConcept is a concept given by codings and/or text.
//
// See: http://hl7.org/fhir/R4/datatypes.html#CodeableConcept
type CodeableConcept struct {
	ID        string      `json:"id,omitempty"`
	Extension []Extension `json:"extension,omitempty"`
	Coding    []Coding    `json:"coding,omitempty"`
	Text      string      `json:"text,omitempty"`
}

// Identifier is a business identifier, e.g. an NHS number.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Identifier
type Identifier struct {
	ID        string           `json:"id,omitempty"`
	Extension []Extension      `json:"extension,omitempty"`
	Use       string           `json:"use,omitempty"`
	Type      *CodeableConcept `json:"type,omitempty"`
	System    string           `json:"system,omitempty"`
	Value     string           `json:"value,omitempty"`
	Period    *Period          `json:"period,omitempty"`
	Assigner  *Reference       `json:"assigner,omitempty"`
}

// Reference is a literal (Reference) and/or logical (Identifier) reference to
// another resource. PDS sends logical ones: the GP is an ODS code identifier.
//
// See: http://hl7.org/fhir/R4/references.html#Reference
type Reference struct {
	ID         string      `json:"id,omitempty"`
	Extension  []Extension `json:"extension,omitempty"`
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Period is a time range; either end may be open.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Period
type Period struct {
	ID        string      `json:"id,omitempty"`
	Extension []Extension `json:"extension,omitempty"`
	Start     string      `json:"start,omitempty"`
	End       string      `json:"end,omitempty"`
}

// HumanName is a person's name. FamilyElement and GivenElement hold the
// primitive extensions of family and given ("_family", "_given"); GivenElement
// is parallel to Given, with nil where a given name has none.
//
// See: http://hl7.org/fhir/R4/datatypes.html#HumanName
type HumanName struct {
	ID            string      `json:"id,omitempty"`
	Extension     []Extension `json:"extension,omitempty"`
	Use           string      `json:"use,omitempty"`
	Text          string      `json:"text,omitempty"`
	Family        string      `json:"family,omitempty"`
	FamilyElement *Element    `json:"_family,omitempty"`
	Given         []string    `json:"given,omitempty"`
	GivenElement  []*Element  `json:"_given,omitempty"`
	Prefix        []string    `json:"prefix,omitempty"`
	Suffix        []string    `json:"suffix,omitempty"`
	Period        *Period     `json:"period,omitempty"`
}

// Address is a postal or physical address. PDS puts the PAF and UPRN keys in
// extensions (Extension-UKCore-AddressKey).
//
// See: http://hl7.org/fhir/R4/datatypes.html#Address
type Address struct {
	ID         string      `json:"id,omitempty"`
	Extension  []Extension `json:"extension,omitempty"`
	Use        string      `json:"use,omitempty"`
	Type       string      `json:"type,omitempty"`
	Text       string      `json:"text,omitempty"`
	Line       []string    `json:"line,omitempty"`
	City       string      `json:"city,omitempty"`
	District   string      `json:"district,omitempty"`
	State      string      `json:"state,omitempty"`
	PostalCode string      `json:"postalCode,omitempty"`
	Country    string      `json:"country,omitempty"`
	Period     *Period     `json:"period,omitempty"`
}

// ContactPoint is a phone number, email address etc.
//
// See: http://hl7.org/fhir/R4/datatypes.html#ContactPoint
type ContactPoint struct {
	ID        string      `json:"id,omitempty"`
	Extension []Extension `json:"extension,omitempty"`
	System    string      `json:"system,omitempty"`
	Value     string      `json:"value,omitempty"`
	Use       string      `json:"use,omitempty"`
	Rank      *int64      `json:"rank,omitempty"`
	Period    *Period     `json:"period,omitempty"`
}

// Meta is the metadata of a resource. PDS carries the record version in
// VersionID and the confidentiality label (U, R, V) in Security.
//
// See: http://hl7.org/fhir/R4/resource.html#Meta
type Meta struct {
	ID          string      `json:"id,omitempty"`
	Extension   []Extension `json:"extension,omitempty"`
	VersionID   string      `json:"versionId,omitempty"`
	LastUpdated string      `json:"lastUpdated,omitempty"`
	Source      string      `json:"source,omitempty"`
	Profile     []string    `json:"profile,omitempty"`
	Security    []Coding    `json:"security,omitempty"`
	Tag         []Coding    `json:"tag,omitempty"`
}

// Narrative is the human-readable XHTML summary of a resource.
//
// See: http://hl7.org/fhir/R4/narrative.html#Narrative
type Narrative struct {
	ID        string      `json:"id,omitempty"`
	Extension []Extension `json:"extension,omitempty"`
	Status    string      `json:"status,omitempty"`
	Div       string      `json:"div,omitempty"`
}

// Quantity is a measured amount. Value keeps the decimal as written.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Quantity
type Quantity struct {
	ID         string      `json:"id,omitempty"`
	Extension  []Extension `json:"extension,omitempty"`
	Value      json.Number `json:"value,omitempty"`
	Comparator string      `json:"comparator,omitempty"`
	Unit       string      `json:"unit,omitempty"`
	System     string      `json:"system,omitempty"`
	Code       string      `json:"code,omitempty"`
}

// Attachment is content referenced or included inline (base64 in Data).
//
// See: http://hl7.org/fhir/R4/datatypes.html#Attachment
type Attachment struct {
	ID          string      `json:"id,omitempty"`
	Extension   []Extension `json:"extension,omitempty"`
	ContentType string      `json:"contentType,omitempty"`
	Language    string      `json:"language,omitempty"`
	Data        string      `json:"data,omitempty"`
	URL         string      `json:"url,omitempty"`
	Size        *int64      `json:"size,omitempty"`
	Hash        string      `json:"hash,omitempty"`
	Title       string      `json:"title,omitempty"`
	Creation    string      `json:"creation,omitempty"`
}

// Annotation is a text note with its author and time.
//
// See: http://hl7.org/fhir/R4/datatypes.html#Annotation
type Annotation struct {
	ID              string      `json:"id,omitempty"`
	Extension       []Extension `json:"extension,omitempty"`
	AuthorReference *Reference  `json:"authorReference,omitempty"`
	AuthorString    string      `json:"authorString,omitempty"`
	Time            string      `json:"time,omitempty"`
	Text            string      `json:"text,omitempty"`
}
