package profiles

import "slices"

// applyErrata corrects known defects of the published R4 schema file in the
// parsed document, before compilation. Each correction makes the schema
// agree with the FHIR R4 specification it was generated from.
//
//   - The FHIRVersion enumerations (CapabilityStatement.fhirVersion,
//     StructureDefinition.fhirVersion, ImplementationGuide.fhirVersion …)
//     stop at "4.0.0": the schema was generated before the 4.0.1 technical
//     correction, so it rejects "4.0.1", the version of FHIR R4 itself.
//     See: http://hl7.org/fhir/R4/valueset-FHIR-version.html (4.0.1 is listed).
func applyErrata(doc any) {
	walk(doc, func(m map[string]any) {
		enum, ok := m["enum"].([]any)
		if !ok || !slices.Contains(enum, any("4.0.0")) || !slices.Contains(enum, any("3.0.1")) || slices.Contains(enum, any("4.0.1")) {
			return
		}
		m["enum"] = append(enum, "4.0.1")
	})
}

// walk calls f on every object in the JSON document v.
func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, c := range x {
			walk(c, f)
		}
	case []any:
		for _, c := range x {
			walk(c, f)
		}
	}
}
