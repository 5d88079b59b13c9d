package tests

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	sandboxnrl "github.com/carerecords/fhir-facade/sandbox/nrl"
)

// nrlResources returns the resources of a searchset's match entries.
func nrlResources(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	matches, _ := entries(t, r)
	var out []map[string]any
	for _, m := range matches {
		out = append(out, m["resource"].(map[string]any))
	}
	return out
}

func nrlIDs(rs []map[string]any) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r["id"].(string))
	}
	return out
}

func nrlAttachments(r map[string]any) []map[string]any {
	var out []map[string]any
	for _, c := range r["content"].([]any) {
		out = append(out, c.(map[string]any)["attachment"].(map[string]any))
	}
	return out
}

// noLeak fails if an answer names the NRL simulator or its proxy, a
// holder, or carries a holder's HTML.
func noLeak(t *testing.T, what string, body []byte) {
	t.Helper()
	sim := strings.TrimPrefix(strings.TrimSuffix(env.app.Sandbox.NRLSSPURL, sandboxnrl.SSPPath), "http://")
	for _, leak := range []string{sim, "/ssp/", "spine-proxy", "example.nhs.uk", "p1.nhs.uk", "<html"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("%s leaks %q: %.300s", what, leak, body)
		}
	}
}

// TestNRL9000000009OpenEveryDocument is the issue's "done when": a client
// finds 9000000009's care plans and opens each document through the facade.
func TestNRL9000000009OpenEveryDocument(t *testing.T) {
	rs := nrlResources(t, get(t, "/DocumentReference?subject=Patient/9000000009"))
	if len(rs) < 2 {
		t.Fatalf("%d pointers for 9000000009, want at least 2", len(rs))
	}
	types := map[string]bool{}
	opened := 0
	for _, r := range rs {
		coding := r["type"].(map[string]any)["coding"].([]any)[0].(map[string]any)
		types[coding["system"].(string)+"|"+coding["code"].(string)] = true
		subj := r["subject"].(map[string]any)
		if subj["reference"] != "Patient/9000000009" || subj["identifier"].(map[string]any)["value"] != "9000000009" {
			t.Errorf("%v: subject %v", r["id"], subj)
		}
		noLeak(t, r["id"].(string), nrlJSON(t, r))
		for _, a := range nrlAttachments(r) {
			u, _ := a["url"].(string)
			if !strings.HasPrefix(u, "Binary/") {
				t.Fatalf("%v: attachment url %q is not the facade's Binary", r["id"], u)
			}
			d := get(t, "/"+u) // relative to the FHIR base
			if d.status != 200 || d.header.Get("Content-Type") != a["contentType"] {
				t.Fatalf("%s: %d %s, want 200 %v: %.300s", u, d.status, d.header.Get("Content-Type"), a["contentType"], d.raw)
			}
			sum := sha1.Sum(d.raw)
			if float64(len(d.raw)) != a["size"] || base64.StdEncoding.EncodeToString(sum[:]) != a["hash"] {
				t.Errorf("%s: %d bytes, pointer says size %v hash %v", u, len(d.raw), a["size"], a["hash"])
			}
			if d.header.Get("Cache-Control") != "no-store" || d.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: Cache-Control %q, X-Content-Type-Options %q", u, d.header.Get("Cache-Control"), d.header.Get("X-Content-Type-Options"))
			}
			opened++
		}
	}
	if len(types) < 2 {
		t.Errorf("9000000009's pointers have %d type(s), want at least 2: %v", len(types), types)
	}
	if opened < len(rs) {
		t.Errorf("opened %d documents for %d pointers", opened, len(rs))
	}
}

func nrlJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNRLSearch(t *testing.T) {
	all := []string{"Y07213-1000000107", "Y05868-1000000091", "Y04531-1000000114"}
	tests := []struct {
		name  string
		query string
		ids   []string
	}{
		{name: "patient", query: "patient=9000000009", ids: all},
		{name: "subject:identifier", query: "subject:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9000000009"), ids: all},
		{name: "patient:identifier", query: "patient:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9000000009"), ids: all},
		{name: "type", query: "patient=9000000009&type=" + url.QueryEscape("http://snomed.info/sct|736253002"), ids: []string{"Y05868-1000000091"}},
		{name: "two types", query: "patient=9000000009&type=736253002,1382601000000107", ids: []string{"Y05868-1000000091", "Y04531-1000000114"}},
		{name: "custodian", query: "patient=9000000009&custodian=Organization/Y07213", ids: []string{"Y07213-1000000107"}},
		{name: "custodian:identifier", query: "patient=9000000009&custodian:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/ods-organization-code|Y04531"), ids: []string{"Y04531-1000000114"}},
		// The public sandbox's seed data (its OpenAPI examples are not what it serves).
		{name: "the NRL sandbox's patient", query: "patient=4409815415", ids: []string{"Y05868-1634567891", "Y05868-1234567892", "Y05868-1634567892", "Y05868-1634567890"}},
		{name: "a patient without pointers", query: "patient=9000000017"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, "/DocumentReference?"+tc.query)
			rs := nrlResources(t, r)
			if got := strings.Join(nrlIDs(rs), ","); got != strings.Join(tc.ids, ",") || r.body["total"] != float64(len(tc.ids)) {
				t.Errorf("ids %s (total %v), want %v", got, r.body["total"], tc.ids)
			}
			noLeak(t, tc.name, r.raw)
		})
	}
}

// TestNRLPaging: NRL's two pages for the edge-case patient are fetched
// whole; the facade pages them with _count and _offset.
func TestNRLPaging(t *testing.T) {
	want := env.app.Sandbox.NRL.Pointers(sandboxnrl.EdgeCaseNHSNumber)
	if len(want) <= sandboxnrl.PageSize {
		t.Fatalf("%d pointers: fewer than two NRL pages", len(want))
	}
	var got []string
	next := "/DocumentReference?patient=" + sandboxnrl.EdgeCaseNHSNumber + "&_count=10"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		r := get(t, next)
		if r.body["total"] != float64(len(want)) {
			t.Errorf("total %v, want %d", r.body["total"], len(want))
		}
		got = append(got, nrlIDs(nrlResources(t, r))...)
		next = linkURL(r, "next")
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("paged through %v, want %v", got, want)
	}
	post := call(t, http.MethodPost, "/DocumentReference/_search", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		"patient="+sandboxnrl.EdgeCaseNHSNumber+"&type="+url.QueryEscape("http://snomed.info/sct|16521000000101"))
	if ids := nrlIDs(nrlResources(t, post)); len(ids) != 1 || ids[0] != sandboxnrl.LargeDocumentPointerID {
		t.Errorf("POST _search: %v", ids)
	}
}

func TestNRLRead(t *testing.T) {
	r := get(t, "/DocumentReference/Y05868-1234567892")
	if r.status != 200 || r.body["id"] != "Y05868-1234567892" || r.body["resourceType"] != "DocumentReference" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if u := nrlAttachments(r.body)[0]["url"]; u != "Binary/Y05868-1234567892" {
		t.Errorf("attachment url %v", u)
	}
	// NRL keeps no versions: the ETag names the content (for If-None-Match),
	// and no versionId is invented.
	if et := r.header.Get("ETag"); !strings.HasPrefix(et, `W/"c`) {
		t.Errorf("ETag %q: want a content ETag for an unversioned pointer", et)
	}
	if meta, _ := r.body["meta"].(map[string]any); meta["versionId"] != nil {
		t.Errorf("versionId %v invented for an unversioned pointer", meta["versionId"])
	}
	noLeak(t, "read", r.raw)
	two := get(t, "/DocumentReference/Y07213-1000000107")
	if u := nrlAttachments(two.body)[1]["url"]; u != "Binary/Y07213-1000000107.1" {
		t.Errorf("content[1] url %v", u)
	}
}

func TestNRLErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		status  int
		code    string
		details string // issue.details.coding[0].code, "" for none
	}{
		{name: "no patient", path: "/DocumentReference?type=736253002", status: 400, code: "invalid"},
		{name: "invalid NHS number", path: "/DocumentReference?patient=9000000000", status: 400, code: "invalid"},
		{name: "NRL's unknown sandbox number (fails Modulus 11)", path: "/DocumentReference?patient=3495456001", status: 400, code: "invalid"},
		{name: "type NRL does not know", path: "/DocumentReference?patient=9000000009&type=" + url.QueryEscape("http://snomed.info/sct|410970009"), status: 400, code: "invalid", details: "INVALID_CODE_SYSTEM"},
		{name: "custodian of another system", path: "/DocumentReference?patient=9000000009&custodian:identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/another-code|XYZ"), status: 400, code: "invalid"},
		{name: "unknown modifier", path: "/DocumentReference?patient=9000000009&type:text=plan", status: 400, code: "not-supported"},
		{name: "read of an unknown pointer", path: "/DocumentReference/Y05861-1234567800", status: 404, code: "not-found", details: "NO_RECORD_FOUND"},
		{name: "read of a non-NRL id", path: "/DocumentReference/9000000009", status: 404, code: "not-found"},
		{name: "document of an unknown pointer", path: "/Binary/Y05861-1234567800", status: 404, code: "not-found"},
		{name: "content the pointer does not have", path: "/Binary/Y05868-1000000091.3", status: 404, code: "not-found"},
		{name: "holder down", path: "/Binary/" + sandboxnrl.HolderDownPointerID, status: 502, code: "exception"},
		{name: "document gone", path: "/Binary/" + sandboxnrl.MissingDocumentPointerID, status: 404, code: "not-found"},
		{name: "no search on Binary", path: "/Binary?patient=9000000009", status: 405, code: "not-supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, tc.path)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			is := outcomeIssue(t, r)
			if is["code"] != tc.code {
				t.Errorf("issue.code %v, want %s", is["code"], tc.code)
			}
			if tc.details != "" {
				d, _ := is["details"].(map[string]any)
				cs, _ := d["coding"].([]any)
				if len(cs) == 0 || cs[0].(map[string]any)["code"] != tc.details {
					t.Errorf("details %v, want %s", is["details"], tc.details)
				}
			}
			noLeak(t, tc.name, r.raw)
		})
	}
}

// TestNRLBackendFailures makes NRL or the document holder misbehave.
func TestNRLBackendFailures(t *testing.T) {
	tests := []struct {
		name       string
		fault      sandboxnrl.Fault
		path       string
		status     int
		code       string
		retryAfter string
	}{
		{name: "holder does not answer in time", fault: sandboxnrl.Fault{Delay: backendTimeout + 500*time.Millisecond, PathPrefix: sandboxnrl.SSPPath},
			path: "/Binary/Y05868-1000000091", status: 504, code: "timeout"},
		{name: "proxy times out", fault: sandboxnrl.Fault{Status: 504, PathPrefix: sandboxnrl.SSPPath}, path: "/Binary/Y05868-1000000091", status: 504, code: "timeout"},
		{name: "holder sends another type", fault: sandboxnrl.Fault{Status: 200, ContentType: "text/html", Body: "<html>login</html>", PathPrefix: sandboxnrl.SSPPath},
			path: "/Binary/Y05868-1000000091", status: 502, code: "exception"},
		{name: "NRL unavailable (HTML)", fault: sandboxnrl.Fault{Status: 503, ContentType: "text/html", Body: "<html>503 Service Temporarily Unavailable</html>", PathPrefix: "/DocumentReference"},
			path: "/DocumentReference?patient=9000000009", status: 504, code: "timeout"},
		{name: "NRL fails on a document's pointer", fault: sandboxnrl.Fault{Status: 500, Body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`, PathPrefix: "/DocumentReference/"},
			path: "/Binary/Y05868-1000000091", status: 502, code: "exception"},
		{name: "NRL throttles", fault: sandboxnrl.Fault{Status: 429, Header: http.Header{"Retry-After": {"30"}}, PathPrefix: "/DocumentReference"},
			path: "/DocumentReference/Y05868-1000000091", status: 429, code: "throttled", retryAfter: "30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fault
			env.app.Sandbox.NRL.SetFault(&f)
			defer env.app.Sandbox.NRL.SetFault(nil)
			r := get(t, tc.path)
			if r.status != tc.status || outcomeIssue(t, r)["code"] != tc.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if got := r.header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			noLeak(t, tc.name, r.raw)
		})
	}
	if r := get(t, "/Binary/Y05868-1000000091"); r.status != 200 {
		t.Errorf("after the faults: %d", r.status)
	}
}

// TestNRLLargeDocument streams the ~5 MB record through the facade.
func TestNRLLargeDocument(t *testing.T) {
	res, err := http.Get(env.url + "/Binary/" + sandboxnrl.LargeDocumentPointerID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	h := sha1.New()
	n, err := io.Copy(h, res.Body)
	if err != nil {
		t.Fatal(err)
	}
	ptr := get(t, "/DocumentReference/"+sandboxnrl.LargeDocumentPointerID)
	a := nrlAttachments(ptr.body)[0]
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/pdf" || float64(n) != a["size"] ||
		base64.StdEncoding.EncodeToString(h.Sum(nil)) != a["hash"] || res.ContentLength != n {
		t.Errorf("%d %s, %d bytes (Content-Length %d), pointer says %v", res.StatusCode, res.Header.Get("Content-Type"), n, res.ContentLength, a["size"])
	}
}

func TestNRLCapabilityStatement(t *testing.T) {
	var doc, bin map[string]any
	for _, r := range capabilityResources(t) {
		switch r["type"] {
		case "DocumentReference":
			doc = r
		case "Binary":
			bin = r
		}
	}
	if doc == nil || bin == nil {
		t.Fatal("DocumentReference or Binary not in the CapabilityStatement")
	}
	codes := func(r map[string]any, key, field string) string {
		var out []string
		xs, _ := r[key].([]any)
		for _, x := range xs {
			out = append(out, x.(map[string]any)[field].(string))
		}
		return strings.Join(out, ",")
	}
	if got := codes(doc, "interaction", "code"); got != "read,search-type" {
		t.Errorf("DocumentReference interactions %s", got)
	}
	if got := codes(doc, "searchParam", "name"); got != "subject,patient,type,custodian" {
		t.Errorf("DocumentReference search parameters %s", got)
	}
	if got := codes(bin, "interaction", "code"); got != "read" {
		t.Errorf("Binary interactions %s", got)
	}
	if bin["searchParam"] != nil {
		t.Errorf("Binary advertises search parameters: %v", bin["searchParam"])
	}
}

func TestNRLInPatientSummary(t *testing.T) {
	r := get(t, "/Patient/9000000009/$summary")
	matches, _ := entries(t, r)
	n := 0
	for _, m := range matches {
		if m["resource"].(map[string]any)["resourceType"] == "DocumentReference" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d DocumentReferences in 9000000009's summary, want 3", n)
	}
}

// TestNRLNoPatientDataInLogs: NRL's searches, reads and failures leave no
// NHS number in the logs or metrics; metrics name both NRL backends.
func TestNRLNoPatientDataInLogs(t *testing.T) {
	get(t, "/DocumentReference?patient="+sandboxnrl.EdgeCaseNHSNumber)
	get(t, "/DocumentReference?patient=4409815415")
	get(t, "/Binary/"+sandboxnrl.HolderDownPointerID)
	res, err := http.Get(env.root + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	metrics, _ := io.ReadAll(res.Body)
	for name, text := range map[string]string{"logs": env.logs.String(), "metrics": string(metrics)} {
		for _, secret := range []string{sandboxnrl.EdgeCaseNHSNumber, "4409815415", "9000000009", "example.nhs.uk"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s carry %q", name, secret)
			}
		}
	}
	for _, want := range []string{`backend="nrl"`, `backend="nrl-ssp"`, `op="document"`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// BenchmarkNRLDocument retrieves the ~5 MB document through the facade
// (NRL read of the pointer, SSP fetch, streamed copy) and, in the same run,
// straight from the simulated holder. Reported per retrieval: throughput
// (MB/s, from b.SetBytes), bytes allocated (B/op: the whole process, so
// client, facade and simulator together) and, measured after the timed loop
// over ten more retrievals each started from a collected heap, the largest
// rise of the heap in use during one retrieval (peak-heap-KB, sampled every
// 100 µs): what holding the document would cost shows up there.
//
//	go test -run '^$' -bench NRLDocument -benchtime 60x ./tests/
func BenchmarkNRLDocument(b *testing.B) {
	sb := env.app.Sandbox
	direct := sb.NRLSSPURL + "/" + url.QueryEscape("https://docs.y05868.example.nhs.uk/lg/3000000011.pdf")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	cases := []struct {
		name string
		url  string
		hdr  func(http.Header)
	}{
		{name: "direct-from-holder", url: direct, hdr: func(h http.Header) {
			h.Set("Authorization", "Bearer bench")
			h.Set("Ssp-TraceID", uuid.NewString())
			h.Set("Ssp-From", "200000000001")
			h.Set("Ssp-InteractionID", sandboxnrl.InteractionID)
		}},
		{name: "through-facade", url: env.url + "/Binary/" + sandboxnrl.LargeDocumentPointerID, hdr: func(http.Header) {}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			fetch := func() int64 {
				req, _ := http.NewRequest(http.MethodGet, c.url, nil)
				c.hdr(req.Header)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					b.Fatalf("status %d, %v", res.StatusCode, err)
				}
				return n
			}
			size := fetch() // warm up: connections, the simulator's copy of the document
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if n := fetch(); n != size {
					b.Fatalf("%d bytes, want %d", n, size)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(peakHeapRise(fetch, 10))/1024, "peak-heap-KB")
		})
	}
}

// peakHeapRise runs fn times times, each from a freshly collected heap, and
// returns the largest rise of HeapInuse seen during one run.
func peakHeapRise(fn func() int64, times int) uint64 {
	var worst uint64
	for i := 0; i < times; i++ {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			tick := time.NewTicker(100 * time.Microsecond)
			defer tick.Stop()
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		fn()
		close(stop)
		wg.Wait()
		if p := peak.Load(); p > base.HeapInuse && p-base.HeapInuse > worst {
			worst = p - base.HeapInuse
		}
	}
	return worst
}

// A conditional read of a document the client already holds is answered
// 304 from the pointer alone: its holder is not asked (here it is down, and
// an unconditional read fails), so it records no access and costs nothing.
func TestNRLBinaryNotModifiedWithoutTheHolder(t *testing.T) {
	const path = "/Binary/Y05868-1000000091"
	first := get(t, path)
	etag := first.header.Get("ETag")
	if first.status != 200 || etag == "" {
		t.Fatalf("%d, ETag %q", first.status, etag)
	}
	env.app.Sandbox.NRL.SetFault(&sandboxnrl.Fault{Status: 500, Body: "down", ContentType: "text/plain", PathPrefix: sandboxnrl.SSPPath})
	defer env.app.Sandbox.NRL.SetFault(nil)
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		method string
		status int
	}{
		{"held: 304", map[string]string{"If-None-Match": etag}, http.MethodGet, 304},
		{"held, among others: 304", map[string]string{"If-None-Match": `W/"other", ` + etag}, http.MethodGet, 304},
		{"HEAD, held: 304", map[string]string{"If-None-Match": etag}, http.MethodHead, 304},
		{"another version: the holder is asked (and is down)", map[string]string{"If-None-Match": `W/"other"`}, http.MethodGet, 502},
		{"unconditional: the holder is asked (and is down)", nil, http.MethodGet, 502},
		{"the Binary resource is another representation: the holder is asked", map[string]string{"If-None-Match": etag, "Accept": "application/fhir+json"}, http.MethodGet, 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tc.method, path, tc.hdr, "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status == 304 && (r.header.Get("ETag") != etag || len(r.raw) != 0) {
				t.Errorf("304 with ETag %q (want %q) and %d bytes", r.header.Get("ETag"), etag, len(r.raw))
			}
		})
	}
}
