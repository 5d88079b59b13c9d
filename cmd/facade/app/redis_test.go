package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
	"github.com/carerecords/fhir-facade/state/redistest"
)

func TestRedisFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want app.RedisConfig
		bad  bool
	}{
		{name: "unset: everything in memory", want: app.RedisConfig{ExpectedReplicas: 3, Application: "facade"}},
		{name: "set", env: map[string]string{"FACADE_REDIS_URL": "redis://127.0.0.1:6379/0", "FACADE_EXPECTED_REPLICAS": "5", "FACADE_APPLICATION": "trust-a"},
			want: app.RedisConfig{URL: "redis://127.0.0.1:6379/0", ExpectedReplicas: 5, Application: "trust-a"}},
		{name: "zero replicas", env: map[string]string{"FACADE_EXPECTED_REPLICAS": "0"}, bad: true},
		{name: "not a number", env: map[string]string{"FACADE_EXPECTED_REPLICAS": "three"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := app.FromEnv(func(k string) string { return tc.env[k] })
			if tc.bad {
				if err == nil {
					t.Errorf("accepted %v", tc.env)
				}
				return
			}
			if err != nil || cfg.Redis != tc.want {
				t.Errorf("%+v %v, want %+v", cfg.Redis, err, tc.want)
			}
		})
	}
	if _, err := app.New(app.Config{Redis: app.RedisConfig{URL: "http://not-redis"}, QuietLogs: true}); err == nil {
		t.Error("New accepted a FACADE_REDIS_URL that is not redis://")
	}
}

// /readyz names Redis: up, then degraded (still ready: reads go on under
// local limits) while it is down, then up again.
func TestReadyzReportsRedis(t *testing.T) {
	srv := redistest.Start(t)
	log := logrus.New()
	log.SetOutput(io.Discard)
	a, err := app.New(app.Config{Redis: app.RedisConfig{URL: srv.URL()}, Logger: log, QuietLogs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ts := httptest.NewServer(a.Handler)
	defer ts.Close()
	readyz := func() (int, string) {
		res, err := http.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct{ Backends map[string]string }
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body.Backends["redis"]
	}
	wait := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, mode := readyz()
			if mode == want {
				if code != http.StatusOK {
					t.Errorf("/readyz %d with redis %s, want 200", code, mode)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz says redis %q, want %q", mode, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("up")
	srv.Stop()
	wait("degraded")
	srv.Start()
	wait("up")
}
