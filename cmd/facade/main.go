package main

import (
	_ "github.com/dgraph-io/ristretto/v2"
	_ "github.com/google/fhir/go/jsonformat"
	_ "github.com/google/uuid"
	_ "github.com/gorilla/mux"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/sirupsen/logrus"
)

func main() {}
