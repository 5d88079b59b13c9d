package pds_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/internal/jsoncompare"
	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// The contract with the public PDS sandbox (docs/backends.md, "PDS"): one
// row per answer of the real sandbox, each sending the same request to the
// simulator and comparing status, Content-Type and body with the real
// payload. Payloads are the sandbox's stubs (fixtures/, byte copies, which
// the simulator embeds) and the bodies derived from its mock code
// (testdata/real-sandbox/derived/); testdata/real-sandbox/SOURCES.md gives
// the origin of both.
//
// Bodies compare as JSON values after masking the fields the real sandbox
// makes up per request (masked: Bundle and OperationOutcome "timestamp"
// from the clock; the random 6-hex name and address "id"s of a created
// patient). Where the real answer is a stub returned unchanged (no clock,
// no random), the compact bytes must be equal too ("static" rows): the
// simulator serves the stub itself, member order included.
//
// A row whose answer the simulator deliberately does not give names the
// departure (docs/backends.md, "PDS departures") and the answer it gives
// instead, which the row checks.

// contractBase is the real sandbox's base: its canned search answers carry
// fullUrls under it, so the contract simulator is configured with it.
const contractBase = "https://api.service.nhs.uk" + pds.BasePath

type contractRow struct {
	name    string
	method  string
	path    string            // under BasePath
	header  map[string]string // on top of a valid X-Request-ID; "" removes
	body    string            // request body; "@file" reads testdata/real-sandbox/file
	status  int
	file    string   // expected body: fixtures/… or derived/…
	static  bool     // compact bytes must match too
	mask    []string // JSON paths masked in both bodies ("*" = any index)
	stamped bool     // the sandbox adds a "timestamp" to the stub (masked)
	drop    []string // JSON paths removed from both bodies: the departure's
	rebase  bool     // fullUrl hosts compared as BASE (the stub's is veit07)
	etag    string   // expected ETag, if any
	headers map[string]string
	// departure, when set, names the documented departure; status and
	// file then describe what the simulator answers instead.
	departure string
}

func TestContractRealSandbox(t *testing.T) {
	rows := []contractRow{
		// Read.
		{name: "read 9000000009", method: "GET", path: "/Patient/9000000009", status: 200, file: "fixtures/patientResponses/patient_9000000009.json", static: true, etag: `W/"2"`},
		{name: "read restricted 9000000025", method: "GET", path: "/Patient/9000000025", status: 200, file: "fixtures/patientResponses/patient_9000000025.json", static: true, etag: `W/"2"`},
		{name: "read minimal 9000000033", method: "GET", path: "/Patient/9000000033", status: 200, file: "fixtures/patientResponses/patient_9000000033.json", static: true, etag: `W/"2"`},
		{name: "read 9000000017", method: "GET", path: "/Patient/9000000017", status: 200, file: "fixtures/searchResponses/Patient-Jayne-Smyth.json", static: true, etag: `W/"2"`,
			departure: "9000000017 is read as Jayne Smyth (real: 404, derived/GET_Patient_9000000017.404.derived.json)"},
		{name: "read unknown 9111231130", method: "GET", path: "/Patient/9111231130", status: 404, file: "fixtures/errorResponses/RESOURCE_NOT_FOUND.json", static: true},
		{name: "read superseded 5900053636", method: "GET", path: "/Patient/5900053636", status: 404, file: "fixtures/errorResponses/RESOURCE_NOT_FOUND.json", static: true},
		{name: "read superseded 9000000041", method: "GET", path: "/Patient/9000000041", status: 404, file: "fixtures/errorResponses/RESOURCE_NOT_FOUND.json", static: true},
		{name: "read retained 9732019395", method: "GET", path: "/Patient/9732019395", status: 404, file: "fixtures/errorResponses/RESOURCE_NOT_FOUND.json", static: true},
		{name: "read invalidated 9990003343", method: "GET", path: "/Patient/9990003343", status: 404, file: "fixtures/errorResponses/RESOURCE_NOT_FOUND.json", static: true},
		{name: "read bad check digit", method: "GET", path: "/Patient/9000000000", status: 400, file: "fixtures/errorResponses/INVALID_RESOURCE_ID.json", static: true},
		{name: "no X-Request-ID", method: "GET", path: "/Patient/9000000009", header: map[string]string{"X-Request-ID": ""}, status: 400, file: "derived/GET_Patient_9000000009.400.missing-x-request-id.derived.json", static: true},
		{name: "X-Request-ID not a UUID", method: "GET", path: "/Patient/9000000009", header: map[string]string{"X-Request-ID": "1234"}, status: 400, file: "derived/GET_Patient_9000000009.400.invalid-x-request-id.derived.json", static: true},
		{name: "Authorization Bearer without token", method: "GET", path: "/Patient/9000000009", header: map[string]string{"Authorization": "Bearer"}, status: 401, file: "derived/GET_Patient_9000000009.401.malformed-bearer.derived.json", static: true},
		{name: "Authorization Bearer !!!", method: "GET", path: "/Patient/9000000009", header: map[string]string{"Authorization": "Bearer !!!"}, status: 401, file: "derived/GET_Patient_9000000009.401.invalid-token.derived.json", static: true},
		{name: "Authorization alphanumeric token", method: "GET", path: "/Patient/9000000009", header: map[string]string{"Authorization": "Bearer Sx1lJ8AKSUGBOdXbtY7mC3fuw1ag"}, status: 200, file: "fixtures/patientResponses/patient_9000000009.json", static: true},

		// Related people.
		{name: "related 9000000009", method: "GET", path: "/Patient/9000000009/RelatedPerson", status: 200, file: "fixtures/relatedPersonResponses/related_person_9000000009.json", stamped: true, mask: []string{"timestamp"}},
		{name: "related 9000000017", method: "GET", path: "/Patient/9000000017/RelatedPerson", status: 200, file: "fixtures/relatedPersonResponses/related_person_9000000017.json", stamped: true, mask: []string{"timestamp"}},
		{name: "related none 9000000025", method: "GET", path: "/Patient/9000000025/RelatedPerson", status: 200, file: "derived/GET_RelatedPerson_9000000025.200.empty.derived.json", mask: []string{"timestamp"}},
		{name: "related unknown 9111231130", method: "GET", path: "/Patient/9111231130/RelatedPerson", status: 404, file: "derived/GET_RelatedPerson_9111231130.404.derived.json", mask: []string{"timestamp"}},

		// Search: validation.
		{name: "search without parameters", method: "GET", path: "/Patient", status: 400, file: "derived/search.400.no-params.derived.json", static: true},
		{name: "search with an unknown parameter", method: "GET", path: "/Patient?family=Sm*&gender=female&invalidParam=123&birthdate=eq2010-10-22&email=j.smith@example.com&phone=0163", status: 400, file: "derived/search.400.additional-param.derived.json", static: true},
		{name: "search with a bad birthdate", method: "GET", path: "/Patient?family=Smith&given=Jane&gender=female&birthdate=20101022", status: 400, file: "derived/search.400.invalid-birthdate.derived.json", static: true},
		{name: "search without birthdate", method: "GET", path: "/Patient?family=Smith&gender=female", status: 400, file: "derived/search.400.missing-birthdate.derived.json", static: true},
		{name: "search without family", method: "GET", path: "/Patient?birthdate=eq2010-10-22&gender=female", status: 400, file: "derived/search.400.missing-family.derived.json", static: true},

		// Search: answers.
		{name: "search Jane Smith", method: "GET", path: "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22", status: 200, file: "derived/search.200.simple-jane-smith.derived.json", mask: []string{"timestamp"}},
		{name: "search Jane Smith by date range", method: "GET", path: "/Patient?family=Smith&gender=female&birthdate=ge2010-10-21&birthdate=le2010-10-23", status: 200, file: "derived/search.200.simple-jane-smith.derived.json", mask: []string{"timestamp"}},
		{name: "search Jane Smith with phone and email", method: "GET", path: "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22&phone=01632960587&email=jane.smith@example.com", status: 200, file: "derived/search.200.simple-jane-smith.derived.json", mask: []string{"timestamp"}},
		{name: "search Sm*", method: "GET", path: "/Patient?family=Sm*&gender=female&birthdate=eq2010-10-22", status: 200, file: "derived/search.200.wildcard-Sm-star.derived.json", mask: []string{"timestamp"}},
		{name: "search Sm* limited to 1", method: "GET", path: "/Patient?family=Sm*&gender=female&birthdate=eq2010-10-22&_max-results=1", status: 200, file: "fixtures/searchResponses/TOO_MANY_MATCHES.json", static: true},
		{name: "search Sm* with phone", method: "GET", path: "/Patient?family=Sm*&gender=female&birthdate=eq2010-10-22&phone=01632960587", status: 200, file: "derived/search.200.wildcard-phone-score-1.derived.json", mask: []string{"timestamp"}},
		{name: "search Sm* with phone limited to 1", method: "GET", path: "/Patient?family=Sm*&gender=female&birthdate=eq2010-10-22&phone=01632960587&_max-results=1", status: 200, file: "derived/search.200.wildcard-phone-score-1.derived.json", mask: []string{"timestamp"}},
		{name: "search Sm* with email", method: "GET", path: "/Patient?family=Sm*&gender=female&birthdate=eq2010-10-22&email=jane.smith@example.com", status: 200, file: "derived/search.200.wildcard-phone-score-1.derived.json", mask: []string{"timestamp"}},
		{name: "search Sm* with phone and email", method: "GET", path: "/Patient?family=Sm*&gender=female&birthdate=eq2010-10-22&phone=01632960587&email=jane.smith@example.com", status: 200, file: "derived/search.200.wildcard-phone-score-1.derived.json", mask: []string{"timestamp"}},
		{name: "fuzzy without phone or email", method: "GET", path: "/Patient?family=Smith&given=Jane&gender=female&birthdate=eq2010-10-22&_fuzzy-match=true", status: 200, file: "derived/search.200.fuzzy-no-phone-email-9000000017.derived.json", mask: []string{"timestamp"}},
		{name: "fuzzy with phone", method: "GET", path: "/Patient?family=Smith&given=Jane&gender=female&birthdate=eq2010-10-22&phone=01632960587&_fuzzy-match=true", status: 200, file: "derived/search.200.fuzzy-phone-score-0.9124.derived.json", mask: []string{"timestamp"}},
		{name: "fuzzy with phone and email", method: "GET", path: "/Patient?family=Smith&given=Jane&gender=female&birthdate=eq2010-10-22&phone=01632960587&email=jane.smith@example.com&_fuzzy-match=true", status: 200, file: "derived/search.200.fuzzy-phone-email-score-0.9542.derived.json", mask: []string{"timestamp"}},
		{name: "search restricted Smythe", method: "GET", path: "/Patient?family=Smythe&birthdate=eq2005-06-16", status: 200, file: "fixtures/searchResponses/search_patient_9000000025.json", stamped: true, mask: []string{"timestamp"}},
		{name: "search compound given names", method: "GET", path: "/Patient?family=Smith&given=John%20Paul&given=James&gender=male&birthdate=eq2010-10-22", status: 200, file: "fixtures/searchResponses/john_paul_smith_searchset.json", stamped: true, mask: []string{"timestamp"}},
		{name: "search superseded Cuff", method: "GET", path: "/Patient?family=Cuff&gender=female&birthdate=1926-01-07", status: 200, file: "fixtures/searchResponses/cuff_superseded_searchset.json", stamped: true, mask: []string{"timestamp"}, rebase: true,
			departure: "fullUrl under the simulator's base (real: this stub's host is veit07)"},
		{name: "search YOUDS", method: "GET", path: "/Patient?family=YOUDS&birthdate=1970-01-24", status: 200, file: "fixtures/searchResponses/youds_searchset.json", stamped: true, mask: []string{"timestamp"}},
		{name: "search YOUDS limited to 1", method: "GET", path: "/Patient?family=YOUDS&birthdate=1970-01-24&_max-results=1", status: 200, file: "fixtures/searchResponses/TOO_MANY_MATCHES.json", static: true},
		{name: "search Jane Smith with someone else's phone and email", method: "GET", path: "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22&email=deb.trotter@example.com&phone=0121111111", status: 200, file: "derived/search.200.negative-empty.derived.json", mask: []string{"timestamp"}},
		{name: "search nobody", method: "GET", path: "/Patient?family=Nobody&birthdate=eq1970-01-24", status: 200, file: "derived/search.200.negative-empty.derived.json", mask: []string{"timestamp"},
			departure: "a search the sandbox has no example for runs over the population (real: 200 OperationOutcome not-supported, derived/search.200.no-example-not-supported.derived.json)"},

		// Patch.
		{name: "patch gender", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json"}, body: `{"patches":[{"op":"replace","path":"/gender","value":"male"}]}`, status: 200, file: "derived/PATCH_Patient_9000000009.200.replace-gender.derived.json", etag: `W/"3"`},
		{name: "patch without patches", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json"}, body: `{}`, status: 400, file: "derived/PATCH_Patient_9000000009.400.no-patches.derived.json", static: true},
		{name: "patch as a bare JSON Patch", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json-patch+json"}, body: `[{"op":"replace","path":"/gender","value":"male"}]`, status: 400, file: "derived/PATCH_Patient_9000000009.400.no-patches.derived.json", static: true},
		{name: "patch without If-Match", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"Content-Type": "application/json"}, body: `{"patches":[{"op":"replace","path":"/gender","value":"male"}]}`, status: 412, file: "derived/PATCH_Patient_9000000009.412.missing-if-match.derived.json", static: true},
		{name: "patch an old version", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"1"`, "Content-Type": "application/json"}, body: `{"patches":[{"op":"replace","path":"/gender","value":"male"}]}`, status: 409, file: "derived/PATCH_Patient_9000000009.409.version-mismatch.derived.json", static: true},
		{name: "patch as text", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "text/plain"}, body: `{"patches":[{"op":"replace","path":"/gender","value":"male"}]}`, status: 400, file: "fixtures/errorResponses/UNSUPPORTED_SERVICE.json", static: true},
		{name: "patch with a bad op", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json"}, body: `{"patches":[{"op":"bad_value","path":"not a path"}]}`, status: 400, file: "derived/PATCH_Patient_9000000009.400.invalid-op.derived.json", static: true},
		{name: "patch an address without its id", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json"}, body: `{"patches":[{"op":"replace","path":"/address/0/line/0","value":"2 Whitehall Quay"}]}`, status: 400, file: "derived/PATCH_Patient_9000000009.400.address-without-id.derived.json", static: true},
		{name: "patch removing gender", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json"}, body: `{"patches":[{"op":"remove","path":"/gender"}]}`, status: 403, file: "derived/PATCH_Patient_9000000009.403.remove-gender.derived.json", static: true},
		{name: "patch adding a second usual name", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json"}, body: `{"patches":[{"op":"add","path":"/name/-","value":{"use":"usual","family":"Smith","given":["Jane"],"period":{"start":"2020-01-01"}}}]}`, status: 403, file: "derived/PATCH_Patient_9000000009.403.second-usual-name.derived.json", static: true},
		{name: "patch without If-Match nor X-Request-ID", method: "PATCH", path: "/Patient/9000000009", header: map[string]string{"X-Request-ID": "", "Content-Type": "application/json"}, body: `{"patches":[{"op":"replace","path":"/gender","value":"male"}]}`, status: 412, file: "derived/PATCH_Patient_9000000009.412.missing-if-match.derived.json", static: true},
		{name: "patch unknown 9111231130", method: "PATCH", path: "/Patient/9111231130", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json"}, body: `{"patches":[{"op":"replace","path":"/gender","value":"male"}]}`, status: 404, file: "fixtures/errorResponses/RESOURCE_NOT_FOUND.json", static: true},
		{name: "patch bad check digit", method: "PATCH", path: "/Patient/9000000000", header: map[string]string{"If-Match": `W/"2"`, "Content-Type": "application/json"}, body: `{"patches":[{"op":"replace","path":"/gender","value":"male"}]}`, status: 400, file: "fixtures/errorResponses/INVALID_RESOURCE_ID.json", static: true},

		// Create, birth, coverage.
		{name: "create", method: "POST", path: "/Patient", header: map[string]string{"Content-Type": "application/json"}, body: "@testdata/spec-requests/PatientCreate/Allocate_NHS_Number.json", status: 201, file: "derived/POST_Patient.201.allocate-nhs-number.derived.json",
			mask:      []string{"id", "identifier.*.value", "name.*.id", "address.*.id"},
			drop:      []string{"telecom"},
			departure: "the new patient is stored, with the telecom sent (real: the template keeps name, address, gender and birth date only, never stored); a fresh simulator allocates 5182663366 first, then other numbers"},
		{name: "create a single match", method: "POST", path: "/Patient", header: map[string]string{"Content-Type": "application/json"}, body: singleMatchRequest, status: 200, file: "derived/POST_Patient.200.single-match.derived.json", static: true},
		{name: "create a multiple match", method: "POST", path: "/Patient", header: map[string]string{"Content-Type": "application/json"}, body: multipleMatchRequest, status: 200, file: "fixtures/postPatientResponses/MULTIPLE_MATCHES_FOUND.json", static: true},
		{name: "birth details", method: "POST", path: "/Patient/$process-birth-details", header: map[string]string{"Content-Type": "application/fhir+json"}, body: "@derived/POST_Patient_process-birth-details.request.derived.json", status: 201, file: "derived/POST_Patient_process-birth-details.201.derived.json",
			mask:      []string{"id", "identifier.*.value", "name.*.id", "address.*.id"},
			headers:   map[string]string{"Notification-Id": "*"},
			drop:      []string{"extension", "_birthDate", "contact"},
			departure: "the baby's record is the one sent (birth time, birth order, the mother as contact) and is stored, under a number of its own (real: always 5900010775 from a template with a fixed birth place, never stored)"},
		{name: "coverage 9000000009", method: "GET", path: "/Coverage?subscriber:identifier=9000000009", status: 200, file: "fixtures/coverageResponses/patient_with_coverage_9000000009.json", stamped: true, mask: []string{"timestamp"}, etag: `W/"2"`},
		{name: "coverage none 9000000033", method: "GET", path: "/Coverage?subscriber:identifier=9000000033", status: 200, file: "fixtures/coverageResponses/patient_without_coverage.json", stamped: true, mask: []string{"timestamp"}, etag: `W/"1"`},
		{name: "coverage with an extra parameter", method: "GET", path: "/Coverage?subscriber:identifier=9999999990&year=2003", status: 400, file: "derived/GET_Coverage.400.invalid-search.derived.json", static: true},
	}

	// The sandbox's other scripted searches (searchResponses/, one row each
	// in testdata/real-sandbox/SOURCES.md and its mock's match cases): the
	// same requests, with a birth date where the sandbox ignores it (PDS
	// requires one; each is the patient's). Most of these stubs were
	// recorded on an integration environment, their fullUrls under host
	// veit07: fullUrls compare without their host (departure: the
	// simulator's own base).
	scripted := func(name, query, file string) contractRow {
		return contractRow{name: name, method: "GET", path: "/Patient?" + query, status: 200, file: file, stamped: true, mask: []string{"timestamp"}, rebase: true}
	}
	empty := "derived/search.200.negative-empty.derived.json"
	rows = append(rows,
		scripted("fuzzy historic name", "family=Blogs&given=Joe&birthdate=1955-11-05&_fuzzy-match=true", "fixtures/searchResponses/bill_garton_searchset.json"),
		scripted("fuzzy accents", "family=ATTS%C3%96N&given=P%C3%80ULIN%C3%89&birthdate=1960-07-14&_fuzzy-match=true", "fixtures/searchResponses/pauline_attison_searchset.json"),
		scripted("fuzzy with phone and email", "family=Smith&given=Sam&gender=male&birthdate=2000-05-05&phone=01222111111&email=test@test.com&_fuzzy-match=true", "fixtures/searchResponses/fuzzy_single_searchset.json"),
		scripted("fuzzy by postcode", "family=Smythe&given=Mat&gender=male&birthdate=ge2000-05-03&address-postalcode=DN17%204AA&_fuzzy-match=true", "fixtures/searchResponses/fuzzy_multimatch_searchset.json"),
		scripted("fuzzy by postcode, rubbish e-mail", "family=Smythe&given=Mat&gender=male&birthdate=ge2000-05-03&address-postalcode=DN17%204AA&email=rubbish@work.com&_fuzzy-match=true", empty),
		scripted("fuzzy historic birth date", "family=MED&given=Casey&birthdate=1999-09-09&_fuzzy-match=true", "fixtures/searchResponses/med_rowenad_searchset.json"),
		scripted("fuzzy current birth date", "family=MED&given=Casey&birthdate=2024-01-12&_fuzzy-match=true", empty),
		scripted("history: previous e-mail", "family=Smith&gender=male&birthdate=2000-05-05&email=Historic@historic.com&_history=true", "fixtures/searchResponses/historic_email_searchset.json"),
		scripted("no history: previous e-mail", "family=Smith&gender=male&birthdate=2000-05-05&email=Historic@historic.com", empty),
		scripted("history: previous family and birth date", "family=HUME&birthdate=1999-09-09&_history=true", "fixtures/searchResponses/med_rowenad_searchset.json"),
		scripted("no history: previous family and birth date", "family=HUME&gender=female&birthdate=1999-09-09", empty),
		scripted("phone and e-mail, many", "family=Smith&gender=male&birthdate=2000-05-05&phone=01234123123&email=test@test.com", "fixtures/searchResponses/multimatch_phoneAndEmail_searchset.json"),
		scripted("wildcard, phone and e-mail, many", "family=Sm*&gender=male&birthdate=2000-05-05&phone=01234123123&email=test@test.com", "fixtures/searchResponses/multimatch_phoneAndEmail_searchset.json"),
		scripted("phone and rubbish e-mail", "family=Smith&gender=male&birthdate=2000-05-05&phone=01234123123&email=rubbish@test.com", empty),
		scripted("other given names", "family=Smith&gender=male&birthdate=2000-05-05&given=Sam&given=Bob", "fixtures/searchResponses/other_givenName.json"),
		scripted("international phone", "family=Muir&gender=male&birthdate=2017-09-06&phone=00917855986859", "fixtures/searchResponses/countrycode_mobile_searchset.json"),
		scripted("postcode wildcard", "family=Smith&gender=male&birthdate=2000-05-05&address-postalcode=DN17*", "fixtures/searchResponses/postalcode_wildcard_searchset.json"),
		scripted("general practitioner", "family=Me*&birthdate=2015-10-22&general-practitioner=A20047", "fixtures/searchResponses/general_practitioner_searchset.json"),
		scripted("death date", "family=TUNNEY&birthdate=ge1980-01-01&death-date=le2019-02-28", "fixtures/searchResponses/dateOfDeath_searchset.json"),
		scripted("McMatch-Single", "family=McMatch-Single&address-postalcode=BAP%204WG&gender=male&birthdate=1954-10-26", "fixtures/searchResponses/mock_single_searchset.json"),
		scripted("McMatch-Multiple", "family=McMatch-Multiple&address-postalcode=DN19%207UD&birthdate=1997-08-20", "fixtures/searchResponses/mock_multiple_searchset.json"),
		scripted("Jones from 1992", "family=Jones&gender=male&birthdate=ge1992-01-01", "fixtures/searchResponses/jackie_jones_searchset.json"),
		scripted("Godsoe", "family=Godsoe&gender=male&birthdate=1936-02-24", "fixtures/searchResponses/rodney_godsoe_searchset.json"),
		scripted("Massam", "family=Massam&birthdate=1920-08-11", "fixtures/searchResponses/martha_massam_searchset.json"),
		scripted("Massam until", "family=Massam&birthdate=le1920-08-11", "fixtures/searchResponses/martha_massam_searchset.json"),
		scripted("exact match", "family=KNAPP&gender=female&birthdate=1943-07-03&_exact-match=true", "fixtures/searchResponses/knap_kathy_exact_match.json"),
		scripted("no such patient", "family=Bingham&birthdate=1934-12-18", empty),
	)

	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh simulator per row: PATCH and POST change its state.
			sim := pds.New(pds.Options{Open: true, BaseURL: contractBase})
			got := send(t, sim, tt)
			want := readContractFile(t, tt.file)
			checkContract(t, tt, got, want)
		})
	}
}

// The create requests of the duplicate rows: the sandbox's (its name and
// postcode) made valid for the specification, which requires a usual name
// and the Registering Authority extension (the sandbox checks neither).
const singleMatchRequest = `{"name":[{"use":"usual","family":"McMatch-Single","given":["Jo"],"period":{"start":"2020-01-01"}}],"gender":"female","birthDate":"2010-10-22",` +
	`"address":[{"use":"home","line":["1 Street"],"postalCode":"BAP 4WG","period":{"start":"2020-01-01"}}],` + registeringAuthority + `}`

const multipleMatchRequest = `{"name":[{"use":"usual","family":"McMatch-Multiple","given":["Jo"],"period":{"start":"2020-01-01"}}],"gender":"female","birthDate":"2010-10-22",` +
	`"address":[{"use":"home","line":["1 Street"],"postalCode":"DN19 7UD","period":{"start":"2020-01-01"}}],` + registeringAuthority + `}`

const registeringAuthority = `"extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-RegisteringAuthority","extension":[` +
	`{"url":"registeringAuthorityType","valueCodeableConcept":{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/UKCore-RegisteringAuthorityType","code":"x"}]}},` +
	`{"url":"organisationIdentifier","valueString":"RGS"}]}]`

type contractResponse struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, h http.Handler, tt contractRow) contractResponse {
	t.Helper()
	body := tt.body
	if rest, ok := strings.CutPrefix(body, "@"); ok {
		body = string(readContractFile(t, rest))
	}
	status, header, raw := serve(t, h, tt.method, pds.BasePath+tt.path, body, tt.header)
	return contractResponse{status, header, raw}
}

// readContractFile reads a payload: fixtures/… (the simulator's embedded
// copies) and testdata/… as named, anything else under testdata/real-sandbox.
func readContractFile(t *testing.T, name string) []byte {
	t.Helper()
	p := name
	if !strings.HasPrefix(name, "fixtures/") && !strings.HasPrefix(name, "testdata/") {
		p = filepath.Join("testdata", "real-sandbox", name)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkContract(t *testing.T, tt contractRow, got contractResponse, want []byte) {
	t.Helper()
	if got.status != tt.status {
		t.Errorf("status %d, want %d\n%s", got.status, tt.status, got.body)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/fhir+json" {
		t.Errorf("Content-Type %q, want application/fhir+json", ct)
	}
	if got.header.Get("X-Request-Id") != tt.headerOr("X-Request-ID", testRequestID) {
		t.Errorf("X-Request-ID not echoed: %q", got.header.Get("X-Request-Id"))
	}
	if tt.etag != "" && got.header.Get("ETag") != tt.etag {
		t.Errorf("ETag %q, want %q", got.header.Get("ETag"), tt.etag)
	}
	for k, v := range tt.headers {
		if g := got.header.Get(k); g == "" || (v != "*" && g != v) {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if tt.stamped {
		want = withTimestamp(want)
	}
	if tt.rebase {
		got.body = anyHost.ReplaceAll(got.body, []byte("BASE"+pds.BasePath))
		want = anyHost.ReplaceAll(want, []byte("BASE"+pds.BasePath))
	}
	if msg := jsoncompare.Diff(got.body, want, jsoncompare.Options{Mask: tt.mask, Drop: tt.drop}); msg != "" {
		t.Errorf("body differs from %s (masked %v):\n%s", tt.file, tt.mask, msg)
		return
	}
	if tt.static {
		var g, w bytes.Buffer
		if json.Compact(&g, got.body) != nil || json.Compact(&w, want) != nil || !bytes.Equal(g.Bytes(), w.Bytes()) {
			t.Errorf("static answer: bytes differ from %s\n got %s\nwant %s", tt.file, g.Bytes(), w.Bytes())
		}
	}
}

// anyHost matches the base of a fullUrl, whatever its host.
var anyHost = regexp.MustCompile(`https://[a-z0-9.-]+` + regexp.QuoteMeta(pds.BasePath))

// headerOr is the request header k as the row sends it.
func (tt contractRow) headerOr(k, def string) string {
	if v, ok := tt.header[k]; ok {
		return v
	}
	return def
}

// withTimestamp adds a "timestamp" member to a JSON object, as the
// sandbox's timestampBody does to the stubs it answers with.
func withTimestamp(b []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	if _, ok := m["timestamp"]; !ok {
		m["timestamp"] = json.RawMessage(`"2025-01-01T00:00:00.000Z"`)
	}
	out, _ := json.Marshal(m)
	return out
}

// TestSyntheticNumbersAreFree: the numbers the simulator makes up for the
// behaviours the sandbox never shows are valid, no synthetic person's and no
// reserved sandbox number (the sandbox's own numbers for those behaviours
// answer as the sandbox does, rows above); the superseding record is a
// synthetic person's.
func TestSyntheticNumbersAreFree(t *testing.T) {
	taken := map[string]bool{}
	for _, p := range population.Default() {
		taken[p.NHSNumber] = true
	}
	for _, n := range []string{pds.SupersededNHSNumber, pds.TwiceSupersededNHSNumber, pds.InvalidatedNHSNumber} {
		if !nhsnumber.Valid(n) || taken[n] || population.IsReservedNHSNumber(n) {
			t.Errorf("%s: valid %v, in the population %v, reserved %v", n, nhsnumber.Valid(n), taken[n], population.IsReservedNHSNumber(n))
		}
	}
	if !taken[pds.SupersedingNHSNumber] {
		t.Errorf("the current record %s is not a person of the default population", pds.SupersedingNHSNumber)
	}
}
