package wire

import (
	"net/http/httptest"
	"testing"
)

func TestBearer(t *testing.T) {
	for h, want := range map[string]bool{
		"Bearer abc": true, "Bearer  x ": true,
		"": false, "Bearer": false, "Bearer ": false, "Bearer   ": false, "bearer abc": false, "Basic abc": false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		if got := Bearer(r); got != want {
			t.Errorf("Bearer(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"6f1c0f4e-7e1b-4a51-9c34-1d2a3b4c5d6e": true, "6F1C0F4E-7E1B-4A51-9C34-1D2A3B4C5D6E": true,
		"": false, "6f1c0f4e7e1b4a519c341d2a3b4c5d6e": false, "6f1c0f4e-7e1b-4a51-9c34-1d2a3b4c5d6": false, "x6f1c0f4e-7e1b-4a51-9c34-1d2a3b4c5d6e": false,
	} {
		if got := UUID.MatchString(s); got != want {
			t.Errorf("UUID(%q) = %v, want %v", s, got, want)
		}
	}
}
