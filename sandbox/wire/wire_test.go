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

// Each simulator's error body, byte for byte as it was when each wrote its
// own (CP-IS, FGM-IS and RA through the facade's structs, NRL, SCR and the
// immunisation API by hand).
func TestWriteOutcome(t *testing.T) {
	const spine = "https://fhir.nhs.uk/CodeSystem/England-SpineErrorOrWarningCode"
	tests := []struct {
		name string
		o    Outcome
		want string
	}{
		{"coded (CP-IS, FGM-IS)", Outcome{Issue: []Issue{Error("forbidden", spine, "ACCESS_DENIED", "Access denied", "Missing or invalid access token")}},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","details":{"coding":[{"system":"` + spine + `","code":"ACCESS_DENIED","display":"Access denied"}]},"diagnostics":"Missing or invalid access token"}]}`},
		{"coded, profiled, no diagnostics (RA)", Outcome{Meta: &Meta{Profile: []string{"p"}}, Issue: []Issue{Error("not-found", "s", "PATIENT_NOT_FOUND", "Patient not found", "")}},
			`{"resourceType":"OperationOutcome","meta":{"profile":["p"]},"issue":[{"severity":"error","code":"not-found","details":{"coding":[{"system":"s","code":"PATIENT_NOT_FOUND","display":"Patient not found"}]}}]}`},
		{"coded, with expression (NRL)", Outcome{Issue: []Issue{func() Issue {
			is := Error("invalid", "s", "INVALID_PARAMETER", "Invalid parameter", "Invalid query parameter (type: bad)")
			is.Expression = []string{"type"}
			return is
		}()}},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"coding":[{"system":"s","code":"INVALID_PARAMETER","display":"Invalid parameter"}]},"diagnostics":"Invalid query parameter (type: bad)","expression":["type"]}]}`},
		{"text (SCR)", Outcome{Issue: []Issue{{Severity: "error", Code: "invalid", Details: &Details{Text: "Invalid X-Request-ID header: must be a UUID"}}}},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"Invalid X-Request-ID header: must be a UUID"}}]}`},
		{"diagnostics only (immunisation), escaped", Outcome{Issue: []Issue{{Severity: "error", Code: "processing", Diagnostics: `"<a&b>"`}}},
			`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"\"\u003ca\u0026b\u003e\""}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteOutcome(w, 418, "application/fhir+json", tt.o)
			if w.Code != 418 || w.Header().Get("Content-Type") != "application/fhir+json" {
				t.Errorf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
			}
			if got := w.Body.String(); got != tt.want {
				t.Errorf("body\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// Echo copies the headers a request has, under any spelling, and only
// those.
func TestEcho(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("x-request-id", "id-1")
	r.Header.Set("TraceID", "t-1")
	w := httptest.NewRecorder()
	Echo(w, r, "X-Request-ID", "X-Correlation-ID", "TraceID")
	want := map[string]string{"X-Request-Id": "id-1", "Traceid": "t-1"}
	if len(w.Header()) != len(want) {
		t.Errorf("answer headers %v, want %v", w.Header(), want)
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}
