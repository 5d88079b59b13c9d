//go:build unix

package tests

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carerecords/fhir-facade/audit/pgaudit/pgtest"
	"github.com/carerecords/fhir-facade/sandbox/issuer"
	"github.com/carerecords/fhir-facade/sandbox/population"
	"github.com/carerecords/fhir-facade/state/redistest"
	"github.com/carerecords/fhir-facade/viewer"
)

// The proof of issue #19's "Prove it": redis-server, PostgreSQL, one
// standalone sandbox (cmd/sandbox) and three facade replicas (cmd/facade,
// built once) as processes on loopback, pointed at them. The replicas share
// one public base, as behind a load balancer; the test sends each request
// to the replica it names. PDS's quota is 5 calls a second (burst 1).

const (
	replicaPDSLimit = 5
	replicaPDSBurst = 1
)

// proc is a process of the test, killed when it ends; its output is kept
// in a file shown when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func startProc(t testing.TB, name, bin string, env []string, stdout io.Writer, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = f
	cmd.Stdout = f
	if stdout != nil {
		cmd.Stdout = io.MultiWriter(f, stdout)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s output (tail):\n%s", name, b)
		}
	})
	return p
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// replicaSet is the running system.
type replicaSet struct {
	roots []string // each replica's own address, http://127.0.0.1:port
	base  string   // the public FHIR base they share
	stats string   // the sandbox's request counts
	redis *redistest.Server
	http  *http.Client
}

func startReplicas(t testing.TB, extraEnv ...string) *replicaSet {
	t.Helper()
	rs := redistest.Start(t)
	pg := pgtest.Start(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../cmd/facade", "../cmd/sandbox")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The sandbox prints its simulators' base URLs, then its stats URL.
	pr, pw := io.Pipe()
	args := []string{"-stats-addr", "127.0.0.1:0"}
	for _, s := range []string{"pds", "bna", "scr", "nrl", "ra", "cpis", "fgm", "imms", "ovm"} {
		args = append(args, "-"+s+"-addr", "127.0.0.1:0")
	}
	startProc(t, "sandbox", filepath.Join(bin, "sandbox"), nil, pw, args...)
	urls := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for urls["STATS"] == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the sandbox exited")
			}
			if f := strings.Fields(l); len(f) >= 2 {
				urls[f[0]] = f[1]
				if f[0] == "NRL" && len(f) == 4 {
					urls["SSP"] = strings.TrimSuffix(f[3], ")")
				}
			}
		case <-timeout:
			t.Fatal("the sandbox did not start in 30s")
		}
	}
	go func() {
		for range lines { // keep the pipe drained
		}
	}()

	set := &replicaSet{base: "http://" + freeAddr(t) + "/fhir", stats: urls["STATS"], redis: rs,
		http: &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	env := []string{
		"FACADE_BASE_URL=" + set.base, "FACADE_REDIS_URL=" + rs.URL(), "FACADE_EXPECTED_REPLICAS=3",
		"AUDIT_DATABASE_URL=" + pg.URL(), "FACADE_REQUEST_TIMEOUT=2s", "FACADE_MAX_IN_FLIGHT_PER_CALLER=128",
		fmt.Sprintf("PDS_RATE_LIMIT=%d", replicaPDSLimit), fmt.Sprintf("PDS_RATE_BURST=%d", replicaPDSBurst), "PDS_CACHE_TTL=30s",
		"NRL_SSP_URL=" + urls["SSP"],
	}
	env = append(env, extraEnv...) // later settings win
	// The sandbox prints each simulator under its env prefix.
	for _, name := range []string{"PDS", "BNA", "SCR", "NRL", "RA", "CPIS", "FGM", "IMMS", "OVM"} {
		env = append(env, name+"_BASE_URL="+urls[name], name+"_TOKEN=sandbox")
	}
	for i := range 3 {
		addr := freeAddr(t)
		e := append(append([]string(nil), env...), "FACADE_ADDR="+addr, "AUDIT_WAL="+filepath.Join(t.TempDir(), "audit.wal"))
		startProc(t, fmt.Sprintf("facade-%c", 'A'+i), filepath.Join(bin, "facade"), e, nil, "-quiet")
		set.roots = append(set.roots, "http://"+addr)
	}
	for _, root := range set.roots {
		set.waitRedis(t, root, "up")
	}
	return set
}

// readyz is a replica's /readyz status and its report of Redis.
func (s *replicaSet) readyz(root string) (int, string, error) {
	res, err := s.http.Get(root + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	var doc struct {
		Backends map[string]string `json:"backends"`
	}
	_ = json.NewDecoder(res.Body).Decode(&doc)
	return res.StatusCode, doc.Backends["redis"], nil
}

// waitRedis waits until root's /readyz says Redis is mode, and 200.
func (s *replicaSet) waitRedis(t testing.TB, root, mode string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, m, err := s.readyz(root)
		if err == nil && m == mode && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz: %d redis %q %v, want 200 with redis %q", root, code, m, err, mode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pdsCalls is how many requests reached the PDS simulator.
func (s *replicaSet) pdsCalls(t testing.TB) int64 {
	t.Helper()
	res, err := s.http.Get(s.stats)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var counts map[string]int64
	if err := json.NewDecoder(res.Body).Decode(&counts); err != nil {
		t.Fatal(err)
	}
	return counts["pds"]
}

// token mints a dev token for role on root (any replica: they share the
// signing key).
func (s *replicaSet) token(t testing.TB, root, role string) string {
	t.Helper()
	res, err := s.http.PostForm(root+issuer.TokenPath, url.Values{"grant_type": {"client_credentials"},
		"client_id": {issuer.DevClientID}, "client_secret": {issuer.DevClientSecret}, "role": {role}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token from %s: %d %v", root, res.StatusCode, err)
	}
	return tok.AccessToken
}

type answer struct {
	status     int
	retryAfter string
	requestID  string
	body       []byte
	header     http.Header
}

func (s *replicaSet) do(t testing.TB, method, target, token string, cookies []*http.Cookie, form url.Values) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), requestID: res.Header.Get("X-Request-ID"), body: b, header: res.Header}
}

// sample is the simulator's PDS count at a moment.
type sample struct {
	at time.Time
	n  int64
}

// maxPerSecond is the most calls between two samples at most 1s apart.
func maxPerSecond(samples []sample) int64 {
	var most int64
	for i := range samples {
		for j := i + 1; j < len(samples) && samples[j].at.Sub(samples[i].at) <= time.Second; j++ {
			most = max(most, samples[j].n-samples[i].n)
		}
	}
	return most
}

// burst sends distinct uncached Patient reads to roots (workers each) for
// d, sampling the simulator's PDS count meanwhile. Every answer must be
// 200, or 429/503 with Retry-After.
func (s *replicaSet) burst(t *testing.T, roots []string, token string, people []population.Person, workers int, d time.Duration) (ok, refused int64, samples []sample) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	done := make(chan struct{})
	var mu sync.Mutex
	go func() {
		for {
			smp := sample{at: time.Now(), n: s.pdsCalls(t)}
			mu.Lock()
			samples = append(samples, smp)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	for _, root := range roots {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					i := next.Add(1)
					if int(i) >= len(people) {
						t.Error("ran out of distinct patients")
						return
					}
					a := s.do(t, http.MethodGet, root+"/fhir/Patient/"+people[i].NHSNumber, token, nil, nil)
					switch {
					case a.status == http.StatusOK:
						atomic.AddInt64(&ok, 1)
					case (a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable) && a.retryAfter != "":
						atomic.AddInt64(&refused, 1)
						time.Sleep(100 * time.Millisecond) // a client backs off, if less than told
					default:
						t.Errorf("%s: %d (Retry-After %q) %s", root, a.status, a.retryAfter, a.body)
					}
				}
			}()
		}
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // a last sample after the last call
	close(done)
	mu.Lock()
	defer mu.Unlock()
	samples = append(samples, sample{at: time.Now(), n: s.pdsCalls(t)})
	return ok, refused, samples
}

// pkce is a code verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = "replica-proof-verifier-0123456789-abcdefghijkl"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestThreeReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis, PostgreSQL, a sandbox and three facades")
	}
	s := startReplicas(t)
	A, B, C := s.roots[0], s.roots[1], s.roots[2]
	root := strings.TrimSuffix(s.base, "/fhir")
	clinician := s.token(t, A, "clinician")
	// Distinct patients, never read before: each read is a PDS call.
	var people []population.Person
	for _, p := range population.Default() {
		if !p.Restricted && !p.Deceased() {
			people = append(people, p)
		}
	}
	take := func(n int) []population.Person {
		if len(people) < n {
			t.Fatalf("only %d patients left", len(people))
		}
		ps := people[:n]
		people = people[n:]
		return ps
	}

	t.Run("the PDS quota is one for all replicas", func(t *testing.T) {
		const d = 3 * time.Second
		ok, refused, samples := s.burst(t, s.roots, clinician, take(400), 6, d)
		most := maxPerSecond(samples)
		calls := samples[len(samples)-1].n - samples[0].n
		t.Logf("%d reads answered, %d refused with Retry-After; %d PDS calls in %v, at most %d in any second (quota %d + burst %d)",
			ok, refused, calls, d, most, replicaPDSLimit, replicaPDSBurst)
		if most > replicaPDSLimit+replicaPDSBurst {
			t.Errorf("PDS received %d calls within one second from three replicas; the quota is %d + burst %d", most, replicaPDSLimit, replicaPDSBurst)
		}
		if ok < replicaPDSLimit || refused == 0 {
			t.Errorf("%d answered and %d refused: the burst did not reach the quota", ok, refused)
		}
	})

	cached := take(1)[0].NHSNumber
	var reads []string // request ids of reads through every replica
	t.Run("a read cached by one replica is a hit on another", func(t *testing.T) {
		before := s.pdsCalls(t)
		for i, r := range []string{A, B, C} {
			a := s.do(t, http.MethodGet, r+"/fhir/Patient/"+cached, clinician, nil, nil)
			if a.status != http.StatusOK || !strings.Contains(string(a.body), cached) {
				t.Fatalf("read on replica %d: %d %s", i, a.status, a.body)
			}
			reads = append(reads, a.requestID)
		}
		if got := s.pdsCalls(t) - before; got != 1 {
			t.Errorf("three replicas reading one patient made %d PDS calls, want 1", got)
		}
	})

	t.Run("an EHR launch spans replicas, its code is used once", func(t *testing.T) {
		nhs := take(1)[0].NHSNumber
		verifier, challenge := pkce()
		l := s.do(t, http.MethodPost, A+issuer.LaunchPath, "", nil, url.Values{"client_id": {issuer.DevClientID},
			"client_secret": {issuer.DevClientSecret}, "patient": {nhs}})
		var launch issuer.LaunchResponse
		if err := json.Unmarshal(l.body, &launch); l.status != http.StatusCreated || err != nil {
			t.Fatalf("launch on A: %d %s", l.status, l.body)
		}
		redirect := root + viewer.CallbackPath
		q := url.Values{"response_type": {"code"}, "client_id": {viewer.DefaultClientID}, "redirect_uri": {redirect},
			"scope": {"launch patient/*.read"}, "state": {"s1"}, "aud": {s.base}, "launch": {launch.Launch},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		az := s.do(t, http.MethodGet, B+issuer.AuthorizePath+"?"+q.Encode(), "", nil, nil)
		loc, _ := url.Parse(az.header.Get("Location"))
		code := loc.Query().Get("code")
		if az.status != http.StatusFound || code == "" {
			t.Fatalf("authorize on B: %d %s %s", az.status, az.header.Get("Location"), az.body)
		}
		exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"client_id": {viewer.DefaultClientID}, "code_verifier": {verifier}}
		tk := s.do(t, http.MethodPost, C+issuer.TokenPath, "", nil, exchange)
		var tok struct {
			AccessToken string `json:"access_token"`
			Patient     string `json:"patient"`
		}
		if err := json.Unmarshal(tk.body, &tok); tk.status != http.StatusOK || err != nil || tok.Patient != nhs {
			t.Fatalf("token on C: %d %s", tk.status, tk.body)
		}
		for i, r := range []string{A, B, C} {
			if a := s.do(t, http.MethodGet, r+"/fhir/Patient/"+nhs, tok.AccessToken, nil, nil); a.status != http.StatusOK {
				t.Errorf("C's token on replica %d: %d %s", i, a.status, a.body)
			}
			if a := s.do(t, http.MethodPost, r+issuer.TokenPath, "", nil, exchange); a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "invalid_grant") {
				t.Errorf("the code used again on replica %d: %d %s", i, a.status, a.body)
			}
		}
	})

	t.Run("a viewer session opened on one replica is served by the others", func(t *testing.T) {
		nhs := take(1)[0].NHSNumber
		l := s.do(t, http.MethodPost, C+issuer.LaunchPath, "", nil, url.Values{"client_id": {issuer.DevClientID},
			"client_secret": {issuer.DevClientSecret}, "patient": {nhs}})
		var launch issuer.LaunchResponse
		if err := json.Unmarshal(l.body, &launch); err != nil {
			t.Fatalf("launch on C: %d %s", l.status, l.body)
		}
		v := s.do(t, http.MethodGet, A+"/view/launch?iss="+url.QueryEscape(s.base)+"&launch="+url.QueryEscape(launch.Launch), "", nil, nil)
		loc, err := url.Parse(v.header.Get("Location"))
		if v.status != http.StatusFound || err != nil {
			t.Fatalf("viewer launch on A: %d %s", v.status, v.body)
		}
		launchCookies := (&http.Response{Header: v.header}).Cookies()
		az := s.do(t, http.MethodGet, B+loc.RequestURI(), "", nil, nil)
		cb, err := url.Parse(az.header.Get("Location"))
		if az.status != http.StatusFound || err != nil || cb.Query().Get("code") == "" {
			t.Fatalf("authorize on B: %d %s", az.status, az.header.Get("Location"))
		}
		done := s.do(t, http.MethodGet, C+cb.RequestURI(), "", launchCookies, nil)
		var session []*http.Cookie
		for _, c := range (&http.Response{Header: done.header}).Cookies() {
			if c.Value != "" {
				session = append(session, c)
			}
		}
		if done.status != http.StatusSeeOther || len(session) == 0 {
			t.Fatalf("callback on C: %d %v %s", done.status, done.header, done.body)
		}
		shown := nhs[:3] + " " + nhs[3:6] + " " + nhs[6:]
		for i, r := range []string{A, B, C} {
			if p := s.do(t, http.MethodGet, r+"/view/Patient/"+nhs, "", session, nil); p.status != http.StatusOK || !strings.Contains(string(p.body), shown) {
				t.Errorf("the summary page on replica %d: %d", i, p.status)
			}
		}
	})

	t.Run("AuditEvent search on any replica returns every replica's accesses", func(t *testing.T) {
		for i, r := range []string{A, B, C} {
			auditor := s.token(t, r, "auditor")
			a := s.do(t, http.MethodGet, r+"/fhir/AuditEvent?patient="+cached+"&_count=100", auditor, nil, nil)
			if a.status != http.StatusOK {
				t.Fatalf("AuditEvent search on replica %d: %d %s", i, a.status, a.body)
			}
			for j, id := range reads {
				if id == "" || !strings.Contains(string(a.body), `"`+id+`"`) {
					t.Errorf("AuditEvent search on replica %d lacks the read made through replica %d (%s)", i, j, id)
				}
			}
		}
	})

	t.Run("Redis killed: degraded, reads go on, then it recovers", func(t *testing.T) {
		s.redis.Stop()
		for _, r := range s.roots {
			s.waitRedis(t, r, "degraded")
		}
		// No shared cache: a read cached by A is fetched again by B.
		nhs := take(1)[0].NHSNumber
		before := s.pdsCalls(t)
		for i, r := range []string{A, B} {
			if a := s.do(t, http.MethodGet, r+"/fhir/Patient/"+nhs, clinician, nil, nil); a.status != http.StatusOK {
				t.Fatalf("read on replica %d with Redis down: %d %s", i, a.status, a.body)
			}
		}
		if got := s.pdsCalls(t) - before; got != 2 {
			t.Errorf("two replicas reading one patient with Redis down made %d PDS calls, want 2 (no shared cache)", got)
		}
		// Local limits: each replica grants 5/3 calls a second (burst 1).
		ok, refused, samples := s.burst(t, []string{A}, clinician, take(200), 4, 2*time.Second)
		most := maxPerSecond(samples)
		t.Logf("one replica with Redis down: %d answered, %d refused, at most %d PDS calls in any second", ok, refused, most)
		if most > 3 || ok == 0 {
			t.Errorf("one replica degraded made up to %d PDS calls a second (%d answered): want at most 5/3 + burst 1", most, ok)
		}

		s.redis.Start()
		for _, r := range s.roots {
			s.waitRedis(t, r, "up")
		}
		nhs = take(1)[0].NHSNumber
		before = s.pdsCalls(t)
		for i, r := range []string{A, B, C} {
			if a := s.do(t, http.MethodGet, r+"/fhir/Patient/"+nhs, clinician, nil, nil); a.status != http.StatusOK {
				t.Fatalf("read on replica %d after recovery: %d %s", i, a.status, a.body)
			}
		}
		if got := s.pdsCalls(t) - before; got != 1 {
			t.Errorf("after recovery three replicas reading one patient made %d PDS calls, want 1 (shared cache back)", got)
		}
		// The shared quota is back too: three replicas together keep it.
		_, _, samples = s.burst(t, s.roots, clinician, take(400), 4, 2*time.Second)
		if most := maxPerSecond(samples); most > replicaPDSLimit+replicaPDSBurst {
			t.Errorf("after recovery PDS received %d calls within one second", most)
		}
	})
}
