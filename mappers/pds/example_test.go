package pds_test

import (
	"fmt"

	"github.com/carerecords/fhir-facade/mappers/pds"
	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

func ExamplePatient() {
	payload := []byte(`{
	  "resourceType": "Patient",
	  "id": "9000000025",
	  "meta": {"versionId": "2", "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
	  "name": [{"use": "usual", "family": "Smythe", "given": ["Janet"]}],
	  "deceasedDateTime": "2010-10-22T00:00:00+00:00",
	  "address": [{"use": "home", "postalCode": "LS1 6AE"}]
	}`)
	p, err := pds.Decode(payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	patient, err := pds.Patient(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	out, _ := m.MarshalResource(patient)
	fmt.Println(string(out))
	// Output:
	// {"deceasedDateTime":"2010-10-22T00:00:00Z","id":"9000000025","meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"],"security":[{"code":"R","system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality"}],"versionId":"2"},"name":[{"family":"Smythe","given":["Janet"],"use":"usual"}],"resourceType":"Patient"}
}
