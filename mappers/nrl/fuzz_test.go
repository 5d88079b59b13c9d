package nrl_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/mappers/nrl"
	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// FuzzDocumentReference: whatever NRL sends, mapping never panics, fails
// only with a BadGateway fhirerr, and never hands out a URL that is not the
// facade's Binary.
func FuzzDocumentReference(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.in.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"DocumentReference","id":"a-1","content":[{"attachment":{"url":"x"}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := nrl.Decode(raw)
		if err == nil {
			doc, merr := nrl.DocumentReference(p)
			err = merr
			if merr == nil {
				for _, c := range doc.GetContent() {
					if u := c.GetAttachment().GetUrl().GetValue(); u != "" && !strings.HasPrefix(u, "Binary/") {
						t.Fatalf("hands out %q", u)
					}
				}
			}
		}
		if err != nil && fhirerr.CategoryOf(err) != fhirerr.BadGateway {
			t.Fatalf("error of category %d: %v", fhirerr.CategoryOf(err), err)
		}
	})
}

// FuzzParseBinaryID: every reading of an id names it back.
func FuzzParseBinaryID(f *testing.F) {
	for _, s := range []string{"Y05868-1", "Y05868-1.2", "Y05868-1.0", ".1", "a.", "Y05868-1.12345", "x.+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		refs := nrl.ParseBinaryID(id)
		if len(refs) == 0 || len(refs) > 2 || refs[len(refs)-1] != (nrl.ContentRef{PointerID: id}) {
			t.Fatalf("ParseBinaryID(%q) = %+v", id, refs)
		}
		if len(refs) == 2 {
			r := refs[0]
			if r.Index < 1 || r.PointerID+"."+strconv.Itoa(r.Index) != id {
				t.Fatalf("ParseBinaryID(%q)[0] = %+v", id, r)
			}
			if len(id) <= 64 && nrl.BinaryID(r.PointerID, r.Index) != id {
				t.Fatalf("BinaryID does not give back %q", id)
			}
		}
	})
}
