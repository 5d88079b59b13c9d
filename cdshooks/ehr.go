package cdshooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/auth"
	"github.com/carerecords/fhir-facade/model/fhirjson"
)

// The EHR's own FHIR server. When context.patientId is the EHR's local id
// and the request has no prefetched Patient, the service may read
// GET {fhirServer}/Patient/{patientId} to find the NHS number (CDS Hooks
// 2.0 §FHIR Resource Access: "If the CDS Client provides both fhirServer
// and fhirAuthorization request parameters, the CDS Service MAY use the
// FHIR server to obtain any FHIR resources for which it's authorized").
//
// Only a fhirServer registered for the calling client (CDS_CLIENTS
// fhir=…) is ever called, so the service cannot be made to call anything
// else (no SSRF): https only (http to a loopback address for tests), no
// redirect followed, a bounded answer, within the call's budget. The
// fhirAuthorization token is sent to that server only: never logged,
// never in an error, never to a national service (those are read under
// the service's own identity).

const (
	// maxEHRPatient bounds the Patient read from an EHR.
	maxEHRPatient = 256 << 10
	// maxEHRToken bounds a fhirAuthorization access token.
	maxEHRToken = 8 << 10
)

// fhirAuthorization is CDS Hooks 2.0's fhirAuthorization object.
type fhirAuthorization struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	Scope       string          `json:"scope"`
	Subject     string          `json:"subject"`
	Patient     string          `json:"patient"`
}

// ehrError is why the patient could not be found on the EHR's FHIR server:
// the 412's message, and the outcome it is counted under.
type ehrError struct {
	outcome string
	msg     string
}

func (e *ehrError) Error() string { return e.msg }

func ehrFail(outcome, format string, args ...any) *ehrError {
	return &ehrError{outcome: outcome, msg: fmt.Sprintf(format, args...)}
}

// NormalizeFHIRServer checks a FHIR server base URL (https, or http to a
// loopback address; no user, query or fragment) and returns it in one
// form: scheme and host in lower case, no default port, no trailing
// slash.
func NormalizeFHIRServer(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not a FHIR server base URL such as https://ehr.example.nhs.uk/fhir", raw)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	switch {
	case scheme == "https":
	case scheme == "http" && loopback(host):
	default:
		return "", fmt.Errorf("%q must be https (http only to a loopback address)", raw)
	}
	if port == "443" && scheme == "https" || port == "80" && scheme == "http" {
		port = ""
	}
	p := strings.TrimRight(u.EscapedPath(), "/")
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." || strings.Contains(seg, "%") {
			return "", fmt.Errorf("%q: the path may not hold dot segments or escapes", raw)
		}
	}
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport += ":" + port
	}
	return scheme + "://" + hostport + p, nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// allowsFHIRServer returns fhirServer normalised when the client c
// registered it: equal to one of c.FHIRServers, or under one's path.
func (c *Client) allowsFHIRServer(fhirServer string) (string, bool) {
	norm, err := NormalizeFHIRServer(fhirServer)
	if err != nil {
		return "", false
	}
	for _, a := range c.FHIRServers {
		if norm == a || strings.HasPrefix(norm, a+"/") {
			return norm, true
		}
	}
	return "", false
}

// grantsPatientRead reports whether SMART scopes (v1 or v2, as
// auth.ParseScope reads them) let their holder read Patient resources on
// the EHR's server: patient/, user/ or system/ with Patient or *, and a
// permission holding r. A v2 query constraint is the EHR server's to
// enforce there, so it does not stop the read; a word that is not a SMART
// resource scope grants nothing.
func grantsPatientRead(scope string) bool {
	for _, w := range strings.Fields(scope) {
		sc, err := auth.ParseScope(w)
		if err == nil && (sc.ResourceType == "Patient" || sc.ResourceType == "*") && sc.Permissions&auth.PermRead != 0 {
			return true
		}
	}
	return false
}

// bearer checks the request's fhirAuthorization (CDS Hooks 2.0 §Passing
// the Access Token to the CDS Service: access_token, token_type Bearer,
// expires_in, scope and subject REQUIRED; patient when the scopes are
// patient scopes) for reading Patient patientID, and returns the token ("":
// none sent). expected is the service's client id at the EHR's
// authorization server, when registered: subject must be it.
func bearer(raw json.RawMessage, patientID, expected string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var a fhirAuthorization
	if err := json.Unmarshal(raw, &a); err != nil {
		return "", ehrFail("bad-authorization", "fhirAuthorization is not the object CDS Hooks 2.0 defines")
	}
	var expires int64
	switch {
	case a.AccessToken == "" || len(a.AccessToken) > maxEHRToken || !visibleASCII(a.AccessToken):
		return "", ehrFail("bad-authorization", "fhirAuthorization.access_token is missing or not a usable token")
	case !strings.EqualFold(a.TokenType, "Bearer"):
		return "", ehrFail("bad-authorization", "fhirAuthorization.token_type must be Bearer")
	case json.Unmarshal(a.ExpiresIn, &expires) != nil:
		return "", ehrFail("bad-authorization", "fhirAuthorization.expires_in must be an integer number of seconds")
	case expires <= 0:
		return "", ehrFail("bad-authorization", "fhirAuthorization has expired (expires_in %d)", expires)
	case a.Subject == "":
		return "", ehrFail("bad-authorization", "fhirAuthorization.subject (this service's client id at the EHR's authorization server) is required")
	case expected != "" && a.Subject != expected:
		return "", ehrFail("bad-authorization", "fhirAuthorization.subject is not this service's client id registered for the CDS client")
	case !grantsPatientRead(a.Scope):
		return "", ehrFail("bad-authorization", "fhirAuthorization.scope grants no read of Patient (such as patient/Patient.read or user/Patient.rs)")
	case a.Patient != "" && a.Patient != patientID:
		return "", ehrFail("bad-authorization", "fhirAuthorization is bound to another patient than context.patientId")
	}
	return a.AccessToken, nil
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// NewEHRClient is the HTTP client of EHR FHIR servers: it follows no
// redirect (a redirect could lead the token to a host nobody
// registered) and keeps no cookies.
func NewEHRClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 8
	t.ResponseHeaderTimeout = 5 * time.Second
	return &http.Client{Transport: t, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ehrPatient finds the NHS number of the EHR's Patient patientID on the
// request's fhirServer, for client c, by ctx's deadline.
func (s *Service) ehrPatient(ctx context.Context, c *Client, req *hookRequest) (string, error) {
	patientID := req.Context.PatientID
	if req.FHIRServer == "" {
		return "", ehrFail("no-fhir-server", "context.patientId is not an NHS number and neither prefetch.patient (Patient/{{context.patientId}}) nor fhirServer was sent: "+
			"send the NHS number as patientId, or the prefetch this service's discovery asks for")
	}
	base, ok := c.allowsFHIRServer(req.FHIRServer)
	if !ok {
		return "", ehrFail("not-allowed", "context.patientId is not an NHS number, no prefetch.patient was sent, and fhirServer is not a FHIR server registered for this CDS client, "+
			"so it was not called: send the NHS number as patientId or the Patient as prefetch, or register the server (CDS_CLIENTS fhir=…)")
	}
	if !fhirjson.ValidID(patientID) {
		return "", ehrFail("bad-id", "context.patientId is neither an NHS number nor a FHIR id, so it cannot be read from fhirServer")
	}
	token, err := bearer(req.FHIRAuthorization, patientID, c.FHIRClientID)
	if err != nil {
		return "", err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/Patient/"+patientID, nil)
	if err != nil {
		return "", ehrFail("failed", "fhirServer could not be asked for the Patient")
	}
	r.Header.Set("Accept", "application/fhir+json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.ehr.Do(r)
	if err != nil {
		if ctx.Err() != nil {
			return "", ehrFail("timeout", "the EHR's FHIR server did not answer the Patient read in time")
		}
		return "", ehrFail("failed", "the EHR's FHIR server could not be reached for the Patient")
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return "", ehrFail("refused", "the EHR's FHIR server refused the Patient read with fhirAuthorization (HTTP %d)", res.StatusCode)
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		return "", ehrFail("not-found", "the EHR's FHIR server has no Patient context.patientId (HTTP %d)", res.StatusCode)
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return "", ehrFail("failed", "the EHR's FHIR server redirected the Patient read (HTTP %d); redirects are not followed", res.StatusCode)
	case res.StatusCode != http.StatusOK:
		return "", ehrFail("failed", "the EHR's FHIR server answered the Patient read with HTTP %d", res.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type")); err != nil || mt != "application/fhir+json" && mt != "application/json" {
		return "", ehrFail("failed", "the EHR's FHIR server did not answer the Patient read with FHIR JSON")
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxEHRPatient+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return "", ehrFail("timeout", "the EHR's FHIR server did not answer the Patient read in time")
	case err != nil:
		return "", ehrFail("failed", "the EHR's FHIR server's Patient could not be read")
	case len(body) > maxEHRPatient:
		return "", ehrFail("failed", "the EHR's FHIR server's Patient is larger than %d bytes", maxEHRPatient)
	}
	nhs, err := nhsOfPatient("the EHR's Patient", patientID, body)
	switch {
	case err != nil:
		return "", ehrFail("failed", "fhirServer's answer: %s", err.Error())
	case nhs == "":
		return "", errNoNHSNumber
	}
	return nhs, nil
}

// errNoNHSNumber: the patient's Patient has no NHS number identifier.
var errNoNHSNumber = ehrFail("no-nhs-number", "the patient's Patient has no NHS number identifier (https://fhir.nhs.uk/Id/nhs-number), "+
	"so the national services cannot be asked: no alert could be checked")

// asEHRError is err as an ehrError, if it is one.
func asEHRError(err error) (*ehrError, bool) {
	var e *ehrError
	return e, errors.As(err, &e)
}
