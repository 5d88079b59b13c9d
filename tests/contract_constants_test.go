package tests

import (
	"testing"

	"github.com/carerecords/fhir-facade/backends/bna"
	sandboxbna "github.com/carerecords/fhir-facade/sandbox/bna"
	"github.com/carerecords/fhir-facade/sandbox/pds"
)

// TestBNAContractConstants: the BNA client reads what the simulators
// write. (Moved from backends/bna, which no longer imports sandbox/, #18.)
func TestBNAContractConstants(t *testing.T) {
	if bna.MotherNHSNumberURL != pds.MotherNHSNumberURL || bna.CodeRequestIDReused != sandboxbna.CodeRequestIDReused {
		t.Fatal("the client and the simulators disagree on the contract")
	}
}
