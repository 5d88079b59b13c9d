package nrl_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/model/nhsnumber"
	"github.com/carerecords/fhir-facade/sandbox/internal/jsoncompare"
	"github.com/carerecords/fhir-facade/sandbox/nrl"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

// The contract with the public NRL consumer sandbox (docs/backends.md,
// "NRL"): one row per answer of the real sandbox, which is NRLF itself over
// its seed data, each sending the same request to the simulator and
// comparing status, Content-Type and body. Expected bodies are NRLF's
// error answers derived from its tests (testdata/real-sandbox/derived/, see
// SOURCES.md) and, for searches and reads, what its handlers build from the
// seed data (fixtures/document-pointer.json, which the simulator embeds):
// a searchset with link[self], total and one {"resource"} entry per
// pointer, each pointer's document as stored.
//
// Compared as JSON values: NRLF's entries come in DynamoDB's order, so
// entries are compared sorted by id; an empty "entry" list counts as none.
// Masked: attachment.url of the seeded pointers (departure: they name the
// real Spine Secure Proxy, which the simulator replaces with its own
// document host, so that the facade can retrieve the documents).
//
// The sandbox's Apigee proxy names the calling organisation (its
// configuration is not public); the rows call as Y05868, which the
// simulator lets read every pointer type, and as NRLF's test organisations
// where they need fewer rights.

const contractBase = "https://sandbox.api.service.nhs.uk" + nrl.BasePath

type nrlRow struct {
	name   string
	method string
	path   string // under BasePath
	body   string // POST body
	ods    string // NHSD-End-User-Organisation-ODS; Y05868 if empty
	status int
	want   string // a file under testdata/real-sandbox, or "seed:<search|read|count>:<arg>"
	mask   []string
}

func TestContractRealSandbox(t *testing.T) {
	mhcp := "http://snomed.info/sct|736253002"
	sim := nrl.New(nrl.Options{Open: true, BaseURL: contractBase, Organisations: map[string][]string{
		"Y05868":  nil,    // the sandbox's caller, as the simulator sees it
		"RX898":   {mhcp}, // NRLF's test organisation
		"NOTYPES": {},     // onboarded without pointer types
	}})
	subject := func(nhs string) string {
		return "subject:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|"+nhs)
	}
	attachments := []string{"content.*.attachment.url", "entry.*.resource.content.*.attachment.url"}
	f := "derived/features/"
	rows := []nrlRow{
		{name: "search 4409815415", method: "GET", path: "/DocumentReference?" + subject("4409815415"), status: 200, want: "seed:search:4409815415", mask: attachments},
		{name: "search 3495456481", method: "GET", path: "/DocumentReference?" + subject("3495456481"), status: 200, want: "seed:search:3495456481", mask: attachments},
		{name: "search unknown 3495456001", method: "GET", path: "/DocumentReference?" + subject("3495456001"), status: 200, want: "seed:search:3495456001"},
		{name: "search 4409815415 for emergency health care plans", method: "GET", path: "/DocumentReference?" + subject("4409815415") + "&type=" + url.QueryEscape("http://snomed.info/sct|887701000000100"),
			status: 200, want: "seed:search:4409815415:http://snomed.info/sct|887701000000100", mask: attachments},
		{name: "search an invalid NHS number", method: "GET", path: "/DocumentReference?" + subject("123"), status: 400, want: f + "search--search-rejects-request-when-the-nhs-number-provided-is-invalid.400.derived.json"},
		{name: "search without subject", method: "GET", path: "/DocumentReference", status: 400, want: f + "search--search-fails-to-return-a-bundle-when-no-subject-identifier-is-provided.400.derived.json"},
		{name: "search with an extra parameter", method: "GET", path: "/DocumentReference?" + subject("9278693472") + "&extra=parameter", status: 400, want: f + "search--search-fails-to-return-a-bundle-when-extra-parameters-are-found.400.derived.json"},
		{name: "search another type system", method: "GET", path: "/DocumentReference?" + subject("9278693472") + "&type=" + url.QueryEscape("http://incorrect.info/sct|736253002"), ods: "RX898", status: 400,
			want: f + "search--search-rejects-request-with-type-system-they-are-not-allowed-to-use.400.derived.json"},
		{name: "search without pointer types", method: "GET", path: "/DocumentReference?" + subject("9278693472"), ods: "NOTYPES", status: 403,
			want: f + "search--search-rejects-request-if-the-organisation-has-no-registered-pointer-t.403.derived.json", mask: []string{"issue.*.diagnostics"}},
		{name: "search by an organisation not onboarded", method: "GET", path: "/DocumentReference?" + subject("9278693472"), ods: "Z26", status: 403, want: f + "search--search-gives-403-if-no-permission.403.derived.json"},

		{name: "POST search 4409815415", method: "POST", path: "/DocumentReference/_search", body: `{"subject:identifier":"https://fhir.nhs.uk/Id/nhs-number|4409815415"}`, status: 200, want: "seed:search:4409815415", mask: attachments},
		{name: "POST search with an extra key", method: "POST", path: "/DocumentReference/_search", body: `{"subject:identifier":"https://fhir.nhs.uk/Id/nhs-number|9278693472","extra":"parameter"}`, status: 400,
			want: f + "searchPost--search-fails-to-return-a-bundle-when-extra-keys-are-found.400.derived.json"},
		{name: "POST search without subject", method: "POST", path: "/DocumentReference/_search", body: `{"type":"http://snomed.info/sct|736253002"}`, status: 400,
			want: f + "searchPost--search-fails-to-return-a-bundle-when-no-subject-identifier-is-provided.400.derived.json"},
		{name: "POST search an invalid NHS number", method: "POST", path: "/DocumentReference/_search", body: `{"subject:identifier":"https://fhir.nhs.uk/Id/nhs-number|123"}`, status: 400,
			want: f + "searchPost--search-rejects-request-when-the-nhs-number-provided-is-invalid.400.derived.json"},
		{name: "POST search another type system", method: "POST", path: "/DocumentReference/_search", body: `{"subject:identifier":"https://fhir.nhs.uk/Id/nhs-number|9278693472","type":"http://incorrect.info/sct|736253002"}`,
			ods: "RX898", status: 400, want: f + "searchPost--search-rejects-request-with-type-system-they-are-not-allowed-to-use.400.derived.json"},
		{name: "POST search by an organisation not onboarded", method: "POST", path: "/DocumentReference/_search", body: `{"subject:identifier":"https://fhir.nhs.uk/Id/nhs-number|9278693472"}`, ods: "X26", status: 403,
			want: f + "searchPost--search-returns-403-if-no-permissions.403.derived.json"},

		{name: "read Y05868-1234567892", method: "GET", path: "/DocumentReference/Y05868-1234567892", status: 200, want: "seed:read:Y05868-1234567892", mask: attachments},
		{name: "read an unknown id", method: "GET", path: "/DocumentReference/X26-000000000-000000000", ods: "RX898", status: 404, want: f + "read--pointer-not-found.404.derived.json"},
		{name: "read the sandbox's unknown id", method: "GET", path: "/DocumentReference/Y05861-1234567800", status: 404, want: f + "read--pointer-not-found.404.derived.json"},
		{name: "read an invalid id", method: "GET", path: "/DocumentReference/" + url.PathEscape("X26`DROP TABLE 'pointers';--Something-000000000-000000000"), ods: "RX898", status: 404,
			want: f + "read--invalid-id-in-path-parameters.404.derived.json"},
		{name: "read a type not permitted", method: "GET", path: "/DocumentReference/Y05868-1234567892", ods: "RX898", status: 403, want: f + "read--no-permissions-to-access-specific-pointer-type.403.derived.json"},
		{name: "read without pointer types", method: "GET", path: "/DocumentReference/Y05868-1234567892", ods: "NOTYPES", status: 403,
			want: f + "read--no-permissions-to-access-any-resources.403.derived.json", mask: []string{"issue.*.diagnostics"}},

		{name: "count 4409815415", method: "GET", path: "/DocumentReference/_count?" + subject("4409815415"), status: 200, want: "seed:count:4409815415"},
		{name: "count without parameters", method: "GET", path: "/DocumentReference/_count", status: 400, want: f + "count--no-query-parameters-provided.400.derived.json"},
		{name: "count an invalid NHS number", method: "GET", path: "/DocumentReference/_count?" + subject("123"), status: 400, want: f + "count--invalid-nhs-number-provided.400.derived.json"},
		{name: "count without pointer types", method: "GET", path: "/DocumentReference/_count?" + subject("999999999"), ods: "NOTYPES", status: 403,
			want: f + "count--organisation-has-no-permissions.403.derived.json", mask: []string{"issue.*.diagnostics"}},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, nrl.BasePath+tt.path, strings.NewReader(tt.body))
			req.Header.Set("X-Request-ID", "60E0B220-8136-4CA5-AE46-1D97EF59D068")
			ods := tt.ods
			if ods == "" {
				ods = "Y05868"
			}
			req.Header.Set("NHSD-End-User-Organisation-ODS", ods)
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			got, _ := io.ReadAll(rec.Result().Body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d\n%s", rec.Code, tt.status, got)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/fhir+json" {
				t.Errorf("Content-Type %q", ct)
			}
			want := expected(t, tt.want)
			if msg := jsoncompare.Diff(got, want, jsoncompare.Options{Mask: tt.mask, Normalise: sortEntries}); msg != "" {
				t.Errorf("body differs from %s (masked %v):\n%s", tt.want, tt.mask, msg)
			}
		})
	}
}

// TestEdgeCaseNumberIsFree: the simulator's paging and retrieval-failure
// patient is no one else's.
func TestEdgeCaseNumberIsFree(t *testing.T) {
	for _, p := range population.Default() {
		if p.NHSNumber == nrl.EdgeCaseNHSNumber {
			t.Fatalf("%s is a synthetic person's", nrl.EdgeCaseNHSNumber)
		}
	}
	if !nhsnumber.Valid(nrl.EdgeCaseNHSNumber) || population.IsReservedNHSNumber(nrl.EdgeCaseNHSNumber) {
		t.Errorf("%s is not valid or is a sandbox number", nrl.EdgeCaseNHSNumber)
	}
}

// expected is the body a row wants: a derived file, or one built from the
// seed data as NRLF's handlers build it.
func expected(t *testing.T, want string) []byte {
	t.Helper()
	kind, arg, ok := strings.Cut(strings.TrimPrefix(want, "seed:"), ":")
	if !strings.HasPrefix(want, "seed:") || !ok {
		b, err := os.ReadFile("testdata/real-sandbox/" + want)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raw, err := os.ReadFile("fixtures/document-pointer.json")
	if err != nil {
		t.Fatal(err)
	}
	var seed []struct {
		ID, NHS, Type, Document string
	}
	var items []map[string]any
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		seed = append(seed, struct{ ID, NHS, Type, Document string }{it["id"].(string), it["nhs_number"].(string), it["type"].(string), it["document"].(string)})
	}
	nhs, typ, _ := strings.Cut(arg, ":")
	var docs []json.RawMessage
	for _, s := range seed {
		switch {
		case kind == "read" && s.ID == arg:
			return []byte(s.Document)
		case kind != "read" && s.NHS == nhs && (typ == "" || s.Type == typ):
			docs = append(docs, json.RawMessage(s.Document))
		}
	}
	switch kind {
	case "count":
		return []byte(fmt.Sprintf(`{"resourceType":"Bundle","type":"searchset","total":%d}`, len(docs)))
	case "search":
		self := contractBase + "/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|" + nhs
		if typ != "" {
			self += "&type=" + typ
		}
		entries := make([]map[string]any, len(docs))
		for i, d := range docs {
			entries[i] = map[string]any{"resource": d}
		}
		b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "searchset",
			"link": []any{map[string]any{"relation": "self", "url": self}}, "total": len(docs), "entry": entries})
		return b
	}
	t.Fatalf("no seeded %s", want)
	return nil
}

// sortEntries orders a searchset's entries by their resource's id (NRLF's
// order is DynamoDB's) and drops an empty entry list.
func sortEntries(v any) {
	m, _ := v.(map[string]any)
	if es, ok := m["entry"].([]any); ok {
		if len(es) == 0 {
			delete(m, "entry")
		}
		sort.Slice(es, func(i, j int) bool { return entryID(es[i]) < entryID(es[j]) })
	}
}

func entryID(e any) string {
	r, _ := e.(map[string]any)["resource"].(map[string]any)
	id, _ := r["id"].(string)
	return id
}
