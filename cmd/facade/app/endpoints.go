package app

import "github.com/carerecords/fhir-facade/server"

// Endpoints lists every FHIR route and method the facade serves (the tests
// that walk every route use it).
func (a *App) Endpoints() []server.Endpoint { return a.server.Endpoints() }
