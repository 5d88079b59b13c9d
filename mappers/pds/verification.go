package pds

import (
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// The NHS number verification status: UK Core's extension on the NHS number
// identifier, whose value is bound (required) to the value set of the England
// and Wales code systems plus v3-NullFlavor NI.
const (
	VerificationStatusURL = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
	VerificationEngland   = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
	VerificationWales     = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusWales"
	// VerificationRetired is the code system UK Core retired, which PDS
	// still names, with England's code ("01") in it.
	VerificationRetired = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus"
	NullFlavor          = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
)

// englandDisplay is the England code system's display for each code.
var englandDisplay = map[string]string{
	"01": "Number present and verified",
	"02": "Number present but not traced",
	"03": "Trace required",
	"04": "Trace attempted - No match or multiple match found",
	"05": "Trace needs to be resolved - (NHS number or patient detail conflict)",
	"06": "Trace in progress",
	"07": "Number not present and trace not required",
	"08": "Trace postponed (baby under six weeks old)",
}

// retiredToEngland maps the retired code system's own codes onto England's.
var retiredToEngland = map[string]string{
	"number-present-and-verified":               "01",
	"number-present-but-not-traced":             "02",
	"trace-required":                            "03",
	"trace-attempted":                           "04",
	"trace-needs-to-be-resolved":                "05",
	"trace-in-progress":                         "06",
	"number-not-present-and-trace-not-required": "07",
	"trace-postponed":                           "08",
}

// walesDisplay is the Wales code system's display for each code.
var walesDisplay = map[string]string{
	"nn": "Number present and traced using Welsh NHS AR",
	"01": "Number present & traced",
	"02": "Number present but not traced",
	"03": "Trace required",
	"04": "Trace attempted – no match or multiple match found",
	"05": "Trace needs to be resolved (NHS number or patient detail conflict)",
	"06": "Trace in progress",
	"07": "Number not present and trace not required",
	"08": "Trace postponed (baby under six weeks old)",
}

// VerificationStatus translates what PDS sends as the NHS number's
// verification status into UK Core's value set:
//
//   - the retired system with an England code (what PDS sends: "01") or
//     with one of its own codes (number-present-and-verified, ...) becomes
//     the England code system's code, with its display;
//   - the retired system's number-present-and-traced-using-welsh-nhs-ar
//     becomes Wales's "nn";
//   - an England or Wales code already is in the value set (display set to
//     the code system's);
//   - anything else (no coding, an unknown code, another system) is
//     unknown: v3-NullFlavor NI, the one null flavour the value set allows.
//
// The first coding that translates wins; the others are dropped, as a
// required binding allows no code of the value set's systems outside it.
func VerificationStatus(in *fhirjson.CodeableConcept) fhirjson.CodeableConcept {
	if in != nil {
		for _, c := range in.Coding {
			if out, ok := translateVerification(c.System, c.Code); ok {
				return fhirjson.CodeableConcept{Coding: []fhirjson.Coding{out}}
			}
		}
	}
	return fhirjson.CodeableConcept{Coding: []fhirjson.Coding{{System: NullFlavor, Code: "NI", Display: "NoInformation"}}}
}

func translateVerification(system, code string) (fhirjson.Coding, bool) {
	switch system {
	case VerificationRetired:
		if c, ok := retiredToEngland[code]; ok {
			code = c
		} else if code == "number-present-and-traced-using-welsh-nhs-ar" {
			return fhirjson.Coding{System: VerificationWales, Code: "nn", Display: walesDisplay["nn"]}, true
		}
		fallthrough
	case VerificationEngland:
		if d, ok := englandDisplay[code]; ok {
			return fhirjson.Coding{System: VerificationEngland, Code: code, Display: d}, true
		}
	case VerificationWales:
		if d, ok := walesDisplay[code]; ok {
			return fhirjson.Coding{System: VerificationWales, Code: code, Display: d}, true
		}
	case NullFlavor:
		if code == "NI" {
			return fhirjson.Coding{System: NullFlavor, Code: "NI", Display: "NoInformation"}, true
		}
	}
	return fhirjson.Coding{}, false
}

// withVerificationStatus returns identifiers whose verification status
// extensions are translated (VerificationStatus); ids itself is not
// modified.
func withVerificationStatus(ids []fhirjson.Identifier) []fhirjson.Identifier {
	out := make([]fhirjson.Identifier, len(ids))
	for i, id := range ids {
		out[i] = id
		if len(id.Extension) == 0 {
			continue
		}
		out[i].Extension = make([]fhirjson.Extension, len(id.Extension))
		for j, e := range id.Extension {
			if e.URL == VerificationStatusURL {
				cc := VerificationStatus(e.ValueCodeableConcept)
				e = fhirjson.Extension{ID: e.ID, URL: e.URL, ValueCodeableConcept: &cc}
			}
			out[i].Extension[j] = e
		}
	}
	return out
}
