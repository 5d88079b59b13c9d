package app

import (
	"net/http"

	"github.com/carerecords/fhir-facade/server"
	"github.com/carerecords/fhir-facade/viewer"
)

// viewerRoute is where the summary viewer is mounted: everything under
// /view/ (see server.Config.Handlers).
const viewerRoute = "/view/{path:.*}"

// mountViewer adds the clinician's summary viewer (package viewer) to
// handlers when there is an issuer it can launch through: the local test
// issuer, or a configured issuer with an authorization endpoint
// (AUTH_AUTHORIZE_URL). It is a client of the facade's own API, served
// in-process by a.Handler (see viewer.inProcess), which exists only once
// the server is built: hence the late-bound handler.
func (a *App) mountViewer(cfg Config, smart *server.SMARTConfiguration, handlers map[string]http.Handler) error {
	if smart == nil || handlers == nil || (a.Issuer == nil && smart.AuthorizationEndpoint == "") {
		return nil
	}
	vc := viewer.Config{
		FHIRBase:       a.BaseURL,
		API:            http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.Handler.ServeHTTP(w, r) }),
		FrameAncestors: cfg.ViewerFrameAncestors,
		Logger:         cfg.Logger,
	}
	a.shareViewer(&vc)
	v, err := viewer.New(vc)
	if err != nil {
		return err
	}
	handlers[viewerRoute] = v
	return nil
}
