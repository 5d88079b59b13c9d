package main
import (
 _ "github.com/google/fhir/go/jsonformat"
 _ "github.com/prometheus/client_golang/prometheus"
)
func main(){}
