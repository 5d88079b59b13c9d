package pds_test

import (
	"reflect"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// TestVerificationStatus: every code PDS can send lands in UK Core's value
// set (England 01-08, Wales, or NullFlavor NI for the unknown).
func TestVerificationStatus(t *testing.T) {
	england := func(code, display string) fhirjson.Coding {
		return fhirjson.Coding{System: pds.VerificationEngland, Code: code, Display: display}
	}
	ni := fhirjson.Coding{System: pds.NullFlavor, Code: "NI", Display: "NoInformation"}
	cc := func(cs ...fhirjson.Coding) *fhirjson.CodeableConcept { return &fhirjson.CodeableConcept{Coding: cs} }
	retired := func(code string) *fhirjson.CodeableConcept {
		return cc(fhirjson.Coding{System: pds.VerificationRetired, Code: code, Display: "as PDS sends it"})
	}
	for _, c := range []struct {
		name string
		in   *fhirjson.CodeableConcept
		want fhirjson.Coding
	}{
		// What PDS sends: the retired system with England's codes.
		{"retired 01", retired("01"), england("01", "Number present and verified")},
		{"retired 02", retired("02"), england("02", "Number present but not traced")},
		{"retired 03", retired("03"), england("03", "Trace required")},
		{"retired 04", retired("04"), england("04", "Trace attempted - No match or multiple match found")},
		{"retired 05", retired("05"), england("05", "Trace needs to be resolved - (NHS number or patient detail conflict)")},
		{"retired 06", retired("06"), england("06", "Trace in progress")},
		{"retired 07", retired("07"), england("07", "Number not present and trace not required")},
		{"retired 08", retired("08"), england("08", "Trace postponed (baby under six weeks old)")},
		// The retired system's own codes.
		{"number-present-and-verified", retired("number-present-and-verified"), england("01", "Number present and verified")},
		{"number-present-but-not-traced", retired("number-present-but-not-traced"), england("02", "Number present but not traced")},
		{"trace-required", retired("trace-required"), england("03", "Trace required")},
		{"trace-attempted", retired("trace-attempted"), england("04", "Trace attempted - No match or multiple match found")},
		{"trace-needs-to-be-resolved", retired("trace-needs-to-be-resolved"), england("05", "Trace needs to be resolved - (NHS number or patient detail conflict)")},
		{"trace-in-progress", retired("trace-in-progress"), england("06", "Trace in progress")},
		{"number-not-present-and-trace-not-required", retired("number-not-present-and-trace-not-required"), england("07", "Number not present and trace not required")},
		{"trace-postponed", retired("trace-postponed"), england("08", "Trace postponed (baby under six weeks old)")},
		{"number-present-and-traced-using-welsh-nhs-ar", retired("number-present-and-traced-using-welsh-nhs-ar"),
			fhirjson.Coding{System: pds.VerificationWales, Code: "nn", Display: "Number present and traced using Welsh NHS AR"}},
		// Already UK Core.
		{"england 01", cc(england("01", "")), england("01", "Number present and verified")},
		{"wales 02", cc(fhirjson.Coding{System: pds.VerificationWales, Code: "02"}),
			fhirjson.Coding{System: pds.VerificationWales, Code: "02", Display: "Number present but not traced"}},
		{"NI", cc(ni), ni},
		{"unknown coding after a known one", cc(fhirjson.Coding{System: "urn:other", Code: "x"}, fhirjson.Coding{System: pds.VerificationRetired, Code: "02"}),
			england("02", "Number present but not traced")},
		// Unknown: NullFlavor NI.
		{"retired unknown code", retired("99"), ni},
		{"england unknown code", cc(england("09", "")), ni},
		{"other system", cc(fhirjson.Coding{System: "urn:other", Code: "01"}), ni},
		{"NullFlavor UNK (not in the value set)", cc(fhirjson.Coding{System: pds.NullFlavor, Code: "UNK"}), ni},
		{"no coding", cc(), ni},
		{"no value", nil, ni},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := pds.VerificationStatus(c.in)
			if want := (fhirjson.CodeableConcept{Coding: []fhirjson.Coding{c.want}}); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}
