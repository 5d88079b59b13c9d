package pds

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// The JSON shapes below follow the PDS OpenAPI schemas (Patient.yaml and its
// components) and the field order of the sandbox's read stubs.

type pPatient struct {
	ResourceType        string       `json:"resourceType"`
	ID                  string       `json:"id"`
	Identifier          []pIdent     `json:"identifier"`
	Meta                pMeta        `json:"meta"`
	Name                []pName      `json:"name,omitempty"`
	Gender              string       `json:"gender,omitempty"`
	BirthDate           string       `json:"birthDate,omitempty"`
	DeceasedDateTime    string       `json:"deceasedDateTime,omitempty"`
	Address             []pAddress   `json:"address,omitempty"`
	Telecom             []pTelecom   `json:"telecom,omitempty"`
	GeneralPractitioner []pReference `json:"generalPractitioner,omitempty"`
	Extension           []pExtension `json:"extension,omitempty"`
}

type pIdent struct {
	System    string       `json:"system"`
	Value     string       `json:"value"`
	Period    *pPeriod     `json:"period,omitempty"`
	Extension []pExtension `json:"extension,omitempty"`
}

type pMeta struct {
	VersionID string    `json:"versionId"`
	Security  []pCoding `json:"security"`
}

type pCoding struct {
	System  string `json:"system"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type pCodeableConcept struct {
	Coding []pCoding `json:"coding"`
}

type pPeriod struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type pName struct {
	ID     string   `json:"id"`
	Use    string   `json:"use"`
	Period *pPeriod `json:"period,omitempty"`
	Given  []string `json:"given,omitempty"`
	Family string   `json:"family"`
	Prefix []string `json:"prefix,omitempty"`
}

type pAddress struct {
	ID         string   `json:"id"`
	Use        string   `json:"use"`
	Period     *pPeriod `json:"period,omitempty"`
	Line       []string `json:"line"`
	PostalCode string   `json:"postalCode"`
}

type pTelecom struct {
	ID     string   `json:"id"`
	Period *pPeriod `json:"period,omitempty"`
	System string   `json:"system"`
	Value  string   `json:"value"`
	Use    string   `json:"use"`
}

type pReference struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Identifier pIdent `json:"identifier"`
}

type pExtension struct {
	URL                  string            `json:"url"`
	ValueCodeableConcept *pCodeableConcept `json:"valueCodeableConcept,omitempty"`
	ValueDateTime        string            `json:"valueDateTime,omitempty"`
	Extension            []pExtension      `json:"extension,omitempty"`
}

const (
	odsSystem             = "https://fhir.nhs.uk/Id/ods-organization-code"
	confidentialitySystem = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
)

var verifiedNHSNumber = pExtension{
	URL: "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
	ValueCodeableConcept: &pCodeableConcept{Coding: []pCoding{{
		System:  "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus",
		Version: "1.0.0", Code: "01", Display: "Number present and verified",
	}}},
}

func deathNotification(date string) pExtension {
	return pExtension{
		URL: "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus",
		Extension: []pExtension{
			{URL: "deathNotificationStatus", ValueCodeableConcept: &pCodeableConcept{Coding: []pCoding{{
				System:  "https://fhir.hl7.org.uk/CodeSystem/UKCore-DeathNotificationStatus",
				Version: "1.0.0", Code: "2", Display: "Formal - death notice received from Registrar of Deaths",
			}}}},
			{URL: "systemEffectiveDate", ValueDateTime: date + "T00:00:00+00:00"},
		},
	}
}

// elementID gives a short stable element id like the "oVBjQ" of PDS records.
func elementID(nhs, kind string) string {
	h := fnv.New32a()
	h.Write([]byte(nhs))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	v := h.Sum32()
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[v%uint32(len(alphabet))]
		v /= uint32(len(alphabet))
	}
	return string(b)
}

func addressLines(a population.Address) []string {
	lines := make([]string, 0, len(a.Lines)+2)
	for _, l := range a.Lines {
		lines = append(lines, strings.ToUpper(l))
	}
	lines = append(lines, a.Town)
	if a.County != "" {
		lines = append(lines, a.County)
	}
	return lines
}

// renderPerson builds the PDS Patient of a synthetic person: the full record
// for read, or the reduced one returned by search (no previous names or
// addresses).
func renderPerson(p *population.Person, forSearch bool) pPatient {
	nhs := p.NHSNumber
	out := pPatient{
		ResourceType: "Patient",
		ID:           nhs,
		Identifier:   []pIdent{{System: nhsnumber.System, Value: nhs, Extension: []pExtension{verifiedNHSNumber}}},
		Meta:         pMeta{VersionID: strconv.Itoa(p.VersionID)},
		Gender:       p.Gender,
		BirthDate:    p.BirthDate,
	}
	if p.Restricted {
		out.Meta.Security = []pCoding{{System: confidentialitySystem, Code: "R", Display: "restricted"}}
	} else {
		out.Meta.Security = []pCoding{{System: confidentialitySystem, Code: "U", Display: "unrestricted"}}
	}

	usual := pName{ID: elementID(nhs, "name"), Use: "usual", Period: &pPeriod{Start: p.NameSince},
		Given: p.Given, Family: p.Family}
	if p.Title != "" {
		usual.Prefix = []string{p.Title}
	}
	out.Name = []pName{usual}
	if p.PreviousFamily != "" && !forSearch {
		out.Name = append(out.Name, pName{ID: elementID(nhs, "name-old"), Use: "old",
			Period: &pPeriod{Start: p.BirthDate, End: dayBefore(p.NameSince)},
			Given:  p.Given, Family: p.PreviousFamily})
	}

	if p.Deceased() {
		out.DeceasedDateTime = p.DeathDate + "T00:00:00+00:00"
		out.Extension = append(out.Extension, deathNotification(p.DeathDate))
	}
	if p.Restricted {
		return out
	}

	out.Address = []pAddress{{ID: elementID(nhs, "address"), Use: "home", Period: &pPeriod{Start: p.Address.From},
		Line: addressLines(p.Address), PostalCode: p.Address.Postcode}}
	if a := p.PreviousAddress; a != nil && !forSearch {
		out.Address = append(out.Address, pAddress{ID: elementID(nhs, "address-old"), Use: "old",
			Period: &pPeriod{Start: a.From, End: a.To}, Line: addressLines(*a), PostalCode: a.Postcode})
	}
	if p.Phone != "" {
		out.Telecom = append(out.Telecom, pTelecom{ID: elementID(nhs, "phone"), Period: &pPeriod{Start: p.Address.From},
			System: "phone", Value: p.Phone, Use: "home"})
	}
	if p.Mobile != "" {
		out.Telecom = append(out.Telecom, pTelecom{ID: elementID(nhs, "mobile"), Period: &pPeriod{Start: p.NameSince},
			System: "phone", Value: p.Mobile, Use: "mobile"})
	}
	if p.Email != "" {
		out.Telecom = append(out.Telecom, pTelecom{ID: elementID(nhs, "email"), Period: &pPeriod{Start: p.NameSince},
			System: "email", Value: p.Email, Use: "home"})
	}
	out.GeneralPractitioner = []pReference{{ID: elementID(nhs, "gp"), Type: "Organization",
		Identifier: pIdent{System: odsSystem, Value: p.GPPractice, Period: &pPeriod{Start: p.Address.From}}}}
	return out
}

func dayBefore(date string) string {
	d, ok := parseDay(date)
	if !ok {
		return date
	}
	return dayString(d - 1)
}

// personRecord renders and indexes a synthetic person.
func personRecord(p *population.Person) *record {
	full, err := json.Marshal(renderPerson(p, false))
	if err != nil {
		panic(err) // plain structs always marshal
	}
	search := full
	if p.PreviousFamily != "" || p.PreviousAddress != nil {
		if search, err = json.Marshal(renderPerson(p, true)); err != nil {
			panic(err)
		}
	}
	r := &record{
		id:         p.NHSNumber,
		full:       full,
		search:     search,
		etag:       `W/"` + strconv.Itoa(p.VersionID) + `"`,
		restricted: p.Restricted,
		gender:     p.Gender,
		gp:         strings.ToUpper(p.GPPractice),
		person:     p,
	}
	r.birth, r.hasBirth = parseDay(p.BirthDate)
	r.death, r.hasDeath = parseDay(p.DeathDate)
	r.addName(p.Family, p.Given, false)
	if p.PreviousFamily != "" {
		r.addName(p.PreviousFamily, p.Given, true)
	}
	// A restricted record keeps its address and telecom inside PDS: they
	// match (telecom) or exclude it (postcode, GP) but are never shown.
	r.addValue(&r.postcodes, normPostcode(p.Address.Postcode), false)
	if a := p.PreviousAddress; a != nil {
		r.addValue(&r.postcodes, normPostcode(a.Postcode), true)
	}
	r.addValue(&r.phones, normPhone(p.Phone), false)
	r.addValue(&r.phones, normPhone(p.Mobile), false)
	r.addValue(&r.emails, normEmail(p.Email), false)
	r.finish()
	return r
}
