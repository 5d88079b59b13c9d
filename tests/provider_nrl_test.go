package tests

// The NRL-backed providers (DocumentReference, Binary) over the NRL
// simulator, moved from resources/ (#18: only cmd/ and tests/ import
// sandbox/): every pointer of a generated population must map, which only
// the simulator can supply; the provider-level cases sit beside it.

import (
	"context"
	"crypto/sha1"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"

	"github.com/carerecords/fhir-facade/backends/nrl"
	"github.com/carerecords/fhir-facade/backends/upstream"
	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/profiles"
	"github.com/carerecords/fhir-facade/resources"
	sandboxnrl "github.com/carerecords/fhir-facade/sandbox/nrl"
	"github.com/carerecords/fhir-facade/sandbox/population"
)

var (
	nrlSimOnce sync.Once
	nrlSimURL  string
)

// nrlSimulator is one NRL simulator over a small population plus the
// reserved patients, shared by the tests of this file.
func nrlSimulator(t *testing.T) string {
	t.Helper()
	nrlSimOnce.Do(func() {
		s := sandboxnrl.New(sandboxnrl.Options{Population: population.Generate(11, 300)})
		nrlSimURL = httptest.NewServer(s).URL
	})
	return nrlSimURL
}

func nrlClients(t *testing.T) (*nrl.Client, *nrl.Fetcher) {
	t.Helper()
	base := nrlSimulator(t)
	up, err := upstream.New(upstream.Config{Name: nrl.Name, BaseURL: base + sandboxnrl.BasePath, Token: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ssp, err := upstream.New(upstream.Config{Name: "nrl-ssp", BaseURL: base + sandboxnrl.SSPPath, Token: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := nrl.NewFetcher(ssp, nrl.FetcherOptions{SSPBaseURL: base + sandboxnrl.SSPPath})
	if err != nil {
		t.Fatal(err)
	}
	return nrl.New(up, nrl.Options{}), f
}

// Every pointer the simulator serves (reserved patients and a synthetic
// population) maps to a DocumentReference valid against the R4 schema,
// with no holder or proxy URL in it.
func TestEverySimulatedPointerMaps(t *testing.T) {
	client, _ := nrlClients(t)
	p := resources.NewDocumentReference(client, nil)
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	patients := []string{"9000000009", "4409815415", sandboxnrl.EdgeCaseNHSNumber}
	for _, person := range population.Generate(11, 300) {
		patients = append(patients, person.NHSNumber)
	}
	mapped := 0
	for _, nhs := range patients {
		got, err := providerSearch(t, p, "patient="+nhs)
		if err != nil {
			t.Fatalf("%s: %v", nhs, err)
		}
		for _, e := range got.Entries {
			b, err := m.MarshalResource(e.Resource.Message)
			if err != nil {
				t.Fatal(err)
			}
			if err := profiles.Validate(b); err != nil {
				t.Errorf("%s: %v", e.Resource.ID, err)
			}
			if strings.Contains(string(b), "/ssp/") || strings.Contains(string(b), "example.nhs.uk") || strings.Contains(string(b), "127.0.0.1") {
				t.Errorf("%s hands out a proxy or holder URL: %s", e.Resource.ID, b)
			}
			mapped++
		}
	}
	if mapped < 30 {
		t.Errorf("only %d pointers mapped", mapped)
	}
}

func TestDocumentReferenceAgainstTheSimulator(t *testing.T) {
	client, _ := nrlClients(t)
	memo, err := resources.NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer memo.Close()
	p := resources.NewDocumentReference(client, memo)
	got, err := providerSearch(t, p, "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|"+sandboxnrl.EdgeCaseNHSNumber)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 24 || got.Total != 24 || len(got.Issues) != 0 {
		t.Errorf("%d entries, total %d, issues %v; want all 24 pointers of both NRL pages", len(got.Entries), got.Total, got.Issues)
	}
	_, err = providerSearch(t, p, "patient=9000000009&type=http://snomed.info/sct|410970009")
	if e := fhirerr.As(err); e == nil || e.Category != fhirerr.Invalid || e.Expression != "type" || e.Details == nil || e.Details.Code != "INVALID_CODE_SYSTEM" {
		t.Errorf("unknown type: %#v", e)
	}
	res, err := p.Read(context.Background(), "Y05868-1234567892")
	if err != nil || res.ID != "Y05868-1234567892" {
		t.Fatalf("read: %v %v", res, err)
	}
	if _, err := p.Read(context.Background(), "Y05861-1234567800"); fhirerr.CategoryOf(err) != fhirerr.NotFound {
		t.Errorf("unknown id: %v", err)
	}
}

func TestBinaryAgainstTheSimulator(t *testing.T) {
	client, fetcher := nrlClients(t)
	b := resources.NewBinary(client, fetcher)
	tests := []struct {
		name     string
		id       string
		ctype    string
		minSize  int
		category fhirerr.Category
	}{
		{name: "crisis plan", id: "Y05868-1000000091", ctype: "application/pdf"},
		{name: "structured summary", id: "Y07213-1000000107", ctype: "application/fhir+json"},
		{name: "its PDF", id: "Y07213-1000000107.1", ctype: "application/pdf"},
		{name: "ReSPECT form", id: "Y04531-1000000114", ctype: "application/pdf"},
		{name: "large record", id: sandboxnrl.LargeDocumentPointerID, ctype: "application/pdf", minSize: sandboxnrl.LargeDocumentSize - 1024},
		{name: "holder down", id: sandboxnrl.HolderDownPointerID, category: fhirerr.BadGateway},
		{name: "document gone", id: sandboxnrl.MissingDocumentPointerID, category: fhirerr.NotFound},
		{name: "unknown pointer", id: "Y05861-1234567800", category: fhirerr.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := b.ReadStream(context.Background(), tc.id, func(string, string) error { return nil })
			if tc.category != 0 {
				if fhirerr.CategoryOf(err) != tc.category {
					t.Fatalf("err = %v, want category %d", err, tc.category)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := sha1.New()
			n, err := io.Copy(h, st.Body)
			st.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if st.ContentType != tc.ctype || n < int64(tc.minSize) || st.Size != n {
				t.Errorf("%s, %d bytes (size %d)", st.ContentType, n, st.Size)
			}
		})
	}
}
