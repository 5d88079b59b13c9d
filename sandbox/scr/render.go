package scr

import (
	"encoding/xml"
	"math/rand/v2"
	"strings"
	"time"
)

// JSON shapes of the API's payloads, in the member order the API uses.

type bundleJSON struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Identifier   *identifier `json:"identifier,omitempty"`
	Type         string      `json:"type"`
	Timestamp    string      `json:"timestamp,omitempty"`
	Total        int         `json:"total"`
	Entry        []entryJSON `json:"entry,omitempty"`
}

type entryJSON struct {
	FullURL  string       `json:"fullUrl"`
	Resource any          `json:"resource"`
	Search   *entrySearch `json:"search,omitempty"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type reference struct {
	Reference string `json:"reference"`
}

type attachment struct {
	URL string `json:"url"`
}

type docContent struct {
	Attachment attachment `json:"attachment"`
}

type docContext struct {
	Event []concept `json:"event"`
}

type documentReferenceJSON struct {
	ResourceType     string       `json:"resourceType"`
	ID               string       `json:"id"`
	MasterIdentifier identifier   `json:"masterIdentifier"`
	Status           string       `json:"status"`
	Type             concept      `json:"type"`
	Subject          reference    `json:"subject"`
	SecurityLabel    []concept    `json:"securityLabel"`
	Content          []docContent `json:"content"`
	Context          docContext   `json:"context"`
}

type patientJSON struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []identifier `json:"identifier"`
}

type metaJSON struct {
	LastUpdated string `json:"lastUpdated"`
}

type narrative struct {
	Status string `json:"status"`
	Div    string `json:"div"`
}

type sectionJSON struct {
	Title string    `json:"title"`
	Code  concept   `json:"code"`
	Text  narrative `json:"text"`
}

type relatesTo struct {
	Code             string     `json:"code"`
	TargetIdentifier identifier `json:"targetIdentifier"`
}

type compositionJSON struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         metaJSON      `json:"meta"`
	Identifier   identifier    `json:"identifier"`
	Status       string        `json:"status"`
	Type         concept       `json:"type"`
	Category     []concept     `json:"category"`
	Subject      reference     `json:"subject"`
	Date         string        `json:"date"`
	Author       []reference   `json:"author"`
	RelatesTo    []relatesTo   `json:"relatesTo"`
	Section      []sectionJSON `json:"section"`
}

type practitionerRoleJSON struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []identifier `json:"identifier"`
	Practitioner reference    `json:"practitioner"`
	Organization reference    `json:"organization"`
}

type humanName struct {
	Text string `json:"text"`
}

type practitionerJSON struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []identifier `json:"identifier"`
	Name         []humanName  `json:"name"`
}

type organizationJSON struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id"`
	Identifier   []identifier `json:"identifier"`
	Name         string       `json:"name"`
}

const (
	apiBase   = "https://api.service.nhs.uk/summary-care-record/FHIR/R4/"
	fhirTime  = "2006-01-02T15:04:05+00:00"
	xhtmlOpen = `<div xmlns="http://www.w3.org/1999/xhtml">`
	noInfo    = `<tr><td colspan="5">No relevant information available for this category.</td></tr>`
)

// esc escapes text for XHTML.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func rowClass(i int) string {
	if i%2 == 0 {
		return "oddRow"
	}
	return "evenRow"
}

func section(code, title, div string) sectionJSON {
	return sectionJSON{Title: title, Code: concept{Coding: []coding{{Code: code}}}, Text: narrative{Status: "generated", Div: xhtmlOpen + div + "</div>"}}
}

func medTable(id, summary string, rows []medRow) string {
	var b strings.Builder
	b.WriteString(`<table summary="This table includes information about this patient's ` + summary + `." id="` + id + `"><thead><tr><th>Type</th><th>Date</th><th>Medication Item</th><th>Dosage Instructions</th><th>Quantity</th></tr></thead><tbody>`)
	if len(rows) == 0 {
		b.WriteString(noInfo)
	}
	for i, r := range rows {
		b.WriteString(`<tr class="` + rowClass(i) + `"><td>` + esc(r.typ) + `</td><td>` + esc(r.date) + `</td><td>` + esc(r.item) + `</td><td>` + esc(r.dosage) + `</td><td>` + esc(r.quantity) + `</td></tr>`)
	}
	b.WriteString(`</tbody></table>`)
	return b.String()
}

func cell(s string) string {
	if s == "" {
		return `<td/>`
	}
	return `<td>` + esc(s) + `</td>`
}

// render writes sm as the API's GET /Bundle payload, with the structure of
// the API's GetScrBundle.json example: a Composition with the Title,
// allergy and three medication sections, its author PractitionerRole, the
// Practitioner, the practice Organization and the Patient.
func render(sm *summary) []byte {
	rng := rand.New(rand.NewPCG(hashOf(sm.person.NHSNumber), 0xb0d1))
	bundleID, roleID, practID, orgID, patID := uuidFrom(rng), uuidFrom(rng), uuidFrom(rng), uuidFrom(rng), uuidFrom(rng)
	created := sm.created
	day := func(t time.Time) string { return t.Format(scrDate) }

	title := `<h3 id="Disclaimer">Sourced from the patient's General Practice record. This summary may not include all the information pertinent to this patient.</h3>` +
		`<p id="CreateTime">Summary Created: ` + created.Format("02-Jan-2006 15:04") + `</p>` +
		`<p id="Author">Created by: ` + esc(sm.author) + `</p>` +
		`<p id="Practice">` + esc(sm.practice) + `, ` + esc(sm.person.GPPractice) + `.</p>`

	var al strings.Builder
	al.WriteString(`<table summary="This table includes information about this patient's allergies and adverse reactions." id="Allergies"><thead><tr><th>Date</th><th>Description</th><th>Certainty</th><th>Severity</th><th>Supporting Information</th></tr></thead><tbody>`)
	if len(sm.allergies) == 0 {
		al.WriteString(noInfo)
	}
	for i, a := range sm.allergies {
		al.WriteString(`<tr class="` + rowClass(i) + `">` + cell(a.date) + cell(a.description) + cell(a.certainty) + cell(a.severity) + cell(a.info) + `</tr>`)
	}
	al.WriteString(`</tbody></table>`)

	sections := []sectionJSON{
		section("Title", "General Practice Summary", title),
		section("AllergiesHeader", "Allergies and Adverse Reactions", al.String()),
		section("AcuteMedsHeader", "Acute Medications (For the 12 month period "+day(created.AddDate(-1, 0, 0))+" to "+day(created)+")", medTable("AcuteMeds", "acute medications", sm.acute)),
		section("RepeatMedsHeader", "Current Repeat Medications", medTable("RepeatMeds", "current repeat medications", sm.repeat)),
		section("DiscRepeatMedsHeader", "Discontinued Repeat Medications (For the 6 month period "+day(created.AddDate(0, -6, 0))+" to "+day(created)+")",
			medTable("DiscRepeatMeds", "discontinued repeat medications", sm.disc)+`<p id="SendTime">Summary Sent: `+created.Format("02-Jan-2006 15:04")+`</p>`),
	}
	gp := coding{System: "http://snomed.info/sct", Code: "196981000000101", Display: "General Practice Summary"}
	stamp := created.Format(fhirTime)
	b := bundleJSON{
		ResourceType: "Bundle", ID: bundleID,
		Identifier: &identifier{System: "https://tools.ietf.org/html/rfc4122", Value: sm.uuid},
		Type:       "searchset", Timestamp: stamp, Total: 5,
		Entry: []entryJSON{
			{FullURL: apiBase + "Composition/" + sm.compID, Resource: compositionJSON{
				ResourceType: "Composition", ID: sm.compID, Meta: metaJSON{LastUpdated: stamp},
				Identifier: identifier{System: "https://tools.ietf.org/html/rfc4122", Value: sm.compID},
				Status:     "final", Type: concept{Coding: []coding{gp}},
				Category: []concept{{Coding: []coding{{System: "http://snomed.info/sct", Code: "163171000000105", Display: "Care Professional Documentation"}}}},
				Subject:  reference{Reference: "Patient/" + patID}, Date: stamp,
				Author:    []reference{{Reference: "PractitionerRole/" + roleID}},
				RelatesTo: []relatesTo{{Code: "replaces", TargetIdentifier: identifier{Value: sm.previousUUID}}},
				Section:   sections,
			}},
			{FullURL: apiBase + "PractitionerRole/" + roleID, Resource: practitionerRoleJSON{
				ResourceType: "PractitionerRole", ID: roleID,
				Identifier:   []identifier{{System: "http://fhir.nhs.net/Id/sds-role-profile-id", Value: digits(rng, 12)}},
				Practitioner: reference{Reference: "Practitioner/" + practID}, Organization: reference{Reference: "Organization/" + orgID},
			}},
			{FullURL: apiBase + "Practitioner/" + practID, Resource: practitionerJSON{
				ResourceType: "Practitioner", ID: practID,
				Identifier: []identifier{{System: "https://fhir.nhs.uk/Id/sds-user-id", Value: digits(rng, 12)}},
				Name:       []humanName{{Text: sm.author}},
			}},
			{FullURL: apiBase + "Organization/" + orgID, Resource: organizationJSON{
				ResourceType: "Organization", ID: orgID,
				Identifier: []identifier{{System: "https://fhir.nhs.uk/Id/ods-organization-code", Value: sm.person.GPPractice}},
				Name:       sm.practice,
			}},
			{FullURL: apiBase + "Patient/" + patID, Resource: patientJSON{
				ResourceType: "Patient", ID: patID,
				Identifier: []identifier{{System: "https://fhir.nhs.uk/Id/nhs-number", Value: sm.person.NHSNumber}},
			}},
		},
	}
	return marshal(b)
}

func digits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	if b[0] == '0' {
		b[0] = '5'
	}
	return string(b)
}
