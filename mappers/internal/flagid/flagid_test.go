package flagid

import (
	"strings"
	"testing"
)

func TestNewAndPatient(t *testing.T) {
	long := strings.Repeat("x", 70)
	tests := []struct {
		name, prefix string
		sep          byte
		backend      string
		want         string
	}{
		{"fits", "fgm-", '-', "abc-123", "fgm-9000000009-abc-123"},
		{"dot separator", "ra-", '.', "1512d9fd", "ra-9000000009.1512d9fd"},
		{"too long: hashed", "ovm-", '-', long, "ovm-9000000009-h"},
		{"not id characters: hashed", "cpis-", '-', "a b/c", "cpis-9000000009-h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := New(tt.prefix, "9000000009", tt.sep, tt.backend)
			if !strings.HasPrefix(id, tt.want) || (!strings.HasSuffix(tt.want, "-h") && id != tt.want) {
				t.Fatalf("New = %q, want %q…", id, tt.want)
			}
			if len(id) > 64 {
				t.Errorf("id %q longer than 64", id)
			}
			if id != New(tt.prefix, "9000000009", tt.sep, tt.backend) {
				t.Error("not deterministic")
			}
			if nhs, ok := Patient(tt.prefix, tt.sep, id); !ok || nhs != "9000000009" {
				t.Errorf("Patient(%q) = %q, %v", id, nhs, ok)
			}
		})
	}
	for _, bad := range []string{"", "fgm-", "fgm-9000000009", "fgm-9000000000-x", "ovm-9000000009-x", "fgm-9000000009.x"} {
		if _, ok := Patient("fgm-", '-', bad); ok {
			t.Errorf("Patient(%q) accepted", bad)
		}
	}
}
