package fgm

import (
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/sandbox/wire/fhirwire"
)

// SNOMED CT "Family history of FGM (female genital mutilation)".
const (
	snomed     = "http://snomed.info/sct"
	fgmCode    = "902961000000107"
	fgmDisplay = "Family history of FGM (female genital mutilation)"
	odsSystem  = "https://fhir.nhs.uk/Id/ods-organization-code"
	removalURL = "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-FlagRemovalReason"
)

// The share of girls under 18 with a flag, and of flags that were removed,
// in hundredths.
const (
	flaggedPercent = 2
	removedPercent = 20
)

// seed builds every patient's flags: the contract fixture's for 9000000009,
// then the population's.
func seed(pop []population.Person) map[string][]Flag {
	out := map[string][]Flag{
		"9000000009": {{
			ID:      "FGM-ActiveFlag-Example",
			Meta:    &fhirwire.Meta{VersionID: "1", LastUpdated: "2019-12-10T09:00:00+00:00"},
			Status:  "active",
			Code:    fgmConcept(),
			Subject: subject("9000000009"),
			Period:  &fhirwire.Period{Start: "2019-12-10"},
			Author:  &fhirwire.Reference{Identifier: &fhirwire.Identifier{System: odsSystem, Value: "Y12345"}},
		}},
	}
	ref := population.Reference
	for _, p := range pop {
		birth, err := time.Parse(time.DateOnly, p.BirthDate)
		if err != nil || p.Gender != population.Female || !birth.AddDate(18, 0, 0).After(ref) || p.Deceased() {
			continue
		}
		h := population.Hash("fgm", p.NHSNumber)
		if h%100 >= flaggedPercent {
			continue
		}
		out[p.NHSNumber] = []Flag{flagFor(p, birth, ref, h)}
	}
	return out
}

func flagFor(p population.Person, birth, ref time.Time, h uint64) Flag {
	days := int(ref.Sub(birth).Hours() / 24)
	start := birth.AddDate(0, 0, int(h>>8)%max(days, 1))
	f := Flag{
		ID:      population.UUID("fgm-flag", p.NHSNumber),
		Meta:    &fhirwire.Meta{VersionID: "1", LastUpdated: start.Format(time.DateOnly) + "T09:00:00+00:00"},
		Status:  "active",
		Code:    fgmConcept(),
		Subject: subject(p.NHSNumber),
		Period:  &fhirwire.Period{Start: start.Format(time.DateOnly)},
	}
	if p.GPPractice != "" {
		f.Author = &fhirwire.Reference{Identifier: &fhirwire.Identifier{System: odsSystem, Value: p.GPPractice}}
	}
	if (h>>24)%100 < removedPercent {
		left := int(ref.Sub(start).Hours() / 24)
		end := start.AddDate(0, 0, 1+int(h>>32)%max(left, 1))
		f.Period.End = end.Format(time.DateOnly)
		f.Meta = &fhirwire.Meta{VersionID: "2", LastUpdated: f.Period.End + "T09:00:00+00:00"}
		if h%2 == 0 {
			f.Status = "entered-in-error"
			f.Extension = []fhirwire.Extension{{URL: removalURL, ValueString: "Flag was recorded against the wrong patient"}}
		} else {
			f.Status = "inactive"
			f.Extension = []fhirwire.Extension{{URL: removalURL, ValueString: "Risk assessment reviewed: indicator no longer applies"}}
		}
	}
	return f
}

func fgmConcept() *fhirwire.CodeableConcept {
	return &fhirwire.CodeableConcept{Coding: []fhirwire.Coding{{System: snomed, Code: fgmCode, Display: fgmDisplay}}, Text: fgmDisplay}
}

func subject(nhs string) *fhirwire.Reference {
	return &fhirwire.Reference{Identifier: &fhirwire.Identifier{System: nhsnumber.System, Value: nhs}}
}
