package pds_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

func TestRead(t *testing.T) {
	sim := openSimulator(t)
	supersedingETag := ""
	for _, p := range population.Default() {
		if p.NHSNumber == pds.SupersedingNHSNumber {
			supersedingETag = `W/"` + strconv.Itoa(p.VersionID) + `"`
		}
	}
	tests := []struct {
		name     string
		id       string
		status   int
		code     string // error code, or "" for a Patient
		wantID   string
		etag     string
		security string
	}{
		{name: "full record", id: "9000000009", status: 200, wantID: "9000000009", etag: `W/"2"`, security: "U"},
		{name: "restricted", id: "9000000025", status: 200, wantID: "9000000025", etag: `W/"2"`, security: "R"},
		{name: "minimal record", id: "9000000033", status: 200, wantID: "9000000033", etag: `W/"2"`, security: "U"},
		{name: "superseded returns the superseding patient", id: pds.SupersededNHSNumber, status: 200, wantID: pds.SupersedingNHSNumber, etag: supersedingETag, security: "U"},
		{name: "superseded twice returns the current patient", id: pds.TwiceSupersededNHSNumber, status: 200, wantID: pds.SupersedingNHSNumber, etag: supersedingETag, security: "U"},
		{name: "the sandbox's superseded number is unknown", id: "9000000041", status: 404, code: "RESOURCE_NOT_FOUND"},
		{name: "search-only fixture patient", id: "9732019395", status: 404, code: "RESOURCE_NOT_FOUND"},
		{name: "Jayne Smyth is kept", id: "9000000017", status: 200, wantID: "9000000017", etag: `W/"2"`, security: "U"},
		{name: "invalidated", id: pds.InvalidatedNHSNumber, status: 404, code: "INVALIDATED_RESOURCE"},
		{name: "unknown", id: "9111231130", status: 404, code: "RESOURCE_NOT_FOUND"},
		{name: "bad check digit", id: "9000000000", status: 400, code: "INVALID_RESOURCE_ID"},
		{name: "fixture with a bad check digit", id: "9000000015", status: 400, code: "INVALID_RESOURCE_ID"},
		{name: "not digits", id: "abc", status: 400, code: "INVALID_RESOURCE_ID"},
		{name: "too long", id: "90000000090", status: 400, code: "INVALID_RESOURCE_ID"},
		{name: "synthetic person", id: population.Default()[0].NHSNumber, status: 200, wantID: population.Default()[0].NHSNumber,
			etag: `W/"` + strconv.Itoa(population.Default()[0].VersionID) + `"`, security: "U"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, sim, "/Patient/"+tt.id)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tt.status, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/fhir+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.code != "" {
				if got := r.errorCode(t); got != tt.code {
					t.Errorf("code = %q, want %q", got, tt.code)
				}
				return
			}
			if got := str(t, r.body, "id"); got != tt.wantID {
				t.Errorf("id = %q, want %q", got, tt.wantID)
			}
			if got := r.header.Get("ETag"); got != tt.etag {
				t.Errorf("ETag = %q, want %q", got, tt.etag)
			}
			if got := `W/"` + str(t, r.body, "meta", "versionId") + `"`; got != tt.etag {
				t.Errorf("meta.versionId gives %s, ETag %s", got, tt.etag)
			}
			if got := str(t, r.body, "meta", "security", 0, "code"); got != tt.security {
				t.Errorf("meta.security[0].code = %q, want %q", got, tt.security)
			}
		})
	}
}

// somePerson returns the first default person satisfying ok.
func somePerson(t *testing.T, ok func(p population.Person) bool) population.Person {
	t.Helper()
	for _, p := range population.Default() {
		if ok(p) {
			return p
		}
	}
	t.Fatal("no such person in the default population")
	return population.Person{}
}

var redactedFields = []string{"address", "telecom", "contact", "generalPractitioner", "managingOrganization"}

func TestReadRestrictedIsRedacted(t *testing.T) {
	sim := openSimulator(t)
	restricted := somePerson(t, func(p population.Person) bool { return p.Restricted })
	open := somePerson(t, func(p population.Person) bool { return !p.Restricted && p.Phone != "" })
	tests := []struct {
		name       string
		id         string
		restricted bool
	}{
		{name: "fixture restricted patient", id: "9000000025", restricted: true},
		{name: "synthetic restricted person", id: restricted.NHSNumber, restricted: true},
		{name: "fixture unrestricted patient", id: "9000000009"},
		{name: "synthetic unrestricted person", id: open.NHSNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, sim, "/Patient/"+tt.id)
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			for _, f := range redactedFields {
				_, has := r.body[f]
				if tt.restricted && has {
					t.Errorf("restricted record carries %s", f)
				}
			}
			if !tt.restricted {
				for _, f := range []string{"address", "telecom", "generalPractitioner"} {
					if _, has := r.body[f]; !has {
						t.Errorf("unrestricted record lacks %s", f)
					}
				}
			}
			wantSec := "U"
			if tt.restricted {
				wantSec = "R"
			}
			if got := str(t, r.body, "meta", "security", 0, "code"); got != wantSec {
				t.Errorf("security = %q, want %q", got, wantSec)
			}
		})
	}
}

func TestReadSyntheticRecordShape(t *testing.T) {
	sim := openSimulator(t)
	dead := somePerson(t, func(p population.Person) bool { return p.Deceased() && !p.Restricted })
	moved := somePerson(t, func(p population.Person) bool {
		return p.PreviousFamily != "" && p.PreviousAddress != nil && !p.Restricted && p.Email != ""
	})

	t.Run("deceased", func(t *testing.T) {
		r := get(t, sim, "/Patient/"+dead.NHSNumber)
		if got, want := str(t, r.body, "deceasedDateTime"), dead.DeathDate+"T00:00:00+00:00"; got != want {
			t.Errorf("deceasedDateTime = %q, want %q", got, want)
		}
		if got := str(t, r.body, "extension", 0, "url"); got != "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeathNotificationStatus" {
			t.Errorf("extension[0].url = %q", got)
		}
		if got := str(t, r.body, "extension", 0, "extension", 0, "valueCodeableConcept", "coding", 0, "code"); got != "2" {
			t.Errorf("death notification status = %q, want 2", got)
		}
	})

	t.Run("identifier, names, addresses, telecom, GP", func(t *testing.T) {
		r := get(t, sim, "/Patient/"+moved.NHSNumber)
		checks := []struct {
			path []any
			want string
		}{
			{[]any{"resourceType"}, "Patient"},
			{[]any{"identifier", 0, "system"}, "https://fhir.nhs.uk/Id/nhs-number"},
			{[]any{"identifier", 0, "value"}, moved.NHSNumber},
			{[]any{"identifier", 0, "extension", 0, "valueCodeableConcept", "coding", 0, "code"}, "01"},
			{[]any{"name", 0, "use"}, "usual"},
			{[]any{"name", 0, "family"}, moved.Family},
			{[]any{"name", 0, "given", 0}, moved.Given[0]},
			{[]any{"name", 1, "use"}, "old"},
			{[]any{"name", 1, "family"}, moved.PreviousFamily},
			{[]any{"gender"}, moved.Gender},
			{[]any{"birthDate"}, moved.BirthDate},
			{[]any{"address", 0, "use"}, "home"},
			{[]any{"address", 0, "postalCode"}, moved.Address.Postcode},
			{[]any{"address", 0, "period", "start"}, moved.Address.From},
			{[]any{"address", 1, "use"}, "old"},
			{[]any{"address", 1, "postalCode"}, moved.PreviousAddress.Postcode},
			{[]any{"generalPractitioner", 0, "type"}, "Organization"},
			{[]any{"generalPractitioner", 0, "identifier", "system"}, "https://fhir.nhs.uk/Id/ods-organization-code"},
			{[]any{"generalPractitioner", 0, "identifier", "value"}, moved.GPPractice},
		}
		for _, c := range checks {
			if got := str(t, r.body, c.path...); got != c.want {
				t.Errorf("%v = %q, want %q", c.path, got, c.want)
			}
		}
		for _, p := range [][]any{{"name", 0, "id"}, {"address", 0, "id"}, {"telecom", 0, "id"}, {"generalPractitioner", 0, "id"}} {
			if str(t, r.body, p...) == "" {
				t.Errorf("%v missing", p)
			}
		}
		emails := 0
		for i := 0; walk(r.body, "telecom", i) != nil; i++ {
			if str(t, r.body, "telecom", i, "system") == "email" {
				emails++
				if got := str(t, r.body, "telecom", i, "value"); got != moved.Email {
					t.Errorf("email = %q, want %q", got, moved.Email)
				}
			}
		}
		if emails != 1 {
			t.Errorf("%d email telecoms, want 1", emails)
		}
	})
}
