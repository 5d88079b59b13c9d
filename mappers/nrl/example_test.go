package nrl_test

import (
	"fmt"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carerecords/fhir-facade/mappers/nrl"
)

func ExampleDocumentReference() {
	pointer := []byte(`{
	  "resourceType": "DocumentReference",
	  "id": "Y05868-1000000091",
	  "status": "current",
	  "type": {"coding": [{"system": "http://snomed.info/sct", "code": "736253002", "display": "Mental health crisis plan"}]},
	  "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}},
	  "content": [{"attachment": {"contentType": "application/pdf",
	    "url": "https://spine-proxy.national.ncrs.nhs.uk/https%3A%2F%2Fp1.nhs.uk%2FMentalhealthCrisisPlanReport.pdf"}}]
	}`)
	p, err := nrl.Decode(pointer)
	if err != nil {
		fmt.Println(err)
		return
	}
	doc, err := nrl.DocumentReference(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	out, _ := m.MarshalResource(doc)
	fmt.Println(string(out))
	// Output:
	// {"content":[{"attachment":{"contentType":"application/pdf","url":"Binary/Y05868-1000000091"}}],"id":"Y05868-1000000091","meta":{"profile":["https://fhir.hl7.org.uk/StructureDefinition/UKCore-DocumentReference"]},"resourceType":"DocumentReference","status":"current","subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"},"reference":"Patient/9000000009"},"type":{"coding":[{"code":"736253002","display":"Mental health crisis plan","system":"http://snomed.info/sct"}]}}
}
