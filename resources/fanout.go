package resources

import (
	"context"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/carerecords/fhir-facade/model/fhirerr"
	"github.com/carerecords/fhir-facade/tracing"
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
// source that fails (an error, a timeout, an answer its client found empty,
// cut short or unreadable) is never a silent gap: an issue of severity
// error and code incomplete names it (MissingSource). Issues repeated by
// several sources (the SCR's consent, say) are kept once. When every source
// fails, FanOut fails with the first source's error (timeouts win over
// other failures, as the more useful answer: 504).
func FanOut(ctx context.Context, sources []Source) (*SearchResult, error) {
	results := make([]*SearchResult, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One span per source, so a trace shows which was slow or failed.
			sctx, span := tracing.Start(ctx, "fanout "+s.Name, attribute.String("fanout.source", s.Name))
			results[i], errs[i] = s.Search(sctx)
			endSpan(span, errs[i])
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
			out.Issues = appendIssue(out.Issues, MissingSource(s.Name, err))
			continue
		}
		r := results[i]
		if r == nil {
			continue
		}
		out.Entries = append(out.Entries, r.Entries...)
		out.Total += r.Total
		for _, is := range r.Issues {
			out.Issues = appendIssue(out.Issues, is)
		}
	}
	if failed == len(sources) && failed > 0 {
		if firstTimeout != nil {
			return nil, firstTimeout
		}
		return nil, firstErr
	}
	return out, nil
}

// MissingSource is the issue naming a source whose records are missing from
// an answer because err stopped it being read. Whatever the cause (down,
// timed out, refused, an empty, truncated or malformed answer) it is an
// error with code incomplete, the one code a client has to check for
// partial results; the diagnostics say why, without the backend's own
// words, URL or any patient data (fhirerr.UserMessage). Its wording, "<name>
// could not be reached or read … missing from this answer: <why>", is what
// the summary viewer reads the source's name and the reason from.
func MissingSource(name string, err error) Issue {
	return Issue{
		Severity:    "error",
		Code:        "incomplete",
		Diagnostics: name + " could not be reached or read: its records are missing from this answer: " + fhirerr.UserMessage(err),
	}
}

// appendIssue appends is unless issues hold it already.
func appendIssue(issues []Issue, is Issue) []Issue {
	if slices.Contains(issues, is) {
		return issues
	}
	return append(issues, is)
}

// endSpan ends a fan-out span, marked failed without err's message, which
// may carry what a span must not (the backend's own words).
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, "source failed")
	}
	span.End()
}
