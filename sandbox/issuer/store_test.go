package issuer

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s := newStore[string](2)
	a, err := s.put("a", t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.put("b", t0, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if a == b || len(a) != 43 {
		t.Errorf("ids %q %q", a, b)
	}
	if _, err := s.put("c", t0, t0.Add(time.Minute)); !errors.Is(err, errFull) {
		t.Errorf("put into a full store: %v", err)
	}
	if v, r := s.take(a, t0); r != taken || v != "a" {
		t.Errorf("take = %q %v", v, r)
	}
	if v, r := s.take(a, t0.Add(time.Second)); r != reused || v != "" {
		t.Errorf("second take = %q %v", v, r)
	}
	if _, r := s.take("nope", t0); r != unknown {
		t.Errorf("unknown id: %v", r)
	}
	if _, r := s.take("", t0); r != unknown {
		t.Errorf("empty id: %v", r)
	}
	// A spent entry still counts until it expires; then a put drops it.
	if _, err := s.put("c", t0.Add(59*time.Second), t0.Add(2*time.Minute)); !errors.Is(err, errFull) {
		t.Errorf("put before expiry: %v", err)
	}
	if _, err := s.put("c", t0.Add(time.Minute), t0.Add(3*time.Minute)); err != nil {
		t.Errorf("put after the spent entry expired: %v", err)
	}
	if s.len() != 2 {
		t.Errorf("len %d, want 2", s.len())
	}
	if _, r := s.take(b, t0.Add(2*time.Minute)); r != expired {
		t.Errorf("take at expiry: %v", r)
	}
	if _, r := s.take(b, t0.Add(2*time.Minute)); r != unknown {
		t.Errorf("an expired entry is dropped: %v", r)
	}
	// Ids are not kept, only their digests.
	c, err := s.put("c", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.m[sha256.Sum256([]byte(c))]; !ok {
		t.Error("the entry is not keyed by the id's SHA-256")
	}
}

func TestGrantScopes(t *testing.T) {
	tests := []struct {
		requested string
		granted   string
		patient   bool
	}{
		{"launch openid fhirUser patient/*.read", "launch openid fhirUser patient/*.read", true},
		{"launch fhirUser patient/*.rs", "launch patient/*.rs", true},
		{"launch launch/patient patient/Patient.r patient/Flag.rs", "launch launch/patient patient/Patient.r patient/Flag.rs", true},
		{"launch patient/*.rs user/*.rs system/*.rs", "launch patient/*.rs", true},
		{"launch user/*.rs user/Flag.cu", "launch user/*.rs user/Flag.cu", false},
		{"launch patient/Observation.rs?category=laboratory", "launch", false},
		{"launch offline_access online_access profile __x https://x.test/s", "launch", false},
		{"launch launch patient/*.rs patient/*.rs", "launch patient/*.rs", true},
	}
	for _, tt := range tests {
		got, patient := grantScopes(strings.Fields(tt.requested))
		if !slices.Equal(got, strings.Fields(tt.granted)) || patient != tt.patient {
			t.Errorf("grantScopes(%q) = %q %v, want %q %v", tt.requested, got, patient, tt.granted, tt.patient)
		}
	}
}
