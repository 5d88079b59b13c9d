package ra

import (
	"embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// fixtureFS holds the public sandbox's files (the canned answers of its app,
// origin and licence in testdata/real-sandbox/SOURCES.md).
//
//go:embed fixtures/*.json
var fixtureFS embed.FS

// SandboxNHSNumber is the patient of RA's public sandbox.
const SandboxNHSNumber = "5900026175"

// recordPercent is the share of the population with an RA record, in
// hundredths.
const recordPercent = 3

// adjustment is one reasonable adjustment the simulator records: a SNOMED
// CT concept (from RA's own examples) and its adjustment category.
type adjustment struct {
	code, display             string
	category, categoryDisplay string
}

var catalogue = []adjustment{
	{"441092009", "Does lip read", "001", "Communication support"},
	{"7961610000001018", "Requires visual alert", "003", "requires specific contact method"},
	{"367741000000102", "Requires information verbally", "004", "requires specific information format"},
	{"362691000000102", "Afar language interpreter needed", "006", "Community Language Support"},
}

// seed builds every record: the public sandbox's for 5900026175, two
// adjustments for 9000000009, then the population's.
func seed(pop []population.Person) (map[string]*record, error) {
	sandbox, err := sandboxRecord()
	if err != nil {
		return nil, err
	}
	recs := map[string]*record{SandboxNHSNumber: sandbox}
	at := time.Date(2024, 5, 14, 10, 15, 0, 0, time.UTC)
	recs["9000000009"] = seededRecord("9000000009", "Y12345", at, []adjustment{catalogue[0], catalogue[2]}, false)

	ref := population.Reference
	for _, p := range pop {
		h := population.Hash("ra", p.NHSNumber)
		if h%100 >= recordPercent || p.Deceased() {
			continue
		}
		n := 1 + int(h>>8)%2
		first := int(h>>16) % len(catalogue)
		var adj []adjustment
		for i := 0; i < n; i++ {
			adj = append(adj, catalogue[(first+i)%len(catalogue)])
		}
		created := ref.AddDate(0, 0, -int(h>>24)%1500).Add(time.Duration(8+int(h>>40)%9) * time.Hour)
		recs[p.NHSNumber] = seededRecord(p.NHSNumber, p.GPPractice, created, adj, (h>>32)%10 == 0)
	}
	return recs, nil
}

// sandboxRecord is the public sandbox's record, from its own answers.
func sandboxRecord() (*record, error) {
	var flags, consents fhirwire.Bundle
	for name, into := range map[string]*fhirwire.Bundle{"fixtures/flagGET.json": &flags, "fixtures/consentGET.json": &consents} {
		raw, err := fixtureFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, into); err != nil {
			return nil, fmt.Errorf("sandbox/ra: %s: %w", name, err)
		}
	}
	rec := &record{canned: true}
	if err := json.Unmarshal(consents.Entry[0].Resource, &rec.consent); err != nil {
		return nil, fmt.Errorf("sandbox/ra: consent: %w", err)
	}
	for _, e := range flags.Entry {
		var f Flag
		if err := json.Unmarshal(e.Resource, &f); err != nil {
			return nil, fmt.Errorf("sandbox/ra: flag: %w", err)
		}
		rec.flags = append(rec.flags, &f)
	}
	return rec, nil
}

// seededRecord is a record created at at by a clinician of practice gp,
// with one adjustment per adj (each a day later than the one before); with
// removed, a further adjustment that was later removed as no longer
// applying.
func seededRecord(nhs, gp string, at time.Time, adj []adjustment, removed bool) *record {
	rec := &record{consent: seededConsent(nhs, gp, at)}
	for i, a := range adj {
		rec.flags = append(rec.flags, seededFlag(nhs, gp, at.AddDate(0, 0, i), a, i, false))
	}
	if removed {
		a := catalogue[(len(adj)+int(population.Hash("ra-removed", nhs)%uint64(len(catalogue))))%len(catalogue)]
		rec.flags = append(rec.flags, seededFlag(nhs, gp, at.AddDate(0, 0, len(adj)), a, len(adj), true))
	}
	return rec
}

func seededConsent(nhs, gp string, at time.Time) Consent {
	id := nhs + "." + population.UUID("ra-consent", nhs)
	prov := seededProvenance(nhs, gp, "consent", at, "Consent/"+id)
	return Consent{
		ID:        id,
		Meta:      &fhirwire.Meta{VersionID: population.UUID("ra-consent-version", nhs), LastUpdated: timestamp(at), Profile: []string{consentProfile}},
		Contained: []Provenance{prov},
		Extension: []fhirwire.Extension{
			{URL: "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-ProxyRole-1", ValueCodeableConcept: &fhirwire.CodeableConcept{
				Coding: []fhirwire.Coding{{System: "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-ProxyRole-1", Code: "001", Display: "Patient consent"}}}},
			provenanceExt("created", prov.ID),
		},
		Status:   "active",
		Category: []fhirwire.CodeableConcept{{Coding: []fhirwire.Coding{nraf()}}},
		Patient:  &fhirwire.Reference{Reference: patientBase + nhs},
		Policy: []ConsentPolicy{{Authority: "https://www.gov.uk/",
			URI: "https://www.gov.uk/government/uploads/system/uploads/attachment_data/file/535024/data-security-review.pdf"}},
		Purpose: []fhirwire.Coding{{System: "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-ConsentPurpose-1", Code: "RACONSENT",
			Display: "Reasonable Adjustments - Consent to record Reasonable Adjustments"}},
	}
}

func seededFlag(nhs, gp string, at time.Time, a adjustment, n int, removed bool) *Flag {
	key := fmt.Sprint(n)
	id := nhs + "." + population.UUID("ra-flag", nhs, key)
	created := seededProvenance(nhs, gp, "flag"+key, at, "Flag/"+id)
	f := &Flag{
		ID:        id,
		Meta:      &fhirwire.Meta{VersionID: population.UUID("ra-flag-version", nhs, key), LastUpdated: timestamp(at), Profile: []string{flagProfile}},
		Contained: []Provenance{created},
		Extension: []fhirwire.Extension{
			provenanceExt("created", created.ID),
			{URL: "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-RARecord-AdjustmentCategory-1", ValueCodeableConcept: &fhirwire.CodeableConcept{
				Coding: []fhirwire.Coding{{System: "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-AdjustmentCategory-1", Code: a.category, Display: a.categoryDisplay}}}},
		},
		Status:   "active",
		Category: &fhirwire.CodeableConcept{Coding: []fhirwire.Coding{nraf()}},
		Code:     &fhirwire.CodeableConcept{Coding: []fhirwire.Coding{{System: "http://snomed.info/sct", Code: a.code, Display: a.display}}},
		Subject:  &fhirwire.Reference{Reference: patientBase + nhs},
	}
	if removed {
		later := at.AddDate(0, 2, 0)
		upd := seededProvenance(nhs, gp, "flag"+key+"-removed", later, "Flag/"+id)
		f.Meta.VersionID = population.UUID("ra-flag-version-2", nhs, key)
		f.Meta.LastUpdated = timestamp(later)
		f.Status = "inactive"
		f.Contained = append(f.Contained, upd)
		f.Extension = append(f.Extension, provenanceExt("updated", upd.ID), fhirwire.Extension{URL: removalReasonURL, Extension: []fhirwire.Extension{
			{URL: "removalReason", ValueCodeableConcept: &fhirwire.CodeableConcept{Coding: []fhirwire.Coding{{
				System: "https://fhir.nhs.uk/STU3/CodeSystem/RARecord-RemovalReason-1", Code: "DoesntApply",
				Display: "The Reasonable Adjustment Flag no longer applies to the patient"}}}},
			{URL: "supportingComment", ValueString: "Reviewed with the patient: no longer needed"},
		}})
	}
	return f
}

func seededProvenance(nhs, gp, what string, at time.Time, target string) Provenance {
	h := population.Hash("ra-user", nhs, what)
	return Provenance{
		ID:       population.UUID("ra-provenance", nhs, what),
		Meta:     &fhirwire.Meta{Profile: []string{"https://fhir.nhs.uk/STU3/StructureDefinition/RARecord-Provenance-1"}},
		Target:   []fhirwire.Reference{{Reference: target}},
		Recorded: timestamp(at),
		Agent: []ProvenanceAgent{{
			Role: []fhirwire.CodeableConcept{{Coding: []fhirwire.Coding{{
				System: "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1", Code: "R0260", Display: "General Medical Practitioner"}}}},
			WhoReference:        &fhirwire.Reference{Reference: fmt.Sprintf("https://sds.spineservices.nhs.uk/STU3/Practitioner/5552%08d", h%100000000), Display: "GP at " + gp},
			OnBehalfOfReference: &fhirwire.Reference{Reference: "https://directory.spineservices.nhs.uk/STU3/Organization/" + gp, Display: "GP practice " + gp},
		}},
	}
}

func provenanceExt(sub, id string) fhirwire.Extension {
	return fhirwire.Extension{URL: provenanceURL, Extension: []fhirwire.Extension{{URL: sub, ValueReference: &fhirwire.Reference{Reference: "#" + id}}}}
}

func nraf() fhirwire.Coding {
	return fhirwire.Coding{System: flagCategorySystem, Code: "NRAF", Display: "National Reasonable Adjustments Flag"}
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }
