// Command pproffacade is cmd/facade with the Go profiler: the same
// configuration (app.FromEnv, the same flags), the same app.New, plus
// net/http/pprof on a second loopback listener, for profiling the facade
// under load (tools/perf/bench.sh). It is a measuring instrument, never a way
// to run the facade: the profiler listens only on loopback and the process
// exits after -lifetime.
//
//	FACADE_AUTH=off pproffacade -addr 127.0.0.1:18080 -pprof 127.0.0.1:18081 &
//	go tool pprof -top http://127.0.0.1:18081/debug/pprof/profile?seconds=10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/carerecords/fhir-facade/cmd/facade/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pproffacade:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := app.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	flag.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (env FACADE_ADDR)")
	flag.BoolVar(&cfg.QuietLogs, "quiet", true, "log only failed (5xx) requests")
	pprofAddr := flag.String("pprof", "127.0.0.1:0", "the profiler's listen address (loopback only)")
	lifetime := flag.Duration("lifetime", 15*time.Minute, "exit after this long whatever happens")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*pprofAddr); err != nil || !(host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback()) {
		return errors.New("-pprof must be a loopback address")
	}
	log := logrus.New()
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetOutput(io.Discard)
	cfg.Logger = log

	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	pln, err := net.Listen("tcp", *pprofAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	prof := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = prof.Serve(pln) }()
	defer prof.Close()
	srv := app.NewHTTPServer(a.Handler) // the same server settings as cmd/facade
	fmt.Printf("facade http://%s/fhir pprof http://%s/debug/pprof/\n", ln.Addr(), pln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case <-time.After(*lifetime):
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
