package resources_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/backends/nrl"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

// fakeFetcher records what it was asked to fetch and answers with a small body.
type fakeFetcher struct {
	targets []nrl.Target
	err     error
}

func (f *fakeFetcher) Fetch(_ context.Context, t nrl.Target) (*nrl.Document, error) {
	f.targets = append(f.targets, t)
	if f.err != nil {
		return nil, f.err
	}
	return &nrl.Document{ContentType: t.ContentType, Size: 3, Body: io.NopCloser(strings.NewReader("doc"))}, nil
}

func TestBinaryReadStream(t *testing.T) {
	nrlFake := &fakeNRL{pointers: []string{
		pointerJSON("Y05868-1", "9000000009", "736253002"),
		pointerJSON("Y05868-7.1", "9000000009", "736253002"), // an NRL id that itself ends in .<digits>
	}}
	tests := []struct {
		name     string
		id       string
		reads    string // pointer ids read, comma-separated
		url      string // URL fetched
		ctype    string
		fetchErr error
		category fhirerr.Category // 0: success
	}{
		{name: "content[0]", id: "Y05868-1", reads: "Y05868-1", url: "https%3A%2F%2Fh.example%2FY05868-1.pdf", ctype: "application/pdf"},
		{name: "content[1]", id: "Y05868-1.1", reads: "Y05868-1", url: "https%3A%2F%2Fh.example%2FY05868-1.json", ctype: "application/fhir+json"},
		{name: "pointer id ending in .1", id: "Y05868-7.1", reads: "Y05868-7,Y05868-7.1", url: "https%3A%2F%2Fh.example%2FY05868-7.1.pdf", ctype: "application/pdf"},
		{name: "no such content", id: "Y05868-1.5", reads: "Y05868-1", category: fhirerr.NotFound},
		{name: "no such pointer", id: "Y05868-9", reads: "Y05868-9", category: fhirerr.NotFound},
		{name: "not an NRL id", id: "9000000009", category: fhirerr.NotFound},
		{name: "holder unreachable", id: "Y05868-1", reads: "Y05868-1", fetchErr: fhirerr.New(fhirerr.BadGateway, "down"), category: fhirerr.BadGateway},
		{name: "holder slow", id: "Y05868-1", reads: "Y05868-1", fetchErr: fhirerr.New(fhirerr.Timeout, "slow"), category: fhirerr.Timeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nrlFake.reads = nil
			ff := &fakeFetcher{err: tc.fetchErr}
			st, err := resources.NewBinary(nrlFake, ff).ReadStream(context.Background(), tc.id, admitAll)
			if got := strings.Join(nrlFake.reads, ","); got != tc.reads {
				t.Errorf("pointer reads %q, want %q", got, tc.reads)
			}
			if tc.category != 0 {
				if fhirerr.CategoryOf(err) != tc.category {
					t.Fatalf("err = %v, want category %d", err, tc.category)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Body.Close()
			if len(ff.targets) != 1 || !strings.HasSuffix(ff.targets[0].URL, tc.url) || st.ContentType != tc.ctype || st.Size != 3 {
				t.Errorf("fetched %+v, stream %s %d", ff.targets, st.ContentType, st.Size)
			}
		})
	}
}

// admitAll admits every patient's document.
func admitAll(string, string) error { return nil }

// TestBinaryAdmitsBeforeFetching: the document's patient is admitted (or
// refused) before its holder is asked, so a refused caller makes no
// request of the holder, whether the holder has the document or not.
func TestBinaryAdmitsBeforeFetching(t *testing.T) {
	nrlFake := &fakeNRL{pointers: []string{pointerJSON("Y05868-1", "9000000009", "736253002")}}
	refuse := fhirerr.New(fhirerr.Forbidden, "not this patient")
	for _, fetchErr := range []error{nil, fhirerr.New(fhirerr.NotFound, "gone"), fhirerr.New(fhirerr.BadGateway, "down")} {
		ff := &fakeFetcher{err: fetchErr}
		var asked []string
		_, err := resources.NewBinary(nrlFake, ff).ReadStream(context.Background(), "Y05868-1", func(p, _ string) error {
			asked = append(asked, p)
			return refuse
		})
		if err != refuse {
			t.Errorf("holder error %v: err = %v, want the refusal itself", fetchErr, err)
		}
		if len(ff.targets) != 0 {
			t.Errorf("holder error %v: the holder was asked for %v before the patient was admitted", fetchErr, ff.targets)
		}
		if strings.Join(asked, ",") != "9000000009" {
			t.Errorf("admitted %v, want the pointer's subject", asked)
		}
	}
}

func TestBinaryNRLErrorsPassThrough(t *testing.T) {
	f := &fakeNRL{readErr: map[string]error{"Y05868-1": fhirerr.New(fhirerr.Forbidden, "NRL refused access")}}
	_, err := resources.NewBinary(f, &fakeFetcher{}).ReadStream(context.Background(), "Y05868-1", admitAll)
	if fhirerr.CategoryOf(err) != fhirerr.Forbidden {
		t.Errorf("err = %v", err)
	}
}

func TestBinaryIsAStreamerOnly(t *testing.T) {
	var p resources.Provider = resources.NewBinary(&fakeNRL{}, &fakeFetcher{})
	if _, ok := p.(resources.Reader); ok {
		t.Error("Binary is a Reader: the server would render it as JSON")
	}
	if _, ok := p.(resources.Searcher); ok {
		t.Error("Binary is a Searcher")
	}
	if p.ResourceType() != "Binary" || p.Documentation() == "" {
		t.Errorf("%s %q", p.ResourceType(), p.Documentation())
	}
}

// TestBinaryVersion: a document's Version names its pointer and the
// content's index (another for each content, another when the pointer
// changes); its SecurityContext is the DocumentReference.
func TestBinaryVersion(t *testing.T) {
	read := func(nrlFake *fakeNRL, id string) *resources.Stream {
		t.Helper()
		st, err := resources.NewBinary(nrlFake, &fakeFetcher{}).ReadStream(context.Background(), id, admitAll)
		if err != nil {
			t.Fatal(err)
		}
		st.Body.Close()
		return st
	}
	one := &fakeNRL{pointers: []string{pointerJSON("Y05868-1", "9000000009", "736253002")}}
	other := &fakeNRL{pointers: []string{pointerJSON("Y05868-1", "9000000009", "1382601000000107")}}
	c0, again, c1, changed := read(one, "Y05868-1"), read(one, "Y05868-1"), read(one, "Y05868-1.1"), read(other, "Y05868-1")
	if c0.Version == "" || c0.Version != again.Version {
		t.Errorf("the same pointer read twice: versions %q, %q", c0.Version, again.Version)
	}
	if c1.Version == c0.Version || changed.Version == c0.Version {
		t.Errorf("content[1] %q and a changed pointer %q share content[0]'s version %q", c1.Version, changed.Version, c0.Version)
	}
	if c0.SecurityContext != "DocumentReference/Y05868-1" || c1.SecurityContext != "DocumentReference/Y05868-1" {
		t.Errorf("securityContext %q, %q", c0.SecurityContext, c1.SecurityContext)
	}
}
