package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/issuer"
)

const (
	// postmanScript is the one source of the collections' pre-request
	// script, which gets their tokens from the facade's dev issuer.
	postmanScript = "postman/prerequest.js"
	// postmanEnvironment is the environment a Postman or newman user
	// selects: base_url, the dev client, the token variables.
	postmanEnvironment = "postman/facade.postman_environment.json"
	// postmanBaseURL is the environment's base_url, where `make run` serves.
	postmanBaseURL = "http://127.0.0.1:8080/fhir"
)

var updatePostman = flag.Bool("update-postman", false,
	"rewrite each tests/postman collection's auth and pre-request script from "+postmanScript)

// newman finds the newman binary installed by npm at the repository root, or
// on PATH. Without it the test is skipped locally and fails in CI.
func newman(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs("../node_modules/.bin/newman"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("newman"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("newman is not installed (npm ci at the repository root)")
	}
	t.Skip("newman is not installed; run npm ci")
	return ""
}

func postmanCollections(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("postman/*.postman_collection.json")
	if len(files) == 0 {
		t.Fatal("no Postman collections in tests/postman")
	}
	return files
}

// runNewman runs a collection with the shipped environment as a user would:
// only base_url changes, to the test facade's free port (and whatever extra
// --env-var a test adds). The collection gets its tokens itself.
func runNewman(t *testing.T, bin, collection string, envVars ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"run", collection, "-e", postmanEnvironment, "--env-var", "base_url=" + env.url}
	for _, v := range envVars {
		args = append(args, "--env-var", v)
	}
	args = append(args, "--reporters", "cli", "--disable-unicode", "--color", "off")
	return exec.CommandContext(ctx, bin, args...).CombinedOutput()
}

// TestPostmanCollections runs every tests/postman/*.postman_collection.json
// (one per resource area: Patient read, search, paging, errors, metadata …)
// against the facade with newman, exactly as the README tells a user to.
func TestPostmanCollections(t *testing.T) {
	bin := newman(t)
	for _, f := range postmanCollections(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := runNewman(t, bin, f)
			if err != nil {
				t.Fatalf("newman failed: %v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// TestPostmanTokenFailureIsLoud: when the issuer refuses the pre-request
// script (here a wrong client secret) the run fails and says why, rather
// than sending every request without a token.
func TestPostmanTokenFailureIsLoud(t *testing.T) {
	bin := newman(t)
	out, err := runNewman(t, bin, "postman/rest-depth.postman_collection.json", "client_secret=not-the-dev-secret")
	if err == nil {
		t.Fatalf("newman passed with a wrong client secret:\n%s", out)
	}
	// The failed check names the token endpoint it derived from base_url
	// and the issuer's answer.
	for _, want := range []string{"a clinician token from " + env.root + issuer.TokenPath, "invalid_client"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("newman's output does not say %q:\n%s", want, out)
		}
	}
	t.Logf("%s", out)
}

// envValues reads a Postman environment file's variables.
func envValues(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Values []struct {
			Key     string `json:"key"`
			Value   string `json:"value"`
			Enabled bool   `json:"enabled"`
		} `json:"values"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	vals := map[string]string{}
	for _, v := range e.Values {
		if !v.Enabled {
			t.Errorf("%s: %s is disabled", path, v.Key)
		}
		vals[v.Key] = v.Value
	}
	return vals
}

// TestPostmanEnvironment: the shipped environment points at `make run`, holds
// the published dev client and no token, and the script asks the issuer's
// real token path.
func TestPostmanEnvironment(t *testing.T) {
	vals := envValues(t, postmanEnvironment)
	want := map[string]string{
		"base_url": postmanBaseURL, "token_url": "",
		"client_id": issuer.DevClientID, "client_secret": issuer.DevClientSecret,
		"token": "", "token_expires_at": "",
		"token_admin": "", "token_admin_expires_at": "",
		"token_auditor": "", "token_auditor_expires_at": "",
	}
	for k, w := range want {
		if got, ok := vals[k]; !ok || got != w {
			t.Errorf("%s: %s = %q (present %v), want %q", postmanEnvironment, k, got, ok, w)
		}
	}
	for k := range vals {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected variable %s (document it in the README and here)", postmanEnvironment, k)
		}
	}
	script, err := os.ReadFile(postmanScript)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(script, []byte("'"+issuer.TokenPath+"'")) {
		t.Errorf("%s does not ask the issuer's token path %s", postmanScript, issuer.TokenPath)
	}
}

// TestPostmanSharedScript: every collection authenticates with {{token}} by
// default and carries postman/prerequest.js as its pre-request script, and
// leaves base_url and the tokens to the environment. Run with
// -update-postman to rewrite the collections after editing the script.
func TestPostmanSharedScript(t *testing.T) {
	script, err := os.ReadFile(postmanScript)
	if err != nil {
		t.Fatal(err)
	}
	envVars := envValues(t, postmanEnvironment)
	tokenRef := regexp.MustCompile(`\{\{(token[a-z_]*)\}\}`)
	for _, f := range postmanCollections(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := withSharedAuth(raw, string(script), envVars)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, want) {
				if *updatePostman {
					if err := os.WriteFile(f, want, 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("rewrote %s", f)
				} else {
					t.Errorf("%s is out of date with %s: go test ./tests -run TestPostmanSharedScript -update-postman", f, postmanScript)
				}
			}
			// Each token a request asks for is one the environment holds
			// (and so one the script fetches).
			for _, m := range tokenRef.FindAllStringSubmatch(string(want), -1) {
				if _, ok := envVars[m[1]]; !ok {
					t.Errorf("%s uses {{%s}}, which the environment does not hold", f, m[1])
				}
			}
		})
	}
}

// collectionKeys is the top-level order Postman exports a collection in.
var collectionKeys = []string{"info", "item", "auth", "event", "variable"}

// withSharedAuth returns a collection with bearer {{token}} as its auth, the
// script as its only collection pre-request script, and without variables the
// environment holds, indented as Postman exports it. Other top-level events
// (a collection test script) are kept.
func withSharedAuth(raw []byte, script string, envVars map[string]string) ([]byte, error) {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	for k := range c {
		if !slices.Contains(collectionKeys, k) {
			return nil, fmt.Errorf("unexpected top-level %q", k)
		}
	}
	type param struct {
		Key   string `json:"key"`
		Value string `json:"value"`
		Type  string `json:"type"`
	}
	auth, err := json.Marshal(struct {
		Type   string  `json:"type"`
		Bearer []param `json:"bearer"`
	}{"bearer", []param{{"token", "{{token}}", "string"}}})
	if err != nil {
		return nil, err
	}
	c["auth"] = auth

	type event struct {
		Listen string `json:"listen"`
		Script struct {
			Type string   `json:"type"`
			Exec []string `json:"exec"`
		} `json:"script"`
	}
	var events []event
	if ev, ok := c["event"]; ok {
		var old []event
		if err := json.Unmarshal(ev, &old); err != nil {
			return nil, fmt.Errorf("event: %w", err)
		}
		for _, e := range old {
			if e.Listen != "prerequest" {
				events = append(events, e)
			}
		}
	}
	pre := event{Listen: "prerequest"}
	pre.Script.Type = "text/javascript"
	pre.Script.Exec = strings.Split(strings.TrimSuffix(script, "\n"), "\n")
	events = append([]event{pre}, events...)
	if c["event"], err = marshalNoEscape(events); err != nil {
		return nil, err
	}

	if v, ok := c["variable"]; ok {
		var vars []json.RawMessage
		if err := json.Unmarshal(v, &vars); err != nil {
			return nil, fmt.Errorf("variable: %w", err)
		}
		var kerr error
		vars = slices.DeleteFunc(vars, func(v json.RawMessage) bool {
			var kv struct{ Key string }
			if err := json.Unmarshal(v, &kv); err != nil {
				kerr = err
			}
			_, inEnv := envVars[kv.Key]
			return inEnv
		})
		if kerr != nil {
			return nil, fmt.Errorf("variable: %w", kerr)
		}
		if len(vars) == 0 {
			delete(c, "variable")
		} else if c["variable"], err = marshalNoEscape(vars); err != nil {
			return nil, err
		}
	}

	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, k := range collectionKeys {
		v, ok := c[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:", k)
		b.Write(v)
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// marshalNoEscape is json.Marshal without escaping <, > and & (the scripts
// hold them), as Postman writes them.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}
