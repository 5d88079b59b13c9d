package upstream_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/carerecords/fhir-facade/backends/upstream"
)

const spineSystem = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseOutcome(t *testing.T) {
	tests := []struct {
		name   string
		body   []byte
		want   upstream.Outcome
		wantOK bool
	}{
		{
			name:   "PDS INVALID_RESOURCE_ID",
			body:   readTestdata(t, "INVALID_RESOURCE_ID.json"),
			want:   upstream.Outcome{IssueCode: "value", Severity: "error", System: spineSystem, Version: "1", Code: "INVALID_RESOURCE_ID", Display: "Resource Id is invalid"},
			wantOK: true,
		},
		{
			name:   "PDS RESOURCE_NOT_FOUND (information severity, keys in another order)",
			body:   readTestdata(t, "RESOURCE_NOT_FOUND.json"),
			want:   upstream.Outcome{IssueCode: "not-found", Severity: "information", System: spineSystem, Version: "1", Code: "RESOURCE_NOT_FOUND", Display: "Resource not found"},
			wantOK: true,
		},
		{
			name:   "PDS INVALID_VALUE keeps diagnostics",
			body:   readTestdata(t, "INVALID_VALUE.json"),
			want:   upstream.Outcome{IssueCode: "value", Severity: "error", System: spineSystem, Version: "1", Code: "INVALID_VALUE", Display: "Provided value is invalid", Diagnostics: "#(diagnostics)"},
			wantOK: true,
		},
		{
			name: "details.text is kept apart from the display (it is free text)",
			body: []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception","details":{"text":"Service down"}}]}`),
			want: upstream.Outcome{IssueCode: "exception", Severity: "error", Text: "Service down"}, wantOK: true,
		},
		{
			name: "only the first issue",
			body: []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"value","details":{"coding":[{"system":"s","code":"A"}]}},{"severity":"error","code":"required","details":{"coding":[{"system":"s","code":"B"}]}}]}`),
			want: upstream.Outcome{IssueCode: "value", Severity: "error", System: "s", Code: "A"}, wantOK: true,
		},
		{name: "HTML error page", body: []byte("<html><head><title>503 Service Temporarily Unavailable</title></head><body><h1>503 Service Temporarily Unavailable</h1></body></html>")},
		{name: "a Patient, not an OperationOutcome", body: []byte(`{"resourceType":"Patient","id":"9000000009","issue":[{"code":"value"}]}`)},
		{name: "JSON without resourceType", body: []byte(`{"issue":[{"severity":"error","code":"value"}]}`)},
		{name: "OperationOutcome without issues", body: []byte(`{"resourceType":"OperationOutcome","issue":[]}`)},
		{name: "JSON array", body: []byte(`[{"resourceType":"OperationOutcome"}]`)},
		{name: "empty body", body: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := upstream.ParseOutcome(tt.body)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("ParseOutcome = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
