//go:build unix

// Package pgtest starts a real PostgreSQL server for tests: Debian's
// binaries (the postgresql package), a cluster made by initdb in a
// temporary directory, listening on a free loopback port, stopped and
// removed when the test ends. As root (CI), the server runs as the
// postgres user the package creates, since PostgreSQL refuses to run as
// root.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one PostgreSQL server of a test.
type Server struct {
	t      testing.TB
	bin    string
	dir    string
	port   int
	cred   *syscall.Credential
	cmd    *exec.Cmd
	exited chan struct{}
	// settings are passed as -c name=value after the defaults.
	settings []string
}

// BinDir finds the PostgreSQL server binaries: pg_config --bindir, Debian's
// /usr/lib/postgresql/<version>/bin, or initdb on PATH; "" when absent.
func BinDir() string {
	has := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "initdb"))
		_, err2 := os.Stat(filepath.Join(dir, "postgres"))
		return err == nil && err2 == nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(d)) {
			return filepath.Dir(d)
		}
	}
	return ""
}

func version(bindir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return n
}

// Start initialises and starts a server, or skips the test when the
// binaries are absent. Settings ("name=value") override the defaults, among
// them fsync=off: a test's crash is the server's, not the machine's, but a
// benchmark of durable commits wants fsync=on.
func Start(t testing.TB, settings ...string) *Server {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		t.Skip("PostgreSQL binaries not found: install Debian's postgresql package (apt-get install postgresql), as .ci/run does")
	}
	s := &Server{t: t, bin: bin, settings: settings}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs a user of its own: the postgresql package creates postgres (%v)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parent is private to root, and the server's user
	// must reach the cluster.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	s.dir = dir
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	tmpl, err := s.template()
	if err != nil {
		t.Fatal(err)
	}
	// cp -a keeps the cluster's owner and its 0700 mode.
	if out, err := exec.Command("cp", "-a", tmpl, s.data()).CombinedOutput(); err != nil {
		t.Fatalf("copy the template cluster: %v\n%s", err, out)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// template returns a cluster fresh from initdb, made once per machine and
// PostgreSQL version and copied for each server: initdb takes seconds.
// It is made beside and renamed into place, so a concurrent test process
// never sees half of one.
func (s *Server) template() (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pgtest-template-%s-%d", filepath.Base(filepath.Dir(s.bin)), os.Geteuid()))
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return dir, nil
	}
	work, err := os.MkdirTemp("", "pgtest-initdb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if s.cred != nil {
		if err := os.Chown(work, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return "", err
		}
	}
	data := filepath.Join(work, "data")
	cmd := s.command("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := os.Rename(data, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "PG_VERSION")); serr == nil {
			return dir, nil // another process made it first
		}
		return "", err
	}
	return dir, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// URL is the connection string of the server's postgres database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server (again, after Stop) on its port and waits until
// it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	args := []string{"-D", s.data(), "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"}
	for _, kv := range s.settings {
		args = append(args, "-c", kv)
	}
	cmd := s.command("postgres", args...)
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatal(err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			_ = c.Close(ctx)
			cancel()
			return
		}
		cancel()
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			s.t.Fatalf("postgres exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("postgres not accepting connections after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server at once, as a crash would (immediate shutdown:
// open transactions are lost, committed ones kept), and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}
