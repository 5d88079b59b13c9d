package sandbox_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox"
	"github.com/carerecords/fhir-facade/sandbox/fault"
	"github.com/carerecords/fhir-facade/sandbox/pds"
	"github.com/carerecords/fhir-facade/sandbox/population"
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

func TestParseFaults(t *testing.T) {
	tests := []struct {
		spec    string
		want    sandbox.Faults
		wantErr string // part of the error
	}{
		{spec: "", want: nil},
		{spec: "  ", want: nil},
		{spec: "fgm=503,cpis=timeout,imms=empty", want: sandbox.Faults{"fgm": "503", "cpis": fault.Timeout, "imms": fault.Empty}},
		{spec: " PDS = 500 , scr=truncated,ra=malformed,ovm=drop,nrl=504,bna=429 ",
			want: sandbox.Faults{"pds": "500", "scr": fault.Truncated, "ra": fault.Malformed, "ovm": fault.Drop, "nrl": "504", "bna": "429"}},
		{spec: "cpis=slow", wantErr: `cpis: unknown fault "slow"`},
		{spec: "cpis=200", wantErr: "HTTP status from 400 to 599"},
		{spec: "cpis=", wantErr: `unknown fault ""`},
		{spec: "gp=503", wantErr: `unknown simulator "gp": want one of pds, bna, scr, nrl, ra, cpis, fgm, imms, ovm`},
		{spec: "cpis", wantErr: `"cpis" is not name=fault`},
		{spec: "=503", wantErr: "is not name=fault"},
		{spec: "cpis=503,,fgm=500", wantErr: "is not name=fault"},
		{spec: "cpis=503,CPIS=timeout", wantErr: "cpis is named twice"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := sandbox.ParseFaults(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "SANDBOX_FAULTS: ") {
					t.Fatalf("ParseFaults(%q) = %v, %v; want an error with %q", tt.spec, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFaults(%q) = %v, %v; want %v", tt.spec, got, err, tt.want)
			}
		})
	}
	if s := (sandbox.Faults{"fgm": "503", "cpis": fault.Timeout}).String(); s != "cpis=timeout,fgm=503" {
		t.Errorf("String() = %q", s)
	}
}

// Options.Faults fails the named simulator from the start, and only it;
// SetOutage changes it at run time.
func TestStartWithFaults(t *testing.T) {
	if _, err := sandbox.Start(sandbox.Options{Faults: sandbox.Faults{"gp": "503"}}); err == nil || !strings.Contains(err.Error(), `"gp"`) {
		t.Fatalf("unknown simulator: %v", err)
	}
	sb, err := sandbox.Start(sandbox.Options{Open: true, Faults: sandbox.Faults{"pds": "503"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	status := func(url string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Request-ID", "60e0b220-8136-4ca5-ae46-1d97ef59d068") // PDS wants one
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(sb.PDSBaseURL + "/Patient/9000000009"); got != 503 {
		t.Errorf("PDS: %d, want 503", got)
	}
	if got := status(sb.OVMBaseURL + "/status?nhs-number=9000000009"); got != 200 {
		t.Errorf("OVM, not named: %d, want 200", got)
	}
	if got := sb.Outages(); !reflect.DeepEqual(got, sandbox.Faults{"pds": "503"}) {
		t.Errorf("Outages() = %v", got)
	}
	if err := sb.SetOutage("pds", ""); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetOutage("ovm", "500"); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetOutage("gp", "500"); err == nil {
		t.Error("SetOutage of an unknown simulator")
	}
	if got := status(sb.PDSBaseURL + "/Patient/9000000009"); got != 200 {
		t.Errorf("PDS after the outage: %d", got)
	}
	if got := status(sb.OVMBaseURL + "/status?nhs-number=9000000009"); got != 500 {
		t.Errorf("OVM: %d, want 500", got)
	}
}

// Close is prompt even while a timeout outage holds requests.
func TestCloseWithTimeoutOutage(t *testing.T) {
	sb, err := sandbox.Start(sandbox.Options{Open: true, Faults: sandbox.Faults{"cpis": fault.Timeout}})
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() {
		resp, err := http.Get(sb.CPISBaseURL + "/CareTeam")
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	time.Sleep(100 * time.Millisecond) // the request reaches the simulator
	start := time.Now()
	if err := sb.Close(); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := <-held; err == nil {
		t.Error("the held request was answered")
	}
}
