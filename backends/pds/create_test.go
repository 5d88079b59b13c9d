package pds_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/backends/internal/recorded"
	"github.com/carerecords/fhir-facade/backends/pds"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// createRequest is a PatientCreateRequest (synthetic data).
func createRequest(family, postcode string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"name":      []any{map[string]any{"use": "usual", "family": family, "given": []any{"Ada"}, "period": map[string]any{"start": "2020-01-01"}}},
		"gender":    "female",
		"birthDate": "1990-03-04",
		"address":   []any{map[string]any{"use": "home", "line": []any{"1 Test Street"}, "postalCode": postcode, "period": map[string]any{"start": "2020-01-01"}}},
		"extension": []any{map[string]any{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-RegisteringAuthority",
			"extension": []any{
				map[string]any{"url": "registeringAuthorityType", "valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": "https://fhir.nhs.uk/CodeSystem/UKCore-RegisteringAuthorityType", "code": "x"}}}},
				map[string]any{"url": "organisationIdentifier", "valueString": "RGS"}}}},
	})
	return b
}

// firstAllocated is the first NHS number a fresh simulator allocates
// (sandbox/pds FirstAllocatedNHSNumber), as recorded in testdata/create.json.
const firstAllocated = "5182663366"

// TestCreateAgainstSimulator runs Create against what the PDS simulator
// answered it (testdata/create.json): 201 with the allocated number and
// version, duplicates as a Conflict, PDS's validation errors as
// Invalid/Required.
func TestCreateAgainstSimulator(t *testing.T) {
	srv := recorded.Server(t, filepath.Join("testdata", "create.json"), map[string]string{"Authorization": "", "X-Request-ID": recorded.AnyValue})
	up, err := upstream.New(upstream.Config{Name: pds.Name, BaseURL: srv.URL + basePath, Token: "t", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := pds.New(up)
	ctx := context.Background()

	got, err := c.Create(ctx, createRequest("Okonkwo-Test", "LS1 6AE"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ ID string }
	_ = json.Unmarshal(got.Body, &p)
	if p.ID != firstAllocated || got.Version != "1" {
		t.Fatalf("created %q version %q", p.ID, got.Version)
	}

	tests := []struct {
		name     string
		body     json.RawMessage
		category fhirerr.Category
		code     string
	}{
		{"duplicate of the record just made", createRequest("Okonkwo-Test", "LS16AE"), fhirerr.Conflict, "SINGLE_MATCH"},
		{"several matches", createRequest("McMatch-Multiple", "DN19 7UD"), fhirerr.Conflict, "MULTIPLE_MATCHES"},
		{"missing values", json.RawMessage(`{"name":[{"family":"X","given":["Y"]}]}`), fhirerr.Required, "MISSING_VALUE"},
		{"not an object", json.RawMessage(`[1]`), fhirerr.Invalid, "INVALID_VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Create(ctx, tt.body)
			fe := fhirerr.As(err)
			if fe == nil || fe.Category != tt.category || fe.Details == nil || fe.Details.Code != tt.code {
				t.Fatalf("err = %v, want category %v code %s", err, tt.category, tt.code)
			}
			if tt.category == fhirerr.Conflict && fe.IssueCode != "duplicate" {
				t.Errorf("issue code %q, want duplicate", fe.IssueCode)
			}
		})
	}
}

// TestCreateIsNeverRetried: a 503 (PDS may still create the record) is
// passed on after one attempt.
func TestCreateIsNeverRetried(t *testing.T) {
	f := newFakePDS(t, answer{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "0"}})
	c := newClient(t, f)
	_, err := c.Create(context.Background(), createRequest("A", "LS1 6AE"))
	if fhirerr.CategoryOf(err) != fhirerr.Timeout {
		t.Fatalf("err = %v, want Timeout", err)
	}
	if n := f.hits.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	if r := f.last.Load(); r.Method != http.MethodPost || r.URL.Path != basePath+"/Patient" {
		t.Errorf("sent %s %s", r.Method, r.URL.Path)
	}
}
