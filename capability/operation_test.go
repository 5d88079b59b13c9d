package capability_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"

	"github.com/carerecords/fhir-facade/capability"
	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/resources"
)

// render marshals a resource proto as FHIR JSON.
func render(t *testing.T, m proto.Message) map[string]any {
	t.Helper()
	mr, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mr.MarshalResource(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := profiles.Validate(b); err != nil {
		t.Fatalf("does not validate: %v\n%s", err, b)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// Each definition's url is its canonical under the server's base, and says
// how the operation is invoked; HL7's own operations are named as its base.
func TestOperationDefinition(t *testing.T) {
	tests := []struct {
		name           string
		def            resources.OperationDefinition
		base, version  string
		wantURL        string
		wantBase       string
		wantType, inst bool
	}{
		{name: "IPS summary", def: resources.OperationDefinition{ID: "Patient-summary", Name: "PatientSummary", Resource: "Patient", Code: "summary"},
			base: "https://fhir.example.nhs.uk/fhir/", version: "1.2.3",
			wantURL: "https://fhir.example.nhs.uk/fhir/OperationDefinition/Patient-summary", wantBase: "http://hl7.org/fhir/uv/ips/OperationDefinition/summary", inst: true},
		{name: "everything", def: resources.OperationDefinition{ID: "Patient-everything", Name: "PatientEverything", Resource: "Patient", Code: "everything"},
			base: "http://127.0.0.1:8080/fhir", version: "dev",
			wantURL: "http://127.0.0.1:8080/fhir/OperationDefinition/Patient-everything", wantBase: "http://hl7.org/fhir/OperationDefinition/Patient-everything", inst: true},
		{name: "type operation of the facade's own", def: resources.OperationDefinition{ID: "Patient-notify-birth", Name: "PatientNotifyBirth", Resource: "Patient", Code: "notify-birth", Type: true, AffectsState: true,
			Parameters: []resources.OperationParameter{{Name: "return", Use: "out", Min: 1, Max: "1", Type: "Patient", Documentation: "the baby"}}},
			base: "http://127.0.0.1:8080/fhir", version: "",
			wantURL: "http://127.0.0.1:8080/fhir/OperationDefinition/Patient-notify-birth", wantType: true},
		{name: "a summary on another type is not IPS's", def: resources.OperationDefinition{ID: "Flag-summary", Name: "FlagSummary", Resource: "Flag", Code: "summary"},
			base: "http://x/fhir", version: "1", wantURL: "http://x/fhir/OperationDefinition/Flag-summary", inst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.def.Title, tt.def.Description = "t", "d"
			m, err := capability.Definitions(tt.base, tt.version)(tt.def)
			if err != nil {
				t.Fatal(err)
			}
			doc := render(t, m)
			if doc["url"] != tt.wantURL || doc["code"] != tt.def.Code || doc["status"] != "active" || doc["kind"] != "operation" {
				t.Errorf("url %v code %v status %v kind %v", doc["url"], doc["code"], doc["status"], doc["kind"])
			}
			if b, _ := doc["base"].(string); b != tt.wantBase {
				t.Errorf("base %q, want %q", b, tt.wantBase)
			}
			if v, _ := doc["version"].(string); v != tt.version {
				t.Errorf("version %q, want %q", v, tt.version)
			}
			if doc["system"] != false || doc["type"] != tt.wantType || doc["instance"] != tt.inst || doc["affectsState"] != tt.def.AffectsState {
				t.Errorf("system %v type %v instance %v affectsState %v", doc["system"], doc["type"], doc["instance"], doc["affectsState"])
			}
			if rs, _ := doc["resource"].([]any); len(rs) != 1 || rs[0] != tt.def.Resource {
				t.Errorf("resource %v", doc["resource"])
			}
		})
	}
}

type patcher struct{ readOnly }

func (patcher) ResourceType() string { return "Patient" }
func (patcher) Versioned() bool      { return true }
func (patcher) Patch(context.Context, string, []byte, string, string) (*resources.Resource, error) {
	return nil, nil
}
func (patcher) Operations() []resources.Operation {
	return []resources.Operation{{Name: "summary", Definition: resources.OperationDefinition{ID: "Patient-summary", Name: "PatientSummary", Title: "t", Description: "d", Resource: "Patient", Code: "summary"},
		Run: func(context.Context, string, url.Values) (*resources.SearchResult, error) { return nil, nil }}}
}

// statement builds the statement of ps (and their OperationDefinitions,
// served under served) with base as the statement's base.
func statement(t *testing.T, base, served string, ps ...resources.Provider) map[string]any {
	t.Helper()
	defs, err := resources.NewOperationDefinitions(capability.Definitions(served, "1"), ps...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := capability.Build(resources.NewRegistry(append(ps, defs)...), capability.Options{BaseURL: base, Version: "1"}).JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := profiles.Validate(b); err != nil {
		t.Fatalf("CapabilityStatement does not validate: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func resourceOf(doc map[string]any, typ string) map[string]any {
	for _, r := range doc["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		if r.(map[string]any)["type"] == typ {
			return r.(map[string]any)
		}
	}
	return nil
}

// The statement names each operation by the url its OperationDefinition is
// served with, declares JSON Patch only when something is patched, and
// says version-aware writes and If-None-Match reads.
func TestBuildTruth(t *testing.T) {
	doc := statement(t, "http://127.0.0.1:8080/fhir", "https://fhir.example.nhs.uk/fhir", patcher{}, searchOnly{})
	if b, _ := json.Marshal(doc["patchFormat"]); string(b) != `["application/json-patch+json"]` {
		t.Errorf("patchFormat %s", b)
	}
	pat := resourceOf(doc, "Patient")
	// The definitions' own url wins over the statement's base: what is named is what resolves.
	if ops, _ := pat["operation"].([]any); len(ops) != 1 ||
		ops[0].(map[string]any)["definition"] != "https://fhir.example.nhs.uk/fhir/OperationDefinition/Patient-summary" {
		t.Errorf("operations %v", pat["operation"])
	}
	if pat["versioning"] != "versioned-update" || pat["conditionalRead"] != "not-match" || pat["readHistory"] != false {
		t.Errorf("Patient versioning %v conditionalRead %v readHistory %v", pat["versioning"], pat["conditionalRead"], pat["readHistory"])
	}
	if od := resourceOf(doc, "OperationDefinition"); od["versioning"] != "no-version" || od["conditionalRead"] != "not-match" {
		t.Errorf("OperationDefinition %v", od)
	}
	if s := resourceOf(doc, "AllergyIntolerance"); s["conditionalRead"] != "not-supported" {
		t.Errorf("a search-only type's conditionalRead %v", s["conditionalRead"])
	}

	// Nothing patched: no patchFormat.
	if doc := statement(t, "http://x/fhir", "http://x/fhir", readOnly{}, searchOnly{}); doc["patchFormat"] != nil {
		t.Errorf("patchFormat without a patcher: %v", doc["patchFormat"])
	}
}
