package server

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/profiles"
)

// TestErrorReplyDetails: issue.details.coding carries the Spine code first
// (PDS clients read coding[0]), then the backend's own code unless it is the
// same, and nothing on a failure that is not the client's.
func TestErrorReplyDetails(t *testing.T) {
	spine := fhirerr.Spine("INVALID_RESOURCE_ID")
	spineJSON := map[string]any{"system": fhirerr.SpineSystem, "version": "1", "code": "INVALID_RESOURCE_ID", "display": "Resource Id is invalid"}
	scr := &fhirerr.Coding{System: "https://fhir.nhs.uk/CodeSystem/SCR-ACSPermission", Code: "No"}
	scrJSON := map[string]any{"system": scr.System, "code": "No"}
	tests := []struct {
		name string
		err  *fhirerr.Error
		want []any // issue.details.coding; nil: no details
	}{
		{name: "no code", err: fhirerr.New(fhirerr.Invalid, "bad")},
		{name: "Spine code of the facade's own check", err: &fhirerr.Error{Category: fhirerr.Invalid, Message: "bad", Spine: spine},
			want: []any{spineJSON}},
		{name: "PDS's code as both Spine and Details, once", err: &fhirerr.Error{Category: fhirerr.Invalid, Message: "bad", Spine: spine,
			Details: &fhirerr.Coding{System: fhirerr.SpineSystem, Version: "1", Code: "INVALID_RESOURCE_ID", Display: "Resource Id is invalid"}},
			want: []any{spineJSON}},
		{name: "one coding as both Spine and Details", err: &fhirerr.Error{Category: fhirerr.NotFound, Message: "none", Spine: spine, Details: spine},
			want: []any{spineJSON}},
		{name: "another backend code kept after the Spine code", err: &fhirerr.Error{Category: fhirerr.Forbidden, Message: "no", Spine: spine, Details: scr},
			want: []any{spineJSON, scrJSON}},
		{name: "backend code alone", err: &fhirerr.Error{Category: fhirerr.Forbidden, Message: "no", Details: scr},
			want: []any{scrJSON}},
		{name: "5xx carries no backend code", err: &fhirerr.Error{Category: fhirerr.BadGateway, Message: "the pds service failed",
			Details: &fhirerr.Coding{System: fhirerr.SpineSystem, Code: "ACCESS_DENIED"}}},
		{name: "5xx carries no Spine code", err: &fhirerr.Error{Category: fhirerr.Timeout, Message: "slow", Spine: spine}},
		{name: "429 keeps the code", err: &fhirerr.Error{Category: fhirerr.Throttled, Message: "slow down",
			Spine: &fhirerr.Coding{System: fhirerr.SpineSystem, Code: "TOO_MANY_REQUESTS"}},
			want: []any{map[string]any{"system": fhirerr.SpineSystem, "code": "TOO_MANY_REQUESTS"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, body := errorReply(tt.err, "req-1")
			if err := profiles.Validate(body); err != nil {
				t.Fatalf("not a valid OperationOutcome: %v\n%s", err, body)
			}
			var oo struct {
				Issue []struct {
					Details *struct {
						Coding []any `json:"coding"`
					} `json:"details"`
				} `json:"issue"`
			}
			if err := json.Unmarshal(body, &oo); err != nil || len(oo.Issue) != 1 {
				t.Fatalf("%v: %s", err, body)
			}
			var got []any
			if d := oo.Issue[0].Details; d != nil {
				got = d.Coding
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("details.coding = %v, want %v", got, tt.want)
			}
		})
	}
}
