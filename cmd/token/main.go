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
// The facade is found where `make run` serves it: -url, else FACADE_URL,
// else the root of FACADE_BASE_URL (its public base less /fhir), else
// http://FACADE_ADDR, else http://127.0.0.1:8080. The token is the same
// whichever name reaches the facade: its iss and aud are the facade's one
// public base. Before asking, it waits (-wait, 60s by default; 0 does not)
// for the facade to answer GET <url>/healthz, so `make run & make token`
// works while the first build compiles.
//
// With -cds it prints a CDS Hooks client JWT for one call instead (see
// docs/cds-hooks.md), signed with the local issuer's -key-file (which the
// facade trusts as a development EHR) or a client's private JWK (-cds-key,
// -iss):
//
//	go run ./cmd/token -cds -key-file .dev-issuer-key.json [-aud http://127.0.0.1:8080/cds-services/ncrs-alerts]
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
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/carerecords/fhir-facade/sandbox/issuer"
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
	// wait bounds the wait for the facade to answer; poll is how often it is
	// asked (pollInterval; shorter in tests).
	wait, poll time.Duration
	// cdsMode mints a CDS Hooks client JWT instead (cds.go).
	cdsMode bool
	cds     cdsOptions
}

// pollInterval is how often a starting facade is asked whether it serves
// (a variable so tests need not wait as long).
var pollInterval = 250 * time.Millisecond

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.role, "role", "clinician", `dev role: clinician, nurse, health-professional, admin, auditor, a role code, or "" for a system token`)
	fs.StringVar(&o.scope, "scope", "", "space-separated SMART scopes (default: the role's, or patient/*.rs with -patient)")
	fs.StringVar(&o.patient, "patient", "", "NHS number of the SMART patient context")
	fs.StringVar(&o.url, "url", defaultURL(os.Getenv), "the running facade's root URL (env FACADE_URL; default the root of FACADE_BASE_URL, else http://FACADE_ADDR, else http://127.0.0.1:8080)")
	fs.StringVar(&o.path, "path", issuer.TokenPath, "the token endpoint's path under -url")
	fs.StringVar(&o.clientID, "client-id", issuer.DevClientID, "dev client id")
	fs.StringVar(&o.secret, "client-secret", envOr("TOKEN_CLIENT_SECRET", issuer.DevClientSecret), "dev client secret (env TOKEN_CLIENT_SECRET)")
	fs.StringVar(&o.keyFile, "key-file", "", "sign with the issuer key file the facade wrote, instead of calling its endpoint")
	fs.DurationVar(&o.ttl, "ttl", 0, "token lifetime with -key-file (default the issuer's, 1h)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "HTTP timeout")
	fs.DurationVar(&o.wait, "wait", 60*time.Second, "how long to wait for the facade to start answering (0: do not wait)")
	fs.BoolVar(&o.cdsMode, "cds", false, "mint a CDS Hooks client JWT (iss, aud, exp, iat, jti; typ JWT) signed with -key-file or -cds-key, instead of an access token")
	fs.StringVar(&o.cds.aud, "aud", "", "with -cds: the exact CDS endpoint URL called (default <url>"+defaultCDSService+")")
	fs.StringVar(&o.cds.jwkFile, "cds-key", "", "with -cds: a CDS client's private JWK file (e.g. cdshooks/testdata/jwk-private.json) instead of the local issuer's -key-file")
	fs.StringVar(&o.cds.iss, "iss", "", "with -cds-key: the client's issuer, as CDS_CLIENTS names it")
	fs.StringVar(&o.cds.jku, "jku", "", "with -cds: a jku header (honoured only if the facade allow-lists it)")
	fs.StringVar(&o.cds.tenant, "tenant", "", "with -cds: the tenant claim")
	o.poll = pollInterval
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
	if o.cdsMode {
		tok, err = mintCDS(o)
	} else if o.keyFile != "" {
		tok, err = mintLocally(o)
	} else if err = waitForFacade(ctx, o, stderr); err == nil {
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

// defaultURL is where the facade `make run` started serves, from the
// variables the facade itself reads: FACADE_URL (this command's own), the
// root of FACADE_BASE_URL (the public base the facade's links and tokens
// name), else FACADE_ADDR (make token passes make's ADDR as it), else the
// facade's default address.
func defaultURL(getenv func(string) string) string {
	if u := getenv("FACADE_URL"); u != "" {
		return u
	}
	if b := strings.TrimRight(getenv("FACADE_BASE_URL"), "/"); b != "" {
		return strings.TrimSuffix(b, "/fhir")
	}
	if a := getenv("FACADE_ADDR"); a != "" {
		return "http://" + a
	}
	return "http://127.0.0.1:8080"
}

// waitForFacade polls <url>/healthz until it answers 200 or o.wait has
// passed. Connection refused is the normal answer while `make run` is still
// compiling, so it says once on stderr what it waits for. It asks /healthz,
// not /readyz: the token endpoint works as soon as the facade serves, while
// /readyz also reports a backend's open circuit breaker, which has nothing
// to do with minting a token.
func waitForFacade(ctx context.Context, o options, stderr io.Writer) error {
	if o.wait <= 0 {
		return nil
	}
	health, err := url.JoinPath(o.url, "/healthz")
	if err != nil {
		return fmt.Errorf("bad -url: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	var last string // why the last poll failed, for the timeout message
	for said := false; ; said = true {
		why := poll(ctx, health, min(o.timeout, o.wait))
		if why == "" {
			return nil
		}
		// A poll cut short by the end of the wait says nothing new: the
		// answer before it (a 503 while starting, say) is the useful one.
		if ctx.Err() == nil || last == "" {
			last = why
		}
		if !said {
			fmt.Fprintf(stderr, "token: waiting for the facade at %s (is `make run` still compiling?)\n", o.url)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no facade answered at %s within %s (%s): start it with `make run`", o.url, o.wait, last)
		case <-time.After(o.poll):
		}
	}
}

// poll asks health once: "" when the facade answered 200, else why not.
func poll(ctx context.Context, health string, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
	if err != nil {
		return err.Error()
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return op.Err.Error() // "connection refused", without the URL again
		}
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "the last answer was " + res.Status
	}
	return ""
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
