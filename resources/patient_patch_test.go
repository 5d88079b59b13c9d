package resources

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"testing"

	"github.com/carerecords/fhir-facade/backends/pds"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// patchPDS is a PDS holding one record (version 2) that records the
// operations it is sent and answers with the record unchanged.
type patchPDS struct {
	body []byte
	sent json.RawMessage
}

func (f *patchPDS) Read(context.Context, string) (*pds.Patient, error) {
	return &pds.Patient{Body: f.body, Version: "2"}, nil
}

func (f *patchPDS) Search(context.Context, url.Values) (*pds.SearchResult, error) {
	return nil, fhirerr.New(fhirerr.NotSupported, "not in this test")
}

func (f *patchPDS) Patch(_ context.Context, _, _ string, ops json.RawMessage) (*pds.Patient, error) {
	f.sent = ops
	return &pds.Patient{Body: f.body, Version: "3"}, nil
}

// TestPatientPatchBody: PATCH /Patient/{id} takes a bare RFC 6902 array or
// PDS's envelope {"patches": […]}, and sends PDS the operations; a malformed
// envelope, and each refusal PDS would make too, is a categorised error
// with PDS's Spine code.
func TestPatientPatchBody(t *testing.T) {
	record, err := os.ReadFile("../backends/pds/testdata/patient_9000000009.json")
	if err != nil {
		t.Fatal(err)
	}
	const replace = `[{"op":"replace","path":"/gender","value":"male"}]`
	tests := []struct {
		name        string
		id          string // 9000000009 when ""
		contentType string // application/json-patch+json when ""
		ifMatch     string // 2 when ""; "-" for none
		body        string
		wantOps     string // the operations PDS is sent, on success
		wantErr     fhirerr.Category
		wantSpine   string
	}{
		{name: "bare JSON Patch array", body: replace, wantOps: replace},
		{name: "PDS envelope", body: `{"patches":` + replace + `}`, wantOps: replace},
		{name: "PDS envelope with correction, as the Postman collection sends it", body: " \n{\"correction\": false, \"patches\": " + replace + "}", wantOps: replace},
		{name: "envelope without patches", body: `{}`, wantErr: fhirerr.Invalid, wantSpine: "INVALID_UPDATE"},
		{name: "envelope with null patches", body: `{"patches":null}`, wantErr: fhirerr.Invalid, wantSpine: "INVALID_UPDATE"},
		{name: "envelope whose patches is an object", body: `{"patches":{"op":"remove","path":"/gender"}}`, wantErr: fhirerr.Invalid, wantSpine: "INVALID_UPDATE"},
		{name: "envelope with no operations", body: `{"patches":[ ]}`, wantErr: fhirerr.Invalid, wantSpine: "TOO_FEW_VALUES_SUBMITTED"},
		{name: "envelope with another member", body: `{"patches":` + replace + `,"pets":["cat"]}`, wantErr: fhirerr.Invalid, wantSpine: "ADDITIONAL_PROPERTIES"},
		{name: "envelope with a correction that is not a boolean", body: `{"patches":` + replace + `,"correction":"yes"}`, wantErr: fhirerr.Invalid, wantSpine: "INVALID_VALUE"},
		{name: "envelope that is not JSON", body: `{"patches":[`, wantErr: fhirerr.Invalid, wantSpine: "INVALID_UPDATE"},
		{name: "unknown operation in an envelope", body: `{"patches":[{"op":"merge","path":"/gender","value":"male"}]}`, wantErr: fhirerr.Invalid, wantSpine: "INVALID_VALUE"},
		{name: "body that is neither", body: `"gender"`, wantErr: fhirerr.Invalid, wantSpine: "INVALID_UPDATE"},
		{name: "operation that cannot be applied", body: `{"patches":[{"op":"remove","path":"/name/5"}]}`, wantErr: fhirerr.Unprocessable, wantSpine: "INVALID_UPDATE"},
		{name: "invalid NHS number", id: "9000000000", body: replace, wantErr: fhirerr.Invalid, wantSpine: "INVALID_RESOURCE_ID"},
		{name: "FHIR media type", contentType: "application/fhir+json", body: replace, wantErr: fhirerr.UnsupportedMediaType, wantSpine: "UNSUPPORTED_SERVICE"},
		{name: "plain JSON media type, which PDS would take", contentType: "application/json", body: replace, wantErr: fhirerr.UnsupportedMediaType},
		{name: "no If-Match", ifMatch: "-", body: replace, wantErr: fhirerr.PreconditionRequired, wantSpine: "PRECONDITION_FAILED"},
		{name: "stale version", ifMatch: "1", body: replace, wantErr: fhirerr.PreconditionFailed, wantSpine: "RESOURCE_VERSION_MISMATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ct, ifMatch := tt.id, tt.contentType, tt.ifMatch
			if id == "" {
				id = "9000000009"
			}
			if ct == "" {
				ct = "application/json-patch+json"
			}
			switch ifMatch {
			case "":
				ifMatch = "2"
			case "-":
				ifMatch = ""
			}
			f := &patchPDS{body: record}
			res, err := NewPatient(f, nil).Writable().(Patcher).Patch(context.Background(), id, []byte(tt.body), ct, ifMatch)
			if tt.wantErr == fhirerr.Internal {
				if err != nil {
					t.Fatalf("Patch: %v", err)
				}
				if res.ID != "9000000009" || res.VersionID != "2" {
					t.Errorf("resource %s version %s", res.ID, res.VersionID)
				}
				if string(f.sent) != tt.wantOps {
					t.Errorf("PDS was sent %s, want %s", f.sent, tt.wantOps)
				}
				return
			}
			e := fhirerr.As(err)
			if e == nil || e.Category != tt.wantErr {
				t.Fatalf("err = %v, want category %v", err, tt.wantErr)
			}
			switch {
			case tt.wantSpine == "" && e.Spine != nil:
				t.Errorf("Spine = %+v, want none (PDS would not refuse this)", *e.Spine)
			case tt.wantSpine != "" && (e.Spine == nil || *e.Spine != *fhirerr.Spine(tt.wantSpine)):
				t.Errorf("Spine = %+v, want %s", e.Spine, tt.wantSpine)
			}
			if f.sent != nil {
				t.Errorf("PDS was sent %s although the patch was refused", f.sent)
			}
		})
	}
}
