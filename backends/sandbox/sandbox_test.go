package sandbox_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/carerecords/fhir-facade/backends/sandbox"
	"github.com/carerecords/fhir-facade/backends/sandbox/pds"
	"github.com/carerecords/fhir-facade/backends/sandbox/population"
)

func getPatient(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-ID", "60e0b220-8136-4ca5-ae46-1d97ef59d068")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestStart(t *testing.T) {
	small := population.Generate(7, 50)
	tests := []struct {
		name    string
		opts    sandbox.Options
		token   string
		status  int
		patient string
	}{
		{name: "default population, bearer token", opts: sandbox.Options{}, token: "t", status: 200, patient: population.Default()[0].NHSNumber},
		{name: "token required", opts: sandbox.Options{}, status: 401, patient: "9000000009"},
		{name: "open sandbox", opts: sandbox.Options{Open: true}, status: 200, patient: "9000000009"},
		{name: "own seed and size", opts: sandbox.Options{Open: true, Seed: 7, Size: 50}, status: 200, patient: small[49].NHSNumber},
		{name: "own seed, person of the default population absent", opts: sandbox.Options{Open: true, Seed: 7, Size: 50}, status: 404, patient: population.Default()[0].NHSNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb, err := sandbox.Start(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			if !strings.HasPrefix(sb.PDSBaseURL, "http://127.0.0.1:") || !strings.HasSuffix(sb.PDSBaseURL, pds.BasePath) {
				t.Errorf("PDSBaseURL = %q", sb.PDSBaseURL)
			}
			status, body := getPatient(t, sb.PDSBaseURL+"/Patient/"+tt.patient, tt.token)
			if status != tt.status {
				t.Fatalf("status = %d, want %d: %v", status, tt.status, body)
			}
			if status == 200 && body["id"] != tt.patient {
				t.Errorf("id = %v, want %s", body["id"], tt.patient)
			}
			if sb.PDS.Requests() != 1 {
				t.Errorf("PDS.Requests() = %d, want 1", sb.PDS.Requests())
			}
		})
	}
}

func TestStartAddressInUse(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Options{Open: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	addr := strings.TrimPrefix(strings.TrimSuffix(sb.PDSBaseURL, pds.BasePath), "http://")
	if _, err := sandbox.Start(sandbox.Options{PDSAddr: addr}); err == nil {
		t.Fatal("second sandbox on the same address started")
	}
}

func TestCloseStopsServing(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Options{Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, sb.PDSBaseURL+"/Patient/9000000009", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("closed sandbox still answers")
	}
}
