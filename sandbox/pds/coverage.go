package pds

import (
	"net/http"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/pds/fixtures"
)

// GET /Coverage?subscriber:identifier={nhsNumber}: the patient's European
// Health Insurance Card coverage, a searchset. As the sandbox: exactly the
// one parameter (else 400 INVALID_SEARCH_DATA), a valid NHS number (else 400
// INVALID_RESOURCE_ID); 9000000009 has an EHIC (its stub), everyone else
// none (the sandbox's empty searchset for 9000000033; the sandbox itself
// answers no body for other numbers, which the specification does not
// describe). The answer carries a fresh timestamp and ETag W/"<versionId>".

const coverageFormat = "Coverage search request must follow the format /Coverage?subscriber:identifier=NHS_NUMBER"

func (s *Simulator) coverage(w http.ResponseWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	nhs, ok := q["subscriber:identifier"]
	if !ok || len(q) != 1 || len(nhs) != 1 {
		return errInvalidSearchData(coverageFormat)
	}
	if !nhsnumber.Valid(nhs[0]) {
		return errInvalidResourceID()
	}
	file := "coverageResponses/patient_without_coverage.json"
	if nhs[0] == "9000000009" {
		file = "coverageResponses/patient_with_coverage_9000000009.json"
	}
	raw, err := fixtures.FS.ReadFile(file)
	if err != nil {
		panic(err) // embedded: a build defect
	}
	v, err := decodeJSON(raw)
	if err != nil {
		panic(err)
	}
	doc := v.(*object)
	doc.set("timestamp", nowStamp())
	version := "1"
	if meta, ok := doc.m["meta"].(*object); ok {
		if id, ok := meta.m["versionId"].(string); ok {
			version = id
		}
	}
	w.Header().Set("ETag", `W/"`+version+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(encodeJSON(doc))
	return nil
}
