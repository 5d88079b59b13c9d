package pds_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// TestRelatedPeople: the client asks PDS's GET /Patient/{nhs}/RelatedPerson
// and returns its searchset as sent; PDS's errors are mapped as for read;
// an invalid NHS number is never sent.
func TestRelatedPeople(t *testing.T) {
	const bundle = `{"resourceType":"Bundle","type":"searchset","total":0}`
	tests := []struct {
		name  string
		nhs   string
		a     answer
		want  fhirerr.Category
		fails bool
		hits  int32
	}{
		{name: "searchset", nhs: "9000000009", a: answer{status: 200, body: []byte(bundle)}, hits: 1},
		{name: "404 RESOURCE_NOT_FOUND", nhs: "9111231130", a: answer{status: 404, body: readTestdata(t, "RESOURCE_NOT_FOUND.json")}, want: fhirerr.NotFound, fails: true, hits: 1},
		{name: "404 INVALIDATED_RESOURCE", nhs: "9000000068", a: answer{status: 404, body: readTestdata(t, "INVALIDATED_RESOURCE.json")}, want: fhirerr.Gone, fails: true, hits: 1},
		{name: "400 INVALID_RESOURCE_ID", nhs: "9000000009", a: answer{status: 400, body: readTestdata(t, "INVALID_RESOURCE_ID.json")}, want: fhirerr.Invalid, fails: true, hits: 1},
		{name: "200 not JSON", nhs: "9000000009", a: answer{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: []byte("<html>")}, want: fhirerr.BadGateway, fails: true, hits: 1},
		{name: "invalid NHS number: not sent", nhs: "9000000000", a: answer{status: 200, body: []byte(bundle)}, want: fhirerr.Invalid, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePDS(t, tt.a)
			got, err := newClient(t, f).RelatedPeople(context.Background(), tt.nhs)
			if (err != nil) != tt.fails || (tt.fails && fhirerr.CategoryOf(err) != tt.want) {
				t.Fatalf("err = %v, want fails %v, %v", err, tt.fails, tt.want)
			}
			if !tt.fails && !bytes.Equal(got, tt.a.body) {
				t.Errorf("body %s", got)
			}
			if n := f.hits.Load(); n != tt.hits {
				t.Fatalf("PDS had %d requests, want %d", n, tt.hits)
			}
			if tt.hits > 0 {
				if p := f.last.Load().URL.Path; p != basePath+"/Patient/"+tt.nhs+"/RelatedPerson" {
					t.Errorf("path %s", p)
				}
			}
		})
	}
}
