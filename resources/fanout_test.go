package resources_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/resources"
)

func source(name string, n int, delay time.Duration, err error) resources.Source {
	return resources.Source{Name: name, Search: func(ctx context.Context) (*resources.SearchResult, error) {
		time.Sleep(delay)
		if err != nil {
			return nil, err
		}
		r := &resources.SearchResult{Total: n}
		for i := 0; i < n; i++ {
			r.Entries = append(r.Entries, resources.SearchEntry{Resource: &resources.Resource{Type: "Flag", ID: name + string(rune('a'+i))}})
		}
		return r, nil
	}}
}

// A missing source is an error issue with code incomplete (issue #16: it
// was a warning with a code per cause, easy to show as "none"), naming the
// source and why, and never the backend's own detail.
func TestFanOut(t *testing.T) {
	timeout := &fhirerr.Error{Category: fhirerr.Timeout, Message: "did not answer in time"}
	broken := &fhirerr.Error{Category: fhirerr.BadGateway, Message: "failed"}
	truncated := &fhirerr.Error{Category: fhirerr.BadGateway, Message: "the cpis service sent a truncated response", Err: errors.New("total 3 at cpis.internal")}
	refused := &fhirerr.Error{Category: fhirerr.Forbidden, Message: "FGM-IS refused access"}
	tests := []struct {
		name     string
		sources  []resources.Source
		entries  string
		missing  int // sources named by an issue
		warnings []string
		errCat   fhirerr.Category
		wantErr  bool
	}{
		{name: "all answer, in source order", sources: []resources.Source{source("RA", 2, 20*time.Millisecond, nil), source("CP-IS", 1, 0, nil)}, entries: "RAa,RAb,CP-ISa"},
		{name: "one times out", sources: []resources.Source{source("RA", 1, 0, nil), source("CP-IS", 0, 0, timeout)}, entries: "RAa", missing: 1,
			warnings: []string{"CP-IS could not be reached or read: its records are missing from this answer: did not answer in time"}},
		{name: "one truncated", sources: []resources.Source{source("RA", 1, 0, nil), source("CP-IS", 0, 0, truncated)}, entries: "RAa", missing: 1,
			warnings: []string{"CP-IS could not be reached or read", "a truncated response"}},
		{name: "one refuses", sources: []resources.Source{source("RA", 1, 0, nil), source("FGM-IS", 0, 0, refused)}, entries: "RAa", missing: 1,
			warnings: []string{"FGM-IS could not be reached or read", "refused access"}},
		{name: "two missing, each named", sources: []resources.Source{source("RA", 1, 0, broken), source("CP-IS", 1, 0, nil), source("FGM-IS", 0, 0, timeout)}, entries: "CP-ISa", missing: 2,
			warnings: []string{"RA could not be reached or read", "FGM-IS could not be reached or read"}},
		{name: "internal detail hidden", sources: []resources.Source{source("RA", 1, 0, nil), source("FGM-IS", 0, 0, errors.New("secret detail"))}, entries: "RAa", missing: 1, warnings: []string{"FGM-IS", "internal error"}},
		{name: "all fail, timeout wins", sources: []resources.Source{source("RA", 0, 0, broken), source("CP-IS", 0, 0, timeout)}, wantErr: true, errCat: fhirerr.Timeout},
		{name: "all fail", sources: []resources.Source{source("RA", 0, 0, broken)}, wantErr: true, errCat: fhirerr.BadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resources.FanOut(context.Background(), tt.sources)
			if tt.wantErr {
				if fhirerr.CategoryOf(err) != tt.errCat {
					t.Fatalf("err %v, want category %v", err, tt.errCat)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got.Entries {
				ids = append(ids, e.Resource.ID)
			}
			if strings.Join(ids, ",") != tt.entries || got.Total != len(ids) {
				t.Errorf("entries %v total %d, want %s", ids, got.Total, tt.entries)
			}
			var text string
			for _, is := range got.Issues {
				if is.Severity != "error" || is.Code != "incomplete" {
					t.Errorf("issue %s/%s, want error/incomplete", is.Severity, is.Code)
				}
				text += is.Diagnostics
			}
			if len(got.Issues) != tt.missing {
				t.Errorf("%d issues, want one per missing source: %+v", len(got.Issues), got.Issues)
			}
			for _, w := range tt.warnings {
				if !strings.Contains(text, w) {
					t.Errorf("issues %q lack %q", text, w)
				}
			}
			if strings.Contains(text, "secret detail") || strings.Contains(text, "cpis.internal") {
				t.Error("internal error detail reached the client")
			}
		})
	}
}

// The sources run at the same time: each waits until all three have
// started, which would never happen if they ran one after another.
func TestFanOutIsParallel(t *testing.T) {
	var started sync.WaitGroup
	started.Add(3)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	barrier := func(name string) resources.Source {
		return resources.Source{Name: name, Search: func(ctx context.Context) (*resources.SearchResult, error) {
			started.Done()
			select {
			case <-all:
				return &resources.SearchResult{}, nil
			case <-time.After(10 * time.Second):
				return nil, fhirerr.New(fhirerr.Timeout, "%s waited alone: sources are not concurrent", name)
			}
		}}
	}
	got, err := resources.FanOut(context.Background(), []resources.Source{barrier("a"), barrier("b"), barrier("c")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Issues) != 0 {
		t.Errorf("issues: %+v", got.Issues)
	}
}

// Sources' own issues pass through, each once: $summary's AllergyIntolerance
// and MedicationStatement both report the SCR's consent.
func TestFanOutKeepsSourceIssuesOnce(t *testing.T) {
	consent := resources.Issue{Severity: "warning", Code: "suppressed", Diagnostics: "consent withheld"}
	with := func(name string, is ...resources.Issue) resources.Source {
		return resources.Source{Name: name, Search: func(context.Context) (*resources.SearchResult, error) {
			return &resources.SearchResult{Issues: is}, nil
		}}
	}
	info := resources.Issue{Severity: "information", Code: "informational", Diagnostics: "no relevant information"}
	got, err := resources.FanOut(context.Background(), []resources.Source{with("AllergyIntolerance", consent), with("MedicationStatement", consent, info)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Issues) != 2 || got.Issues[0] != consent || got.Issues[1] != info {
		t.Errorf("issues %+v", got.Issues)
	}
}
