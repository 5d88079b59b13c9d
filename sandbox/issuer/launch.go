package issuer

import (
	"errors"
	"net/http"
	"time"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
)

// Lifetimes of the SMART EHR launch's grants.
const (
	// LaunchTTL is how long a registered launch may be used to authorize.
	LaunchTTL = 5 * time.Minute
	// CodeTTL is how long an authorization code may be traded for a token.
	CodeTTL = 60 * time.Second
)

// DefaultLaunchRole is the dev role a launch is for when the EHR names none.
const DefaultLaunchRole = "clinician"

// LaunchResponse is the answer to a launch registration.
type LaunchResponse struct {
	// Launch is the opaque launch id the EHR passes to the app as launch=.
	Launch    string `json:"launch"`
	ExpiresIn int64  `json:"expires_in"`
}

// launchGrant is the context a local clinical system (the EHR) registered:
// the patient in context and the user it vouches for.
type launchGrant struct {
	patient string
	role    DevRole
}

// LaunchHandler is where a local clinical system (the EHR) registers a SMART
// EHR launch before opening an app with it. The request is a POST of
// application/x-www-form-urlencoded, authenticated as a confidential client
// as at the token endpoint (HTTP Basic or client_id/client_secret, not both),
// with
//
//	patient    required: the NHS number of the patient in context
//	role       dev only: a DevRole name or code, the user the EHR vouches for;
//	           default DefaultLaunchRole
//
// It answers 201 with a LaunchResponse: a random launch id, single use,
// valid for LaunchTTL. Errors are ErrorResponse: 401 invalid_client (no, bad
// or public client credentials), 400 invalid_request, 503
// temporarily_unavailable when MaxPending launches are pending. Every answer
// carries Cache-Control: no-store.
func (i *Issuer) LaunchHandler() http.Handler {
	return http.HandlerFunc(i.serveLaunch)
}

func (i *Issuer) serveLaunch(w http.ResponseWriter, r *http.Request) {
	form, ok := readForm(w, r, "the launch endpoint")
	if !ok {
		return
	}
	client, ok := i.authenticate(w, r, form)
	if !ok {
		return
	}
	if client.Public() {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		tokenError(w, http.StatusUnauthorized, ErrInvalidClient, "a launch is registered by a confidential client (the EHR), with its secret")
		return
	}
	patient := form.Get("patient")
	switch {
	case patient == "":
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "patient (an NHS number) is required")
		return
	case !nhsnumber.Valid(patient):
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "patient is not a valid NHS number")
		return
	}
	name := form.Get("role")
	if name == "" {
		name = i.defaultLaunchRole()
	}
	role, known := i.Role(name)
	if !known {
		tokenError(w, http.StatusBadRequest, ErrInvalidRequest, "unknown role; known: "+i.roleNames())
		return
	}
	now := i.now()
	id, err := i.launches.put(launchGrant{patient: patient, role: role}, now, now.Add(LaunchTTL))
	if errors.Is(err, errFull) {
		w.Header().Set("Retry-After", "10")
		tokenError(w, http.StatusServiceUnavailable, ErrTemporarilyUnavailable, "too many launches are pending; try again shortly")
		return
	}
	if err != nil {
		tokenError(w, http.StatusInternalServerError, ErrServerError, "no launch can be registered")
		return
	}
	writeJSON(w, http.StatusCreated, LaunchResponse{Launch: id, ExpiresIn: int64(LaunchTTL / time.Second)})
}

func (i *Issuer) defaultLaunchRole() string {
	if _, ok := i.Role(DefaultLaunchRole); ok || len(i.roles) == 0 {
		return DefaultLaunchRole
	}
	return i.roles[0].Name
}
