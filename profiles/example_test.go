package profiles_test

import (
	"errors"
	"fmt"

	"github.com/carerecords/fhir-facade/profiles"
)

func ExampleValidate() {
	err := profiles.Validate([]byte(`{
		"resourceType": "Patient",
		"gender": "M",
		"birthDate": "1980-13-01"
	}`))
	fmt.Println(err)

	var verr *profiles.ValidationError
	if errors.As(err, &verr) {
		for _, is := range verr.Issues {
			fmt.Printf("%s at %s\n", is.Expression, is.Path)
		}
	}
	// Output:
	// FHIR R4 schema: 2 problems: Patient.birthDate: "1980-13-01" is not a valid FHIR date; Patient.gender: got "M", value must be one of 'male', 'female', 'other', 'unknown'
	// Patient.birthDate at /birthDate
	// Patient.gender at /gender
}
