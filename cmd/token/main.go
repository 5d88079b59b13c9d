// Command token prints an access token from the facade's local test issuer,
// for curl, Postman and the like. Dev only.
//
//	go run ./cmd/token -role clinician -scope 'user/*.rs user/Flag.cu' [-patient 9000000009] [-url http://127.0.0.1:8080]
//
// By default it asks the running facade's dev token endpoint
// (<url><path>, client_credentials with the dev client and the dev-only
// role and patient parameters). With -key-file it signs the token itself
// with the key the running facade wrote there (issuer.Config.KeyFile).
// Only the token is printed on stdout; errors go to stderr.
//
// Roles: clinician (R8000), nurse (R8001), health-professional (R8003),
// admin (R8008), auditor (facade-auditor), or "" for an
// application-restricted (system) token. Without -scope a role gets its
// default scope, and -patient gives "patient/*.rs".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/auth/issuer"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	role, scope, patient string
	scopeSet             bool
	url, path            string
	clientID, secret     string
	keyFile              string
	ttl, timeout         time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.role, "role", "clinician", `dev role: clinician, nurse, health-professional, admin, auditor, a role code, or "" for a system token`)
	fs.StringVar(&o.scope, "scope", "", "space-separated SMART scopes (default: the role's, or patient/*.rs with -patient)")
	fs.StringVar(&o.patient, "patient", "", "NHS number of the SMART patient context")
	fs.StringVar(&o.url, "url", envOr("FACADE_URL", "http://127.0.0.1:8080"), "the running facade's base URL (env FACADE_URL)")
	fs.StringVar(&o.path, "path", issuer.TokenPath, "the token endpoint's path under -url")
	fs.StringVar(&o.clientID, "client-id", issuer.DevClientID, "dev client id")
	fs.StringVar(&o.secret, "client-secret", envOr("TOKEN_CLIENT_SECRET", issuer.DevClientSecret), "dev client secret (env TOKEN_CLIENT_SECRET)")
	fs.StringVar(&o.keyFile, "key-file", "", "sign with the issuer key file the facade wrote, instead of calling its endpoint")
	fs.DurationVar(&o.ttl, "ttl", 0, "token lifetime with -key-file (default the issuer's, 1h)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "HTTP timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "token: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	fs.Visit(func(f *flag.Flag) { o.scopeSet = o.scopeSet || f.Name == "scope" })

	var tok string
	var err error
	if o.keyFile != "" {
		tok, err = mintLocally(o)
	} else {
		tok, err = fetch(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func mintLocally(o options) (string, error) {
	iss, err := issuer.LoadKeyFile(o.keyFile, nil)
	if err != nil {
		return "", err
	}
	var scopes []string
	if o.scopeSet {
		scopes = append([]string{}, strings.Fields(o.scope)...)
	}
	c, err := iss.DevClaims(o.clientID, o.role, o.patient, scopes, issuer.DevClientScope)
	if err != nil {
		return "", err
	}
	c.TTL = o.ttl
	return iss.Mint(c)
}

func fetch(ctx context.Context, o options) (string, error) {
	endpoint, err := url.JoinPath(o.url, o.path)
	if err != nil {
		return "", fmt.Errorf("bad -url or -path: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if o.role != "" {
		form.Set("role", o.role)
	}
	if o.scopeSet {
		form.Set("scope", o.scope)
	}
	if o.patient != "" {
		form.Set("patient", o.patient)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(o.clientID), url.QueryEscape(o.secret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("is the facade running? %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", endpoint, err)
	}
	if res.StatusCode != http.StatusOK {
		var e issuer.ErrorResponse
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return "", fmt.Errorf("%s answered %d %s: %s", endpoint, res.StatusCode, e.Error, e.ErrorDescription)
		}
		return "", fmt.Errorf("%s answered %d", endpoint, res.StatusCode)
	}
	var tr issuer.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", fmt.Errorf("%s: not a token response: %w", endpoint, err)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", errors.New(endpoint + ": the answer holds no bearer token")
	}
	return tr.AccessToken, nil
}
