package nrl_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/sandbox/nrl"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

const (
	requestID  = "60e0b220-8136-4ca5-ae46-1d97ef59d068"
	nhsSystem  = "https://fhir.nhs.uk/Id/nhs-number"
	odsSystem  = "https://fhir.nhs.uk/Id/ods-organization-code"
	sandboxODS = "Y05868"
)

var (
	simOnce sync.Once
	simSrv  *httptest.Server
	sim     *nrl.Simulator
)

// server is one shared simulator (default population, bearer token
// required) on a loopback port.
func server(t *testing.T) (*nrl.Simulator, string) {
	t.Helper()
	simOnce.Do(func() {
		sim = nrl.New(nrl.Options{})
		simSrv = httptest.NewServer(sim)
	})
	return sim, simSrv.URL
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends a request with NRL's headers (X-Request-ID, ODS, token, and
// the SSP headers), minus those hdr sets to "".
func call(t *testing.T, method, u string, hdr map[string]string, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{
		"X-Request-ID": requestID, "NHSD-End-User-Organisation-ODS": sandboxODS, "Authorization": "Bearer t",
		"Ssp-TraceID": "5f0c8e3a-3c61-4f5e-9f57-1c2b3d4e5f60", "Ssp-From": "200000000001", "Ssp-InteractionID": nrl.InteractionID,
	}
	for k, v := range hdr {
		h[k] = v
	}
	for k, v := range h {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: res.StatusCode, header: res.Header, raw: raw}
	if strings.Contains(res.Header.Get("Content-Type"), "json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: invalid JSON: %v", method, u, err)
		}
	}
	return a
}

func search(t *testing.T, params string, hdr map[string]string) answer {
	t.Helper()
	_, base := server(t)
	return call(t, http.MethodGet, base+nrl.BasePath+"/DocumentReference?"+params, hdr, "")
}

func subject(nhs string) string { return "subject:identifier=" + nhsSystem + "|" + nhs }

// issue returns the code, issue code and expression of an NRL OperationOutcome.
func issue(t *testing.T, a answer) (code, issueCode, expression string) {
	t.Helper()
	if a.body["resourceType"] != "OperationOutcome" {
		t.Fatalf("want an OperationOutcome, got %d %s", a.status, a.raw)
	}
	is := a.body["issue"].([]any)[0].(map[string]any)
	c := is["details"].(map[string]any)["coding"].([]any)[0].(map[string]any)
	if c["system"] != nrl.ErrorSystem && !strings.HasSuffix(c["system"].(string), "Spine-ErrorOrWarningCode") {
		t.Errorf("system %v", c["system"])
	}
	if ex, ok := is["expression"].([]any); ok {
		expression = ex[0].(string)
	}
	return c["code"].(string), is["code"].(string), expression
}

func resources(t *testing.T, a answer) []map[string]any {
	t.Helper()
	if a.status != 200 || a.body["resourceType"] != "Bundle" || a.body["type"] != "searchset" {
		t.Fatalf("want a searchset, got %d %s", a.status, a.raw)
	}
	var out []map[string]any
	for _, e := range a.body["entry"].([]any) {
		out = append(out, e.(map[string]any)["resource"].(map[string]any))
	}
	return out
}

func nextToken(a answer) string {
	meta, _ := a.body["meta"].(map[string]any)
	tags, _ := meta["tag"].([]any)
	for _, x := range tags {
		if tag := x.(map[string]any); tag["code"] == "next-page-token" {
			return tag["display"].(string)
		}
	}
	return ""
}

func attachments(r map[string]any) []map[string]any {
	var out []map[string]any
	for _, c := range r["content"].([]any) {
		out = append(out, c.(map[string]any)["attachment"].(map[string]any))
	}
	return out
}

// Every pointer of 9000000009 points at a document the holder serves with
// the declared type, size and hash; the pointers have at least two types.
func TestSearch9000000009AndRetrieveEveryDocument(t *testing.T) {
	_, base := server(t)
	a := search(t, subject("9000000009"), nil)
	if a.header.Get("X-Request-Id") != requestID {
		t.Errorf("X-Request-Id not mirrored: %q", a.header.Get("X-Request-Id"))
	}
	rs := resources(t, a)
	if len(rs) != 3 || a.body["total"] != float64(3) || nextToken(a) != "" {
		t.Fatalf("want 3 pointers on one page, got %d (total %v): %s", len(rs), a.body["total"], a.raw)
	}
	types := map[string]bool{}
	for _, r := range rs {
		coding := r["type"].(map[string]any)["coding"].([]any)[0].(map[string]any)
		if coding["system"] != "http://snomed.info/sct" {
			t.Errorf("%v: type system %v", r["id"], coding["system"])
		}
		types[coding["code"].(string)] = true
		if err := profiles.Validate(mustJSON(t, r)); err != nil {
			t.Errorf("%v: %v", r["id"], err)
		}
		for _, att := range attachments(r) {
			u := att["url"].(string)
			if !strings.HasPrefix(u, base+nrl.SSPPath+"/https%3A%2F%2F") {
				t.Errorf("%v: attachment url %s is not under the simulated proxy", r["id"], u)
			}
			d := call(t, http.MethodGet, u, nil, "")
			if d.status != 200 || d.header.Get("Content-Type") != att["contentType"] {
				t.Fatalf("%s: %d %s, want 200 %v", u, d.status, d.header.Get("Content-Type"), att["contentType"])
			}
			sum := sha1.Sum(d.raw)
			if float64(len(d.raw)) != att["size"] || base64.StdEncoding.EncodeToString(sum[:]) != att["hash"] {
				t.Errorf("%s: %d bytes, declared size %v and hash %v", u, len(d.raw), att["size"], att["hash"])
			}
			switch att["contentType"] {
			case "application/pdf":
				if !bytes.HasPrefix(d.raw, []byte("%PDF-1.4")) || !bytes.HasSuffix(d.raw, []byte("%%EOF\n")) {
					t.Errorf("%s is not a PDF", u)
				}
			case "application/fhir+json":
				if err := profiles.Validate(d.raw); err != nil {
					t.Errorf("%s: structured document: %v", u, err)
				}
			default:
				t.Errorf("%s: unexpected content type %v", u, att["contentType"])
			}
		}
	}
	if len(types) < 2 {
		t.Errorf("9000000009's pointers have %d type(s), want at least 2", len(types))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSearchFilters(t *testing.T) {
	tests := []struct {
		name   string
		params string
		hdr    map[string]string
		ids    []string
	}{
		{name: "type", params: subject("9000000009") + "&type=http://snomed.info/sct|736253002", ids: []string{"Y05868-1000000091"}},
		{name: "type with escaped bar", params: subject("9000000009") + "&type=http%3A%2F%2Fsnomed.info%2Fsct%7C1382601000000107", ids: []string{"Y04531-1000000114"}},
		{name: "custodian", params: subject("9000000009") + "&custodian:identifier=" + odsSystem + "|Y07213", ids: []string{"Y07213-1000000107"}},
		{name: "custodian without pointers", params: subject("9000000009") + "&custodian:identifier=" + odsSystem + "|Y99999"},
		{name: "type and custodian disagree", params: subject("9000000009") + "&custodian:identifier=" + odsSystem + "|Y07213&type=http://snomed.info/sct|736253002"},
		{name: "organisation onboarded for crisis plans only", params: subject("9000000009"), hdr: map[string]string{"NHSD-End-User-Organisation-ODS": "RQI"}, ids: []string{"Y05868-1000000091"}},
		{name: "the sandbox's 4409815415 (its seed data)", params: subject("4409815415"), ids: []string{"Y05868-1634567891", "Y05868-1234567892", "Y05868-1634567892", "Y05868-1634567890"}},
		{name: "the sandbox's 3495456481 (its seed data)", params: subject("3495456481"), ids: []string{"Y05868-1834567891", "Y05868-1834567893", "RY26A-1234567891", "Y05868-1834567892", "Y05868-1834567890"}},
		{name: "the sandbox's unknown 3495456001 (fails Modulus 11)", params: subject("3495456001")},
		{name: "patient without pointers", params: subject("9111231130")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := search(t, tc.params, tc.hdr)
			var ids []string
			for _, r := range resources(t, a) {
				ids = append(ids, r["id"].(string))
			}
			if strings.Join(ids, ",") != strings.Join(tc.ids, ",") || a.body["total"] != float64(len(tc.ids)) {
				t.Errorf("ids %v (total %v), want %v", ids, a.body["total"], tc.ids)
			}
		})
	}
}

func TestPaging(t *testing.T) {
	sim, _ := server(t)
	all := sim.Pointers(nrl.EdgeCaseNHSNumber)
	if len(all) <= nrl.PageSize {
		t.Fatalf("%s has %d pointers: not enough for two pages", nrl.EdgeCaseNHSNumber, len(all))
	}
	first := search(t, subject(nrl.EdgeCaseNHSNumber), nil)
	page1 := resources(t, first)
	tok := nextToken(first)
	if len(page1) != nrl.PageSize || tok == "" || first.body["total"] != float64(len(all)) {
		t.Fatalf("page 1: %d entries, token %q, total %v", len(page1), tok, first.body["total"])
	}
	second := search(t, subject(nrl.EdgeCaseNHSNumber)+"&next-page-token="+url.QueryEscape(tok), nil)
	page2 := resources(t, second)
	if len(page2) != len(all)-nrl.PageSize || nextToken(second) != "" || second.body["total"] != float64(len(all)) {
		t.Fatalf("page 2: %d entries, token %q, total %v", len(page2), nextToken(second), second.body["total"])
	}
	var ids []string
	for _, r := range append(page1, page2...) {
		ids = append(ids, r["id"].(string))
	}
	if strings.Join(ids, ",") != strings.Join(all, ",") {
		t.Errorf("pages %v, want %v", ids, all)
	}
	for name, params := range map[string]string{
		"tampered token":          subject(nrl.EdgeCaseNHSNumber) + "&next-page-token=" + url.QueryEscape("19"+tok[2:]),
		"token of another search": subject(nrl.EdgeCaseNHSNumber) + "&type=http://snomed.info/sct|325691000000100&next-page-token=" + url.QueryEscape(tok),
		"token past the end":      subject("9000000009") + "&next-page-token=" + url.QueryEscape(tok),
	} {
		t.Run(name, func(t *testing.T) {
			a := search(t, params, nil)
			if code, _, expr := issue(t, a); a.status != 400 || code != "INVALID_PARAMETER" || expr != "next-page-token" {
				t.Errorf("%d %s %s", a.status, code, expr)
			}
		})
	}
}

func TestSearchByPost(t *testing.T) {
	_, base := server(t)
	body := `{"subject:identifier":"` + nhsSystem + `|9000000009","type":"http://snomed.info/sct|1382601000000107"}`
	a := call(t, http.MethodPost, base+nrl.BasePath+"/DocumentReference/_search", map[string]string{"Content-Type": "application/json"}, body)
	rs := resources(t, a)
	if len(rs) != 1 || rs[0]["id"] != "Y04531-1000000114" {
		t.Errorf("POST _search: %s", a.raw)
	}
	bad := call(t, http.MethodPost, base+nrl.BasePath+"/DocumentReference/_search", nil, "not json")
	if code, _, _ := issue(t, bad); bad.status != 400 || code != "BAD_REQUEST" {
		t.Errorf("bad body: %d %s", bad.status, code)
	}
}

func TestCount(t *testing.T) {
	_, base := server(t)
	a := call(t, http.MethodGet, base+nrl.BasePath+"/DocumentReference/_count?"+subject(nrl.EdgeCaseNHSNumber), nil, "")
	if a.status != 200 || a.body["total"] != float64(24) || a.body["entry"] != nil {
		t.Errorf("_count: %d %s", a.status, a.raw)
	}
}

func TestErrors(t *testing.T) {
	_, base := server(t)
	api := base + nrl.BasePath
	tests := []struct {
		name      string
		method    string
		url       string
		hdr       map[string]string
		status    int
		code      string
		issueCode string
		expr      string
	}{
		{name: "no X-Request-ID", url: api + "/DocumentReference?" + subject("9000000009"), hdr: map[string]string{"X-Request-ID": ""}, status: 400, code: "MISSING_OR_INVALID_HEADER", issueCode: "invalid"},
		{name: "X-Request-ID not a UUID", url: api + "/DocumentReference?" + subject("9000000009"), hdr: map[string]string{"X-Request-ID": "abc"}, status: 400, code: "MISSING_OR_INVALID_HEADER", issueCode: "invalid"},
		{name: "no token", url: api + "/DocumentReference?" + subject("9000000009"), hdr: map[string]string{"Authorization": ""}, status: 401, code: "ACCESS_DENIED", issueCode: "forbidden"},
		{name: "no ODS code", url: api + "/DocumentReference?" + subject("9000000009"), hdr: map[string]string{"NHSD-End-User-Organisation-ODS": ""}, status: 400, code: "MISSING_OR_INVALID_HEADER", issueCode: "invalid"},
		{name: "organisation not onboarded", url: api + "/DocumentReference?" + subject("9000000009"), hdr: map[string]string{"NHSD-End-User-Organisation-ODS": "XYZ"}, status: 403, code: "ACCESS DENIED", issueCode: "forbidden"},
		{name: "no subject", url: api + "/DocumentReference", status: 400, code: "INVALID_PARAMETER", issueCode: "invalid", expr: "subject:identifier"},
		{name: "subject without system", url: api + "/DocumentReference?subject:identifier=9000000009", status: 400, code: "INVALID_PARAMETER", issueCode: "invalid", expr: "subject:identifier"},
		{name: "invalid NHS number", url: api + "/DocumentReference?" + subject("123"), status: 400, code: "INVALID_NHS_NUMBER", issueCode: "invalid", expr: "subject:identifier"},
		{name: "unknown parameter", url: api + "/DocumentReference?" + subject("9000000009") + "&_count=5", status: 400, code: "INVALID_PARAMETER", issueCode: "invalid", expr: "_count"},
		{name: "custodian of another system", url: api + "/DocumentReference?" + subject("9000000009") + "&custodian:identifier=https://fhir.nhs.uk/Id/another-code|XYZ", status: 400, code: "INVALID_PARAMETER", issueCode: "invalid", expr: "custodian:identifier"},
		{name: "unknown type", url: api + "/DocumentReference?" + subject("9000000009") + "&type=http://snomed.info/sct|410970009", status: 400, code: "INVALID_CODE_SYSTEM", issueCode: "code-invalid", expr: "type"},
		{name: "type the organisation may not see", url: api + "/DocumentReference?" + subject("9000000009") + "&type=http://snomed.info/sct|1382601000000107", hdr: map[string]string{"NHSD-End-User-Organisation-ODS": "RQI"}, status: 400, code: "INVALID_CODE_SYSTEM", issueCode: "code-invalid", expr: "type"},
		{name: "read of an unknown id", url: api + "/DocumentReference/Y05861-1234567800", status: 404, code: "NO_RECORD_FOUND", issueCode: "not-found"},
		{name: "read of a type the organisation may not see", url: api + "/DocumentReference/Y05868-1234567892", hdr: map[string]string{"NHSD-End-User-Organisation-ODS": "RQI"}, status: 403, code: "ACCESS DENIED", issueCode: "forbidden"},
		{name: "read of an invalid id (NRLF looks it up)", url: api + "/DocumentReference/a%20b", status: 404, code: "NO_RECORD_FOUND", issueCode: "not-found"},
		{name: "delete", method: http.MethodDelete, url: api + "/DocumentReference/Y05868-1234567892", status: 405, code: "BAD_REQUEST", issueCode: "not-supported"},
		{name: "unknown path", url: api + "/Patient/9000000009", status: 404, code: "NOT_FOUND", issueCode: "not-found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = http.MethodGet
			}
			a := call(t, m, tc.url, tc.hdr, "")
			code, issueCode, expr := issue(t, a)
			if a.status != tc.status || code != tc.code || issueCode != tc.issueCode || expr != tc.expr {
				t.Errorf("got %d %s %s %q, want %d %s %s %q: %s", a.status, code, issueCode, expr, tc.status, tc.code, tc.issueCode, tc.expr, a.raw)
			}
		})
	}
}

func TestRead(t *testing.T) {
	_, base := server(t)
	a := call(t, http.MethodGet, base+nrl.BasePath+"/DocumentReference/Y05868-1234567892", nil, "")
	if a.status != 200 || a.body["id"] != "Y05868-1234567892" || a.header.Get("Content-Type") != "application/fhir+json" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if err := profiles.Validate(a.raw); err != nil {
		t.Error(err)
	}
}

func TestOpenSandboxNeedsNoToken(t *testing.T) {
	srv := httptest.NewServer(nrl.New(nrl.Options{Open: true, Population: []population.Person{}}))
	defer srv.Close()
	a := call(t, http.MethodGet, srv.URL+nrl.BasePath+"/DocumentReference?"+subject("9000000009"), map[string]string{"Authorization": ""}, "")
	if len(resources(t, a)) != 3 {
		t.Errorf("%s", a.raw)
	}
	u := attachments(resources(t, a)[0])[0]["url"].(string)
	if !strings.HasPrefix(u, srv.URL+nrl.SSPPath+"/") {
		t.Errorf("attachment URL %s is not derived from the request's host", u)
	}
}

// docURL returns the attachment URL of content[0] of pointer id.
func docURL(t *testing.T, id string) string {
	t.Helper()
	_, base := server(t)
	a := call(t, http.MethodGet, base+nrl.BasePath+"/DocumentReference/"+id, nil, "")
	if a.status != 200 {
		t.Fatalf("%s: %d %s", id, a.status, a.raw)
	}
	return attachments(a.body)[0]["url"].(string)
}

func TestDocumentHost(t *testing.T) {
	_, base := server(t)
	ok := docURL(t, "Y05868-1000000091")
	tests := []struct {
		name   string
		method string
		url    string
		hdr    map[string]string
		status int
		ctype  string
	}{
		{name: "large document", url: docURL(t, nrl.LargeDocumentPointerID), status: 200, ctype: "application/pdf"},
		{name: "holder down", url: docURL(t, nrl.HolderDownPointerID), status: 502, ctype: "application/fhir+json"},
		{name: "document gone", url: docURL(t, nrl.MissingDocumentPointerID), status: 404, ctype: "text/html; charset=utf-8"},
		{name: "unknown document", url: base + nrl.SSPPath + "/" + url.QueryEscape("https://docs.y05868.example.nhs.uk/nothing.pdf"), status: 404, ctype: "text/html; charset=utf-8"},
		{name: "raw URL appended, as older pointers have it", url: base + nrl.SSPPath + "/https://p1.nhs.uk/EPAACS/EmergencyCarPlan.pdf", status: 200, ctype: "application/pdf"},
		{name: "not a URL", url: base + nrl.SSPPath + "/nothing", status: 400, ctype: "application/fhir+json"},
		{name: "no trace id", url: ok, hdr: map[string]string{"Ssp-TraceID": ""}, status: 400, ctype: "application/fhir+json"},
		{name: "no interaction id", url: ok, hdr: map[string]string{"Ssp-InteractionID": ""}, status: 400, ctype: "application/fhir+json"},
		{name: "no token", url: ok, hdr: map[string]string{"Authorization": ""}, status: 401, ctype: "application/fhir+json"},
		{name: "Ssp-To of another endpoint", url: ok, hdr: map[string]string{"Ssp-To": "000000000000"}, status: 403, ctype: "application/fhir+json"},
		{name: "HEAD", method: http.MethodHead, url: ok, status: 200, ctype: "application/pdf"},
		{name: "POST", method: http.MethodPost, url: ok, status: 405, ctype: "application/fhir+json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = http.MethodGet
			}
			a := call(t, m, tc.url, tc.hdr, "")
			if a.status != tc.status || a.header.Get("Content-Type") != tc.ctype {
				t.Fatalf("%d %s, want %d %s: %.200s", a.status, a.header.Get("Content-Type"), tc.status, tc.ctype, a.raw)
			}
			if tc.name == "large document" && (len(a.raw) < nrl.LargeDocumentSize-1024 || len(a.raw) > nrl.LargeDocumentSize+1024) {
				t.Errorf("large document is %d bytes, want about %d", len(a.raw), nrl.LargeDocumentSize)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	sim := nrl.New(nrl.Options{Open: true, Population: []population.Person{}})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	api := srv.URL + nrl.BasePath + "/DocumentReference?" + subject("9000000009")
	sim.SetFault(&nrl.Fault{Status: 504, PathPrefix: nrl.SSPPath, Count: 1})
	doc := attachments(resources(t, call(t, http.MethodGet, api, nil, ""))[0])[0]["url"].(string)
	if a := call(t, http.MethodGet, doc, nil, ""); a.status != 504 {
		t.Errorf("faulted document: %d", a.status)
	}
	if a := call(t, http.MethodGet, doc, nil, ""); a.status != 200 {
		t.Errorf("after the one fault: %d", a.status)
	}
	sim.SetFault(&nrl.Fault{Status: 503, Body: "<html>503</html>", ContentType: "text/html", PathPrefix: "/DocumentReference"})
	if a := call(t, http.MethodGet, api, nil, ""); a.status != 503 || a.header.Get("Content-Type") != "text/html" {
		t.Errorf("faulted search: %d %s", a.status, a.header.Get("Content-Type"))
	}
	sim.SetFault(nil)
	if a := call(t, http.MethodGet, api, nil, ""); a.status != 200 {
		t.Errorf("after SetFault(nil): %d", a.status)
	}
	if sim.Requests() != 5 {
		t.Errorf("Requests() = %d, want 5", sim.Requests())
	}
}

// About one synthetic person in ten has pointers, the same ones every time,
// each mapping to a retrievable PDF.
func TestPopulationPointers(t *testing.T) {
	pop := population.Generate(3, 200)
	a, b := nrl.New(nrl.Options{Population: pop}), nrl.New(nrl.Options{Population: pop})
	with := 0
	for _, p := range pop {
		ids := a.Pointers(p.NHSNumber)
		if strings.Join(ids, ",") != strings.Join(b.Pointers(p.NHSNumber), ",") {
			t.Fatalf("%s: pointers differ between two simulators", p.NHSNumber)
		}
		if len(ids) > 3 {
			t.Errorf("%s has %d pointers", p.NHSNumber, len(ids))
		}
		if len(ids) > 0 {
			with++
		}
	}
	if with < 5 || with > 50 {
		t.Errorf("%d of %d people have pointers, want about a tenth", with, len(pop))
	}
}
