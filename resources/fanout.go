package resources

import (
	"context"
	"sync"

	"github.com/carerecords/fhir-facade/model/fhirerr"
)

// Source is one backend's part of a search that several backends answer
// together (Flag from RA, CP-IS and FGM-IS; Patient/$summary).
type Source struct {
	// Name is what the client is told when the source is missing ("CP-IS").
	Name string
	// Search returns this source's entries; an error makes the source missing.
	Search func(ctx context.Context) (*SearchResult, error)
}

// FanOut queries every source concurrently, so the answer takes as long as
// the slowest source, not the sum. Entries keep the order of sources. A
// source that fails leaves a warning issue naming it (never a silent gap);
// when every source fails, FanOut fails with the first source's error
// (timeouts win over other failures, as the more useful answer: 504).
func FanOut(ctx context.Context, sources []Source) (*SearchResult, error) {
	results := make([]*SearchResult, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.Search(ctx)
		}()
	}
	wg.Wait()
	out := &SearchResult{}
	var firstErr, firstTimeout error
	failed := 0
	for i, s := range sources {
		if err := errs[i]; err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			if firstTimeout == nil && fhirerr.CategoryOf(err) == fhirerr.Timeout {
				firstTimeout = err
			}
			out.Issues = append(out.Issues, Issue{
				Severity:    "warning",
				Code:        issueCodeFor(err),
				Diagnostics: s.Name + " could not be reached, so its records are missing from this answer: " + fhirerr.UserMessage(err),
			})
			continue
		}
		r := results[i]
		if r == nil {
			continue
		}
		out.Entries = append(out.Entries, r.Entries...)
		out.Total += r.Total
		out.Issues = append(out.Issues, r.Issues...)
	}
	if failed == len(sources) && failed > 0 {
		if firstTimeout != nil {
			return nil, firstTimeout
		}
		return nil, firstErr
	}
	return out, nil
}

func issueCodeFor(err error) string {
	switch fhirerr.CategoryOf(err) {
	case fhirerr.Timeout:
		return "timeout"
	case fhirerr.Throttled:
		return "throttled"
	case fhirerr.Forbidden:
		return "forbidden"
	default:
		return "incomplete"
	}
}
