package resources_test

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	flagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/flag_go_proto"

	cpismap "github.com/carerecords/fhir-facade/mappers/cpis"
	"github.com/carerecords/fhir-facade/resources"
)

// Services that still call a flag active after its period has ended, as
// the hazard "stale flag shown as current" supposes. Every flag ends on
// 2025-03-30, the day British Summer Time began (01:00 UTC).
type staleRA struct{ resources.RAClient }

func (staleRA) Flags(_ context.Context, nhs, status string) ([]json.RawMessage, error) {
	if status != "active" {
		return nil, nil
	}
	return []json.RawMessage{json.RawMessage(`{"resourceType":"Flag","id":"` + nhs + `.1","status":"active","code":{"text":"Requires visual alert"},` +
		`"subject":{"reference":"Patient/` + nhs + `"},"period":{"end":"2025-03-30"}}`)}, nil
}

func (staleRA) Consent(context.Context, string) (json.RawMessage, error) { return nil, nil }

type staleCPIS struct{}

func (staleCPIS) CareTeams(_ context.Context, nhs string) ([]json.RawMessage, error) {
	return []json.RawMessage{json.RawMessage(`{"resourceType":"CareTeam","id":"cpis-` + nhs + `-cpp","status":"active",` +
		`"category":[{"coding":[{"system":"` + cpismap.PlanTypeSystem + `","code":"CPP"}]}],` +
		`"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}},"period":{"start":"2024-03-01","end":"2025-03-30"}}`)}, nil
}

type staleFGM struct{}

func (staleFGM) Flags(_ context.Context, nhs string) ([]json.RawMessage, error) {
	return []json.RawMessage{json.RawMessage(`{"resourceType":"Flag","id":"FGM-1","status":"active","code":{"text":"Family history of FGM"},` +
		`"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}},"period":{"start":"2019-12-10","end":"2025-03-30"}}`)}, nil
}

type staleOVM struct{}

func (staleOVM) Statuses(context.Context, string) ([]json.RawMessage, error) {
	return []json.RawMessage{json.RawMessage(`{"id":"s1","chargingCategory":"C","start":"2025-01-01","end":"2025-03-30"}`)}, nil
}

// TestFlagEndedIsNotCurrent: whatever the service says, a flag of any of
// the four services is current through the London day its period ends and
// inactive from the next London midnight: a status=active search (the
// default) leaves it out, status=inactive finds it (except RA's, which RA
// is asked for by its own status), and a read shows it inactive. The memo
// never carries a day's answer into another day.
func TestFlagEndedIsNotCurrent(t *testing.T) {
	memo, err := resources.NewMemo(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(memo.Close)
	var now time.Time
	p := resources.NewFlag(staleRA{}, staleCPIS{}, staleFGM{}, staleOVM{}, memo, resources.FlagOptions{Now: func() time.Time { return now }})
	const nhs = "9000000009"
	all := []string{"cpis", "fgm", "ovm", "ra"}
	tests := []struct {
		name     string
		now      time.Time
		active   []string // services whose flag a status=active search returns
		inactive []string // and a status=inactive search
	}{
		{name: "end day, 23:29 BST", now: time.Date(2025, 3, 30, 22, 29, 0, 0, time.UTC), active: all},
		{name: "London midnight: 23:30 UTC is already 31 March", now: time.Date(2025, 3, 30, 23, 30, 0, 0, time.UTC), inactive: []string{"cpis", "fgm", "ovm"}},
		{name: "back on the end day (memoised)", now: time.Date(2025, 3, 30, 12, 0, 0, 0, time.UTC), active: all},
		{name: "a year on", now: time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC), inactive: []string{"cpis", "fgm", "ovm"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.now
			for status, want := range map[string][]string{"active": tc.active, "inactive": tc.inactive} {
				r, err := p.Search(context.Background(), &resources.Query{Params: url.Values{"patient": {nhs}, "status": {status}}, Count: 20})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range r.Entries {
					svc, _, _ := strings.Cut(e.Resource.ID, "-")
					got = append(got, svc)
					if st := flagStatus(e.Resource.Message.(*flagpb.Flag)); st != status {
						t.Errorf("status=%s search returned %s %s", status, e.Resource.ID, st)
					}
				}
				sort.Strings(got)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("status=%s: %v, want %v", status, got, want)
				}
			}
			wantRead := "active"
			if len(tc.active) == 0 {
				wantRead = "inactive"
			}
			for _, id := range []string{"cpis-" + nhs + "-cpp", "fgm-" + nhs + "-FGM-1", "ovm-" + nhs + "-s1", "ra-" + nhs + ".1"} {
				r, err := p.Read(context.Background(), id)
				if err != nil {
					t.Fatalf("read %s: %v", id, err)
				}
				if st := flagStatus(r.Message.(*flagpb.Flag)); st != wantRead {
					t.Errorf("read %s: %s, want %s", id, st, wantRead)
				}
			}
		})
	}
}

func flagStatus(f *flagpb.Flag) string {
	return strings.ToLower(strings.ReplaceAll(f.GetStatus().GetValue().String(), "_", "-"))
}
