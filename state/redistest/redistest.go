//go:build unix

// Package redistest starts a real Redis server for tests: Debian's
// redis-server (the redis-server package, which .ci/run installs) on a free
// loopback port, with no persistence (--save "" --appendonly no), stopped
// when the test ends. Stop and Start kill and restart it on the same port,
// so a test can show what a replica does while Redis is gone.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Binary is where Debian's package installs the server.
const Binary = "/usr/bin/redis-server"

// Server is one redis-server of a test.
type Server struct {
	t      testing.TB
	bin    string
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// binary finds redis-server: Debian's path, else PATH; "" when absent.
func binary() string {
	if _, err := os.Stat(Binary); err == nil {
		return Binary
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	return ""
}

// Start starts a server on a free loopback port and waits until it answers
// PING, or skips the test when redis-server is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary()
	if bin == "" {
		t.Skip("redis-server not found: install Debian's redis-server package (apt-get install redis-server), as .ci/run does")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the redis:// URL of database 0, as FACADE_REDIS_URL takes it.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Start starts the server (again, after Stop) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	logPath := filepath.Join(s.dir, "redis.log")
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", logPath,
		"--daemonize", "no", "--protected-mode", "yes")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.Addr()); err == nil {
			return
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			s.cmd = nil
			s.t.Fatalf("redis-server exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server not answering on %s after 10s", s.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server at once (SIGKILL, as a crash or a lost node would)
// and waits for it; with no persistence, what it held is gone.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// ping sends an inline PING and reads +PONG, without a client library.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "+PONG\r\n" {
		return fmt.Errorf("redis-server answered %q", buf[:n])
	}
	return nil
}
