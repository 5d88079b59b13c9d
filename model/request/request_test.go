package request_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/carerecords/fhir-facade/model/request"
)

func TestFromWithoutInfo(t *testing.T) {
	a, b := request.From(context.Background()), request.From(context.Background())
	if a == nil || a == b {
		t.Fatalf("From without an Info = %p, %p; want two fresh values (one caller's change must not reach another)", a, b)
	}
	if _, ok := request.Lookup(context.Background()); ok {
		t.Error("Lookup found an Info in an empty context")
	}
	if !a.AllowedType("Flag") || a.UnscheduledOr(true) != true || a.UnscheduledOr(false) != false {
		t.Error("an empty Info restricts something")
	}
}

// A variant made for some calls (Derive, WithNoCache) never changes the
// server's value, which other goroutines read.
func TestDeriveLeavesTheOriginal(t *testing.T) {
	orig := &request.Info{ID: "req-1", CachePartition: "R8000|A1||iss", Forward: http.Header{"Nhsd-Session-Urid": {"1"}}}
	orig.Subjects.Note("9000000009")
	ctx := request.With(context.Background(), orig)
	tests := []struct {
		name  string
		ctx   context.Context
		check func(*request.Info) bool
	}{
		{name: "no cache", ctx: request.WithNoCache(ctx), check: func(i *request.Info) bool { return i.NoCache }},
		{name: "unscheduled", ctx: request.Derive(ctx, func(i *request.Info) { v := true; i.Unscheduled = &v }),
			check: func(i *request.Info) bool { return i.UnscheduledOr(false) }},
		{name: "allowed", ctx: request.Derive(ctx, func(i *request.Info) { i.Allowed = func(t string) bool { return t == "Flag" } }),
			check: func(i *request.Info) bool { return i.AllowedType("Flag") && !i.AllowedType("Immunization") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := request.From(tt.ctx)
			if got == orig || !tt.check(got) {
				t.Fatalf("the derived value does not say it: %+v", got)
			}
			if got.ID != "req-1" || got.CachePartition != orig.CachePartition || got.Forward.Get("NHSD-Session-URID") != "1" {
				t.Errorf("the derived value lost the request's facts: %+v", got)
			}
			if request.From(ctx) != orig || orig.NoCache || orig.Unscheduled != nil || orig.Allowed != nil {
				t.Errorf("the original changed: %+v", orig)
			}
		})
	}
	nc := request.WithNoCache(ctx)
	if request.WithNoCache(nc) != nc {
		t.Error("WithNoCache on a no-cache context made another value")
	}
}

func TestSubjects(t *testing.T) {
	var s request.Subjects
	s.Note("9000000017", "", "9000000009", "9000000017")
	if got := s.List(); !slices.Equal(got, []string{"9000000009", "9000000017"}) || s.Len() != 2 {
		t.Errorf("List = %v, Len = %d", got, s.Len())
	}
	in := []string{"9000000025", "9000000009"}
	if got := s.Unalias(in); !slices.Equal(got, in) {
		t.Errorf("Unalias without aliases = %v", got)
	}
	s.Alias("9000000033", "9000000025")
	if got := s.Unalias(in); !slices.Equal(got, []string{"9000000033", "9000000009"}) || in[0] != "9000000025" {
		t.Errorf("Unalias = %v (input now %v)", got, in)
	}
	if _, known := s.Restricted("9000000009"); known {
		t.Error("a restriction known before any was noted")
	}
	s.SetRestricted("9000000009", true)
	s.SetRestricted("9000000017", false)
	if r, known := s.Restricted("9000000009"); !r || !known {
		t.Error("restricted patient not noted")
	}
	if r, known := s.Restricted("9000000017"); r || !known {
		t.Error("unrestricted patient not noted")
	}
}
