package tests

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/carerecords/fhir-facade/sandbox/population"
)

// patchable returns a synthetic patient nobody else's test touches: alive,
// unrestricted, from the end of the population.
func patchable(t *testing.T, skip int) string {
	t.Helper()
	pop := population.Default()
	for i := len(pop) - 1; i >= 0; i-- {
		if p := pop[i]; !p.Restricted && !p.Deceased() {
			if skip == 0 {
				return p.NHSNumber
			}
			skip--
		}
	}
	t.Fatal("no patchable patient in the population")
	return ""
}

func patchHeaders(etag string) map[string]string {
	// Editing demographics is the admin/clerical role's.
	h := map[string]string{"Content-Type": "application/json-patch+json", "Authorization": bearer("admin")}
	if etag != "" {
		h["If-Match"] = etag
	}
	return h
}

func TestPatchPatient(t *testing.T) {
	nhs := patchable(t, 0)
	before := get(t, "/Patient/"+nhs)
	if before.status != 200 {
		t.Fatalf("read: %d", before.status)
	}
	etag := before.header.Get("ETag")
	newGender := "male"
	if before.body["gender"] == "male" {
		newGender = "female"
	}
	ok := call(t, "PATCH", "/Patient/"+nhs, patchHeaders(etag), `[{"op":"replace","path":"/gender","value":"`+newGender+`"}]`)
	if ok.status != 200 || ok.body["gender"] != newGender {
		t.Fatalf("patch: %d %s", ok.status, ok.raw)
	}
	if ok.header.Get("ETag") == etag || ok.header.Get("ETag") == "" {
		t.Errorf("ETag after patch %q (before %q)", ok.header.Get("ETag"), etag)
	}
	after := get(t, "/Patient/"+nhs)
	if after.body["gender"] != newGender || after.header.Get("ETag") != ok.header.Get("ETag") {
		t.Errorf("read after patch: %v %s", after.body["gender"], after.header.Get("ETag"))
	}

	tests := []struct {
		name   string
		nhs    string
		hdr    map[string]string
		body   string
		status int
		code   string
	}{
		{name: "lost update refused", nhs: nhs, hdr: patchHeaders(etag), body: `[{"op":"replace","path":"/gender","value":"female"}]`, status: 412, code: "conflict"},
		{name: "no If-Match", nhs: nhs, hdr: patchHeaders(""), body: `[{"op":"replace","path":"/gender","value":"female"}]`, status: 428, code: "required"},
		{name: "wrong media type", nhs: nhs, hdr: map[string]string{"Content-Type": "application/json", "If-Match": ok.header.Get("ETag"), "Authorization": bearer("admin")}, body: `[]`, status: 415, code: "not-supported"},
		{name: "not a JSON Patch", nhs: nhs, hdr: patchHeaders(ok.header.Get("ETag")), body: `{"gender":"male"}`, status: 400, code: "invalid"},
		{name: "invalid result", nhs: nhs, hdr: patchHeaders(ok.header.Get("ETag")), body: `[{"op":"replace","path":"/gender","value":"purple"}]`, status: 422, code: "processing"},
		{name: "read-only element", nhs: nhs, hdr: patchHeaders(ok.header.Get("ETag")), body: `[{"op":"replace","path":"/id","value":"9000000009"}]`, status: 422, code: "processing"},
		{name: "failed test op", nhs: nhs, hdr: patchHeaders(ok.header.Get("ETag")), body: `[{"op":"test","path":"/gender","value":"nonsense"}]`, status: 422, code: "processing"},
		{name: "restricted patient", nhs: "9000000025", hdr: patchHeaders(get(t, "/Patient/9000000025").header.Get("ETag")), body: `[{"op":"replace","path":"/gender","value":"male"}]`, status: 403, code: "forbidden"},
		{name: "invalid NHS number", nhs: "9000000000", hdr: patchHeaders(`W/"1"`), body: `[{"op":"replace","path":"/gender","value":"male"}]`, status: 400, code: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "PATCH", "/Patient/"+tt.nhs, tt.hdr, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if is := outcomeIssue(t, r); is["code"] != tt.code {
				t.Errorf("issue.code %v, want %s", is["code"], tt.code)
			}
		})
	}
	if final := get(t, "/Patient/"+nhs); final.header.Get("ETag") != ok.header.Get("ETag") {
		t.Errorf("a refused patch changed the record: ETag %s", final.header.Get("ETag"))
	}
}

// Concurrent patches of the same version: exactly one wins, the others are
// told the record changed, and the version moves on by exactly one.
func TestPatchConcurrentSameVersion(t *testing.T) {
	nhs := patchable(t, 1)
	before := get(t, "/Patient/"+nhs)
	etag := before.header.Get("ETag")
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`[{"op":"replace","path":"/gender","value":"%s"}]`, []string{"male", "female"}[i%2])
			req, _ := http.NewRequest("PATCH", env.url+"/Patient/"+nhs, stringsReader(body))
			for k, v := range patchHeaders(etag) {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	wg.Wait()
	wins, conflicts := 0, 0
	for _, s := range statuses {
		switch s {
		case 200:
			wins++
		case 412:
			conflicts++
		}
	}
	if wins != 1 || conflicts != n-1 {
		t.Errorf("statuses %v: want one 200 and %d 412s", statuses, n-1)
	}
	after := get(t, "/Patient/"+nhs)
	if after.body["meta"].(map[string]any)["versionId"] == before.body["meta"].(map[string]any)["versionId"] {
		t.Error("the version did not move")
	}
}
