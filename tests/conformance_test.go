package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/resources"
)

// capabilityResources returns rest[0].resource of the CapabilityStatement.
func capabilityResources(t *testing.T) []map[string]any {
	t.Helper()
	r := get(t, "/metadata")
	if r.status != 200 || r.body["resourceType"] != "CapabilityStatement" {
		t.Fatalf("metadata: %d %s", r.status, r.raw)
	}
	if r.body["fhirVersion"] != "4.0.1" {
		t.Errorf("fhirVersion %v", r.body["fhirVersion"])
	}
	var out []map[string]any
	for _, x := range r.body["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestEverySearchParamIsAccepted sends every advertised search parameter,
// under Prefer: handling=strict, and expects a searchset: an advertised
// parameter the server did not understand would be a 400.
func TestEverySearchParamIsAccepted(t *testing.T) {
	for _, res := range capabilityResources(t) {
		typ := res["type"].(string)
		prov, found := env.app.Resources.Lookup(typ)
		if !found {
			t.Fatalf("%s advertised but has no provider", typ)
		}
		sps, _ := res["searchParam"].([]any)
		searcher, ok := prov.(resources.Searcher)
		if !ok {
			if len(sps) > 0 {
				t.Errorf("%s advertises search parameters but cannot search", typ)
			}
			continue
		}
		examples := map[string]string{}
		for _, sp := range searcher.SearchParams() {
			examples[sp.Name] = sp.Example
		}
		if len(sps) == 0 {
			t.Errorf("%s advertises no search parameters", typ)
		}
		for _, x := range sps {
			name := x.(map[string]any)["name"].(string)
			t.Run(typ+"/"+name, func(t *testing.T) {
				ex := examples[name]
				if ex == "" {
					t.Fatalf("no example value for %s", name)
				}
				q := url.Values{name: {ex}}
				if mod, v, ok := strings.Cut(ex, "="); ok && strings.HasPrefix(mod, ":") {
					// Accepted only with a modifier: name:modifier=value.
					q = url.Values{name + mod: {v}}
				}
				if name != "patient" && advertises(res, "patient") {
					// Searches by patient (SCR …) need the patient with any other parameter.
					q.Set("patient", "9000000009")
				}
				if typ == "Patient" && name != "identifier" && name != "_id" {
					// PDS needs family and birthdate with any other parameter.
					if q.Get("family") == "" {
						q.Set("family", "Smith")
					}
					if q.Get("birthdate") == "" {
						q.Set("birthdate", "eq2010-10-22")
					}
				}
				r := call(t, "GET", "/"+typ+"?"+q.Encode(), map[string]string{"Prefer": "handling=strict", "Authorization": bearer(roleFor(typ, "search-type"))}, "")
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				_, outcomes := entries(t, r)
				for _, o := range outcomes {
					b, _ := json.Marshal(o)
					if strings.Contains(string(b), "ignored") {
						t.Errorf("parameter reported as ignored: %s", b)
					}
				}
			})
		}
	}
}

// roleFor is the dev role whose token may perform an interaction on a type:
// auditors search the audit trail, admin staff edit demographics, and
// clinicians do the rest.
func roleFor(typ, interaction string) string {
	switch {
	case typ == "AuditEvent":
		return "auditor"
	case typ == "Patient" && (interaction == "patch" || interaction == "create"):
		return "admin"
	}
	return "clinician"
}

// sampleIDs names, per resource type, a resource the embedded sandbox has,
// so every advertised read can be tried.
var sampleIDs = map[string]string{
	"Patient":             "9000000009",
	"OperationDefinition": "Patient-summary",
	"StructureDefinition": "ovm-recording-organisation-contact", // the facade's own extensions (#21)
	"AllergyIntolerance":  "9000000009-fa60be641f3411eba2a8000c29a364eb-a1",
	"MedicationStatement": "9000000009-fa60be641f3411eba2a8000c29a364eb-ma1",
	"DocumentReference":   "Y05868-1000000091", // NRL: 9000000009's mental health crisis plan
	"Binary":              "Y05868-1000000091", // its document, a PDF (streamed)
	// RA: 9000000009 lip reads (versioned, so vread can be tried).
	"Flag": "ra-9000000009.1512d9fd-5ed8-4c63-80c5-348885c3f809",
	// Immunisation History: 9000000009's first COVID-19 vaccination (public sandbox).
	"Immunization": "9000000009-x82adfd284b783728846afa78fc490f5e",
	// The dev clinician's own record (get sends the clinician's token).
	"Practitioner": "910000000001",
	// PDS: 9000000009's guardian Mrs Jane Smith (public sandbox).
	"RelatedPerson": "9000000009-507B7621",
}

func TestCapabilityInteractionsAreRouted(t *testing.T) {
	for _, res := range capabilityResources(t) {
		typ := res["type"].(string)
		for _, i := range res["interaction"].([]any) {
			code := i.(map[string]any)["code"].(string)
			switch code {
			case "read":
				id, ok := sampleIDs[typ]
				if !ok {
					t.Errorf("%s advertises read: add an id that exists to sampleIDs", typ)
					continue
				}
				r := get(t, "/"+typ+"/"+id)
				if r.status != 200 {
					t.Errorf("%s read: %d", typ, r.status)
				}
			case "search-type":
				q := "identifier=9000000009"
				if advertises(res, "patient") {
					q = "patient=9000000009"
				}
				r := call(t, "GET", "/"+typ+"?"+q, map[string]string{"Authorization": bearer(roleFor(typ, "search-type"))}, "")
				if r.status != 200 {
					t.Errorf("%s search: %d", typ, r.status)
				}
			case "vread":
				id := "9000000009"
				if sid, ok := sampleIDs[typ]; ok {
					id = sid
				}
				r := get(t, "/"+typ+"/"+id)
				meta, _ := r.body["meta"].(map[string]any)
				if meta == nil {
					t.Errorf("%s vread: the sample %s has no meta.versionId", typ, id)
					continue
				}
				v := get(t, "/"+typ+"/"+id+"/_history/"+meta["versionId"].(string))
				if v.status != 200 || v.header.Get("ETag") != r.header.Get("ETag") {
					t.Errorf("%s vread of the current version: %d", typ, v.status)
				}
				if old := get(t, "/"+typ+"/"+id+"/_history/1"); old.status != 404 || outcomeIssue(t, old)["code"] != "not-found" {
					t.Errorf("%s vread of an old version: %d", typ, old.status)
				}
			case "create":
				// Routed: an incomplete resource is refused by validation or the provider, not by the router
				// (a Patient create without If-None-Exist: 428).
				r := call(t, "POST", "/"+typ, map[string]string{"Content-Type": "application/fhir+json", "Authorization": bearer(roleFor(typ, "create"))}, `{"resourceType":"`+typ+`"}`)
				if r.status != 400 && r.status != 422 && r.status != 428 {
					t.Errorf("%s create of an incomplete resource: %d %s", typ, r.status, r.raw)
				}
			case "update":
				// Routed: an update without If-Match is refused by the provider, not by the router.
				cur := get(t, "/"+typ+"/"+sampleIDs[typ])
				r := call(t, "PUT", "/"+typ+"/"+sampleIDs[typ], map[string]string{"Content-Type": "application/fhir+json"}, string(cur.raw))
				if r.status != 428 {
					t.Errorf("%s update without If-Match: %d %s", typ, r.status, r.raw)
				}
			case "patch":
				// Routed: a patch without If-Match is refused by the provider, not by the router.
				r := call(t, "PATCH", "/"+typ+"/9000000009", map[string]string{"Content-Type": "application/json-patch+json", "Authorization": bearer(roleFor(typ, "patch"))}, `[{"op":"replace","path":"/gender","value":"male"}]`)
				if r.status != 428 {
					t.Errorf("%s patch without If-Match: %d %s", typ, r.status, r.raw)
				}
			default:
				t.Errorf("%s advertises %s, which this test does not know how to check", typ, code)
			}
		}
	}
}

// advertises reports whether a CapabilityStatement resource entry lists the
// search parameter name.
func advertises(res map[string]any, name string) bool {
	sps, _ := res["searchParam"].([]any)
	for _, x := range sps {
		if x.(map[string]any)["name"] == name {
			return true
		}
	}
	return false
}

func TestXMLIsNotAcceptable(t *testing.T) {
	for _, hdr := range []map[string]string{{"Accept": "application/fhir+xml"}, {"Accept": "application/xml"}} {
		r := call(t, "GET", "/Patient/9000000009", hdr, "")
		if r.status != 406 || outcomeIssue(t, r)["code"] != "not-supported" {
			t.Errorf("%v: %d %s", hdr, r.status, r.raw)
		}
	}
	r := get(t, "/Patient/9000000009?_format=xml")
	if r.status != 406 {
		t.Errorf("_format=xml: %d", r.status)
	}
}

var nhsNumberPattern = regexp.MustCompile(`\b9\d{9}\b`)

// TestNoPatientDataInLogsOrMetrics exercises reads, searches and errors, then
// checks that neither the logs nor /metrics carry an NHS number or a name.
func TestNoPatientDataInLogsOrMetrics(t *testing.T) {
	get(t, "/Patient/9000000009")
	get(t, "/Patient/9111231130")
	get(t, "/Patient?family=Smith&gender=female&birthdate=eq2010-10-22")
	get(t, "/Patient?family=Smythe&given=Janet&birthdate=2005-06-16")
	res, err := http.Get(env.root + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	metrics, _ := io.ReadAll(res.Body)
	for name, text := range map[string]string{"logs": env.logs.String(), "metrics": string(metrics)} {
		if m := nhsNumberPattern.FindString(text); m != "" {
			t.Errorf("%s carry an NHS number (%s)", name, m)
		}
		for _, word := range []string{"Smith", "Smythe", "Janet", "2010-10-22"} {
			if strings.Contains(text, word) {
				t.Errorf("%s carry patient data %q", name, word)
			}
		}
	}
	for _, want := range []string{`facade_backend_requests_total{backend="pds"`, `facade_http_request_duration_seconds_bucket{interaction="read",resource_type="Patient"`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(env.logs.String(), `"request_id"`) {
		t.Error("logs carry no request id")
	}
}

// Every read carries an ETag, versioned or not, and If-None-Match with it
// answers 304.
func TestConditionalReadEverywhere(t *testing.T) {
	for typ, id := range sampleIDs {
		if typ == "Binary" {
			continue // raw documents are streamed, not FHIR resources
		}
		t.Run(typ, func(t *testing.T) {
			hdr := map[string]string{"Authorization": bearer(roleFor(typ, "read"))}
			r := call(t, "GET", "/"+typ+"/"+id, hdr, "")
			if r.status != 200 {
				t.Fatalf("read: %d", r.status)
			}
			etag := r.header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			hdr["If-None-Match"] = etag
			if again := call(t, "GET", "/"+typ+"/"+id, hdr, ""); again.status != 304 {
				t.Errorf("If-None-Match %s: %d", etag, again.status)
			}
		})
	}
}
