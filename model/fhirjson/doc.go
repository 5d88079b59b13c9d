// Package fhirjson decodes FHIR R4 JSON with encoding/json into plain Go
// structs and builds the google/fhir R4 protos from them.
//
// google/fhir's jsonformat Unmarshaller costs about 1 ms for a 6 KB Patient,
// which is too slow for the read path (see DESIGN.md, "Measured facts"). Backend
// payloads are therefore decoded with encoding/json into the structs of this
// package (Patient, HumanName, Extension…), and the Build… functions turn them
// into the protos the rest of the facade works with. jsonformat is still used to
// print those protos, and to parse what clients send us.
//
// The structs mirror FHIR's JSON representation field for field (json tags with
// omitempty), so encoding/json can also print them. The builders are pure:
// they validate what they convert (dates, enumerated codes, ids, choice types)
// and report the first problem as an *Error whose Path is the JSON path of the
// offending value, e.g. "Patient.name[0].period.start".
//
// Normalisations the builders perform, so that printing the proto with
// jsonformat gives back the same FHIR content:
//
//   - dateTime and instant values with a zero offset ("+00:00", "-00:00") get the
//     time zone "Z" and print as "…Z"; other offsets are kept ("+01:00").
//   - sub-second values print with 3 (1–3 digits given) or 6 (4 or more digits
//     given) fractional digits; digits beyond the sixth are dropped.
//   - empty strings are treated as absent (FHIR forbids them).
//   - relative references ("Organization/X1", "Patient/1/_history/2") become
//     the typed reference ids of the proto, as jsonformat's own parser does.
//
// Not modelled (silently ignored when decoding, like every unknown member):
// contained resources, and primitive extensions ("_field") other than
// Patient._birthDate, Patient._gender, HumanName._family and HumanName._given.
package fhirjson
