package declared_test

import (
	"testing"

	"github.com/carerecords/fhir-facade/mappers/declared"
	"github.com/carerecords/fhir-facade/profiles/ukcore"
)

// TestProfilesAreEmbedded: each profile declared is the UK Core profile of
// that type that the checker embeds, so a resource declaring it is checked.
func TestProfilesAreEmbedded(t *testing.T) {
	all := declared.Profiles()
	all["Composition"] = declared.Composition
	for typ, want := range all {
		if got, ok := ukcore.ProfileFor(typ); !ok || got != want {
			t.Errorf("%s: declares %s, the checker embeds %q", typ, want, got)
		}
	}
	if _, ok := declared.Profile("Binary"); ok {
		t.Error("Binary has no UK Core profile")
	}
}
