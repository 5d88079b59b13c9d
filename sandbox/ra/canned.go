package ra

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// The public sandbox is a hapi app serving canned files behind an Apigee
// proxy. The simulator follows it where it does not model RA itself:
//
//   - the proxy's checks, before anything else: a search without one of
//     its required parameters (patient, status and category; code instead
//     of category for List) is 404 with the proxy's JSON error; a write
//     without a body is 400 {"error": "Bad Request"}; then, for every
//     request, no X-Request-ID or no NHSD-Session-URID is 400, and a write
//     whose Content-Type is not exactly application/fhir+json is 400;
//   - the resources the simulator does not model (List, UnderlyingCondition
//     List, ThresholdCode, consent updates, $removerarecord): the sandbox's
//     files, for its patient 5900026175, and its PATIENT_NOT_FOUND for
//     anyone else (for ThresholdCode and UnderlyingConditionList the one the
//     sandbox means to send: its route names the file with a typo, so it
//     answers hapi's bare 404 instead);
//   - a path or method the app has no route for: 404 {"error":"File not found"}.
//
// A patient without an RA record gets the sandbox's own PATIENT_NOT_FOUND
// file, which hapi sends as application/json.

const contentTypeJSON = "application/json; charset=utf-8"

// plainError answers one of the proxy's or the app's JSON (not FHIR) errors.
func plainError(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

const (
	badRequest   = `{"error": "Bad Request"}`
	fileNotFound = `{"error":"File not found"}`
)

// searchRequired are the query parameters the proxy requires per search.
var searchRequired = map[string][]string{
	"/Flag":                    {"patient", "status", "category"},
	"/Consent":                 {"patient", "status", "category"},
	"/UnderlyingConditionList": {"patient", "status", "category"},
	"/ThresholdCode":           {"patient", "status", "category"},
	"/List":                    {"patient", "status", "code"},
}

// proxyChecks applies the sandbox proxy's checks and reports whether the
// request passed; r.Body stays readable.
func proxyChecks(w http.ResponseWriter, r *http.Request, rel string) bool {
	if req, ok := searchRequired[rel]; ok && r.Method == http.MethodGet {
		q := r.URL.Query()
		for _, k := range req {
			if q.Get(k) == "" {
				plainError(w, http.StatusNotFound, `{"error": "invalid query parameters", `+
					`"error_description": "required query parameters are missing or have empty values", "message_id": "`+uuid.NewString()+`"}`)
				return false
			}
		}
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) == 0 {
			plainError(w, http.StatusBadRequest, badRequest)
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if r.Header.Get("X-Request-ID") == "" || r.Header.Get("NHSD-Session-URID") == "" {
		plainError(w, http.StatusBadRequest, badRequest)
		return false
	}
	if r.Method != http.MethodGet && r.Header.Get("Content-Type") != contentTypeFHIR {
		plainError(w, http.StatusBadRequest, badRequest)
		return false
	}
	return true
}

// cannedFile writes one of the sandbox's files: FHIR JSON, or (for its
// errors) plain JSON as hapi sends a file.
func cannedFile(w http.ResponseWriter, status int, name string, header map[string]string) {
	raw, err := fixtureFS.ReadFile("fixtures/" + name)
	if err != nil {
		panic(err) // embedded: a build defect
	}
	ct := contentTypeFHIR
	if status >= 400 {
		ct = contentTypeJSON
	}
	w.Header().Set("Content-Type", ct)
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// patientNotFound answers a search for a patient without a record with the
// sandbox's file for the resource searched.
func patientNotFound(w http.ResponseWriter, rel string) {
	file := map[string]string{
		"/Flag": "flagGETerror.json", "/Consent": "consentGETerror.json", "/List": "listGETerror.json",
		"/ThresholdCode": "ThresholdCodeGETTerror.json", "/UnderlyingConditionList": "underlyingConditionListGETTerror.json",
	}[rel]
	cannedFile(w, http.StatusNotFound, file, nil)
}

// written headers of the sandbox's canned writes.
func cannedWrite(location, etag string) map[string]string {
	h := map[string]string{"Last-Modified": "2018-07-24T10:01:00+00:00", "Etag": etag}
	if location != "" {
		h["Location"] = location
	}
	return h
}

// canned answers the resources the simulator does not model, as the
// sandbox does; it reports whether it answered.
func (s *Simulator) canned(w http.ResponseWriter, r *http.Request, rel string) bool {
	get := func(ok, notFound string) {
		if r.URL.Query().Get("patient") == SandboxNHSNumber {
			cannedFile(w, http.StatusOK, ok, nil)
			return
		}
		patientNotFound(w, notFound)
	}
	const (
		listVersion = `W/"f2fef5e5-c38a-408c-a9bc-2d49923928f8”`
		condVersion = `W/"aa755bd6-2be9-4971-972a-6724879c5cb1”`
		condURL     = "https://clinicals.spineservices.nhs.uk/STU3/underlyingConditionList/2acb0536-0a8f-48c9-8a2f-6ee82860f186/_history/aa755bd6-2be9-4971-972a-6724879c5cb1"
	)
	switch m := r.Method; {
	case rel == "/List" && m == http.MethodGet:
		get("listGET.json", rel)
	case rel == "/ThresholdCode" && m == http.MethodGet:
		get("ThresholdCodeGET.json", rel)
	case rel == "/UnderlyingConditionList" && m == http.MethodGet:
		get("underlyingConditionListGET.json", rel)
	case rel == "/List" && m == http.MethodPost:
		cannedFile(w, http.StatusCreated, "listPOST.json", cannedWrite(
			"https://clinicals.spineservices.nhs.uk/STU3/List/130f416a-055d-4a5d-a453-2b7c2de3b57b/_history/f2fef5e5-c38a-408c-a9bc-2d49923928f8", listVersion))
	case strings.HasPrefix(rel, "/List/") && m == http.MethodPut:
		cannedFile(w, http.StatusOK, "listPUT.json", cannedWrite("", `W/"d65be6d8-128a-40f2-9a1d-b250d6485c6d”`))
	case rel == "/UnderlyingConditionList" && m == http.MethodPost:
		cannedFile(w, http.StatusCreated, "underlyingConditionListPOST.json", cannedWrite(condURL, condVersion))
	case strings.HasPrefix(rel, "/UnderlyingConditionList/") && m == http.MethodPut:
		cannedFile(w, http.StatusCreated, "underlyingConditionListPUT.json", cannedWrite(condURL, condVersion))
	case strings.HasPrefix(rel, "/Consent/") && m == http.MethodPut:
		cannedFile(w, http.StatusOK, "consentPUT.json", cannedWrite("", `W/"resourceVID”`))
	case rel == "/$removerarecord" && m == http.MethodPost:
		cannedFile(w, http.StatusOK, "removerarecordPOST.json", nil)
	default:
		return false
	}
	return true
}
